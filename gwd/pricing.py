"""The price table: what one call to a deployment costs, in exact USD.

Owns ``prices.json`` (data shipped with gw, per-token prices as decimal strings)
and the rules that map a deployment's ``provider`` and upstream ``model`` onto
an entry of it. Pure: no I/O after the table is read once from the package.

Resolution (:meth:`PriceTable.lookup`), first match wins:

* ``ollama/``, ``ollama_chat/``, ``huggingface/``: the explicit ``wildcards``
  (self-hosted, price 0; override per deployment to charge an internal rate),
  except at a billed hosted endpoint named in the wildcard's ``except_hosts``
  (ollama.com, router.huggingface.co, ...), which is unknown.
* ``openai/``: the ``openai`` table, or the table of the deployment's
  ``api_base`` host when it is a known OpenAI-compatible vendor endpoint
  (``hosts``: api.mistral.ai, generativelanguage.googleapis.com, api.cohere.*,
  openrouter.ai, ...). Any other host (a proxy, vLLM) uses the ``openai``
  table, so only OpenAI model names match there.
* ``azure/``: the deployment name looked up in the ``openai`` table (Azure's
  ``gpt-35-`` spelling accepted), so an operator-chosen name prices nothing.
* ``anthropic/``: the ``anthropic`` table.
* ``bedrock/`` (a Bedrock model id): its own ``bedrock/`` entry (Amazon, Meta, ...), else
  for ``anthropic.*`` ids the ``anthropic`` table (Bedrock lists Anthropic's prices), after
  dropping a cross-region profile prefix (``us.``, ``eu.``, ``global.``, ...) and the
  ``-vN:M`` version. ``vertex_ai/``, ``groq/`` (and ``gemini/``, ``mistral/``,
  ``cohere/``): their vendor table through ``providers``.
* ``openrouter/`` (``org/model[:variant]``): an exact ``openrouter/`` entry
  (open models, approximate); else the org's vendor table (``openrouter_orgs``:
  openai, anthropic, google, mistralai, cohere) looked up with the part after
  the org. ``:free`` prices 0; ``:beta``/``:thinking`` are ignored; any other
  variant (``:nitro``, ``:online``, ...) is unknown.
* ``mock/``: simulates the model it names: the first vendor table (or
  OpenRouter-style ``org/model``) that knows the name; else the ``mock/*``
  wildcard, a nominal demo price, so a demo always shows spend.

Within a vendor table a name (lower-cased, ``models/`` prefix dropped) is tried
as is and through ``aliases``, then after each step in turn: drop a trailing
date ``-YYYY-MM-DD``, ``-YYYYMMDD`` or ``@YYYYMMDD``; drop ``-latest``; drop a
Google version ``-001``; and for anthropic/mistral turn ``3.5`` into ``3-5``.
Snapshots priced differently from their family (``gpt-4o-2024-05-13``,
``gpt-3.5-turbo-1106``, ...) have entries of their own, which win. Anything
else is unknown: ``None``, never a silent 0 (the caller records tokens with
cost null and warns).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .config import Deployment
from .money import cost_of
from .rates import DIMENSIONS

_PRICE_TEXT = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
_DATE_SUFFIX = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8})$")
_LATEST_SUFFIX = re.compile(r"-latest$")
_VERSION_SUFFIX = re.compile(r"-\d{3}$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")
_DOTS_TO_DASHES = frozenset({"anthropic", "mistral"})
_BEDROCK_GEO = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_OPENROUTER_NEUTRAL = frozenset({"beta", "thinking"})
_MOCK_ORDER = ("openai", "anthropic", "google", "mistral", "cohere")
_CACHE_LIMIT = 4096  # distinct lookups remembered; a config has far fewer deployments


class PriceTableError(ValueError):
    """``prices.json`` is malformed; the message names the entry."""


@dataclass(frozen=True, slots=True)
class LongContext:
    """Rates for a whole call whose prompt has more than ``above`` tokens."""

    above: int
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None      # unset: the base entry's cache rates
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token; ``source`` says where the numbers came from (for logs).

    The optional rates bill the parts of a call (see :mod:`gwd.rates`)."""

    input: Decimal
    output: Decimal
    source: str
    long_context: LongContext | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    input_audio: Decimal | None = None
    input_image: Decimal | None = None
    output_reasoning: Decimal | None = None
    output_audio: Decimal | None = None
    web_search: Decimal | None = None       # USD per call, not per token


