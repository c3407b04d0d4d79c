"""What a config reload changed, by name only: the ``changed`` field of ``config_reloaded``.

:func:`changes` compares two loaded configs and names what differs: model groups
added (``+name``), removed (``-name``) or changed (``~name``), and each
``general_settings`` / ``router_settings`` key whose value changed. It never
returns a value, so a changed ``master_key`` or ``database_url`` is reported as
its name alone.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .config import Config


def _settings(prefix: str, old: Any, new: Any) -> list[str]:
    return [f"{prefix}.{f.name}" for f in fields(old)
            if getattr(old, f.name) != getattr(new, f.name)]


def changes(old: Config, new: Config) -> list[str]:
    """The names of what differs from ``old`` to ``new`` (empty: nothing changed)."""
    before, after = old.groups, new.groups
    out = [f"+{name}" for name in sorted(after.keys() - before.keys())]
    out += [f"-{name}" for name in sorted(before.keys() - after.keys())]
    out += [f"~{name}" for name in sorted(before.keys() & after.keys())
            if before[name] != after[name]]
    out += _settings("general_settings", old.general, new.general)
    out += _settings("router_settings", old.router, new.router)
    return out
