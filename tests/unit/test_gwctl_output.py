"""gwctl's pure pieces: how values are shown, and how options become request bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gwctl.client import ApiError, Unreachable, check_url, one_line
from gwctl.commands.keys import key_fields, pairs, split_models
from gwctl.output import expiry, moment, number, relative, usd

NOW = datetime(2026, 11, 28, 18, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "shown"), [
    (None, "-"), (0, "$0.00"), (0.0, "$0.00"), (2.5, "$2.50"), (10, "$10.00"),
    (1.065e-05, "$0.00001065"), (0.0001065, "$0.0001065"), (1250.5, "$1,250.50"),
    ("0.000000000001", "$0.000000000001"),
])
def test_usd_is_exact_and_never_scientific(value: object, shown: str) -> None:
    assert usd(value) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (-5, "expired"), (0, "expired"), (0.5, "in 0 s"), (42.9, "in 42 s"), (60, "in 1 min"),
    (19 * 60 + 59, "in 19 min"), (3600, "in 1 h"), (5 * 3600 + 3 * 60 + 59, "in 5 h 3 min"),
    (47 * 3600 + 59 * 60, "in 47 h 59 min"), (2 * 86400, "in 2 days"),
    (12 * 86400 + 5, "in 12 days"),
])
def test_relative_rounds_down_in_whole_units(seconds: float, shown: str) -> None:
    assert relative(seconds) == shown


def test_expiry_shows_the_time_and_how_far_it_is() -> None:
    soon = (NOW + timedelta(minutes=19, seconds=30)).isoformat()
    assert expiry(soon, NOW) == "2026-11-28 18:40 UTC (in 19 min)"
    assert expiry("2026-11-28T18:00:00Z", NOW) == "2026-11-28 18:00 UTC (expired)"
    assert expiry("2026-11-28T20:40:00+02:00", NOW) == "2026-11-28 18:40 UTC (in 19 min)"
    assert expiry(None, NOW) == "never"
    assert moment(None) == "-" and moment("2026-01-02T03:04:05") == "2026-01-02 03:04 UTC"


def test_number_is_plain_decimal_text() -> None:
    assert [number(v) for v in (1e-05, 0.1, 3, None, 2.0)] == ["0.00001", "0.1", "3", "",
                                                               "2"]


def test_models_are_split_on_commas_and_repeats() -> None:
    assert split_models(["a,b", " c ", "a", ""]) == ["a", "b", "c"]
    assert split_models([""]) == []


def test_pairs_split_on_the_first_equals_sign() -> None:
    assert pairs(["gpt4=gpt-4", "note=a=b", " k = v "]) == {"gpt4": "gpt-4", "note": "a=b",
                                                             "k": "v"}


def test_key_fields_hold_only_the_options_given() -> None:
    assert key_fields() == {}
    assert key_fields(models=["a,b"], duration="20m", alias=["x=a"], max_budget="2.50",
                      name="ci", metadata=["team=ops"]) == {
        "models": ["a", "b"], "duration": "20m", "aliases": {"x": "a"}, "max_budget": 2.5,
        "key_alias": "ci", "metadata": {"team": "ops"}}
    assert key_fields(max_budget="none") == {"max_budget": None}
    assert key_fields(models=[""]) == {"models": []}


def test_errors_read_as_one_line() -> None:
    err = ApiError(400, "bad\nthing  here", "invalid_field")
    assert str(err) == "bad thing here (HTTP 400, invalid_field)"
    assert str(ApiError(502, "nope")) == "nope (HTTP 502)"
    assert str(ApiError(401, "no key", "missing_api_key", hint="use --master-key")) == (
        "no key (HTTP 401, missing_api_key); use --master-key")
    assert str(Unreachable("http://h:1", "Connection\nrefused")) == (
        "cannot reach gwd at http://h:1: Connection refused")
    assert one_line(" a \n b ") == "a b"


@pytest.mark.parametrize("url", ["ftp://h", "h:8000", "http://", "http://h/?q=1", "http://h/#x"])
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(ValueError):
        check_url(url)


def test_urls_lose_their_trailing_slash() -> None:
    assert check_url("https://gw.example.com/prefix/") == "https://gw.example.com/prefix"
