"""The ledger keeps each billed part of a call's tokens, so a bill can be re-derived
(both backends, and a database migrated from before the parts existed)."""

from __future__ import annotations

from decimal import Decimal

from gwd.store import Store

from .storekit import h, key, raw_scalar, row

DETAIL = {"cached_tokens": 30000, "cache_write_tokens": 1024, "cache_write_1h_tokens": 1024,
          "reasoning_tokens": 7, "web_searches": 2}


async def test_usage_parts_and_the_over_report_flag_round_trip(store: Store) -> None:
    await store.insert_key(key(h(1)))
    parts = row("r-parts", h(1), Decimal("0.049724"), prompt_tokens=33568,
                completion_tokens=412, usage_detail=DETAIL, usage_over_reported=True)
    plain = row("r-plain", h(1), Decimal("0.001"))
    assert await store.record([parts, plain]) == 2
    logs = {r.request_id: r for r in await store.spend_logs()}
    assert logs["r-parts"] == parts
    assert logs["r-parts"].usage_detail == DETAIL
    assert logs["r-plain"].usage_detail is None
    assert logs["r-plain"].usage_over_reported is False


async def test_the_parts_are_real_columns(store: Store, store_url: str) -> None:
    await store.record([row("r1", None, usage_detail={"cached_tokens": 5},
                            usage_over_reported=True)])
    flagged = await raw_scalar(store_url, "SELECT count(*) FROM gw_spend_log"
                                          " WHERE usage_over_reported")
    assert flagged == 1
