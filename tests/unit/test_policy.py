"""Alias resolution and the models check, on the resolved group (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gwd.errors import ModelNotFound, PermissionDenied
from gwd.policy import allowed_models, resolve_model
from gwd.store.base import KeyRecord

GROUPS = {"cheap": (), "expensive": (), "other": ()}


def key(models: tuple[str, ...] = (), aliases: dict[str, str] | None = None) -> KeyRecord:
    return KeyRecord(token_hash="h", key_id="key-0000000000000000", key_name="sk-...x",
                     created_at=datetime.now(UTC), models=models, aliases=aliases or {})


def test_alias_resolves_before_the_models_check() -> None:
    assert resolve_model(key(("cheap",), {"gpt-3.5-turbo": "cheap"}), "gpt-3.5-turbo",
                         GROUPS) == "cheap"


def test_alias_to_a_group_outside_the_models_is_403() -> None:
    with pytest.raises(PermissionDenied) as err:
        resolve_model(key(("cheap",), {"fast": "expensive"}), "fast", GROUPS)
    assert err.value.code == "model_not_allowed"


def test_a_group_named_directly_outside_the_models_is_403() -> None:
    with pytest.raises(PermissionDenied):
        resolve_model(key(("cheap",)), "expensive", GROUPS)


def test_alias_to_an_unserved_group_is_model_not_found() -> None:
    with pytest.raises(ModelNotFound):
        resolve_model(key((), {"fast": "gone"}), "fast", GROUPS)


def test_aliases_are_one_level() -> None:
    k = key((), {"a": "b", "b": "cheap"})
    with pytest.raises(ModelNotFound):  # "a" -> "b", and "b" is not a group
        resolve_model(k, "a", GROUPS)


def test_master_key_reaches_every_group_and_has_no_aliases() -> None:
    assert resolve_model(None, "other", GROUPS) == "other"
    assert allowed_models(None, GROUPS) == ["cheap", "expensive", "other"]


def test_allowed_models_lists_groups_and_reachable_aliases() -> None:
    k = key(("cheap",), {"gpt-3.5-turbo": "cheap", "gpt-4": "expensive"})
    assert allowed_models(k, GROUPS) == ["cheap", "gpt-3.5-turbo"]
