"""The tenant store (teams, users, end-users, organisations), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gwd.money import from_units, quantize
from gwd.store import Store
from gwd.store.base import DROP_ALL
from gwd.store.tenants import LevelRefusal, Member, Tenant, TenantExists, notice

from .storekit import INJECTIONS, h, key, raw_scalar, row

MakeStore = Callable[[], Awaitable[Store]]
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def team(tid: str = "t1", **fields: object) -> Tenant:
    fields.setdefault("created_at", T0)
    return Tenant(kind="team", id=tid, **fields)  # type: ignore[arg-type]


async def test_tenant_round_trips_every_field(store: Store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    original = Tenant(kind="team", id="team ünï ✓", created_at=datetime(2026, 1, 2, 3, tzinfo=ist),
                      alias="Search", models=("gpt-4o", "claude"),
                      max_budget=Decimal("12.345678901234"), soft_budget=Decimal("10"),
                      budget_duration="30d", metadata={"cost_center": [1, {"x": None}]},
                      blocked=True, org_id="org-1", extra={"tpm_limit": None})
    await store.tenants.insert(original)
    got = await store.tenants.get("team", "team ünï ✓")
    assert got == original
    assert got is not None and got.created_at.utcoffset() is not None
    assert await store.tenants.get("user", "team ünï ✓") is None  # kinds are separate


async def test_insert_refuses_a_taken_id_of_the_same_kind_only(store: Store) -> None:
    await store.tenants.insert(team("same"))
    with pytest.raises(TenantExists):
        await store.tenants.insert(team("same", alias="other"))
    await store.tenants.insert(Tenant(kind="user", id="same", created_at=T0))
    assert (await store.tenants.get("team", "same")).alias is None  # type: ignore[union-attr]


async def test_bad_values_are_refused_and_store_nothing(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.tenants.insert(Tenant(kind="group", id="x", created_at=T0))
    with pytest.raises(ValueError):
        await store.tenants.insert(team("x", max_budget=Decimal(-1)))
    with pytest.raises(ValueError):
        await store.tenants.insert(Tenant(kind="team", id="x", created_at=datetime(2026, 1, 1)))
    with pytest.raises(ValueError):
        await store.tenants.insert(team("x", metadata={"bad": {1, 2}}))
    assert await store.tenants.list("team") == []


async def test_update_changes_only_what_is_given(store: Store) -> None:
    await store.tenants.insert(team("t", alias="a", models=("m1",), max_budget=Decimal(5)))
    new = await store.tenants.update("team", "t", {"blocked": True, "max_budget": None})
    assert new is not None and new.blocked and new.max_budget is None
    assert new.alias == "a" and new.models == ("m1",) and new.updated_at is not None
    assert await store.tenants.get("team", "t") == new
    assert await store.tenants.update("team", "nobody", {"blocked": True}) is None
    with pytest.raises(ValueError):
        await store.tenants.update("team", "t", {"id": "other"})


async def test_delete_returns_what_existed_and_drops_memberships(store: Store) -> None:
    await store.tenants.insert(team("a"))
    await store.tenants.insert(team("b"))
    await store.tenants.add_members("a", [Member("a", "u1", "admin"), Member("a", "u2")])
    await store.tenants.add_members("b", [Member("b", "u1")])
    assert await store.tenants.delete("team", ["a", "zzz", "a"]) == ["a"]
    assert await store.tenants.get("team", "a") is None
    assert await store.tenants.members("a") == []
    assert await store.tenants.teams_of("u1") == [Member("b", "u1", "user")]
    assert await store.tenants.delete("team", []) == []


async def test_membership_roles_upsert_and_removal(store: Store) -> None:
    await store.tenants.add_members("t", [Member("t", "u1"), Member("t", "u2")])
    await store.tenants.add_members("t", [Member("t", "u1", "admin")])
    assert await store.tenants.members("t") == [Member("t", "u1", "admin"),
                                                Member("t", "u2", "user")]
    assert await store.tenants.remove_members("t", ["u2", "u2", "u9"]) == 1
    assert await store.tenants.members("t") == [Member("t", "u1", "admin")]


async def test_list_pages_oldest_first_and_filters_by_org(store: Store) -> None:
    for i in range(5):
        await store.tenants.insert(team(f"t{i}", created_at=T0 + timedelta(seconds=i),
                                        org_id="o1" if i % 2 else None))
    await store.tenants.insert(Tenant(kind="org", id="o1", created_at=T0))
    page = await store.tenants.list("team", limit=2, offset=1)
    assert [t.id for t in page] == ["t1", "t2"]
    assert [t.id for t in await store.tenants.list("team", org_id="o1")] == ["t1", "t3"]
    assert [t.id for t in await store.tenants.list("org")] == ["o1"]
    got = await store.tenants.get_many([("team", "t4"), ("org", "o1"), ("team", "nope")])
    assert sorted(t.ref for t in got) == [notice("org", "o1"), notice("team", "t4")]


@pytest.mark.parametrize("hostile", INJECTIONS)
async def test_ids_are_data_never_sql(store: Store, hostile: str) -> None:
    await store.tenants.insert(team(hostile, alias=hostile))
    assert (await store.tenants.get("team", hostile)).alias == hostile  # type: ignore[union-attr]
    assert await store.tenants.delete("team", [hostile]) == [hostile]


async def test_another_process_hears_of_every_tenant_write(make_store: MakeStore) -> None:
    writer, reader = await make_store(), await make_store()
    heard: list[str] = []
    await reader.listen(heard.append)
    if not reader.listening:
        pytest.skip("this backend has no change notices")  # pragma: no cover

    async def wait_for(expected: set[str]) -> None:
        for _ in range(100):
            if expected & set(heard) or (DROP_ALL in heard and reader.backend == "sqlite"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never heard of {expected}: {heard}")

    await writer.tenants.insert(team("t"))
    await wait_for({notice("team", "t")})
    for write in (lambda: writer.tenants.update("team", "t", {"blocked": True}),
                  lambda: writer.tenants.add_members("t", [Member("t", "u")]),
                  lambda: writer.tenants.delete("team", ["t"])):
        heard.clear()
        await write()
        await wait_for({notice("team", "t")})


# budgets at every level ------------------------------------------------------------
LEVELS = [("team", "t"), ("org", "o")]


async def budgeted(store: Store, team: str = "5", org: str | None = "8") -> None:
    await store.tenants.insert(team_("t", max_budget=Decimal(team), org_id="o"))
    await store.tenants.insert(Tenant(kind="org", id="o", created_at=T0,
                                      max_budget=None if org is None else Decimal(org)))


def team_(tid: str, **fields: object) -> Tenant:
    return team(tid, **fields)


async def level_state(url: str, kind: str, tid: str) -> tuple[Decimal, Decimal, Decimal]:
    """(spend, reserved, sum of open reservations) straight from the database."""
    def money(v: object) -> Decimal:
        return from_units(int(v)) if url.startswith("sqlite:") else quantize(Decimal(v))
    spend = await raw_scalar(url, "SELECT spend FROM gw_tenants WHERE kind = $1 AND id = $2",
                             kind, tid)
    reserved = await raw_scalar(url, "SELECT reserved FROM gw_tenants WHERE kind = $1 "
                                "AND id = $2", kind, tid)
    open_ = await raw_scalar(url, "SELECT coalesce(sum(amount), 0) FROM gw_level_reservations"
                             " WHERE kind = $1 AND tenant_id = $2", kind, tid)
    return money(spend), money(reserved), money(open_)


async def test_reserve_fits_at_every_level_or_names_the_tightest(store: Store,
                                                                 store_url: str) -> None:
    await budgeted(store, team="5", org="3")
    assert await store.tenants.reserve("r1", LEVELS, Decimal(2), partial=False) == Decimal(2)
    refused = await store.tenants.reserve("r2", LEVELS, Decimal("1.5"), partial=False)
    assert isinstance(refused, LevelRefusal) and refused.kind == "org"
    assert refused.reserved == Decimal(2) and refused.budget == Decimal(3)
    # partial: what remains at the tightest level
    assert await store.tenants.reserve("r3", LEVELS, Decimal("1.5"), partial=True) == 1
    assert isinstance(await store.tenants.reserve("r4", LEVELS, Decimal("0.1"), True),
                      LevelRefusal)
    assert await level_state(store_url, "team", "t") == (0, 3, 3)
    assert await level_state(store_url, "org", "o") == (0, 3, 3)
    assert await store.tenants.reserve("r5", [("team", "nobody")], Decimal(1), False) is None


async def test_a_ledger_row_settles_its_levels_in_its_own_transaction(store: Store,
                                                                      store_url: str) -> None:
    await budgeted(store)
    await store.insert_key(key(h(1)))
    assert await store.tenants.reserve("req-1", LEVELS, Decimal(2), partial=False) == 2
    await store.record([row("req-1", h(1), cost=Decimal("0.25"), team_id="t", org_id="o",
                            user_id="nobody", end_user="c")])
    assert await level_state(store_url, "team", "t") == (Decimal("0.25"), 0, 0)
    assert await level_state(store_url, "org", "o") == (Decimal("0.25"), 0, 0)
    assert await store.tenants.spend("team", "t") == (Decimal("0.25"), 1)
    # a replayed row counts once; a row naming no budgeted level changes nothing
    await store.record([row("req-1", h(1), cost=Decimal("0.25"), team_id="t", org_id="o")])
    await store.record([row("req-2", h(1), cost=Decimal("1"))])
    assert (await level_state(store_url, "team", "t"))[0] == Decimal("0.25")


async def test_release_and_expiry_close_level_reservations(store: Store,
                                                           store_url: str) -> None:
    await budgeted(store)
    assert await store.tenants.reserve("a", LEVELS, Decimal(1), False) == 1
    assert await store.tenants.reserve("b", LEVELS, Decimal(1), False) == 1
    await store.tenants.release(["a"])
    assert await level_state(store_url, "team", "t") == (0, 1, 1)
    assert await store.tenants.expire_reservations(datetime.now(UTC) + timedelta(1)) == 2
    assert await level_state(store_url, "team", "t") == (0, 0, 0)


async def test_a_recreated_tenant_starts_from_its_ledger_spend(store: Store) -> None:
    await store.insert_key(key(h(1)))
    await store.record([row("x", h(1), cost=Decimal("4"), team_id="t")])
    await store.tenants.insert(team("t", max_budget=Decimal(5)))
    refused = await store.tenants.reserve("y", [("team", "t")], Decimal(2), False)
    assert isinstance(refused, LevelRefusal) and refused.spend == Decimal(4)
    assert await store.tenants.reserve("z", [("team", "t")], Decimal("0.5"), False) == 0.5


async def test_concurrent_reservations_on_two_stores_never_overshoot(
        make_store: MakeStore, store_url: str) -> None:
    a, b = await make_store(), await make_store()
    await budgeted(a, team="1", org=None)
    await a.insert_key(key(h(1)))
    granted: list[str] = []

    async def one(s: Store, i: int) -> None:
        got = await s.tenants.reserve(f"r{i}", [("team", "t")], Decimal("0.07"), False)
        if isinstance(got, Decimal):
            granted.append(f"r{i}")
            await s.record([row(f"r{i}", h(1), cost=Decimal("0.05"), team_id="t")])

    await asyncio.gather(*(one(a if i % 2 else b, i) for i in range(60)))
    for i in range(60, 80):  # then one at a time: each that fits is admitted
        await one(a, i)
    spend, reserved, open_ = await level_state(store_url, "team", "t")
    assert reserved == open_ == 0
    assert spend == Decimal("0.05") * len(granted) <= 1  # overshoot 0
    assert Decimal(1) - spend < Decimal("0.07")  # and nothing that fitted was refused