def cost(price: Price, usage_prompt: int, usage_completion: int) -> Decimal:
    """Exact cost of a call, quantised once (see :func:`gwd.money.cost_of`).

    Monotonic in both token counts, so a budget reservation is simply the cost
    of the upper bounds (prompt bound, ``max_tokens``).
    """
    if usage_prompt < 0 or usage_completion < 0:
        raise ValueError("token counts cannot be negative")
    tier = price.long_context
    if tier is not None and usage_prompt > tier.above:
        return cost_of(usage_prompt, usage_completion, tier.input, tier.output)
    return cost_of(usage_prompt, usage_completion, price.input, price.output)


def _usd(where: str, value: object) -> Decimal:
    if not isinstance(value, str) or not _PRICE_TEXT.match(value):
        raise PriceTableError(f"prices.json: {where}: price must be a plain decimal "
                              f"string, got {value!r}")
    return Decimal(value)


def _price(where: str, entry: object, source: str) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceTableError(f"prices.json: {where}: must be an object")
    unit_in = _usd(f"{where}.input", entry.get("input"))
    unit_out = _usd(f"{where}.output", entry.get("output"))
    tier: LongContext | None = None
    raw = entry.get("long_context")
    if raw is not None:
        above = raw.get("above") if isinstance(raw, Mapping) else None
        if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
            raise PriceTableError(f"prices.json: {where}.long_context.above: "
                                  "must be a positive int")
        tier = LongContext(above, _usd(f"{where}.long_context.input", raw.get("input")),
                           _usd(f"{where}.long_context.output", raw.get("output")),
                           **_rates(f"{where}.long_context", raw, _TIER_RATES))
        if tier.input < unit_in or tier.output < unit_out:
            raise PriceTableError(f"prices.json: {where}.long_context: "
                                  "cheaper than the base rate")
    return Price(unit_in, unit_out, source, tier, **_rates(where, entry, DIMENSIONS))


_TIER_RATES = ("cache_read", "cache_write", "cache_write_1h")


def _rates(where: str, entry: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Decimal]:
    return {name: _usd(f"{where}.{name}", entry[name])
            for name in names if entry.get(name) is not None}


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise PriceTableError(f"prices.json: {name}: must be an object")
    return dict(value)


def _names(where: str, mapping: dict[str, Any]) -> dict[str, str]:
    for key, value in mapping.items():
        if not isinstance(value, str):
            raise PriceTableError(f"prices.json: {where}[{key!r}]: must be a string")
    return {key.lower(): value.lower() for key, value in mapping.items()}


