"""Key durations: the accepted grammar and every refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gwd.durations import DurationError, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("20m", 1200), ("30min", 1800), ("30h", 108000), ("30d", 2592000),
    ("1s", 1), ("3650d", 3650 * 86400),
    ("2w", 14 * 86400), ("1mo", 30 * 86400), ("12mo", 360 * 86400),  # LiteLLM's units
])
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_never_means_no_expiry() -> None:
    assert parse_duration("never") is None


@pytest.mark.parametrize("text", [
    "-5m", "0s", "0d", "99999999d", "3651d", "1x", "banana", "", " 5m", "5m ", "5M", "1e3s",
    "5m5m", "５m", "5", "m", "1.5h", "+5m", "999999999999999999999d", "30 min",
    "1month", "2W", "1mon", "mo", "0w", "522w",
])
def test_refused_forms_name_the_grammar(text: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert '"30s"' in str(err.value)


@pytest.mark.parametrize("value", [30, 1.5, None, [], {}])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(value)
