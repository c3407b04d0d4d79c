"""Everything gwctl prints: the stdout and stderr channels, and how values look.

- Results go to stdout: rich tables and panels for people, or — with ``--json`` —
  the server's JSON and nothing else (rich is not even imported), or CSV.
- Messages go to stderr as plain single lines starting with ``gwctl:``, so a
  script's log stays greppable and stdout stays parseable.
- Colour: none when stdout is not a terminal or ``NO_COLOR`` is set (rich reads
  ``NO_COLOR`` itself; a non-terminal gets no escape codes at all).

Formatting helpers (``usd``, ``moment``, ``expiry``, ``relative``) are pure and
take ``now`` so they can be tested without a clock.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the server's JSON and nothing "
                                                       "else on stdout.")]
NONE = "-"
SHORT_ID = 12  # key- and 8 hex digits: unique in practice, and it leaves room at 80 columns
WIDE_SCREEN = 120  # columns from which tables show ids whole
WHOLE = ("ID", "Key")  # table columns whose cells are never folded
WideFlag = Annotated[bool, typer.Option("--wide", "-w", help="Every column and whole ids, "
                                        "even on a screen under 120 columns.")]
PIPE_WIDTH = 200
_console: Console | None = None


# --- channels ---------------------------------------------------------------

def console() -> Console:
    """The rich console on stdout (created on first use; no colour unless a terminal)."""
    global _console
    if _console is None:
        from rich.console import Console
        tty = sys.stdout.isatty()
        # Not a terminal: no escape codes at all, and rows are not folded at 80 columns.
        width = None if tty or os.environ.get("COLUMNS") else PIPE_WIDTH
        _console = Console(force_terminal=tty, width=width, highlight=False, emoji=False)
    return _console


def show(*renderables: RenderableType) -> None:
    for item in renderables:
        console().print(item)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])


def say(text: str) -> None:
    """A plain line on stdout (the result of a command that has no table)."""
    sys.stdout.write(text + "\n")


def note(text: str) -> None:
    """A one-line message on stderr."""
    sys.stderr.write(f"gwctl: {' '.join(text.split())}\n")
    sys.stderr.flush()


def confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin; only y/yes is a yes (EOF is a no).
    (Click's confirm would print part of its prompt on stdout.)"""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# --- values -----------------------------------------------------------------

def usd(value: Any) -> str:
    """An exact USD amount as given by gwd: ``$0.0001065``, ``$1,250.00``; ``-`` for none."""
    if value is None:
        return NONE
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return str(value)
    text = format(amount.normalize(), ",f") if amount else "0"
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time from gwd (UTC when it has no zone)."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def moment(text: str | None) -> str:
    """``2026-11-28 18:40 UTC`` for an ISO 8601 time; ``-`` for none."""
    if not text:
        return NONE
    try:
        return parse_time(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text


def relative(seconds: float) -> str:
    """How far ahead an expiry is: ``in 42 s``, ``in 19 min``, ``in 5 h 3 min``,
    ``in 12 days``; ``expired`` at or past it (whole units, rounded down)."""
    if seconds <= 0:
        return "expired"
    whole = int(seconds)
    if whole < 60:
        return f"in {whole} s"
    if whole < 3600:
        return f"in {whole // 60} min"
    if whole < 2 * 86400:
        hours, minutes = divmod(whole // 60, 60)
        return f"in {hours} h" + (f" {minutes} min" if minutes else "")
    return f"in {whole // 86400} days"


def expiry(text: str | None, now: datetime | None = None, compact: bool = False) -> str:
    """``2026-11-28 18:40 UTC (in 19 min)``, ``... (expired)``, or ``never``;
    ``compact``: only ``in 19 min`` / ``expired`` / ``never``."""
    if not text:
        return "never"
    try:
        when = parse_time(text)
    except ValueError:
        return text
    left = (when - (now or datetime.now(UTC))).total_seconds()
    return relative(left) if compact else f"{moment(text)} ({relative(left)})"


def models_text(models: Sequence[str] | None) -> str:
    return ", ".join(models) if models else "all"


def mapping_text(mapping: dict[str, Any] | None, arrow: str = " -> ") -> str:
    if not mapping:
        return NONE
    return ", ".join(f"{k}{arrow}{v}" for k, v in mapping.items())


# --- layouts ----------------------------------------------------------------

def narrow(wide: bool = False) -> bool:
    """Whether tables are laid out for a narrow screen (fewer than ``WIDE_SCREEN``
    columns), unless ``--wide``: ids shortened, expiries as ``in 3 days``, optional
    columns left out. A pipe is 200 columns wide, so scripts see everything."""
    return not wide and console().width < WIDE_SCREEN


ids_shortened = narrow


def short_id(value: str | None, wide: bool = False) -> str:
    """``key-2347c8ab…`` for a key_id in a table on a narrow screen; ``-`` for none."""
    if not value:
        return NONE
    if len(value) <= SHORT_ID + 1 or not ids_shortened(wide):
        return value
    return value[:SHORT_ID] + "…"


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], *,
          total: Sequence[str] | None = None, title: str | None = None,
          right: Sequence[str] = (), optional: Sequence[str] = (),
          wide: bool = False) -> RenderableType:
    """A rich table; ``right`` names the numeric columns; ``total`` is a last, bold row;
    ``optional`` columns are left out on a narrow screen (see :func:`narrow`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = [list(row) for row in rows]
    if optional and narrow(wide):
        keep = [i for i, name in enumerate(columns) if name not in optional]
        columns = [columns[i] for i in keep]
        rows = [[row[i] for i in keep] for row in rows]
        total = [total[i] for i in keep] if total is not None else None
    grid = Table(title=title, title_justify="left", header_style="bold cyan",
                 box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, name in enumerate(columns):  # an amount or an id is never split across lines
        whole = name in right or name in WHOLE
        widest = max((len(row[i]) for row in [*rows, total or []] if i < len(row)),
                     default=0)
        word = max((len(w) for row in rows if i < len(row) for w in row[i].split()),
                   default=0)
        grid.add_column(name, justify="right" if name in right else "left",
                        overflow="fold", no_wrap=whole,
                        min_width=max(widest, len(name)) if whole else min(word, 10))
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # data is never markup
    if total is not None:
        grid.add_section()
        grid.add_row(*(Text(cell) for cell in total), style="bold")
    return grid


def fields(title: str, pairs: Sequence[tuple[str, str]],
           styles: Mapping[str, str] | None = None) -> RenderableType:
    """A panel of ``label  value`` lines (one key, one result); ``styles`` by label."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in pairs:
        grid.add_row(Text(label), Text(value, style=(styles or {}).get(label, "")))
    return Panel(grid, title=Text(title), title_align="left", expand=False,
                 border_style="cyan")


def number(value: Any) -> str:
    """A JSON number as plain decimal text (never ``1e-05``), for CSV and tables."""
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return "" if value is None else str(value)


def typer_app(**kwargs: Any) -> typer.Typer:
    """A Typer (sub-)app with gwctl's settings: rich help and usage errors only when
    both stdout and stderr are terminals; no completion-install options (the scripts
    ship in completions/); no pretty tracebacks."""
    rich_ui = sys.stdout.isatty() and sys.stderr.isatty()
    return typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                       rich_markup_mode="rich" if rich_ui else None,
                       context_settings={"help_option_names": ["-h", "--help"]}, **kwargs)
