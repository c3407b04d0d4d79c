"""Every billed dimension, priced to the pico-dollar: recorded provider answers with cache,
reasoning and web-search usage, LiteLLM's per-deployment price names, reservation bounds."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwd.config import ConfigError, Deployment, load_config
from gwd.pricing import LongContext, Price, PriceTable, lookup, price_for
from gwd.providers.anthropic import AnthropicProvider, AnthropicTranslator
from gwd.providers.base import Usage, reported_usage, with_parts
from gwd.providers.openai import OpenAIProvider
from gwd.rates import bound_cost, read_litellm_prices, usage_cost

DATA = Path(__file__).resolve().parent.parent / "data"


def recorded(vendor: str, name: str) -> bytes:
    return (DATA / vendor / name).read_bytes()


def dep(provider: str, model: str, **fields: Any) -> Deployment:
    return Deployment(id=f"{provider}/{model}", model_name="g", provider=provider, model=model,
                      litellm_model=f"{provider}/{model}", api_base=None, **fields)


# -- recorded answers, parsed and priced ------------------------------------------------


def test_openai_reasoning_and_cached_tokens_priced_exactly_never_counted_twice() -> None:
    body = {"model": "o4-mini", "messages": [{"role": "user", "content": "total?"}]}
    d = dep("openai", "o4-mini")
    usage = OpenAIProvider().parse_response(
        d, "chat", body, recorded("openai", "response_reasoning_cached.json")).usage
    assert usage == Usage(2600, 1800, cached_tokens=2048, reasoning_tokens=1536)
    # o4-mini: 1.10 in, 0.275 cached, 4.40 out per 1M; the 1536 reasoning tokens are part of
    # the 1800 completion tokens and billed once, at the output rate
    expected = (Decimal(552) * Decimal("0.0000011") + Decimal(2048) * Decimal("0.000000275")
                + Decimal(1800) * Decimal("0.0000044"))
    assert expected == Decimal("0.0090904")
    assert usage_cost(price_for(d), usage) == expected  # type: ignore[arg-type]


def test_anthropic_cache_reads_writes_and_web_searches_priced_exactly() -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "when?"}]}
    d = dep("anthropic", "claude-sonnet-4-5")
    completion = AnthropicProvider().parse_response(
        d, "chat", body, recorded("anthropic", "response_cache_search.json"))
    usage = completion.usage
    assert usage == Usage(33568, 412, cached_tokens=30000, cache_write_tokens=1024,
                          cache_write_1h_tokens=1024, web_searches=2)
    # sonnet 4.5: 3 in, 0.30 cache read, 3.75 5-minute write, 6 1-hour write, 15 out per 1M;
    # web search 10 USD per 1000
    assert usage_cost(price_for(d), usage) == Decimal("0.049724")  # type: ignore[arg-type]
    # the client sees OpenAI's shape, cached tokens inside prompt_tokens
    assert completion.body["usage"]["prompt_tokens_details"]["cached_tokens"] == 30000
    assert completion.body["usage"]["prompt_tokens"] == 33568


def test_anthropic_stream_keeps_the_cache_counts_of_message_start() -> None:
    d = dep("anthropic", "claude-sonnet-4-5")
    t = AnthropicProvider().stream_translator(d, "chat", {"messages": []})
    assert isinstance(t, AnthropicTranslator)
    start = {"type": "message_start", "message": {"id": "m", "type": "message", "content": [],
             "usage": {"input_tokens": 10, "cache_read_input_tokens": 900,
                       "cache_creation_input_tokens": 90, "output_tokens": 1,
                       "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                          "ephemeral_1h_input_tokens": 90}}}}
    t.feed(json.dumps(start).encode())
    t.feed(json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 20,
                                 "server_tool_use": {"web_search_requests": 1}}}).encode())
    assert t.usage() == Usage(1000, 20, cached_tokens=900, cache_write_1h_tokens=90,
                              web_searches=1)


def test_anthropic_cache_writes_without_a_split_are_five_minute_writes() -> None:
    d = dep("anthropic", "claude-haiku-4-5")
    payload = {"type": "message", "content": [{"type": "text", "text": "ok"}],
               "usage": {"input_tokens": 5, "cache_creation_input_tokens": 100,
                         "cache_read_input_tokens": 0, "output_tokens": 2}}
    usage = AnthropicProvider().parse_response(d, "chat", {}, json.dumps(payload).encode()).usage
    assert usage == Usage(105, 2, cache_write_tokens=100)
    # haiku 4.5: 1 in, 1.25 write, 5 out per 1M
    assert usage_cost(price_for(d), usage) == Decimal("0.000140")  # type: ignore[arg-type]


def test_openai_audio_parts_bill_at_their_own_rates() -> None:
    usage = reported_usage({"prompt_tokens": 100, "completion_tokens": 50,
                            "prompt_tokens_details": {"audio_tokens": 40, "cached_tokens": 0},
                            "completion_tokens_details": {"audio_tokens": 30,
                                                          "reasoning_tokens": 0}}, "chat")
    assert usage == Usage(100, 50, audio_prompt_tokens=40, audio_completion_tokens=30)
    price = Price(Decimal("0.0000025"), Decimal("0.00001"), "t",
                  input_audio=Decimal("0.00004"), output_audio=Decimal("0.00008"))
    assert usage_cost(price, usage) == (60 * Decimal("0.0000025") + 40 * Decimal("0.00004")
                                        + 20 * Decimal("0.00001") + 30 * Decimal("0.00008"))


def test_parts_larger_than_their_totals_are_clipped_not_billed_twice() -> None:
    usage = with_parts(100, 10, {"cached_tokens": 80, "cache_write_tokens": 80,
                                 "reasoning_tokens": 99, "audio_completion_tokens": 5})
    assert usage == Usage(100, 10, cached_tokens=80, cache_write_tokens=20, reasoning_tokens=10)
    bad = reported_usage({"prompt_tokens": 10, "completion_tokens": 1,
                          "prompt_tokens_details": {"cached_tokens": -3, "audio_tokens": True}},
                         "chat")
    assert bad == Usage(10, 1)


def test_unset_part_rates_bill_at_the_base_rate() -> None:
    price = Price(Decimal("0.000001"), Decimal("0.000002"), "t")
    parts = Usage(1000, 100, cached_tokens=500, cache_write_1h_tokens=200, reasoning_tokens=50)
    assert usage_cost(price, parts) == usage_cost(price, Usage(1000, 100)) == Decimal("0.0012")


def test_the_one_hour_write_rate_falls_back_to_the_five_minute_rate() -> None:
    price = Price(Decimal("0.000001"), Decimal("0"), "t", cache_write=Decimal("0.00000125"))
    assert usage_cost(price, Usage(100, 0, cache_write_1h_tokens=100)) == Decimal("0.000125")


def test_long_context_tier_takes_its_own_cache_rate() -> None:
    price = lookup("anthropic", "claude-sonnet-4-5")
    assert price is not None and price.long_context is not None
    big = Usage(250_000, 0, cached_tokens=200_000)
    # above 200k: 6 per 1M input, 0.60 cached
    assert usage_cost(price, big) == Decimal("0.42")  # 50000*6e-6 + 200000*0.6e-6


# -- the reservation bound --------------------------------------------------------------

PRICES = [lookup("anthropic", "claude-sonnet-4-5"), lookup("openai", "o4-mini"),
          lookup("openai", "gpt-5.4"),
          Price(Decimal("0.000001"), Decimal("0.000002"), "t", input_audio=Decimal("0.00001"),
                output_reasoning=Decimal("0.000003"),
                long_context=LongContext(1000, Decimal("0.000002"), Decimal("0.000004"),
                                         cache_write_1h=Decimal("0.00005")))]


@given(st.sampled_from(PRICES), st.integers(0, 400_000), st.integers(0, 50_000),
       st.lists(st.integers(0, 400_000), min_size=7, max_size=7))
def test_no_split_of_the_tokens_costs_more_than_the_reservation_bound(
        price: Price, prompt: int, completion: int, parts: list[int]) -> None:
    names = ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens",
             "audio_prompt_tokens", "image_prompt_tokens", "reasoning_tokens",
             "audio_completion_tokens")
    usage = with_parts(prompt, completion, dict(zip(names, parts, strict=True)))
    assert usage_cost(price, usage) <= bound_cost(price, prompt, completion)


def test_the_bound_takes_the_dearest_input_rate_a_cache_write() -> None:
    price = lookup("anthropic", "claude-haiku-4-5")
    assert price is not None
    # 1-hour writes at 2 per 1M are dearer than plain input (1 per 1M)
    assert bound_cost(price, 1000, 0) == Decimal("0.002")


# -- LiteLLM's price names per deployment -----------------------------------------------


def test_read_litellm_prices_names_every_dimension() -> None:
    params = {"input_cost_per_token": "0.000001", "cache_read_input_token_cost": 1e-7,
              "cache_creation_input_token_cost": "0.00000125",
              "cache_creation_input_token_cost_above_1hr": "0.000002",
              "input_cost_per_audio_token": "0.00001", "output_cost_per_audio_token": "0.00002",
              "output_cost_per_reasoning_token": "0.000003",
              "input_cost_per_image_token": "0.0000011",
              "search_context_cost_per_query": {"search_context_size_low": 0.03,
                                                "search_context_size_medium": 0.035},
              "output_cost_per_token": None}
    rates = read_litellm_prices(params, lambda name, value: Decimal(str(value)))
    assert rates == {"input": Decimal("0.000001"), "cache_read": Decimal("1e-7"),
                     "cache_write": Decimal("0.00000125"), "cache_write_1h": Decimal("0.000002"),
                     "input_audio": Decimal("0.00001"), "output_audio": Decimal("0.00002"),
                     "output_reasoning": Decimal("0.000003"),
                     "input_image": Decimal("0.0000011"), "web_search": Decimal("0.035")}


def write_config(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: m\n    litellm_params:\n"
                    "      model: openai/my-finetune\n      api_base: http://127.0.0.1:9\n"
                    + params)
    return path


def test_litellm_part_prices_in_litellm_params_price_the_deployment(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, (
        "      input_cost_per_token: 0.000002\n      output_cost_per_token: 0.000008\n"
        "      cache_read_input_token_cost: 0.0000005\n"
        "      output_cost_per_reasoning_token: 0.00001\n")))
    assert not [w for w in config.warnings if "cost" in w]
    (d,) = config.deployments
    price = PriceTable.packaged().price_for(d)
    assert price is not None and price.cache_read == Decimal("0.0000005")
    usage = Usage(1000, 100, cached_tokens=800, reasoning_tokens=60)
    # 200*2 + 800*0.5 + 40*8 + 60*10 per 1M
    assert usage_cost(price, usage) == Decimal("0.00172")


def test_a_bad_part_price_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cache_read_input_token_cost: must not be negative"):
        load_config(write_config(tmp_path, "      cache_read_input_token_cost: -1\n"))


# -- what a call could have produced --------------------------------------------------


def test_usage_caps_follow_max_tokens_n_best_of_and_echo() -> None:
    from gwd.call import usage_caps
    from gwd.schema import validate

    chat = validate("chat", {"model": "m", "max_tokens": 5, "n": 3,
                             "messages": [{"role": "user", "content": "hi"}]}, 60)
    assert usage_caps(chat) == (60, 15)
    free = validate("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, 50)
    assert usage_caps(free) == (50, None)
    best = validate("completions", {"model": "m", "prompt": "x", "max_tokens": 4, "n": 2,
                                    "best_of": 5, "echo": True}, 70)
    assert usage_caps(best) == (70, 20 + 70)
    embed = validate("embeddings", {"model": "m", "input": "x"}, 30)
    assert usage_caps(embed) == (30, 0)


def test_capped_usage_keeps_its_parts_within_the_new_totals() -> None:
    from gwd.rates import capped

    usage = Usage(1000, 10**12, cached_tokens=900, reasoning_tokens=10**12 - 1)
    assert capped(usage, 100, 10) == Usage(100, 10, cached_tokens=100, reasoning_tokens=10)
    assert capped(usage, 5000, None) == usage
