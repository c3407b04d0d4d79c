"""``gwctl spend``: spend reports by key, model or day, as a table, JSON or CSV.

gwd's JSON is shown as it comes: ``--by key`` -> /spend/keys, ``--by model`` ->
/spend/models, ``--by day`` -> /spend/days, each with ``since``/``until`` and
(models, days) ``key``. ``--by key --key K`` is the one row of that key: from
/key/info for all-time totals, else its row of the windowed /spend/keys.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from ..client import Client, api
from ..output import (
    NONE,
    JsonFlag,
    WideFlag,
    expiry,
    narrow,
    number,
    print_json,
    short_id,
    show,
    table,
    usd,
    write_csv,
)


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
    by: Annotated[By, typer.Option("--by", metavar="key|model|day",
                                   help="Group spend by key, model or day.")] = By.key,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY", help="Only this key's spend (the key, or its key_id).")
    ] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Only calls from WHEN on: an ISO 8601 date or time, "
        "or a span back from now such as 30m, 24h or 7d (with --by model or day).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="WHEN", help="Only calls before WHEN (same forms as --since).")
    ] = None,
    wide: WideFlag = False,
    json_out: JsonFlag = False,
    csv_out: Annotated[bool, typer.Option(
        "--csv", help="Print CSV: a header line, then one line per row.")] = False,
) -> None:
    """Show what was spent, in USD, with totals."""
    if json_out and csv_out:
        ctx.fail("--csv and --json cannot be used together")
    data = fetch(api(ctx), by, key, since, until)
    if json_out:
        print_json(data)
    elif csv_out:
        names = [name for name, _ in COLUMNS[by]]
        write_csv(names, ([number(row.get(n)) for n in names] for row in data[ROWS[by]]))
    else:
        show(render(by, data, key, since, until, wide))


def fetch(client: Client, by: By, key: str | None, since: str | None,
          until: str | None) -> dict[str, Any]:
    """The report as gwd's JSON."""
    if by is By.day:
        return dict(client.get("/spend/days", since=since, until=until, key=key))
    if by is By.model:
        return dict(client.get("/spend/models", since=since, until=until, key=key))
    if key is None:
        return dict(client.get("/spend/keys", since=since, until=until))
    info = client.get("/key/info", key=key)["info"]
    if since is None and until is None:
        row = {name: info.get(name) for name, _ in COLUMNS[By.key]}
        return {"keys": [row], "total_spend": info["spend"], "total_requests": info["requests"]}
    window = client.get("/spend/keys", since=since, until=until)
    rows = [r for r in window["keys"] if r.get("key_id") == info.get("key_id")]
    return {"keys": rows, "total_spend": sum(r["spend"] for r in rows),
            "total_requests": sum(r["requests"] for r in rows)}


def cell(name: str, value: Any, wide: bool = False) -> str:
    if name == "key_id":
        return short_id(value, wide)
    if name in ("spend", "max_budget"):
        return usd(value)
    if name == "expires":
        return expiry(value, compact=narrow(wide))
    if value is None:
        return NONE
    return number(value)


def render(by: By, data: dict[str, Any], key: str | None, since: str | None,
           until: str | None, wide: bool = False) -> Any:
    columns = COLUMNS[by]
    rows = data[ROWS[by]]
    body = [[cell(name, row.get(name), wide) for name, _ in columns] for row in rows]
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
    return table(headings, body, total=total, title=title, right=right, wide=wide,
                 optional=("Key", "Budget", "Provider"))
