"""The gwctl Typer app: global options, one sub-app or command per noun, exit statuses.

``app`` is the Typer application; ``command()`` is the Click command built from
it (what ``gwctl.__main__`` runs and what ``gwctl._gen`` walks to write the man
page and the shell completions).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import typer
from typer.completion import completion_init  # type: ignore[attr-defined]
from typer.core import TyperArgument, TyperGroup

from . import __version__
from .checks import url_hint
from .client import DEFAULT_TIMEOUT, DEFAULT_URL, Client, check_url
from .commands import completion, config, health, keys, models, spend, tenants
from .output import note, typer_app

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_STATUS = (
    (EXIT_OK, "done"),
    (EXIT_REFUSED, "gwd refused (its one-line message is on stderr), or you answered no"),
    (EXIT_USAGE, "usage error: a bad command, option, option value or profile file"),
    (EXIT_UNREACHABLE, "gwd could not be reached (the message names the URL)"),
)
ENVIRONMENT = (
    ("GWCTL_URL", "gwd's base URL when --url is not given."),
    ("GWCTL_MASTER_KEY", "the master key when --master-key is not given."),
    ("GWCTL_TIMEOUT", "seconds to wait for gwd when --timeout is not given."),
    ("GWCTL_PROFILE", "the profile of the profile file when --profile is not given."),
    ("GWCTL_CONFIG", "the profile file (default: $XDG_CONFIG_HOME/gwctl/config.toml, "
                     "else ~/.config/gwctl/config.toml): TOML with url, master_key, "
                     "timeout at the top level and in [profiles.NAME] tables. Options "
                     "beat environment variables, which beat the file."),
    ("NO_COLOR", "when set (non-empty), no colour is used; none is used either when "
                 "stdout is not a terminal."),
)
SUMMARY = "gw's operator CLI: keys, spend, models, config reload and health of a gwd"


def _epilog() -> str:
    lines = "\n".join(f"{code}  {text}" for code, text in EXIT_STATUS)
    return f"Exit status:\n\n\b\n{lines}"  # \b: Click keeps these lines as they are


class _Root(TyperGroup):
    """The root group, listing its commands in this order (not Typer's commands-first)."""

    ORDER = ("key", "spend", "models", "config", "health", "completion")

    def list_commands(self, ctx: Any) -> list[str]:
        known = [name for name in self.ORDER if name in self.commands]
        return known + [name for name in self.commands if name not in known]


app = typer_app(name="gwctl", cls=_Root, no_args_is_help=True, epilog=_epilog(), help=(
    "gw's operator CLI: a thin client over gwd's admin API.\n\n"
    "Create and manage virtual keys, read spend, list models, reload the config and "
    "check health. Tables on a terminal; --json (and --csv for spend) for scripts."))


def _url(value: str) -> str:
    try:
        url = check_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    url, hint = url_hint(url)
    if hint:
        note(hint)
    return url


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gwctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(
        "--url", envvar="GWCTL_URL", metavar="URL", callback=_url,
        help="gwd's base URL.")] = DEFAULT_URL,
    master_key: Annotated[str | None, typer.Option(
        "--master-key", envvar="GWCTL_MASTER_KEY", metavar="KEY", show_default=False,
        help="gwd's master key (admin routes need it).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", envvar="GWCTL_TIMEOUT", metavar="SECONDS", min=0.1,
        help="Seconds to wait for gwd's answer.")] = DEFAULT_TIMEOUT,
    profile: Annotated[str | None, typer.Option(
        "--profile", envvar="GWCTL_PROFILE", metavar="NAME", show_default=False,
        help="Take --url, --master-key and --timeout from [profiles.NAME] of the "
             "profile file ($GWCTL_CONFIG, else ~/.config/gwctl/config.toml).")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print gwctl's version and exit.")] = False,
) -> None:
    ctx.obj = Client(url, master_key, timeout)


app.add_typer(keys.app, name="key")
for _kind in ("team", "user", "customer", "org"):
    app.add_typer(tenants.group(_kind), name=_kind)
app.command("spend")(spend.spend)
app.command("models")(models.models)
app.add_typer(config.app, name="config")
app.command("health")(health.health)
app.command("completion")(completion.completion)


class _Argument(TyperArgument):
    """An argument as Click shows it: ``KEY`` in the help (no ``<str>`` after it) and
    ``KEY`` / ``[KEY]`` / ``KEY...`` in the usage line (not Typer's ``{KEY}``)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name if self.required else f"[{name}]"


def _plain_arguments(cmd: Any) -> None:
    for param in cmd.params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(cmd, "commands", {}).values():
        _plain_arguments(sub)


@cache
def command() -> Any:
    """The Click command tree of ``app`` (built once)."""
    completion_init()  # Typer's shell-completion protocol, used by completions/*
    root = typer.main.get_command(app)
    _plain_arguments(root)
    return root