class PriceTable:
    """The parsed, validated ``prices.json``; lookups are memoised."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        meta = data.get("_source")
        self.checked: str = str(meta.get("checked", "")) if isinstance(meta, Mapping) else ""
        self._models = {key.lower(): _price(f"models[{key!r}]", entry, f"prices.json {key}")
                        for key, entry in _section(data, "models").items()}
        self._aliases = _names("aliases", _section(data, "aliases"))
        for alias, target in self._aliases.items():
            if target not in self._models:
                raise PriceTableError(f"prices.json: aliases[{alias!r}]: "
                                      f"unknown model {target!r}")
        self._wildcards: dict[str, tuple[Price, frozenset[str]]] = {}
        for key, entry in _section(data, "wildcards").items():
            where = f"wildcards[{key!r}]"
            kind = "nominal demo price" if key == "mock/*" else "self-hosted"
            price = _price(where, entry, f"prices.json {key} ({kind})")
            hosts = entry.get("except_hosts", [])
            if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
                raise PriceTableError(f"prices.json: {where}.except_hosts: "
                                      "must be a list of hosts")
            self._wildcards[key.lower()] = (price, frozenset(h.lower() for h in hosts))
        self._providers = _names("providers", _section(data, "providers"))
        self._hosts = _names("hosts", _section(data, "hosts"))
        self._orgs = _names("openrouter_orgs", _section(data, "openrouter_orgs"))
        tables = {key.partition("/")[0] for key in self._models}
        for name, mapping in (("providers", self._providers), ("hosts", self._hosts),
                              ("openrouter_orgs", self._orgs)):
            for key, table in mapping.items():
                if table not in tables:
                    raise PriceTableError(f"prices.json: {name}[{key!r}]: "
                                          f"unknown table {table!r}")
        self._lookups: dict[tuple[str, str, str], Price | None] = {}
        self._deployments: dict[tuple[object, ...], Price | None] = {}

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """Parse JSON text; a JSON float anywhere is refused (prices are strings)."""
        def no_float(literal: str) -> Decimal:
            raise PriceTableError(f"prices.json: JSON number {literal} found; "
                                  "write prices as strings")
        return cls(json.loads(text, parse_float=no_float))

    @classmethod
    def packaged(cls) -> PriceTable:
        """The table shipped as ``gwd/prices.json``, read once per process."""
        return _packaged()

    def __len__(self) -> int:
        return len(self._models)

    # -- lookups --------------------------------------------------------------------

    def model_names(self, provider: str) -> list[str]:
        """The table's model names for a provider prefix (to list wildcard groups)."""
        table = self._providers.get(provider, provider)
        return [key.partition("/")[2] for key in self._models
                if key.partition("/")[0] == table]

    def lookup(self, provider: str, model: str, api_base: str | None = None) -> Price | None:
        """The table price of ``model`` at ``provider`` (see the module docstring)."""
        key = (provider, model, api_base or "")
        try:
            return self._lookups[key]
        except KeyError:
            host = (urlsplit(api_base).hostname or "").lower() if api_base else ""
            found = self._resolve(provider, model, host)
            if len(self._lookups) >= _CACHE_LIMIT:
                self._lookups.clear()
            self._lookups[key] = found
            return found

    def price_for(self, dep: Deployment) -> Price | None:
        """The deployment's price: its overrides over the table.

        Both ``input_cost_per_token`` and ``output_cost_per_token`` set: exactly
        those. One set: the other rate comes from the table, or is 0 when the
        table has no price (the operator priced the half they care about, e.g.
        input only for an embedding model). An override makes the price flat
        (no long-context rate) and drops the table's part rates (cache, audio, ...).
        Neither set: :meth:`lookup`. Part rates set on the deployment (LiteLLM's
        ``cache_read_input_token_cost``, ...: :mod:`gwd.rates`) replace the result's.
        A deployment setting any price but no table price is priced (missing rates 0).
        """
        key = (dep.provider, dep.base_model or dep.model, dep.api_base,
               dep.input_cost_per_token, dep.output_cost_per_token, dep.price_rates)
        try:
            return self._deployments[key]
        except KeyError:  # model_info.base_model: priced as that model
            found = self._for(replace(dep, model=dep.base_model) if dep.base_model else dep)
            if len(self._deployments) >= _CACHE_LIMIT:
                self._deployments.clear()
            self._deployments[key] = found
            return found

    def _for(self, dep: Deployment) -> Price | None:
        found = self._base_for(dep)
        if found is None or not dep.price_rates:
            return found
        return replace(found, source=f"{found.source}; part rates from config",
                       **dict(dep.price_rates))

    def _base_for(self, dep: Deployment) -> Price | None:
        unit_in, unit_out = dep.input_cost_per_token, dep.output_cost_per_token
        if unit_in is not None and unit_out is not None:
            return Price(unit_in, unit_out, "config override")
        if unit_in is None and unit_out is None and dep.price_rates \
                and self.lookup(dep.provider, dep.model, dep.api_base) is None:
            return Price(Decimal(0), Decimal(0), "config part rates only; base rates 0")
        table = self.lookup(dep.provider, dep.model, dep.api_base)
        origin = table.source if table is not None else "no table price: 0"
        if unit_in is not None:
            rest = table.output if table is not None else Decimal(0)
            return Price(unit_in, rest, f"config override (input); output from {origin}")
        if unit_out is not None:
            rest = table.input if table is not None else Decimal(0)
            return Price(rest, unit_out, f"config override (output); input from {origin}")
        return table

    def _resolve(self, provider: str, model: str, host: str) -> Price | None:
        if provider != "mock" and (wildcard := self._wildcards.get(f"{provider}/*")) is not None:
            price, billed_hosts = wildcard
            return None if host in billed_hosts else price
        name = model.strip().lower()
        if provider == "openrouter":
            return self._openrouter(name)
        if provider == "mock":
            if "/" in name:
                return self._openrouter(name)
            for table in _MOCK_ORDER:
                if (found := self._vendor(table, name)) is not None:
                    return found
            fallback = self._wildcards.get("mock/*")
            return fallback[0] if fallback is not None else None
        if provider == "openai" and host:
            at_host = self._hosts.get(host, "openai")
            if at_host == "openrouter":
                return self._openrouter(name)
            return self._vendor(at_host, name)
        if provider == "azure":
            name = re.sub(r"^gpt-35-", "gpt-3.5-", name)
        if provider == "bedrock":
            return self._bedrock(name)
        vendor = self._providers.get(provider)
        return self._vendor(vendor, name) if vendor else None

    def _bedrock(self, name: str) -> Price | None:
        name = _BEDROCK_GEO.sub("", name.removeprefix("converse/"))
        if (own := self._vendor("bedrock", name)) is not None:
            return own
        org, _, rest = name.partition(".")
        return self._vendor("anthropic", _BEDROCK_VERSION.sub("", rest)) \
            if org == "anthropic" and rest else None

    def _openrouter(self, name: str) -> Price | None:
        name, _, variant = name.partition(":")
        if variant == "free":
            return Price(Decimal(0), Decimal(0), f"openrouter {name}:free (free variant)")
        if variant and variant not in _OPENROUTER_NEUTRAL:
            return None
        if (own := self._models.get(f"openrouter/{name}")) is not None:
            return own
        org, _, rest = name.partition("/")
        table = self._orgs.get(org)
        return self._vendor(table, rest) if table and rest else None

    def _vendor(self, table: str, name: str) -> Price | None:
        name = name.removeprefix("models/")
        for candidate in _candidates(table, name):
            key = f"{table}/{candidate}"
            key = self._aliases.get(key, key)
            if (found := self._models.get(key)) is not None:
                return found
        return None


def _candidates(table: str, name: str) -> Iterator[str]:
    """``name``, then the normalisation steps applied one after another."""
    yield name
    for step in (_DATE_SUFFIX, _LATEST_SUFFIX, _VERSION_SUFFIX):
        shorter = step.sub("", name)
        if shorter != name and shorter:
            name = shorter
            yield name
    if table in _DOTS_TO_DASHES:
        dashed = _DOTTED_VERSION.sub("-", name)
        if dashed != name:
            yield dashed


@cache
def _packaged() -> PriceTable:
    text = resources.files("gwd").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable.from_json(text)


def lookup(provider: str, model: str, api_base: str | None = None) -> Price | None:
    """:meth:`PriceTable.lookup` on the packaged table."""
    return _packaged().lookup(provider, model, api_base)


def price_for(dep: Deployment) -> Price | None:
    """:meth:`PriceTable.price_for` on the packaged table."""
    return _packaged().price_for(dep)
