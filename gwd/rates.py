"""Billed dimensions: their rate names, LiteLLM's price field names, and the cost of a Usage.

A :class:`~gwd.pricing.Price` has a base input and output rate (USD per token) and
optional rates for the parts of a call billed differently (:data:`DIMENSIONS`):

=====================  ====================================================  ============
rate                   applies to                                            when unset
=====================  ====================================================  ============
``cache_read``         cached prompt tokens (``Usage.cached_tokens``)        input
``cache_write``        prompt tokens written to a 5-minute cache             input
``cache_write_1h``     prompt tokens written to a 1-hour cache               cache_write
``input_audio``        audio prompt tokens                                   input
``input_image``        image prompt tokens                                   input
``output_reasoning``   reasoning tokens (inside completion tokens)           output
``output_audio``       audio completion tokens                               output
``web_search``         USD per server-side web search call                   0
=====================  ====================================================  ============

Each part is billed at its own rate INSTEAD of the base rate, never on top of it:
``Usage`` keeps parts inside its totals (OpenAI's convention), so a reasoning token
is counted once. LiteLLM's per-deployment price names (:data:`LITELLM_FIELDS`) are
read by :func:`read_litellm_prices`, the one function that reads a price dict (used
for ``litellm_params``; ``model_info`` takes the same names).

Pure: no I/O. Money is Decimal, quantised once per call (:func:`gwd.money.quantize`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .money import cost_of, quantize

if TYPE_CHECKING:
    from .pricing import Price
    from .providers.base import Usage

#: optional per-dimension rates of a price (prices.json uses these names)
DIMENSIONS = ("cache_read", "cache_write", "cache_write_1h", "input_audio", "input_image",
              "output_reasoning", "output_audio", "web_search")

#: LiteLLM's price field names -> gw's rate names ("input"/"output": the base rates)
LITELLM_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "input_cost_per_audio_token": "input_audio",
    "input_cost_per_image_token": "input_image",
    "output_cost_per_reasoning_token": "output_reasoning",
    "output_cost_per_audio_token": "output_audio",
    "search_context_cost_per_query": "web_search",
}
#: which of LiteLLM's search_context_cost_per_query sizes gw bills (OpenAI's default size)
SEARCH_SIZE = "search_context_size_medium"


def read_litellm_prices(params: Mapping[str, Any],
                        parse: Callable[[str, Any], Decimal]) -> dict[str, Decimal]:
    """The rates a LiteLLM-style dict sets, by gw rate name.

    ``parse(field, value)`` turns one value into a non-negative Decimal or raises
    (the config reader's, so its error names the field). A null value is "not set".
    ``search_context_cost_per_query`` is LiteLLM's mapping of search sizes; gw bills
    every search at its ``search_context_size_medium`` price (a plain number works too).
    """
    found: dict[str, Decimal] = {}
    for name, rate in LITELLM_FIELDS.items():
        value = params.get(name)
        if value is None:
            continue
        if rate == "web_search" and isinstance(value, Mapping):
            if value.get(SEARCH_SIZE) is None:
                continue
            found[rate] = parse(f"{name}.{SEARCH_SIZE}", value[SEARCH_SIZE])
        else:
            found[rate] = parse(name, value)
    return found


def _or(rate: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if rate is None else rate


def usage_cost(price: Price, usage: Usage) -> Decimal:
    """Exact cost of a call's usage: each part at its own rate, quantised once.

    A long-context tier (prompt tokens above ``tier.above``) replaces the base rates
    for the whole call, and its cache rates when it has them."""
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    if prompt < 0 or completion < 0:
        raise ValueError("token counts cannot be negative")
    unit_in, unit_out = price.input, price.output
    read, write, write_1h = price.cache_read, price.cache_write, price.cache_write_1h
    tier = price.long_context
    if tier is not None and prompt > tier.above:
        unit_in, unit_out = tier.input, tier.output
        read = tier.cache_read if tier.cache_read is not None else read
        write = tier.cache_write if tier.cache_write is not None else write
        write_1h = tier.cache_write_1h if tier.cache_write_1h is not None else write_1h
    cached, written, written_1h = (usage.cached_tokens, usage.cache_write_tokens,
                                   usage.cache_write_1h_tokens)
    audio_in, image_in = usage.audio_prompt_tokens, usage.image_prompt_tokens
    reasoning, audio_out = usage.reasoning_tokens, usage.audio_completion_tokens
    if not (cached or written or written_1h or audio_in or image_in or reasoning
            or audio_out or usage.web_searches):
        return cost_of(prompt, completion, unit_in, unit_out)
    plain_in = prompt - cached - written - written_1h - audio_in - image_in
    plain_out = completion - reasoning - audio_out
    if plain_in < 0 or plain_out < 0:
        raise ValueError("usage parts exceed their totals")
    write_rate = _or(write, unit_in)
    total = (plain_in * unit_in + cached * _or(read, unit_in) + written * write_rate
             + written_1h * _or(write_1h, write_rate)
             + audio_in * _or(price.input_audio, unit_in)
             + image_in * _or(price.input_image, unit_in)
             + plain_out * unit_out + reasoning * _or(price.output_reasoning, unit_out)
             + audio_out * _or(price.output_audio, unit_out)
             + usage.web_searches * _or(price.web_search, Decimal(0)))
    return quantize(total)


def capped(usage: Usage, prompt_cap: int, completion_cap: int | None) -> Usage:
    """``usage`` with its totals cut to what the call could have produced (a completion
    cap of None: no cap), its parts clipped to the new totals, marked estimated=False
    as before. Used for budgeted calls whose upstream reported more (issue 19)."""
    from .providers.base import DETAIL_FIELDS, with_parts  # no import cycle at load time

    prompt = min(usage.prompt_tokens, prompt_cap)
    completion = usage.completion_tokens if completion_cap is None \
        else min(usage.completion_tokens, completion_cap)
    parts = {name: getattr(usage, name) for name in DETAIL_FIELDS}
    return with_parts(prompt, completion, parts, usage.estimated)


def bound_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """The most ``prompt_tokens`` in and ``completion_tokens`` out can cost, whatever
    their parts turn out to be (every prompt token a 1-hour cache write, if that is the
    dearest input rate): what a budget reservation takes. Per-call tool fees are not
    bounded by tokens and are not included."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts cannot be negative")
    unit_in, unit_out = price.input, price.output
    ins = [price.cache_read, price.cache_write, price.cache_write_1h, price.input_audio,
           price.input_image]
    tier = price.long_context
    if tier is not None and prompt_tokens > tier.above:
        unit_in, unit_out = tier.input, tier.output
        ins += [tier.cache_read, tier.cache_write, tier.cache_write_1h]
    worst_in = max([unit_in, *(r for r in ins if r is not None)])
    worst_out = max([unit_out, *(r for r in (price.output_reasoning, price.output_audio)
                                 if r is not None)])
    return cost_of(prompt_tokens, completion_tokens, worst_in, worst_out)
