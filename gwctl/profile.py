"""The profile file: defaults for ``--url``, ``--master-key`` and ``--timeout``.

gwctl reads ``$GWCTL_CONFIG``, else ``$XDG_CONFIG_HOME/gwctl/config.toml``, else
``~/.config/gwctl/config.toml`` (a missing file is no error)::

    url = "http://127.0.0.1:8000"      # the default profile
    master_key = "sk-..."
    timeout = 30

    [profiles.prod]                    # gwctl --profile prod ... (or GWCTL_PROFILE=prod)
    url = "https://gw.example.com"
    master_key = "sk-..."

A named profile's values override the top-level ones. An option on the command
line beats its environment variable, which beats the file, which beats gwctl's
default (Click's own order for ``default_map``). A file others may read while it
holds a master key draws a warning, as ssh does for its keys. Pure but for
reading the file; errors are :class:`ProfileError` (gwctl exits 2).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FIELDS: dict[str, tuple[type, ...]] = {"url": (str,), "master_key": (str,),
                                       "timeout": (int, float)}


class ProfileError(Exception):
    """The profile file cannot be used (its message names the file and the entry)."""


def path(env: Mapping[str, str]) -> Path:
    if env.get("GWCTL_CONFIG"):
        return Path(env["GWCTL_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else \
        Path(env.get("HOME") or Path.home()) / ".config"
    return base / "gwctl" / "config.toml"


def chosen(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The profile named by ``--profile NAME`` / ``--profile=NAME``, else $GWCTL_PROFILE."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--profile" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--profile="):
            return arg.partition("=")[2]
    return env.get("GWCTL_PROFILE") or None


def _values(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ProfileError(f"{where} must be a table of url, master_key, timeout")
    out = {}
    for name, value in table.items():
        if name == "profiles" and where.endswith("(top level)"):
            continue
        kinds = FIELDS.get(name)
        if kinds is None:
            raise ProfileError(f"{where}: unknown setting {name!r}; known: "
                               f"{', '.join(FIELDS)}")
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ProfileError(f"{where}: {name} must be a "
                               f"{'number' if name == 'timeout' else 'string'}")
        out[name] = value
    return out


def defaults(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """The root options' defaults from the profile file (empty when there is none)."""
    file = path(env)
    name = chosen(argv, env)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if name:
            raise ProfileError(f"profile {name!r} asked for, but there is no {file}") from None
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read {file}: {exc}") from None
    out = _values(data, f"{file} (top level)")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ProfileError(f"{file}: [profiles] must be tables: [profiles.NAME]")
    named = {key: _values(table, f"{file} [profiles.{key}]")  # every one checked
             for key, table in profiles.items()}
    if name:
        if name not in named:
            known = ", ".join(sorted(named)) or "none"
            raise ProfileError(f"{file} has no profile {name!r} (profiles: {known})")
        out.update(named[name])
    return out


def readable_by_others(file: Path) -> bool:
    try:
        return bool(file.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def warning(env: Mapping[str, str], values: Mapping[str, Any]) -> str | None:
    """A warning when the file holds a master key others can read."""
    file = path(env)
    if "master_key" in values and os.name == "posix" and readable_by_others(file):
        return (f"warning: {file} holds a master key and others can read it; "
                f"chmod 600 {file}")
    return None
