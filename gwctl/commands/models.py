"""``gwctl models``: the model groups gwd serves (GET /models, as the master key sees it)."""

from __future__ import annotations

import typer

from ..client import api
from ..output import JsonFlag, print_json, show, table


def models(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List the model groups gwd serves."""
    data = api(ctx).get("/models")
    if json_out:
        print_json(data)
        return
    names = [(str(item.get("id")), str(item.get("owned_by", ""))) for item in data["data"]]
    show(table(["Model", "Owned by"], names, title=f"{len(names)} model group(s)"))
