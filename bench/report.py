"""From the raw figures of a run to the summary, the goal checks and the Markdown.

Every per-round figure is kept in the JSON; the summary takes, per target, the
*median over rounds* of each figure. Ratios are computed from those medians:
``x direct = target / direct`` and ``x floor = target / floor``; ``x floor (paired)``
is the median over rounds of the target's RPS divided by the floor's in the same
round (the saturating runs of one round follow each other within seconds), the
figure the 0.8x goal is checked on. Latency is
compared by difference, not ratio: ``added = target p50 - direct p50`` at c=1
(the 50 ms upstream delay cancels out), and ``vs floor = added - floor's added``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

GWD = ("gwd-sqlite", "gwd-pg")
Summary = dict[str, dict[str, float | None]]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(raw: dict[str, Any]) -> Summary:
    out: Summary = {}
    for name, t in raw["targets"].items():
        rounds = t["rounds"]

        def med(scenario: str, field: str, rounds: list[dict[str, Any]] = rounds) -> float | None:
            return _median([r[scenario][field] for r in rounds
                            if r.get(scenario, {}).get(field) is not None])

        starts = t.get("startup", [])
        out[name] = {
            "rps": med("sat", "rps"),
            "rps_min": min((r["sat"]["rps"] for r in rounds), default=None),
            "rps_max": max((r["sat"]["rps"] for r in rounds), default=None),
            "sat_p50_ms": _ms(med("sat", "p50_us")), "sat_p99_ms": _ms(med("sat", "p99_us")),
            "errors": sum(r["sat"]["errors"] + r["c1"]["errors"] for r in rounds),
            "cpu_ms_per_req": med("sat", "cpu_ms_per_req"),
            "cpu_share": med("sat", "cpu_share"),
            "c1_p50_ms": _ms(med("c1", "p50_us")), "c1_p99_ms": _ms(med("c1", "p99_us")),
            "ttfb_ms": med("stream", "ttfb_ms"), "ttft_ms": med("stream", "ttft_ms"),
            "stream_total_ms": med("stream", "total_ms"),
            "rss_mb": t.get("rss_mb"),
            "start_s": starts[0]["answer_s"] if starts else None,
            "start_max_s": max((s["answer_s"] for s in starts), default=None),
            "start_median_s": _median([s["answer_s"] for s in starts]),
            "ready_s": starts[0].get("ready_s") if starts else None,
        }
    direct, floor = out.get("direct", {}), out.get("floor", {})
    for s in out.values():
        s["added_ms"] = _sub(s["c1_p50_ms"], direct.get("c1_p50_ms"))
        s["added_ttft_ms"] = _sub(s["ttft_ms"], direct.get("ttft_ms"))
        s["added_total_ms"] = _sub(s["stream_total_ms"], direct.get("stream_total_ms"))
    floor_rps = [r["sat"]["rps"] for r in raw["targets"].get("floor", {}).get("rounds", [])]
    for name, t in raw["targets"].items():
        # paired: round by round, the target's RPS over the floor's in the same round
        pairs = [r["sat"]["rps"] / f for r, f in zip(t["rounds"], floor_rps, strict=False) if f]
        out[name]["rps_x_floor_paired"] = _median(pairs)
    for s in out.values():
        s["added_vs_floor_ms"] = _sub(s["added_ms"], floor.get("added_ms"))
        s["ttft_vs_floor_ms"] = _sub(s["added_ttft_ms"], floor.get("added_ttft_ms"))
        for field in ("rps", "cpu_ms_per_req", "rss_mb", "start_median_s"):
            s[f"{field}_x_direct"] = _div(s[field], direct.get(field))
            s[f"{field}_x_floor"] = _div(s[field], floor.get(field))
    return out


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


GoalCheck = Callable[[dict[str, float | None], Summary], tuple[float | None, bool | None]]


def _vs_litellm(s: dict[str, float | None], all_: Summary) -> tuple[float | None, bool | None]:
    ratio = _div(s["rps"], all_.get("litellm", {}).get("rps"))
    return ratio, None if ratio is None else ratio >= 30


def _check(value: float | None, ok: Callable[[float], bool]) -> tuple[float | None, bool | None]:
    return value, None if value is None else ok(value)


GOALS: list[tuple[str, str, GoalCheck]] = [
    ("RPS ≥ 30× the LiteLLM proxy's (one gwd worker)", "{:.1f}×", _vs_litellm),
    ("RPS ≥ 0.8× the floor's (median of per-round ratios)", "{:.2f}×",
     lambda s, _: _check(s["rps_x_floor_paired"], lambda v: v >= 0.8)),
    ("added latency at c=1 ≤ floor's + 0.3 ms", "{:+.3f} ms",
     lambda s, _: _check(s["added_vs_floor_ms"], lambda v: v <= 0.3)),
    ("peak RSS under load ≤ 80 MB", "{:.1f} MB",
     lambda s, _: _check(s["rss_mb"], lambda v: v <= 80)),
    ("ready to serve (spawn → first answer, median of starts) < 0.5 s", "{:.3f} s",
     lambda s, _: _check(s["start_median_s"], lambda v: v < 0.5)),
]


def goals(summary: Summary) -> list[dict[str, Any]]:
    rows = []
    for title, fmt, check in GOALS:
        row: dict[str, Any] = {"goal": title}
        for name in GWD:
            if name in summary:
                value, ok = check(summary[name], summary)
                row[name] = {"value": value, "pass": ok,
                             "text": "n/a" if value is None else fmt.format(value)}
        rows.append(row)
    return rows


def _f(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(raw: dict[str, Any], summary: Summary) -> str:
    meta = raw["meta"]
    names = list(summary)
    gwd = meta.get("gwd_commit") or meta.get("gwd_tree")
    out = [f"Run {meta['started']} on {meta['machine']}; gwd {gwd}; "
           f"{meta['rounds']} round(s), {meta['duration_s']:g} s per wrk run, upstream delay "
           f"{meta['delay_ms']:g} ms for c=1; {meta['pinning']}; load average "
           f"{meta['loadavg_start']:.2f} before, {meta['loadavg_end']:.2f} after; "
           f"{meta.get('wall_s', 0):.0f} s in all.", ""]
    shares = [s["cpu_share"] for s in summary.values() if s["cpu_share"] is not None]
    if shares and min(shares) < 0.85:
        out += [f"⚠ Some target used only {min(shares):.0%} of its CPU's busy time while "
                "saturated: other processes competed for it, so these figures are noisy. "
                "Run on a quiet machine.", ""]
    out += ["**Throughput** — wrk " + meta["saturating"] + ", upstream answers at once", ""]
    out += _table(["target", "RPS", "range", "× direct", "× floor", "× floor (paired)",
                   "p50 ms", "p99 ms", "CPU ms/req", "CPU × floor", "CPU share", "errors"],
                  [[n, _f(s["rps"], "{:,.0f}"),
                    f"{_f(s['rps_min'], '{:,.0f}')}–{_f(s['rps_max'], '{:,.0f}')}",
                    _f(s["rps_x_direct"], "{:.2f}"), _f(s["rps_x_floor"], "{:.2f}"),
                    _f(s["rps_x_floor_paired"], "{:.2f}"), _f(s["sat_p50_ms"], "{:.2f}"),
                    _f(s["sat_p99_ms"], "{:.2f}"), _f(s["cpu_ms_per_req"], "{:.3f}"),
                    _f(s["cpu_ms_per_req_x_floor"], "{:.2f}"), _f(s["cpu_share"], "{:.0%}"),
                    f"{s['errors']:.0f}"]
                   for n, s in summary.items()])
    out += ["", f"**Latency** — c=1, upstream delay {meta['delay_ms']:g} ms; streams: "
            f"{meta['stream_requests']} sequential streamed calls per round, "
            f"{meta['chunks']} chunks {meta['chunk_gap_ms']:g} ms apart", ""]
    out += _table(["target", "p50 ms", "p99 ms", "added ms", "added − floor's",
                   "TTFT ms", "TTFT added", "TTFT − floor's", "last byte added"],
                  [[n, _f(s["c1_p50_ms"], "{:.3f}"), _f(s["c1_p99_ms"], "{:.3f}"),
                    _f(s["added_ms"], "{:.3f}"), _f(s["added_vs_floor_ms"], "{:+.3f}"),
                    _f(s["ttft_ms"], "{:.3f}"), _f(s["added_ttft_ms"], "{:.3f}"),
                    _f(s["ttft_vs_floor_ms"], "{:+.3f}"), _f(s["added_total_ms"], "{:.3f}")]
                   for n, s in summary.items()])
    out += ["", "**Resources**", ""]
    out += _table(["target", "peak RSS MB", "RSS × floor", "start-up s (cold)",
                   "ready line s (cold)", "start-up s (median)", "(worst)", "start × floor"],
                  [[n, _f(s["rss_mb"], "{:.1f}"), _f(s["rss_mb_x_floor"], "{:.2f}"),
                    _f(s["start_s"], "{:.3f}"), _f(s["ready_s"], "{:.3f}"),
                    _f(s["start_median_s"], "{:.3f}"), _f(s["start_max_s"], "{:.3f}"),
                    _f(s["start_median_s_x_floor"], "{:.2f}")]
                   for n, s in summary.items()])
    gw = [n for n in GWD if n in names]
    if gw:
        out += ["", "**Goals** (issue “Performance — bench/ side by side”)", ""]
        rows = []
        for g in goals(summary):
            cells = [g["goal"]]
            for n in gw:
                c = g[n]
                verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[c["pass"]]
                cells.append(f"{c['text']} {verdict}")
            rows.append(cells)
        out += _table(["goal", *gw], rows)
    for name in gw:
        spend = raw["targets"][name].get("spend")
        if spend:
            out.append(f"\n- {name}: {spend['ledger_requests']:,} calls in the key's spend "
                       f"(${spend['spend_usd']}) for {spend['answered_calls']:,.0f} answers "
                       "counted by the bench (calls cut off when wrk stops are billed too).")
    for note in raw.get("notes", []):
        out.append(f"\n- {note}")
    return "\n".join(out) + "\n"
