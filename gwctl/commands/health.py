"""``gwctl health``: gwd's detailed health (GET /health, master key).

Exit status 0 when gwd reports ``ok``; 1 when it answers but reports anything
else (e.g. ``degraded`` with its database down), so ``gwctl health && ...``
works in a script.
"""

from __future__ import annotations

from typing import Any

import typer

from ..client import api
from ..output import JsonFlag, fields, note, print_json, show, table


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def health(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Check gwd: status, version, database, and each deployment's state."""
    data = api(ctx).get("/health")
    status = str(data.get("status", "unknown"))
    if json_out:
        print_json(data)
    else:
        show(fields(f"gwd at {api(ctx).url}", [
            ("Status", status), ("Version", str(data.get("version", "?"))),
            ("Database", f"{data.get('db', '?')} ({data.get('store', '?')})"),
            ("In flight", str(data.get("in_flight", 0))),
            ("Spend buffered", str(data.get("spend_buffered", 0)))],
            {"Status": "bold green" if status == "ok" else "bold red"}))
        deployments = data.get("deployments") or []
        show(table(["Model group", "Deployment", "Provider", "Cooling down", "In flight",
                    "Successes", "Errors"],
                   [(str(d.get("model_group")), str(d.get("deployment")),
                     str(d.get("provider")), _yes(d.get("cooling_down")),
                     str(d.get("in_flight", 0)), str(d.get("successes", 0)),
                     str(d.get("errors", 0))) for d in deployments],
                   right=("In flight", "Successes", "Errors"),
                   title=f"{len(deployments)} deployment(s)"))
    if status != "ok":
        note(f"gwd reports status {status!r} (database: {data.get('db', '?')})")
        raise typer.Exit(1)
