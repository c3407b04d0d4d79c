"""``gwctl key create|info|list|update|delete|regenerate|block|unblock``: virtual keys
via /key/*.

Option values are checked for shape here (``FROM=TO``, ``K=V``, a number for
the budget) so a typo is a usage error (exit 2); everything else — durations,
model names, budget limits — is gwd's to judge (exit 1 with its message).
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from ..checks import unserved
from ..client import Client, api
from ..output import (
    NONE,
    JsonFlag,
    WideFlag,
    confirm,
    expiry,
    fields,
    mapping_text,
    models_text,
    moment,
    narrow,
    note,
    print_json,
    say,
    short_id,
    show,
    table,
    typer_app,
    usd,
)

app = typer_app(no_args_is_help=True,
                help="Create, inspect, change and delete virtual keys.")
LIST_PAGE = 1000


def _check_pairs(param: typer.CallbackParam, value: list[str] | None) -> list[str] | None:
    for item in value or ():
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or (param.name == "alias" and not right.strip()):
            shape = "FROM=TO" if param.name == "alias" else "KEY=VALUE"
            raise typer.BadParameter(f"{item!r} is not {shape}")
    return value


def _check_budget(value: str | None) -> str | None:
    if value is None or value.lower() == "none":
        return value
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise typer.BadParameter(f"{value!r} is not a number of USD (or 'none')")
    return value


Models = Annotated[list[str] | None, typer.Option(
    "--models", "-m", metavar="M[,M...]",
    help="Model groups the key may use; repeat the option or separate with commas. "
         "Not given: all models.")]
Duration = Annotated[str | None, typer.Option(
    "--duration", "-d", metavar="SPAN",
    help="How long the key is valid: 30s, 20m, 30h, 30d, 2w, 1mo or never. Not given: "
         "gwd's default (1 hour).")]
Alias = Annotated[list[str] | None, typer.Option(
    "--alias", "-a", metavar="FROM=TO", callback=_check_pairs,
    help="A request for model FROM goes to model group TO; repeatable.")]
NewModels = Annotated[list[str] | None, typer.Option(
    "--models", "-m", metavar="M[,M...]",
    help="The model groups the key may use from now on; repeat the option or separate "
         "with commas; '' for all models.")]
NewDuration = Annotated[str | None, typer.Option(
    "--duration", "-d", metavar="SPAN",
    help="A new validity, counted from now: 30s, 20m, 30h, 30d, 2w, 1mo or never.")]
NewAlias = Annotated[list[str] | None, typer.Option(
    "--alias", "-a", metavar="FROM=TO", callback=_check_pairs,
    help="A request for model FROM goes to model group TO; repeatable; replaces all the "
         "key's aliases.")]
NewMetadata = Annotated[list[str] | None, typer.Option(
    "--metadata", metavar="KEY=VALUE", callback=_check_pairs,
    help="Free-form metadata kept with the key; repeatable; replaces it all.")]
Budget = Annotated[str | None, typer.Option(
    "--max-budget", "-b", metavar="USD", callback=_check_budget,
    help="Spend limit in USD; 'none' for no limit.")]
Name = Annotated[str | None, typer.Option(
    "--name", "-n", metavar="NAME", help="A human name for the key (its key_alias).")]
KeyRef = Annotated[str, typer.Argument(
    metavar="KEY", help="The key (sk-...) or its key_id (key-...).", show_default=False)]
Metadata = Annotated[list[str] | None, typer.Option(
    "--metadata", metavar="KEY=VALUE", callback=_check_pairs,
    help="Free-form metadata kept with the key; repeatable.")]


def warn_unserved(client: Client, body: dict[str, Any]) -> None:
    """A warning (not a refusal) for each of --models that gwd does not serve."""
    for name in unserved(client, body.get("models") or []):
        note(f"warning: gwd serves no model group {name!r} (see gwctl models); the key "
             "may name it, but calls for it fail until the config has it")


def split_models(values: list[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (blanks dropped, order kept, no repeats)."""
    names = (name.strip() for value in values for name in value.split(","))
    return list(dict.fromkeys(name for name in names if name))


def pairs(values: list[str]) -> dict[str, str]:
    """``["a=b", "c=d=e"]`` -> ``{"a": "b", "c": "d=e"}`` (shape already checked)."""
    return {left.strip(): right.strip()
            for left, _, right in (value.partition("=") for value in values)}


