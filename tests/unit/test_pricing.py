"""The shipped price table and the rules that price a deployment, exactly."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwd.config import PROVIDERS, Deployment, load_config
from gwd.pricing import (
    LongContext,
    Price,
    PriceTable,
    PriceTableError,
    cost,
    lookup,
    price_for,
)

PLAIN_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
M = Decimal(1_000_000)


def per_million(price: Price | None) -> tuple[Decimal, Decimal]:
    assert price is not None
    return price.input * M, price.output * M


def dep(provider: str, model: str, api_base: str | None = None,
        input_cost: Decimal | None = None, output_cost: Decimal | None = None) -> Deployment:
    return Deployment(id=f"{provider}/{model}", model_name="group", provider=provider,
                      model=model, litellm_model=f"{provider}/{model}", api_base=api_base,
                      input_cost_per_token=input_cost, output_cost_per_token=output_cost)


def raw_table() -> dict[str, Any]:
    text = resources.files("gwd").joinpath("prices.json").read_text(encoding="utf-8")
    floats: list[str] = []

    def spot_float(literal: str) -> float:
        floats.append(literal)
        return float(literal)

    data: dict[str, Any] = json.loads(text, parse_float=spot_float)
    assert floats == [], f"JSON floats in prices.json: {floats}"
    return data


def table_with(models: dict[str, Any], **extra: Any) -> PriceTable:
    return PriceTable.from_json(json.dumps({"models": models, **extra}))


# -- the data ---------------------------------------------------------------------------


def test_packaged_table_parses_and_says_when_and_where_prices_come_from() -> None:
    table = PriceTable.packaged()
    assert len(table) >= 100
    assert table.checked == "2026-12-04"
    source = raw_table()["_source"]
    for vendor in ("openai", "anthropic", "google", "mistral", "cohere", "openrouter"):
        assert all(url.startswith("https://") for url in source["providers"][vendor])


def test_packaged_table_is_loaded_once() -> None:
    assert PriceTable.packaged() is PriceTable.packaged()


def test_every_price_in_the_file_is_a_non_negative_plain_decimal_string() -> None:
    data = raw_table()  # fails on any JSON float anywhere in the file
    entries = list(data["models"].items()) + list(data["wildcards"].items())
    assert len(entries) > 100
    for key, entry in entries:
        tiers = [entry] + ([entry["long_context"]] if "long_context" in entry else [])
        for tier in tiers:
            for side in ("input", "output"):
                value = tier[side]
                assert isinstance(value, str), f"{key}.{side} is {type(value).__name__}"
                assert PLAIN_DECIMAL.match(value), f"{key}.{side} = {value!r}"
                assert Decimal(value) >= 0


def test_every_alias_and_routing_entry_points_at_something_real() -> None:
    data = raw_table()
    tables = {key.split("/")[0] for key in data["models"]}
    assert all(target in data["models"] for target in data["aliases"].values())
    for section in ("providers", "hosts", "openrouter_orgs"):
        assert set(data[section].values()) <= tables


def test_a_json_float_price_is_refused() -> None:
    with pytest.raises(PriceTableError, match="JSON number"):
        PriceTable.from_json('{"models": {"openai/x": {"input": 0.000001, "output": "0"}}}')


@pytest.mark.parametrize("bad", ["1e-6", "-0.000001", ".5", "0x10", "", " 1", "NaN"])
def test_a_price_string_that_is_not_a_plain_decimal_is_refused(bad: str) -> None:
    with pytest.raises(PriceTableError, match=r"openai/x.*\.input"):
        table_with({"openai/x": {"input": bad, "output": "0"}})


def test_a_missing_output_price_is_refused() -> None:
    with pytest.raises(PriceTableError, match="output"):
        table_with({"openai/x": {"input": "0.1"}})


def test_a_long_context_rate_below_the_base_rate_is_refused() -> None:
    entry = {"input": "0.000002", "output": "0.00001",
             "long_context": {"above": 1000, "input": "0.000001", "output": "0.00001"}}
    with pytest.raises(PriceTableError, match="cheaper"):
        table_with({"google/x": entry})


def test_an_alias_to_an_unknown_model_is_refused() -> None:
    with pytest.raises(PriceTableError, match="unknown model"):
        table_with({"openai/x": {"input": "0", "output": "0"}},
                   aliases={"openai/y": "openai/nope"})


def test_a_host_routed_to_an_unknown_table_is_refused() -> None:
    with pytest.raises(PriceTableError, match="unknown table"):
        table_with({"openai/x": {"input": "0", "output": "0"}},
                   hosts={"api.example.com": "nobody"})


# -- known models -----------------------------------------------------------------------

KNOWN = [  # provider, model, USD per 1M input, per 1M output
    ("openai", "gpt-4o", "2.50", "10"),
    ("openai", "gpt-4o-mini", "0.15", "0.60"),
    ("openai", "gpt-4.1", "2", "8"),
    ("openai", "gpt-4.1-nano", "0.10", "0.40"),
    ("openai", "gpt-4-turbo", "10", "30"),
    ("openai", "gpt-4", "30", "60"),
    ("openai", "gpt-3.5-turbo", "0.50", "1.50"),
    ("openai", "gpt-3.5-turbo-instruct", "1.50", "2"),
    ("openai", "o1", "15", "60"),
    ("openai", "o3-mini", "1.10", "4.40"),
    ("openai", "o4-mini", "1.10", "4.40"),
    ("openai", "gpt-5", "1.25", "10"),
    ("openai", "gpt-5-nano", "0.05", "0.40"),
    ("openai", "text-embedding-3-small", "0.02", "0"),
    ("openai", "text-embedding-3-large", "0.13", "0"),
    ("openai", "text-embedding-ada-002", "0.10", "0"),
    ("openai", "davinci-002", "2", "2"),
    ("openai", "babbage-002", "0.40", "0.40"),
    ("anthropic", "claude-3-haiku-20240307", "0.25", "1.25"),
    ("anthropic", "claude-3-opus-20240229", "15", "75"),
    ("anthropic", "claude-3-5-haiku-20241022", "0.80", "4"),
    ("anthropic", "claude-3-7-sonnet-20250219", "3", "15"),
    ("anthropic", "claude-sonnet-4-20250514", "3", "15"),
    ("anthropic", "claude-opus-4-1-20250805", "15", "75"),
    ("anthropic", "claude-haiku-4-5-20251001", "1", "5"),
    ("anthropic", "claude-opus-4-5-20251101", "5", "25"),
    ("anthropic", "claude-2.1", "8", "24"),
    ("anthropic", "claude-instant-1.2", "0.80", "2.40"),
]


@pytest.mark.parametrize(("provider", "model", "per_m_in", "per_m_out"), KNOWN)
def test_known_model_prices_exactly(provider: str, model: str,
                                    per_m_in: str, per_m_out: str) -> None:
    assert per_million(lookup(provider, model)) == (Decimal(per_m_in), Decimal(per_m_out))


def test_gpt_4o_mini_1000_prompt_and_500_completion_tokens_cost_exactly() -> None:
    total = cost(lookup("openai", "gpt-4o-mini"), 1000, 500)  # type: ignore[arg-type]
    assert total == Decimal("0.00045")  # 1000 * 0.15e-6 + 500 * 0.6e-6
    assert total.as_tuple().exponent == -12  # quantised to the pico-dollar


def test_claude_3_5_sonnet_call_costs_exactly() -> None:
    price = lookup("anthropic", "claude-3-5-sonnet-20241022")
    assert price is not None
    assert cost(price, 12_345, 678) == Decimal("0.047205")  # 12345*3e-6 + 678*15e-6


# -- normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "sent", "family"), [
    ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
    ("openai", "o3-2025-04-16", "o3"),
    ("openai", "gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ("anthropic", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
    ("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("anthropic", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
    ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
    ("anthropic", "CLAUDE-3-OPUS-20240229", "claude-3-opus"),
])
def test_dated_snapshot_prices_like_its_family(provider: str, sent: str, family: str) -> None:
    found, expected = lookup(provider, sent), lookup(provider, family)
    assert found is not None and expected is not None
    assert (found.input, found.output) == (expected.input, expected.output)


@pytest.mark.parametrize(("sent", "family", "per_m_in", "per_m_out"), [
    ("gpt-4o-2024-05-13", "gpt-4o", "5", "15"),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo", "1", "2"),
    ("gpt-3.5-turbo-0613", "gpt-3.5-turbo", "1.50", "2"),
])
def test_snapshot_priced_unlike_its_family_keeps_its_own_price(
        sent: str, family: str, per_m_in: str, per_m_out: str) -> None:
    assert per_million(lookup("openai", sent)) == (Decimal(per_m_in), Decimal(per_m_out))
    assert per_million(lookup("openai", family)) != (Decimal(per_m_in), Decimal(per_m_out))


def test_an_unlisted_four_digit_snapshot_is_not_guessed() -> None:
    assert lookup("openai", "mistral-large-2607", "https://api.mistral.ai/v1") is None
    assert lookup("openai", "gpt-4-0999") is None


def test_a_preview_snapshot_with_its_own_pricing_is_not_folded_into_the_family() -> None:
    assert lookup("openai", "gemini-2.5-flash-preview-05-20",
                  "https://generativelanguage.googleapis.com/v1beta/openai/") is None


# -- providers --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "vendor_provider", "vendor_model"), [
    ("openai/gpt-4o", "openai", "gpt-4o"),
    ("openai/gpt-4o-2024-08-06", "openai", "gpt-4o"),
    ("anthropic/claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet"),
    ("anthropic/claude-3.5-haiku-20241022", "anthropic", "claude-3-5-haiku"),
    ("anthropic/claude-3.7-sonnet:thinking", "anthropic", "claude-3-7-sonnet"),
    ("anthropic/claude-3.5-sonnet:beta", "anthropic", "claude-3-5-sonnet"),
    ("anthropic/claude-opus-4.1", "anthropic", "claude-opus-4-1"),
    ("anthropic/claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5"),
    ("anthropic/claude-2", "anthropic", "claude-2.1"),
])
def test_openrouter_name_prices_as_the_model_after_the_org(
        name: str, vendor_provider: str, vendor_model: str) -> None:
    found, expected = lookup("openrouter", name), lookup(vendor_provider, vendor_model)
    assert found is not None and per_million(found) == per_million(expected)


@pytest.mark.parametrize(("name", "per_m_in", "per_m_out"), [
    ("google/gemini-2.5-pro", "1.25", "10"),
    ("google/gemini-2.5-flash", "0.30", "2.50"),
    ("google/gemini-2.0-flash-001", "0.10", "0.40"),
    ("google/gemini-flash-1.5", "0.075", "0.30"),
    ("google/gemini-pro-1.5", "1.25", "5"),
    ("mistralai/mistral-large", "2", "6"),
    ("mistralai/mistral-medium-3.1", "0.40", "2"),
    ("mistralai/codestral-2508", "0.30", "0.90"),
    ("mistralai/mistral-tiny", "0.25", "0.25"),
    ("cohere/command-r-plus", "3", "15"),
    ("cohere/command-r-08-2024", "0.15", "0.60"),
    ("cohere/command-a", "2.50", "10"),
    ("meta-llama/llama-3.3-70b-instruct", "0.10", "0.32"),
])
def test_openrouter_vendor_and_open_model_prices(name: str, per_m_in: str,
                                                  per_m_out: str) -> None:
    assert per_million(lookup("openrouter", name)) == (Decimal(per_m_in), Decimal(per_m_out))


def test_openrouter_free_variant_is_explicitly_free() -> None:
    price = lookup("openrouter", "meta-llama/llama-3.2-3b-instruct:free")
    assert price is not None and (price.input, price.output) == (Decimal(0), Decimal(0))
    assert "free" in price.source


@pytest.mark.parametrize("name", [
    "anthropic/claude-3.5-sonnet:nitro",       # routing variant: host, so price, may differ
    "openai/gpt-4o:online",                    # adds per-request search fees
    "openrouter/auto",                         # the router picks the model
    "someorg/some-model",
    "meta-llama/llama-2-70b-chat",             # open model without a reliable list price
    "huggingfaceh4/zephyr-7b-beta",
])
def test_openrouter_names_without_a_reliable_price_are_unknown(name: str) -> None:
    assert lookup("openrouter", name) is None


def test_azure_deployment_named_after_an_openai_model_prices_as_that_model() -> None:
    assert lookup("azure", "gpt-4o") == lookup("openai", "gpt-4o")
    assert lookup("azure", "gpt-35-turbo") == lookup("openai", "gpt-3.5-turbo")
    assert lookup("azure", "gpt-35-turbo-16k") == lookup("openai", "gpt-3.5-turbo-16k")


def test_azure_deployment_with_an_operator_chosen_name_has_no_price() -> None:
    assert lookup("azure", "prod-chat-eastus") is None


@pytest.mark.parametrize(("api_base", "model", "vendor_provider", "vendor_model"), [
    ("https://api.mistral.ai/v1", "mistral-large-latest", "mistral", "mistral-large-latest"),
    ("https://generativelanguage.googleapis.com/v1beta/openai/", "gemini-2.5-pro",
     "gemini", "gemini-2.5-pro"),
    ("https://generativelanguage.googleapis.com/v1beta/openai/", "models/gemini-2.0-flash",
     "gemini", "gemini-2.0-flash"),
    ("https://api.cohere.ai/compatibility/v1", "command-r-plus-08-2024",
     "cohere", "command-r-plus-08-2024"),
    ("https://openrouter.ai/api/v1", "anthropic/claude-3.5-sonnet",
     "anthropic", "claude-3-5-sonnet"),
    ("https://llm-proxy.internal.example/v1", "gpt-4o", "openai", "gpt-4o"),
])
def test_openai_compatible_endpoint_prices_from_the_host_vendor_table(
        api_base: str, model: str, vendor_provider: str, vendor_model: str) -> None:
    found = lookup("openai", model, api_base)
    assert found is not None and found == lookup(vendor_provider, vendor_model)


def test_openai_compatible_self_hosted_server_model_is_unknown() -> None:
    assert lookup("openai", "meta-llama/Llama-3.1-8B-Instruct", "http://localhost:8000/v1") is None


@pytest.mark.parametrize(("provider", "model", "api_base"), [
    ("ollama", "llama3", "http://localhost:11434"),
    ("ollama", "mixtral:8x7b", "http://gpu-box:11434"),
    ("ollama_chat", "llama3.1:70b", "http://localhost:11434"),
    ("huggingface", "HuggingFaceH4/zephyr-7b-beta", "http://0.0.0.0:8001"),
    ("huggingface", "mistralai/Mistral-7B-Instruct-v0.2", "https://x.endpoints.huggingface.cloud"),
])
def test_self_hosted_models_are_explicitly_free(provider: str, model: str, api_base: str) -> None:
    price = lookup(provider, model, api_base)
    assert price is not None and (price.input, price.output) == (Decimal(0), Decimal(0))
    assert "self-hosted" in price.source
    assert cost(price, 10_000, 10_000) == 0


@pytest.mark.parametrize(("provider", "api_base"), [
    ("huggingface", "https://router.huggingface.co/v1"),
    ("huggingface", "https://api-inference.huggingface.co/models/x"),
    ("ollama", "https://ollama.com"),
])
def test_billed_hosted_endpoints_of_self_hosted_providers_are_unknown(
        provider: str, api_base: str) -> None:
    assert lookup(provider, "meta-llama/Llama-3.1-8B-Instruct", api_base) is None


def test_mock_deployment_simulates_the_price_of_the_model_it_names() -> None:
    assert lookup("mock", "gpt-4o") == lookup("openai", "gpt-4o")
    assert lookup("mock", "claude-3-5-sonnet-20241022") == lookup("anthropic", "claude-3-5-sonnet")
    assert lookup("mock", "anthropic/claude-3.5-sonnet") == lookup("anthropic", "claude-3-5-sonnet")
    fallback = lookup("mock", "my-fake-model")
    assert fallback is not None and fallback.input == Decimal("0.0000005")
    assert fallback.output == Decimal("0.0000015") and "mock/*" in fallback.source


@pytest.mark.parametrize(("provider", "model"), [
    ("openai", "gpt-unknown"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),   # fine-tunes cost more: not guessed
    ("anthropic", "claude-nonexistent-9"),
    ("openai", ""),
    ("openrouter", ""),
    ("nosuchprovider", "gpt-4o"),
])
def test_unknown_model_has_no_price_rather_than_zero(provider: str, model: str) -> None:
    assert lookup(provider, model) is None


def test_every_configurable_provider_can_be_looked_up() -> None:
    for provider in PROVIDERS:
        lookup(provider, "gpt-4o", "http://localhost:1234")  # no exception, result may be None


# -- overrides --------------------------------------------------------------------------


def test_both_overrides_replace_the_table_price() -> None:
    price = price_for(dep("openai", "gpt-4o", None, Decimal("0.000001"), Decimal("0.000002")))
    assert price == Price(Decimal("0.000001"), Decimal("0.000002"), "config override")


def test_only_input_override_takes_output_from_the_table() -> None:
    price = price_for(dep("openai", "gpt-4o", None, Decimal("0.000001"), None))
    assert price is not None
    assert (price.input, price.output) == (Decimal("0.000001"), Decimal("0.00001"))
    assert "openai/gpt-4o" in price.source


def test_only_output_override_takes_input_from_the_table() -> None:
    price = price_for(dep("anthropic", "claude-3-haiku-20240307", None, None, Decimal("0.000002")))
    assert price is not None
    assert (price.input, price.output) == (Decimal("0.00000025"), Decimal("0.000002"))


def test_one_override_on_an_unpriced_model_makes_the_other_side_zero() -> None:
    price = price_for(dep("openai", "my-embedder", "http://localhost:8080/v1",
                          Decimal("0.00000002"), None))
    assert price is not None
    assert (price.input, price.output) == (Decimal("0.00000002"), Decimal(0))
    assert "no table price: 0" in price.source
    assert cost(price, 1_000_000, 0) == Decimal("0.02")


def test_overrides_make_the_price_flat() -> None:
    price = price_for(dep("openai", "gemini-2.5-pro",
                          "https://generativelanguage.googleapis.com/v1beta/openai/",
                          Decimal("0.000001"), None))
    assert price is not None and price.long_context is None


def test_no_override_is_the_table_price() -> None:
    assert price_for(dep("openai", "gpt-4o-mini")) == lookup("openai", "gpt-4o-mini")
    assert price_for(dep("azure", "my-deployment", "https://x.openai.azure.com")) is None


def test_price_for_is_cached_per_deployment() -> None:
    table = PriceTable.from_json(
        resources.files("gwd").joinpath("prices.json").read_text(encoding="utf-8"))
    first = table.price_for(dep("openai", "gpt-4o"))
    assert first is not None and table.price_for(dep("openai", "gpt-4o")) is first
    repriced = table.price_for(dep("openai", "gpt-4o", None, Decimal("0.1"), Decimal("0.2")))
    assert repriced is not None and repriced.input == Decimal("0.1")


def test_price_for_a_loaded_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("""
model_list:
  - model_name: free
    litellm_params: {model: huggingface/HuggingFaceH4/zephyr-7b-beta, api_base: http://0.0.0.0:8001}
  - model_name: paid
    litellm_params: {model: gpt-4}
  - model_name: custom
    litellm_params: {model: openai/my-model, api_base: http://10.0.0.5:8000/v1,
                     input_cost_per_token: 0.0000001, output_cost_per_token: "0.0000002"}
""")
    free, paid, custom = load_config(str(path)).deployments
    assert cost(price_for(free), 1000, 1000) == 0  # type: ignore[arg-type]
    assert cost(price_for(paid), 1000, 1000) == Decimal("0.09")  # type: ignore[arg-type]
    assert cost(price_for(custom), 10, 10) == Decimal("0.000003")  # type: ignore[arg-type]


# -- cost -------------------------------------------------------------------------------


def test_cost_is_exact_where_floats_are_not() -> None:
    price = lookup("openai", "gpt-4o-mini")
    assert price is not None
    assert cost(price, 1_000_003, 999) == Decimal("0.15059985")
    assert 1_000_003 * 0.00000015 + 999 * 0.0000006 != 0.15059985  # what a float would record


def test_tiny_prices_times_huge_token_counts_are_exact() -> None:
    price = Price(Decimal("0.0000001"), Decimal("0.0000003"), "test")
    assert cost(price, 123_456_789, 987_654_321) == Decimal("308.6419752")
    assert cost(price, 3, 3) == Decimal("0.0000012")


def test_cost_of_a_billion_tokens_is_exact() -> None:
    price = lookup("openai", "gpt-4o-mini")
    assert price is not None
    assert cost(price, 10**9, 10**9) == Decimal(750)


def test_cost_rounds_once_to_the_pico_dollar_half_even() -> None:
    half_pico = Decimal("0.0000000000005")
    price = Price(half_pico, half_pico, "test")
    assert cost(price, 1, 1) == Decimal("0.000000000001")   # summed, then rounded
    assert cost(price, 1, 0) == 0                            # 0.5 pico rounds to even 0
    assert cost(price, 3, 0) == Decimal("0.000000000002")   # 1.5 pico rounds to even 2


def test_cost_refuses_negative_token_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        cost(Price(Decimal(1), Decimal(1), "test"), -1, 0)


def test_long_prompt_is_billed_at_the_long_context_rate_for_the_whole_call() -> None:
    price = lookup("openai", "gemini-2.5-pro",
                   "https://generativelanguage.googleapis.com/v1beta/openai/")
    assert price is not None
    assert price.long_context == LongContext(200_000, Decimal("0.0000025"), Decimal("0.000015"))
    assert cost(price, 200_000, 1000) == Decimal("0.26")      # 200k * 1.25e-6 + 1k * 10e-6
    assert cost(price, 200_001, 1000) == Decimal("0.5150025")  # 200001 * 2.5e-6 + 1k * 15e-6


def test_haiku_5_5_long_prompt_threshold_is_100k() -> None:
    price = lookup("anthropic", "claude-haiku-5-5")
    assert price is not None
    assert cost(price, 100_000, 0) == Decimal("0.01")
    assert cost(price, 100_001, 0) == Decimal("0.0500005")


@given(prompt=st.integers(0, 2_000_000), completion=st.integers(0, 200_000),
       more_prompt=st.integers(0, 500_000), more_completion=st.integers(0, 50_000),
       key=st.sampled_from(sorted(json.loads(
           resources.files("gwd").joinpath("prices.json").read_text(encoding="utf-8")
       )["models"])))
def test_cost_never_falls_when_tokens_grow(prompt: int, completion: int, more_prompt: int,
                                           more_completion: int, key: str) -> None:
    """A reservation at the upper bounds always covers the settled cost."""
    table, _, name = key.partition("/")
    price = lookup("openrouter", name) if table == "openrouter" else \
        lookup({"google": "gemini"}.get(table, table), name)
    assert price is not None
    assert cost(price, prompt, completion) <= cost(price, prompt + more_prompt,
                                                   completion + more_completion)
