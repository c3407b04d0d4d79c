"""``gwd --check-config PATH``: every warning and error of a config at once, without starting.

Prints one line per finding on stdout (``error: ...`` / ``warning: ...``), then a
summary line, and returns the exit status: 0 when gwd would start with this
config (warnings allowed), 1 when it would not. Nothing is bound, opened or
written: the database is not touched and ``environment_variables:`` are applied
only to the check's own view of the environment.
"""

from __future__ import annotations

import os

from .config import ConfigError, is_weak_master_key, load_config


def findings(path: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the config at ``path``."""
    try:
        config = load_config(path, env=dict(os.environ))
    except ConfigError as exc:
        return [line for line in str(exc).splitlines() if line], list(exc.warnings)
    warnings = list(config.warnings)
    master = config.general.master_key
    if master is not None and is_weak_master_key(master):
        warnings.append("general_settings.master_key is weak (under 16 characters or a "
                        "published example): gwd refuses it on a non-loopback address "
                        "unless --allow-weak-master-key is given")
    return [], warnings


def check_config(path: str) -> int:
    errors, warnings = findings(path)
    for line in errors:
        print(f"error: {line}")
    for line in warnings:
        print(f"warning: {line}")
    verdict = "not usable" if errors else "usable"
    print(f"{path}: {verdict}: {len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0
