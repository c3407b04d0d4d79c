"""A fault lab for the catalogue tests: one gwd in front of scriptable fake upstreams.

:class:`Lab` is one gwd (SQLite) whose model groups are wired to a few fakes and to
addresses that misbehave at the network level (a black hole, a name that does not
resolve, a TLS port that speaks plain HTTP). Each test scripts faults on the fakes,
calls a group with a fresh virtual key and reads that key's ledger rows straight from
the database. Each group has its own deployments (``model_info.id``), so one test's
cooldowns never reach another's.

:class:`ScriptedFake` streams exactly the bytes a test gives it (malformed SSE lines,
non-UTF-8 bytes, a stream with no ``[DONE]``, a body of any size), and
:func:`black_hole` gives an address whose TCP connects never complete.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from math import ceil
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.fakes import Fault, OpenAIFake
from tests.fakes.base import JsonReply, RecordedRequest, StreamReply, sse
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import Row, key_hash, rows, totals

IN_PRICE, OUT_PRICE = Decimal("0.000001234567"), Decimal("0.000009876543")
PRICES = {"input_cost_per_token": str(IN_PRICE), "output_cost_per_token": str(OUT_PRICE)}
PROVIDER_KEY = "sk-provider-canary-5c1f0e9d8b7a6c5d4e3f"
MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRIMARY = 1_000_000.0   # a weight that puts a deployment first (odds 1e6 to 1)


def cost(prompt: int, completion: int) -> Decimal:
    return prompt * IN_PRICE + completion * OUT_PRICE


def estimate(text: str) -> int:
    """gw's documented estimate when an upstream reports no usage: ~4 characters a token."""
    return ceil(len(text) / 4)


class ScriptedFake(OpenAIFake):
    """An OpenAI fake that sends ``script`` (raw, already framed bytes) when it is set."""

    def __init__(self, name: str = "scripted") -> None:
        super().__init__(name)
        self.script: list[bytes] | None = None
        self.content_type = "text/event-stream"

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if self.script is None:
            return super().answer(request, fault)
        return StreamReply(self.script, content_type=self.content_type)


@contextmanager
def black_hole() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` where connects hang: a listener whose accept queue is
    full and never drained, so the kernel drops every further SYN."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event a client received."""
    out: list[tuple[str | None, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, "\n".join(data)))
    return out


def sse_chunk(content: str | None = None, finish: str | None = None) -> bytes:
    """One framed OpenAI chat chunk carrying ``content`` (None: an empty delta)."""
    delta = {} if content is None else {"content": content}
    return sse({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o", "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": finish}]})


def streamed_text(events: list[tuple[str | None, str]]) -> str:
    """The completion text a client assembled from the chunks it received."""
    parts = []
    for name, data in events:
        if name is None and data.startswith("{"):
            for choice in orjson.loads(data).get("choices") or ():
                parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


def catalogue_groups(fakes: Mapping[str, OpenAIFake],
                     hole: str) -> dict[str, list[tuple[str, float | None]]]:
    """The model groups of tests/catalogue/test_faults.py, one (or more) per case.

    ``fakes`` has "ok" (behaves), "bad" and "bad2" (scripted to fail) and "scripted";
    ``hole`` is a :func:`black_hole` address. A faulty deployment weighted
    :data:`PRIMARY` is tried first, the healthy one (weight 1) after it."""
    ok, bad, bad2 = (fakes[n].base_url for n in ("ok", "bad", "bad2"))
    dns, tls = "http://gw-test.invalid:1", f"https://127.0.0.1:{fakes['ok'].port}"
    scripted = fakes["scripted"].base_url
    groups: dict[str, list[tuple[str, float | None]]] = {
        "c2": [(bad, None), (bad2, None)], "c5-only": [(hole, None)],
        "c11-eof": [(scripted, None)], "c12": [(scripted, None)],
        "c26-dns-only": [(dns, None)], "c26-tls-only": [(tls, None)],
        "c5": [(hole, PRIMARY), (ok, 1.0)], "c26-dns": [(dns, PRIMARY), (ok, 1.0)],
        "c26-tls": [(tls, PRIMARY), (ok, 1.0)]}
    for name in ("c1-500", "c1-502", "c1-503", "c3", "c4-400", "c4-401", "c8-failover",
                 "c14-failover"):
        groups[name] = [(bad, PRIMARY), (ok, 1.0)]
    for name in ("c6", "c7", "c8", "c9", "c10", "c11", "c14", "c22", "c23"):
        groups[name] = [(bad, None)]
    return groups


@dataclass
class Lab:
    """One gwd (access log on) wired to fakes; ``groups`` maps a model group to
    [(api_base, weight)]."""

    tmp: Path
    groups: dict[str, list[tuple[str, float | None]]]
    router: dict[str, Any] = field(default_factory=dict)
    proc: GwdProcess | None = None

    @property
    def db(self) -> str:
        return f"sqlite:///{self.tmp / 'lab.db'}"

    def config(self) -> dict[str, Any]:
        model_list = []
        for name, bases in self.groups.items():
            for i, (base, weight) in enumerate(bases):
                params: dict[str, Any] = {"model": "openai/gpt-4o", "api_base": base,
                                          "api_key": PROVIDER_KEY, **PRICES}
                if weight is not None:
                    params["weight"] = weight
                model_list.append({"model_name": name, "litellm_params": params,
                                   "model_info": {"id": f"{name}/{i}"}})
        return {"model_list": model_list,
                "general_settings": {"master_key": MASTER_KEY, "database_url": self.db,
                                     "access_log": True},
                "router_settings": self.router}

    def start(self) -> Lab:
        self.proc = GwdProcess(self.config(), self.tmp, name="lab").start()
        return self

    @property
    def url(self) -> str:
        assert self.proc is not None
        return self.proc.base_url

    def key(self) -> str:
        r = httpx.post(self.url + "/key/generate", headers=MASTER, json={}, timeout=10)
        assert r.status_code == 200, r.text
        return str(r.json()["key"])

    def call(self, key: str, group: str, *, stream: bool = False, timeout: float = 30,
             **body: Any) -> httpx.Response:
        payload = {"model": group, "messages": [{"role": "user", "content": "hi"}], **body}
        if stream:
            payload["stream"] = True
        return httpx.post(self.url + "/v1/chat/completions", json=payload, timeout=timeout,
                          headers={"Authorization": f"Bearer {key}"})

    def access_lines(self) -> list[dict[str, Any]]:
        """gwd's access log lines so far (JSON lines among its other log lines)."""
        assert self.proc is not None
        return [orjson.loads(line) for line in self.proc.log_text().splitlines()
                if line.startswith('{"time"')]

    def rows(self, key: str) -> list[Row]:
        """The key's ledger rows, after gwd wrote every row it buffered."""
        httpx.get(self.url + "/key/info", params={"key": key}, headers=MASTER, timeout=10)
        return rows(self.db, key_hash(key))

    def assert_exact(self, key: str) -> None:
        """The key's counters equal its ledger (I7)."""
        t = totals(self.db, key_hash(key))
        assert (t.key_spend, t.key_requests) == (t.ledger_sum, t.ledger_rows)

    def summary(self, key: str) -> list[tuple[str, Decimal | None]]:
        """(status, cost) of each of the key's ledger rows, sorted; checks them exact first."""
        self.assert_exact(key)
        return sorted((r.status, r.cost) for r in self.rows(key))
