"""LiteLLM's key fields (gwd.key_fields) and the masking of API bases (model info)."""

from __future__ import annotations

from typing import Any

import pytest

from gwd.errors import InvalidRequest
from gwd.handlers.model_info import mask_api_base
from gwd.key_fields import NOT_YET, check_not_yet, strip_unset


@pytest.mark.parametrize("body", [
    {"organization_id": None}, {"tags": []}, {"permissions": {}}, {"spend": 0}, {"spend": 0.0},
    {"key_type": "default"}, {"auto_rotate": False}, {"grace_period": None},
    {"models": ["x"], "budget_duration": None, "rpm_limit": None},
])
def test_unset_values_pass(body: dict[str, Any]) -> None:
    check_not_yet(body)
    assert all(name not in NOT_YET for name in strip_unset(body))


@pytest.mark.parametrize("name, value", [
    ("organization_id", "o"), ("rpm_limit", 0), ("spend", 1), ("spend", True), ("auto_rotate", True),
    ("key_type", "management"), ("tags", ["a"]), ("budget_duration", "1d"),
    ("grace_period", "1h"), ("model_max_budget", {"gpt-4": 1}),
])
def test_set_values_of_fields_gw_lacks_are_named(name: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as err:
        check_not_yet({"models": [], name: value})
    assert err.value.param == name
    assert f"'{name}'" in str(err.value) and "gw does not support it yet" in str(err.value)


@pytest.mark.parametrize("base, shown", [
    ("https://user:pw@api.example.com/v1?api-key=s3cret#x", "https://api.example.com/v1"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"), (None, None), ("", ""),
])
def test_api_base_loses_credentials_and_query(base: str | None, shown: str | None) -> None:
    assert mask_api_base(base) == shown
