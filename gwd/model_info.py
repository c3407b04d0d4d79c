"""A deployment's ``model_info``: what gw honours of it, read into Deployment fields.

- ``id``: the deployment's id (read by :mod:`gwd.config`).
- ``base_model``: the model the price table is looked up with (LiteLLM's way of pricing
  an Azure deployment whose name says nothing, e.g. ``azure/gpt-4-1106-preview`` or
  ``gpt-4o``); a provider prefix is dropped.
- ``mode``: which of gw's OpenAI endpoints the deployment serves: ``chat`` and
  ``completion`` serve /chat/completions and /completions, ``embedding`` serves
  /embeddings only; other modes (image_generation, audio_*, rerank, ...) leave those three
  endpoints as the provider decides. A group whose deployments do not serve an endpoint
  answers it 400 ``unsupported_endpoint``.
- prices under the same names as in ``litellm_params`` (``input_cost_per_token``,
  ``output_cost_per_token``, ``cache_read_input_token_cost``, ...: :mod:`gwd.rates`);
  one set in ``litellm_params`` wins over the same one here.

Every other key is named in the start-up warning (:mod:`gwd.litellm_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .rates import LITELLM_FIELDS, read_litellm_prices

MODES = {"chat": ("chat", "completions"), "completion": ("chat", "completions"),
         "embedding": ("embeddings",)}
GATED = ("chat", "completions", "embeddings")   # the endpoints ``mode`` can close
KNOWN = frozenset({"id", "mode", "base_model", *LITELLM_FIELDS})


def serves(mode: str | None, endpoint: str) -> bool:
    """Whether a deployment of ``mode`` may take a call to ``endpoint``."""
    if mode is None or endpoint not in GATED or mode not in MODES:
        return True
    return endpoint in MODES[mode]


def read(info: Mapping[str, Any], opt: dict[str, Any], where: str,
         string: Callable[[str, Any], str],
         price: Callable[[str, Any], Decimal]) -> None:
    """Fold ``model_info`` into the deployment's options ``opt`` (in place)."""
    if info.get("base_model") is not None:
        base = string(f"{where}: model_info.base_model", info["base_model"])
        opt["base_model"] = base.split("/", 1)[1] if "/" in base else base
    if info.get("mode") is not None:
        opt["mode"] = string(f"{where}: model_info.mode", info["mode"])
    rates = read_litellm_prices(info, lambda key, value: price(
        f"{where}: model_info.{key}", value))
    for key, rate in (("input_cost_per_token", "input"), ("output_cost_per_token", "output")):
        value = rates.pop(rate, None)
        if value is not None and key not in opt:
            opt[key] = value
    if rates:
        merged = {**rates, **dict(opt.get("price_rates", ()))}
        opt["price_rates"] = tuple(sorted(merged.items()))
