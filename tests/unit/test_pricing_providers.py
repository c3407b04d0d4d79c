"""Prices of the providers of issue 15: Bedrock model ids (own entries, Anthropic's through
the anthropic table, cross-region profiles), Vertex AI (Google's table), Groq."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gwd.config import PROVIDERS
from gwd.pricing import lookup


@pytest.mark.parametrize("model, source, price", [
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic/claude-3-5-sonnet", ("3", "15")),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic/claude-sonnet-4", ("3", "15")),
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic/claude-haiku-4-5", ("1", "5")),
    ("converse/anthropic.claude-3-haiku-20240307-v1:0", "anthropic/claude-3-haiku",
     ("0.25", "1.25")),
    ("amazon.nova-pro-v1:0", "bedrock/amazon.nova-pro-v1:0", ("0.8", "3.2")),
    ("eu.amazon.nova-micro-v1:0", "bedrock/amazon.nova-micro-v1:0", ("0.035", "0.14")),
])
def test_bedrock_ids(model: str, source: str, price: tuple[str, str]) -> None:
    found = lookup("bedrock", model)
    assert found is not None and found.source == f"prices.json {source}"
    per_million = (found.input * 1_000_000, found.output * 1_000_000)
    assert per_million == (Decimal(price[0]), Decimal(price[1]))


@pytest.mark.parametrize("model", ["cohere.command-r-v1:0", "anthropic.", "mystery"])
def test_unknown_bedrock_ids_have_no_price_rather_than_zero(model: str) -> None:
    assert lookup("bedrock", model) is None


def test_vertex_uses_google_s_table_and_groq_its_own() -> None:
    assert lookup("vertex_ai", "gemini-2.5-pro") == lookup("gemini", "gemini-2.5-pro")
    groq = lookup("groq", "llama-3.3-70b-versatile")
    assert groq is not None and groq.input * 1_000_000 == Decimal("0.59")
    assert lookup("groq", "openai/gpt-oss-120b") is not None
    assert lookup("deepseek", "deepseek-chat") is None   # not in the table: unknown, not 0


def test_every_prefix_gw_serves_can_be_looked_up() -> None:
    for provider in PROVIDERS:
        lookup(provider, "anthropic.claude-3-haiku-20240307-v1:0")
