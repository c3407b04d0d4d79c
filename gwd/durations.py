"""Key validity durations: ``30s``, ``20m``, ``30min``, ``30h``, ``30d``, ``2w``, ``1mo``
and ``never``.

``w`` is seven days and ``mo`` thirty (LiteLLM's units; a fixed length, so a key's
expiry does not depend on the month it was made in).

The grammar is deliberately narrow: ASCII digits, no sign, no spaces, no
exponent, one unit, a positive value and at most ten years. Anything else is an
error whose message names the accepted forms (never an ``OverflowError``).
"""

from __future__ import annotations

import re
from datetime import timedelta

ACCEPTED = '"30s", "30m" or "30min", "30h", "30d", "2w", "1mo", or "never"'
MAX_DURATION = timedelta(days=3650)

_PATTERN = re.compile(r"([0-9]{1,12})(s|mo|m|min|h|d|w)", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400,
                 "w": 7 * 86400, "mo": 30 * 86400}


class DurationError(ValueError):
    """The text is not a duration gw accepts."""


def parse_duration(text: object) -> timedelta | None:
    """Parse a duration; ``"never"`` gives ``None`` (no expiry).

    >>> parse_duration("20m")
    datetime.timedelta(seconds=1200)
    """
    if not isinstance(text, str):
        raise DurationError(f"duration must be a string such as {ACCEPTED}")
    if text == "never":
        return None
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise DurationError(f"invalid duration {text[:40]!r}: use {ACCEPTED}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise DurationError(f"invalid duration {text!r}: must be more than zero; use {ACCEPTED}")
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"invalid duration {text!r}: at most 3650d (ten years); "
                            f"use {ACCEPTED}")
    return timedelta(seconds=seconds)
