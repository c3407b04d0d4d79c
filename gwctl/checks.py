"""Friendly checks gwctl makes before or beside a call: advice, never a refusal.

- ``url_hint``: ``--url`` is gwd's base URL; one ending in ``/v1`` (the form SDKs
  want) is trimmed, with a note saying so.
- ``unserved``: the names in ``--models`` that gwd does not serve (from
  ``/v1/models`` with the master key), for a warning; gwd itself accepts a key
  for a model it does not serve yet (a reload may add it).
"""

from __future__ import annotations

from collections.abc import Sequence

from .client import ApiError, Client, Unreachable


def url_hint(url: str) -> tuple[str, str | None]:
    """``url`` without a trailing ``/v1``, and the note to print when one was cut."""
    trimmed = url.rstrip("/")
    if trimmed.endswith("/v1"):
        base = trimmed[: -len("/v1")]
        return base, (f"--url is gwd's base URL, not the OpenAI one: using {base} "
                      f"(without /v1)")
    return url, None


def unserved(client: Client, models: Sequence[str]) -> list[str]:
    """The names among ``models`` gwd does not serve; empty when gwd cannot say."""
    if not models:
        return []
    try:
        data = client.get("/v1/models")
    except (ApiError, Unreachable):
        return []
    served = {m.get("id") for m in data.get("data", []) if isinstance(m, dict)}
    return [name for name in models if name not in served]
