"""``gwctl spend``: spend reports by key, model or day, as a table, JSON or CSV.

Where gwd has an endpoint for the question, its JSON is shown as is:
``--by key`` -> /spend/keys, ``--by model`` -> /spend/models, ``--by day`` ->
/spend/days. Two combinations gwd has no endpoint for are answered from other
routes, in the same JSON shape:

- ``--by key --key K``: the one row comes from /key/info.
- ``--by model --key K``: summed here, exactly (Decimal), from the key's rows of
  /spend/logs.

``--by key`` with ``--since``/``--until`` is refused (exit 2): gwd keeps per-key
spend only as all-time totals, and its request log does not name keys.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer

from ..client import Client, api
from ..output import (
    NONE,
    JsonFlag,
    expiry,
    number,
    print_json,
    show,
    table,
    usd,
    write_csv,
)

LOG_PAGE = 1000


class By(StrEnum):
    key = "key"
    model = "model"
    day = "day"


COLUMNS: dict[By, tuple[tuple[str, str], ...]] = {  # (JSON field, table heading)
    By.key: (("key_id", "ID"), ("key_name", "Key"), ("key_alias", "Name"),
             ("requests", "Requests"), ("spend", "Spend"), ("max_budget", "Budget"),
             ("expires", "Expires")),
    By.model: (("model_group", "Model group"), ("deployment", "Deployment"),
               ("provider", "Provider"), ("requests", "Requests"),
               ("prompt_tokens", "Tokens in"), ("completion_tokens", "Tokens out"),
               ("spend", "Spend")),
    By.day: (("day", "Day"), ("requests", "Requests"), ("prompt_tokens", "Tokens in"),
             ("completion_tokens", "Tokens out"), ("spend", "Spend")),
}
ROWS = {By.key: "keys", By.model: "models", By.day: "days"}
NUMERIC = ("requests", "prompt_tokens", "completion_tokens", "spend", "max_budget")


def spend(
    ctx: typer.Context,
    by: Annotated[By, typer.Option("--by", help="Group spend by key, model or day.")] = By.key,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY", help="Only this key's spend (the key, or its key_id).")
    ] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Only calls from WHEN on: an ISO 8601 date or time, "
        "or a span back from now such as 30m, 24h or 7d (with --by model or day).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="WHEN", help="Only calls before WHEN (same forms as --since).")
    ] = None,
    json_out: JsonFlag = False,
    csv_out: Annotated[bool, typer.Option(
        "--csv", help="Print CSV: a header line, then one line per row.")] = False,
) -> None:
    """Show what was spent, in USD, with totals."""
    if json_out and csv_out:
        ctx.fail("--csv and --json cannot be used together")
    if by is By.key and (since or until):
        ctx.fail("--since/--until need --by model or --by day: gwd keeps per-key spend "
                 "as all-time totals")
    data = fetch(api(ctx), by, key, since, until)
    if json_out:
        print_json(data)
    elif csv_out:
        names = [name for name, _ in COLUMNS[by]]
        write_csv(names, ([number(row.get(n)) for n in names] for row in data[ROWS[by]]))
    else:
        show(render(by, data, key, since, until))


def fetch(client: Client, by: By, key: str | None, since: str | None,
          until: str | None) -> dict[str, Any]:
    """The report as gwd's JSON (or, see the module docstring, in its shape)."""
    if by is By.day:
        return dict(client.get("/spend/days", since=since, until=until, key=key))
    if by is By.model:
        if key is None:
            return dict(client.get("/spend/models", since=since, until=until))
        return models_from_logs(client, key, since, until)
    if key is None:
        return dict(client.get("/spend/keys"))
    info = client.get("/key/info", key=key)["info"]
    row = {name: info.get(name) for name, _ in COLUMNS[By.key]}
    return {"keys": [row], "total_spend": info["spend"], "total_requests": info["requests"]}


def models_from_logs(client: Client, key: str, since: str | None,
                     until: str | None) -> dict[str, Any]:
    """/spend/models' answer for one key, summed from its request log."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    offset = 0
    while True:
        logs = client.get("/spend/logs", key=key, since=since, until=until, limit=LOG_PAGE,
                          offset=offset)["logs"]
        for log in logs:
            ident = (log["model_group"], log["deployment"], log["provider"])
            acc = groups.setdefault(ident, {"spend": Decimal(0), "requests": 0,
                                            "prompt_tokens": 0, "completion_tokens": 0})
            if log.get("cost") is not None:
                acc["spend"] += Decimal(repr(log["cost"]))
            acc["requests"] += 1
            acc["prompt_tokens"] += log.get("prompt_tokens") or 0
            acc["completion_tokens"] += log.get("completion_tokens") or 0
        if len(logs) < LOG_PAGE:
            break
        offset += LOG_PAGE
    order = sorted(groups.items(), key=lambda item: (-item[1]["spend"], *item[0]))
    rows = [{"model_group": g, "deployment": d, "provider": p, **acc,
             "spend": float(acc["spend"])} for (g, d, p), acc in order]
    total = sum((acc["spend"] for acc in groups.values()), Decimal(0))
    return {"models": rows, "total_spend": float(total),
            "total_requests": sum(acc["requests"] for acc in groups.values())}


def cell(name: str, value: Any) -> str:
    if name in ("spend", "max_budget"):
        return usd(value)
    if name == "expires":
        return expiry(value)
    if value is None:
        return NONE
    return number(value)


def render(by: By, data: dict[str, Any], key: str | None, since: str | None,
           until: str | None) -> Any:
    columns = COLUMNS[by]
    rows = data[ROWS[by]]
    body = [[cell(name, row.get(name)) for name, _ in columns] for row in rows]
    total: list[str] = []
    for name, _ in columns:
        if name == "spend":
            total.append(usd(data.get("total_spend")))
        elif name == "requests":
            total.append(number(data.get("total_requests")))
        elif name in ("prompt_tokens", "completion_tokens"):
            total.append(number(sum(row.get(name) or 0 for row in rows)))
        else:
            total.append("")
    total[0] = "Total"
    shown = key if key and key.startswith("key-") else f"sk-...{(key or '')[-4:]}"  # no secret
    scope = [f"key {shown}" if by is not By.key and key else "",
             f"since {since}" if since else "", f"until {until}" if until else ""]
    title = " ".join(["Spend by", by.value, *filter(None, scope)])
    headings = [heading for _, heading in columns]
    right = [heading for name, heading in columns if name in NUMERIC]
    return table(headings, body, total=total, title=title, right=right)