def key_fields(models: list[str] | None = None, duration: str | None = None,
               alias: list[str] | None = None, max_budget: str | None = None,
               name: str | None = None, metadata: list[str] | None = None) -> dict[str, Any]:
    """The /key/generate and /key/update body for the options given (and only those)."""
    body: dict[str, Any] = {}
    if models is not None:
        body["models"] = split_models(models)
    if duration is not None:
        body["duration"] = duration
    if alias is not None:
        body["aliases"] = pairs(alias)
    if max_budget is not None:
        body["max_budget"] = None if max_budget.lower() == "none" else float(max_budget)
    if name is not None:
        body["key_alias"] = name
    if metadata is not None:
        body["metadata"] = pairs(metadata)
    return body


def budget_text(info: dict[str, Any]) -> str:
    if info.get("max_budget") is None:
        return "none"
    left = info.get("budget_remaining")
    return usd(info["max_budget"]) + (f" ({usd(left)} left)" if left is not None else "")


def info_pairs(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of a key's panel, from an ``info`` object or a generate answer."""
    rows = [("ID", info["key_id"])] if info.get("key_id") else []
    rows += [("Name", info.get("key_alias") or NONE)]
    if "spend" in info:
        rows += [("Spend", usd(info["spend"])), ("Requests", str(info.get("requests", 0)))]
    rows += [("Budget", budget_text(info)), ("Expires", expiry(info.get("expires"))),
             ("Models", models_text(info.get("models"))),
             ("Aliases", mapping_text(info.get("aliases"))),
             ("Metadata", mapping_text(info.get("metadata"), "=")),
             ("Created", moment(info.get("created_at")))]
    if info.get("config"):
        rows.insert(-1, ("Config", mapping_text(info["config"], "=")))
    return rows


def warn_styles(info: dict[str, Any]) -> dict[str, str]:
    """Red for an expired key or a spent budget."""
    styles = {}
    if expiry(info.get("expires")).endswith("(expired)"):
        styles["Expires"] = "bold red"
    if info.get("max_budget") is not None and not info.get("budget_remaining"):
        styles["Budget"] = "bold red"
    return styles


@app.command("create")
def create(ctx: typer.Context, models: Models = None, duration: Duration = None,
           alias: Alias = None, max_budget: Budget = None, name: Name = None,
           metadata: Metadata = None, json_out: JsonFlag = False,
           quiet: Annotated[bool, typer.Option(
               "--quiet", "-q", help="Print only the new key.")] = False) -> None:
    """Create a virtual key and print it (gwd shows a key only once)."""
    if json_out and quiet:
        ctx.fail("--quiet and --json cannot be used together")
    body = key_fields(models, duration, alias, max_budget, name, metadata)
    warn_unserved(api(ctx), body)
    data = api(ctx).post("/key/generate", body)
    if json_out:
        print_json(data)
    elif quiet:
        say(data["key"])
    else:
        show(fields("New key", [("Key", data["key"]), *info_pairs(data)],
                    {"Key": "bold green"}))
        note("store the key now: gwd keeps only its hash and cannot show it again")


@app.command("info")
def info(ctx: typer.Context, key: KeyRef,
         json_out: JsonFlag = False) -> None:
    """Show a key's spend, budget, expiry, models and aliases."""
    data = api(ctx).get("/key/info", key=key)
    if json_out:
        print_json(data)
    else:
        show(fields(f"Key {data['info']['key_name']}", info_pairs(data["info"]),
                    warn_styles(data["info"])))


def _matches(key: dict[str, Any], model: str | None, name: str | None) -> bool:
    if model is not None and key.get("models") and model not in key["models"]:
        return False  # (no models: the key may use them all)
    return name is None or name.lower() in (key.get("key_alias") or "").lower()


@app.command("list")
def list_keys(ctx: typer.Context,
              limit: Annotated[int | None, typer.Option(
                  "--limit", "-l", metavar="N", min=1, show_default=False,
                  help="Show at most N keys (after the filters).")] = None,
              model: Annotated[str | None, typer.Option(
                  "--model", metavar="M", show_default=False,
                  help="Only keys that may use model group M.")] = None,
              name: Annotated[str | None, typer.Option(
                  "--name", "-n", metavar="TEXT", show_default=False,
                  help="Only keys whose name (key_alias) contains TEXT, in any case.")] = None,
              wide: WideFlag = False, json_out: JsonFlag = False) -> None:
    """List keys (every page, or the first N): name, spend, budget, requests, models,
    expiry."""
    client = api(ctx)
    found: list[dict[str, Any]] = []
    page = 1
    while limit is None or len(found) < limit:
        data = client.get("/key/list", page=page, size=LIST_PAGE)
        found += [k for k in data["keys"] if _matches(k, model, name)]
        if len(data["keys"]) < LIST_PAGE:
            break
        page += 1
    found = found[:limit]
    if json_out:
        whole = page == 1 and limit is None and model is None and name is None
        print_json(data if whole else {"keys": found, "page": 1, "size": len(found)})
        return
    ids = any(k.get("key_id") for k in found)  # gwd names keys publicly by key_id
    small = narrow(wide)
    rows = [([short_id(k.get("key_id"), wide)] if ids else []) + [
             k["key_name"], k.get("key_alias") or NONE, usd(k["spend"]),
             usd(k.get("max_budget")), str(k.get("requests", 0)), models_text(k["models"]),
             expiry(k.get("expires"), compact=small)] for k in found]
    columns = ["Key", "Name", "Spend", "Budget", "Requests", "Models", "Expires"]
    show(table(["ID", *columns] if ids else columns, rows,
               right=("Spend", "Budget", "Requests"), title=f"{len(found)} key(s)",
               optional=("Key", "Requests") if ids else (), wide=wide))
    if ids and found and small:
        note("narrow screen: ids shortened, some columns left out; --wide shows all")


@app.command("update")
def update(ctx: typer.Context, key: KeyRef,
           models: NewModels = None, duration: NewDuration = None, alias: NewAlias = None,
           max_budget: Budget = None, name: Name = None, metadata: NewMetadata = None,
           json_out: JsonFlag = False) -> None:
    """Change a key: only the options given are changed."""
    body = key_fields(models, duration, alias, max_budget, name, metadata)
    if not body:
        ctx.fail("nothing to change: give at least one option (see --help)")
    warn_unserved(api(ctx), body)
    data = api(ctx).post("/key/update", {"key": key, **body})
    if json_out:
        print_json(data)
    else:
        show(fields(f"Key {data['info']['key_name']} updated", info_pairs(data["info"]),
                    warn_styles(data["info"])))


@app.command("delete")
def delete(ctx: typer.Context,
           keys: Annotated[list[str], typer.Argument(
               metavar="KEY...", help="Keys (sk-...) or key_ids (key-...).")],
           yes: Annotated[bool, typer.Option(
               "--yes", "-y", help="Do not ask; needed when stdin is not a terminal.")] = False,
           json_out: JsonFlag = False) -> None:
    """Delete keys; they are refused at once. Asks first unless --yes."""
    if not yes:
        if not sys.stdin.isatty():
            note("not deleted: stdin is not a terminal, so gwctl cannot ask; "
                 "add --yes to delete without asking")
            raise typer.Exit(2)
        if not confirm(f"Delete {len(keys)} key(s)? They stop working at once."):
            note("nothing deleted")
            raise typer.Exit(1)
    data = api(ctx).post("/key/delete", {"keys": keys})
    if json_out:
        print_json(data)
        return
    say(f"Deleted {len(data['deleted_keys'])} key(s).")
    if data.get("not_found"):
        note(f"{data['not_found']} of the keys given did not exist")


@app.command("regenerate")
def regenerate(ctx: typer.Context, key: KeyRef, json_out: JsonFlag = False,
               quiet: Annotated[bool, typer.Option(
                   "--quiet", "-q", help="Print only the new key.")] = False) -> None:
    """Give a key a new secret: same key_id, settings and spend; the old secret is
    refused at once."""
    if json_out and quiet:
        ctx.fail("--quiet and --json cannot be used together")
    data = api(ctx).post("/key/regenerate", {"key": key})
    if json_out:
        print_json(data)
    elif quiet:
        say(data["key"])
    else:
        show(fields("Regenerated key", [("Key", data["key"]), *info_pairs(data["info"])],
                    {"Key": "bold green"}))
        note("store the new key now; the old one no longer works")


def _set_blocked(ctx: typer.Context, key: str, blocked: bool, json_out: bool) -> None:
    data = api(ctx).post("/key/block" if blocked else "/key/unblock", {"key": key})
    if json_out:
        print_json(data)
    else:
        say(f"Key {data['info']['key_name']} {'blocked' if blocked else 'unblocked'}.")


@app.command("block")
def block(ctx: typer.Context, key: KeyRef, json_out: JsonFlag = False) -> None:
    """Block a key: its calls are refused (401) until it is unblocked."""
    _set_blocked(ctx, key, True, json_out)


@app.command("unblock")
def unblock(ctx: typer.Context, key: KeyRef, json_out: JsonFlag = False) -> None:
    """Unblock a key blocked with ``gwctl key block``."""
    _set_blocked(ctx, key, False, json_out)
