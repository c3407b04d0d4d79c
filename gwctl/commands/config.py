"""``gwctl config reload``: make gwd re-read its config file (POST /config/reload).

A bad config is refused by gwd, which keeps serving the old one; gwctl then
exits 1 with gwd's one-line reason (file, entry, problem).
"""

from __future__ import annotations

import typer

from ..client import api
from ..output import JsonFlag, note, print_json, say, typer_app

app = typer_app(no_args_is_help=True, help="Work with gwd's config file.")


@app.command("reload")
def reload(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Re-read the config: new or removed models take effect without dropping requests."""
    data = api(ctx).post("/config/reload")
    if json_out:
        print_json(data)
        return
    say(f"Config reloaded: {data.get('model_groups', '?')} model group(s), "
        f"{data.get('deployments', '?')} deployment(s).")
    for warning in data.get("warnings") or ():
        note(f"config warning: {warning}")
