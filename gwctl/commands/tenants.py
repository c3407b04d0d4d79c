"""``gwctl team|user|customer|org ...``: teams, internal users, end-users, organisations.

One command group per level, made by :func:`group` from a :class:`Level` (its route
prefix, id field and info parameter), over gwd's LiteLLM-compatible routes
(``/team/*``, ``/user/*``, ``/customer/*``, ``/organization/*``). Every group has
``create``, ``info``, ``list``, ``update`` and ``delete``; teams and end-users also
``block`` and ``unblock``; teams ``member-add`` and ``member-remove``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ..client import api
from ..output import (
    NONE,
    JsonFlag,
    confirm,
    fields,
    models_text,
    print_json,
    say,
    show,
    table,
    typer_app,
    usd,
)
from .keys import Budget, pairs, split_models


@dataclass(frozen=True)
class Level:
    name: str          # what the help calls it
    path: str          # route prefix
    id_field: str      # the body's id field
    ids_field: str     # the delete / block body's list field
    info_param: str    # /info's query parameter
    alias_field: str
    block: bool = False


LEVELS = {
    "team": Level("team", "/team", "team_id", "team_ids", "team_id", "team_alias", True),
    "user": Level("internal user", "/user", "user_id", "user_ids", "user_id", "user_alias"),
    "customer": Level("end-user (customer)", "/customer", "user_id", "user_ids",
                      "end_user_id", "alias", True),
    "org": Level("organization", "/organization", "organization_id", "organization_ids",
                 "organization_id", "organization_alias"),
}

Models = Annotated[list[str] | None, typer.Option(
    "--models", "-m", metavar="M[,M...]",
    help="Model groups calls at this level may use; repeat or separate with commas; '' for "
         "all.")]
AliasName = Annotated[str | None, typer.Option(
    "--alias", metavar="NAME", help="A human name.")]
Metadata = Annotated[list[str] | None, typer.Option(
    "--metadata", metavar="KEY=VALUE", help="Free-form metadata; repeatable.")]
Org = Annotated[str | None, typer.Option(
    "--org", metavar="ORG_ID", help="The organization a team belongs to.")]
Emails = Annotated[list[str] | None, typer.Option(
    "--email", metavar="EMAIL", help="A member by email (a user with it is made if there is "
    "none); repeatable.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _body(level: Level, tenant_id: str | None, alias: str | None, models: list[str] | None,
          max_budget: str | None, metadata: list[str] | None,
          org: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if tenant_id is not None:
        body[level.id_field] = tenant_id
    if alias is not None:
        body[level.alias_field] = alias
    if models is not None:
        body["models"] = split_models(models)
    if max_budget is not None:
        body["max_budget"] = None if max_budget.lower() == "none" else float(max_budget)
    if metadata is not None:
        body["metadata"] = pairs(metadata)
    if org is not None:
        body["organization_id"] = org
    return body


def _panel(level: Level, data: dict[str, Any]) -> None:
    rows = [("ID", str(data.get(level.id_field))),
            ("Name", data.get(level.alias_field) or NONE),
            ("Spend", usd(data.get("spend", 0))), ("Requests", str(data.get("requests", 0))),
            ("Budget", NONE if data.get("max_budget") is None else usd(data["max_budget"])),
            ("Models", models_text(data.get("models"))),
            ("Blocked", "yes" if data.get("blocked") else "no")]
    if data.get("organization_id"):
        rows.append(("Organization", str(data["organization_id"])))
    members = data.get("members_with_roles")
    if members:
        rows.append(("Members", ", ".join(f"{m['user_id']} ({m['role']})" for m in members)))
    show(fields(level.name.capitalize(), rows, {"Blocked": "bold red"}
                if data.get("blocked") else {}))


def group(kind: str) -> typer.Typer:
    level = LEVELS[kind]
    app = typer_app(no_args_is_help=True, help=f"Create, inspect, change and delete "
                    f"{level.name}s ({level.path}/*).")

    @app.command("create")
    def create(ctx: typer.Context, tenant_id: Annotated[str | None, typer.Option(
                   "--id", metavar="ID", help="The id (gwd makes one if not given).")] = None,
               alias: AliasName = None, models: Models = None, max_budget: Budget = None,
               metadata: Metadata = None, org: Org = None,
               json_out: JsonFlag = False) -> None:
        """Create one and print it."""
        if org is not None and kind != "team":
            ctx.fail("--org applies to teams only")
        if tenant_id is None and kind == "customer":
            ctx.fail("an end-user needs --id (the 'user' its calls send)")
        data = api(ctx).post(f"{level.path}/new", _body(level, tenant_id, alias, models,
                                                        max_budget, metadata, org))
        if json_out:
            print_json(data)
        else:
            _panel(level, data)
            if data.get("key"):
                show(fields("Key", [("Key", data["key"])], {"Key": "bold green"}))

    @app.command("info")
    def info(ctx: typer.Context, tenant_id: Annotated[str, typer.Argument(
                 metavar="ID", help="Its id.", show_default=False)],
             json_out: JsonFlag = False) -> None:
        """Show its spend, budget, models and members."""
        data = api(ctx).get(f"{level.path}/info", **{level.info_param: tenant_id})
        if json_out:
            print_json(data)
            return
        record = data.get("team_info") or data.get("user_info") or data
        _panel(level, record)

    @app.command("list")
    def list_(ctx: typer.Context, json_out: JsonFlag = False) -> None:
        """List them, oldest first."""
        data = api(ctx).get(f"{level.path}/list")
        if json_out:
            print_json(data)
            return
        items = data["users"] if isinstance(data, dict) else data
        show(table(["ID", "Name", "Spend", "Budget", "Blocked"], [
            (str(t.get(level.id_field)), t.get(level.alias_field) or NONE,
             usd(t.get("spend", 0)), NONE if t.get("max_budget") is None
             else usd(t["max_budget"]), "yes" if t.get("blocked") else "no")
            for t in items], title=f"{len(items)} {level.name}(s)"))

    @app.command("update")
    def update(ctx: typer.Context, tenant_id: Annotated[str, typer.Argument(
                   metavar="ID", help="Its id.", show_default=False)],
               alias: AliasName = None, models: Models = None, max_budget: Budget = None,
               metadata: Metadata = None, org: Org = None,
               json_out: JsonFlag = False) -> None:
        """Change what the options give; the rest stays."""
        if org is not None and kind != "team":
            ctx.fail("--org applies to teams only")
        data = api(ctx).post(f"{level.path}/update", _body(level, tenant_id, alias, models,
                                                           max_budget, metadata, org))
        if json_out:
            print_json(data)
        else:
            _panel(level, data.get("data", data))

    @app.command("delete")
    def delete(ctx: typer.Context, ids: Annotated[list[str], typer.Argument(
                   metavar="ID...", help="Their ids.", show_default=False)],
               yes: Yes = False, json_out: JsonFlag = False) -> None:
        """Delete them (a team's or user's keys go too; spend history stays)."""
        if not yes and not confirm(f"Delete {len(ids)} {level.name}(s)?"):
            raise typer.Exit(1)
        data = api(ctx).post(f"{level.path}/delete", {level.ids_field: ids})
        if json_out:
            print_json(data)
        else:
            say(f"deleted {len(data.get('deleted', []))} {level.name}(s)")

    if level.block:
        def blocker(blocked: bool) -> Any:
            def run(ctx: typer.Context, ids: Annotated[list[str], typer.Argument(
                        metavar="ID...", help="Their ids.", show_default=False)],
                    json_out: JsonFlag = False) -> None:
                client = api(ctx)
                action = "block" if blocked else "unblock"
                data: Any = ([client.post(f"/team/{action}", {"team_id": i}) for i in ids]
                             if kind == "team"
                             else client.post(f"{level.path}/{action}", {"user_ids": ids}))
                if json_out:
                    print_json(data)
                else:
                    say(f"{action}ed {len(ids)} {level.name}(s)")
            run.__doc__ = ("Refuse their calls at once (every replica within a second)."
                           if blocked else "Serve their calls again.")
            return run

        app.command("block")(blocker(True))
        app.command("unblock")(blocker(False))

    if kind == "team":
        @app.command("member-add")
        def member_add(ctx: typer.Context, team_id: Annotated[str, typer.Argument(
                           metavar="TEAM", help="The team's id.", show_default=False)],
                       users: Annotated[list[str] | None, typer.Argument(
                           metavar="USER...", help="User ids.", show_default=False)] = None,
                       email: Emails = None,
                       admin: Annotated[bool, typer.Option(
                           "--admin", help="As team admins.")] = False,
                       json_out: JsonFlag = False) -> None:
            """Add users to a team, by id or by email."""
            role = "admin" if admin else "user"
            members = [{"role": role, "user_id": u} for u in users or ()]
            members += [{"role": role, "user_email": e} for e in email or ()]
            if not members:
                ctx.fail("give at least one USER or --email")
            data = api(ctx).post("/team/member_add", {"team_id": team_id, "member": members})
            if json_out:
                print_json(data)
            else:
                _panel(level, data)

        @app.command("member-remove")
        def member_remove(ctx: typer.Context, team_id: Annotated[str, typer.Argument(
                              metavar="TEAM", help="The team's id.", show_default=False)],
                          user: Annotated[str | None, typer.Argument(
                              metavar="USER", help="The user's id.", show_default=False)] = None,
                          email: Annotated[str | None, typer.Option(
                              "--email", metavar="EMAIL", help="The member's email instead.")
                          ] = None,
                          json_out: JsonFlag = False) -> None:
            """Remove a user from a team."""
            if (user is None) == (email is None):
                ctx.fail("give USER or --email (one of them)")
            body = {"team_id": team_id, **({"user_id": user} if user else {"user_email": email})}
            data = api(ctx).post("/team/member_delete", body)
            if json_out:
                print_json(data)
            else:
                _panel(level, data)

    return app
