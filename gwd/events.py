"""Operator events: one structured log line for each thing an operator must be able to see.

Each line is ``event=<name>`` followed by ``field=value`` pairs (logfmt: values with
spaces or quotes are double-quoted), on the ``gwd.events`` logger, so it goes where
gwd's log goes and can be grepped or parsed::

    ... WARNING gwd.events: event=upstream_failure deployment=openai/gpt-4o@api.openai.com
        reason=5xx detail="deployment ...: failed with HTTP 500" key_id=key-0123456789abcdef
        request_id=req_... model_group=gpt-4o

Events and their levels:

* ``upstream_failure`` (warning; ``gwd.events.upstream``, rate limited as clients can
  drive it): an upstream attempt failed, with ``reason`` (``timeout``, ``connect``,
  ``tls``, ``reset``, ``5xx``, ``429``, ``4xx``, ``bad_response``; for ``tls`` also
  ``tls_reason``: ``expired``, ``unknown_ca``, ... see gwd/egress.py) and the
  caller's ``key_id``;
* ``deployment_cooldown_start`` (warning) / ``deployment_cooldown_end`` (info);
* ``config_reloaded`` (info) / ``config_reload_failed`` (error), with the ``trigger``
  (``http`` or ``sighup``) and what changed, by name only (never a value of
  ``master_key``, ``database_url`` or an ``api_key``);
* ``database_fault`` (error) / ``database_recovered`` (info).

Callers are named by their public ``key_id`` (``master`` for the master key), never
by the key or its hash.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("gwd.events")
upstream_log = logging.getLogger("gwd.events.upstream")
MAX_VALUE = 300


def _value(value: Any) -> str:
    text = str(value)[:MAX_VALUE]
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def line(event: str, fields: dict[str, Any]) -> str:
    """``event=<event> k=v ...`` (fields that are None are left out)."""
    parts = [f"event={event}"]
    parts += [f"{k}={_value(v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


def emit(level: int, event: str, logger: logging.Logger = log, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, "%s", line(event, fields))


def caller(identity: Any) -> str:
    """The public name of a call's caller: its key_id, or ``master``."""
    key = getattr(identity, "key", None)
    return key.key_id if key is not None else "master"
