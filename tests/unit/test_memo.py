"""IdentityMemo: values memoised per object identity, bounded."""

from __future__ import annotations

from dataclasses import dataclass

from gwd.memo import IdentityMemo


@dataclass(frozen=True)
class Thing:
    name: str


def test_a_value_is_found_for_the_same_object_and_variant_only() -> None:
    memo: IdentityMemo[Thing, str] = IdentityMemo()
    a = Thing("a")
    assert memo.get(a) is None
    assert memo.put(a, "value of a") == "value of a"
    assert memo.get(a) == "value of a"
    assert memo.get(a, "stream") is None  # another variant of the same object
    memo.put(a, "streamed", "stream")
    assert (memo.get(a), memo.get(a, "stream")) == ("value of a", "streamed")
    twin = Thing("a")  # equal, but not the same object: a reloaded config's deployment
    assert twin == a and memo.get(twin) is None


def test_an_id_reused_by_a_new_object_does_not_get_the_old_value() -> None:
    memo: IdentityMemo[object, str] = IdentityMemo()
    old = Thing("old")
    memo.put(old, "old value")
    key = id(old)
    # the memo holds `old`, so its id cannot be reused while the entry lives; forge the
    # situation a bare id-keyed dict would be in: another object under the same id
    memo._entries[(key, None)] = (Thing("other"), "old value")
    assert memo.get(old) is None


def test_the_memo_starts_afresh_past_its_limit() -> None:
    memo: IdentityMemo[Thing, int] = IdentityMemo(limit=3)
    things = [Thing(str(i)) for i in range(4)]
    for i, thing in enumerate(things[:3]):
        memo.put(thing, i)
    assert len(memo) == 3
    memo.put(things[3], 3)
    assert len(memo) == 1 and memo.get(things[3]) == 3 and memo.get(things[0]) is None
