"""config.yaml, in the LiteLLM proxy's format, parsed once into frozen dataclasses.

``load_config(path)`` reads the YAML with ``safe_load``, resolves every
``os.environ/NAME`` value, validates every field and returns a :class:`Config`.
Any problem raises :class:`ConfigError`, whose ``str`` is ONE line naming the
file, the entry and the problem, e.g.::

    examples/config.yaml: model_list[2] (model_name 'fast'): litellm_params.model:
    unknown provider prefix 'foo/' (known: anthropic/, azure/, ...)

Keys gw does not know are kept out of the way with a warning (so a LiteLLM
config with extra settings still starts); values of the wrong type are errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import litellm_settings, litellm_table, model_info
from .durations import DurationError, parse_duration
from .litellm_settings import LiteLLMSettings
from .money import parse_usd
from .providers import catalog
from .rates import LITELLM_FIELDS, read_litellm_prices

PROVIDERS = catalog.served()   # prefixes gw serves; catalog.LITELLM_ONLY start with a warning
DEFAULT_API_BASE = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
}
NEEDS_API_BASE = ("azure", "huggingface")
DEFAULT_AZURE_API_VERSION = "2024-10-21"
STRATEGIES = ("simple-shuffle", "least-busy", "latency-based")
STRATEGY_ALIASES = {"latency-based-routing": "latency-based"}
STRATEGY_FALLBACKS = ("usage-based-routing", "usage-based-routing-v2", "cost-based-routing")
_BARE_OPENAI = re.compile(r"(gpt-|o[0-9]|chatgpt-|text-embedding-|davinci|babbage|"
                          r"text-davinci|omni-moderation|ft:gpt|dall-e-|tts-1|whisper-)")
WEAK_MASTER_KEYS = frozenset({"sk-1234", "sk-12345", "sk-123456", "sk-admin", "sk-master",
                              "sk-test", "sk-secret", "changeme", "password", "secret"})


class ConfigError(Exception):
    """The config cannot be used. ``str(err)`` is the one line to show."""

    warnings: tuple[str, ...] = ()  # what else the file said, for gwd --check-config

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


class ConfigErrors(ConfigError):
    """Several problems at once (``gwd`` reports them all): one line per error."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.path, first.where, first.problem)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Deployment:
    """One entry of ``model_list``: a model group member gwd can send calls to."""

    id: str                      # stable, readable, secret-free (model_info.id or derived)
    model_name: str              # the public name = model group
    provider: str                # one of PROVIDERS
    model: str                   # the upstream's model name (prefix stripped)
    litellm_model: str           # the config's ``model`` as written
    api_base: str | None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # egress (gwd/egress.py): None = the global setting / the environment's proxies
    ssl_verify: bool | str | None = None     # False, True or a CA bundle path
    ssl_certfile: str | None = None          # client certificate (PEM), for mTLS
    ssl_keyfile: str | None = None           # its key, when not in ssl_certfile
    proxy: str | bool | None = field(default=None, repr=False)  # URL, or False: direct
    #: part rates (gwd.rates.DIMENSIONS) from LiteLLM's price names, e.g. cache reads
    price_rates: tuple[tuple[str, Decimal], ...] = ()
    base_model: str | None = None   # model_info.base_model: priced as this model
    mode: str | None = None         # model_info.mode (gwd/model_info.py)


@dataclass(frozen=True, slots=True)
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = 2
    timeout: float = 600.0            # total deadline of one attempt, seconds
    connect_timeout: float = 5.0
    first_byte_timeout: float = 60.0  # until the upstream's response headers
    stream_idle_timeout: float = 60.0  # between two reads of a body or stream
    allowed_fails: int = 0            # failures per minute tolerated before a cooldown
    cooldown_time: float = 5.0        # seconds a failing deployment is skipped


@dataclass(frozen=True, slots=True)
class GeneralSettings:
    master_key: str | None = field(default=None, repr=False)
    database_url: str | None = field(default=None, repr=False)
    default_key_duration: timedelta | None = timedelta(hours=1)
    max_request_body_mb: float = 4.0
    budget_output_allowance: int = 4096   # output tokens reserved for calls without max_tokens
    key_cache_ttl: float = 5.0            # seconds a cached key record is trusted
    spend_flush_interval: float = 0.1     # seconds between spend batch writes
    access_log: bool = False              # structured JSON access log lines (opt-in)
    metrics_auth: bool = True             # /metrics needs the master key (false: public)
    drain_timeout: float = 30.0           # seconds SIGTERM waits for in-flight requests
    global_max_parallel_requests: int = 1024  # proxy calls served at once; beyond: 503
    max_parallel_requests_per_key_share: float = 0.5  # one key's share of those; beyond: 429
    request_header_timeout: float = 30.0  # seconds to send the headers (and idle keep-alive)
    request_body_timeout: float = 60.0    # seconds to send the whole body once headers are in
    # the database misbehaving (docs/operations.md, "When the database fails")
    spend_journal: str | None = None      # spend rows wait here while the DB is down
    spend_journal_max_mb: float = 64.0    # past this the journal refuses rows (kept in memory)
    database_connection_pool_limit: int = 10   # PostgreSQL connections per gwd process
    database_connection_timeout: float = 2.0   # seconds to connect or to wait for a connection
    allow_requests_on_db_unavailable: bool = False  # cached keys serve on while the DB is down
    otel: bool = False                    # OpenTelemetry traces over OTLP/HTTP (gwd/tracing.py)
    otel_endpoint: str | None = None      # else OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT's
    otel_capture_content: bool = False    # prompts and answers in the spans


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    deployments: tuple[Deployment, ...]
    general: GeneralSettings
    router: RouterSettings
    warnings: tuple[str, ...] = ()
    ssl_verify: bool | str = True     # litellm_settings.ssl_verify: bool or a CA bundle path
    litellm: LiteLLMSettings = field(default_factory=LiteLLMSettings)

    @property
    def groups(self) -> dict[str, tuple[Deployment, ...]]:
        out: dict[str, list[Deployment]] = {}
        for dep in self.deployments:
            out.setdefault(dep.model_name, []).append(dep)
        return {name: tuple(deps) for name, deps in out.items()}

    @property
    def database_url(self) -> str:
        """The store URL; with none configured, an SQLite file next to the config."""
        if self.general.database_url:
            return self.general.database_url
        return "sqlite:///" + str(Path(self.path).resolve().with_name("gw.sqlite3"))

    @property
    def spend_journal_path(self) -> str:
        """Where spend rows wait while the database is down: ``spend_journal`` (relative to
        the config's directory), else ``<config name>.spend-journal.jsonl`` next to it."""
        config = Path(self.path).resolve()
        if self.general.spend_journal:
            return str(config.parent / Path(self.general.spend_journal).expanduser())
        return str(config.with_name(config.stem + ".spend-journal.jsonl"))


def split_model(model: str) -> tuple[str, str] | None:
    """``"anthropic/claude-3"`` -> ``("anthropic", "claude-3")``; None if unknown."""
    prefix, sep, rest = model.partition("/")
    if sep and rest and (prefix in PROVIDERS or catalog.is_unsupported(prefix)):
        return prefix, rest
    if not sep or prefix not in PROVIDERS:
        if model.startswith("claude-"):
            return "anthropic", model
        if _BARE_OPENAI.match(model):
            return "openai", model
    return None


def is_weak_master_key(key: str) -> bool:
    return len(key) < 16 or key.lower() in WEAK_MASTER_KEYS


class _Reader:
    """Validation helpers bound to one file, so every error names it."""

    def __init__(self, path: str, env: Mapping[str, str]) -> None:
        self.path, self.env = path, env
        self.warnings: list[str] = []
        self.ignored: list[tuple[str, str, str]] = []   # (section, name, where)

    def ignore(self, section: str, name: str, where: str = "") -> None:
        """A LiteLLM setting gw does not honour: named in the one start-up warning."""
        self.ignored.append((section, str(name), where))

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(self.path, where, problem)

    def resolve(self, where: str, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("os.environ/"):
            name = value[len("os.environ/"):]
            if name not in self.env:
                raise self.fail(where, f"environment variable {name} is not set")
            return self.env[name]
        return value

    def mapping(self, where: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {_kind(value)}")
        return value

    def string(self, where: str, value: Any, *, secret: bool = False) -> str:
        value = self.resolve(where, value)
        if not isinstance(value, str) or not value.strip():
            shown = "a value" if secret else _kind(value)
            raise self.fail(where, f"must be a non-empty string, got {shown}")
        return value

    def number(self, where: str, value: Any, *, integer: bool = False,
               minimum: float = 0, exclusive: bool = False) -> Any:
        value = self.resolve(where, value)
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                raise self.fail(where, f"must be a number, got {value[:40]!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                integer and not isinstance(value, int)):
            raise self.fail(where, f"must be {'an integer' if integer else 'a number'}, "
                                   f"got {_kind(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(where, "must be a finite number")
        if value < minimum or (exclusive and value == minimum):
            raise self.fail(where, f"must be {'>' if exclusive else '>='} {minimum}, got {value}")
        return value

    def price(self, where: str, value: Any) -> Decimal:
        value = self.resolve(where, value)
        try:
            price = parse_usd(value)
        except ValueError:
            raise self.fail(where, f"must be a price in USD per token, got {_kind(value)}"
                            ) from None
        if price < 0:
            raise self.fail(where, "must not be negative")
        return price

    def boolean(self, where: str, value: Any) -> bool:
        value = self.resolve(where, value)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(where, f"must be true or false, got {_kind(value)}")

    def url(self, where: str, value: Any) -> str:
        text = self.string(where, value)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(where, "must be an http:// or https:// URL")
        return text.rstrip("/")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list, bool)):
        return {dict: "a mapping", list: "a list", bool: "a boolean"}[type(value)]
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"{value[:40]!r}"
    return type(value).__name__


_DEPLOYMENT_KEYS = {"model", "api_base", "api_key", "api_version", "timeout", "stream_timeout",
                    "rpm", "tpm", "weight", "input_cost_per_token", "output_cost_per_token",
                    "mock_response", "organization", "max_retries", "base_url",
                    "ssl_verify", "ssl_certfile", "ssl_keyfile", "proxy",
                    *LITELLM_FIELDS}
VERIFY_OFF = ("ssl_verify is false: upstream TLS certificates are NOT checked, so anyone on "
              "the network path can read the requests and the provider key")


def _ssl_verify(r: _Reader, where: str, value: Any) -> bool | str:
    """``ssl_verify``: true, false or the path of a CA bundle (file or directory)."""
    value = r.resolve(where, value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if isinstance(value, bool):
        if not value:
            r.warnings.append(f"{where}: {VERIFY_OFF}")
        return value
    if isinstance(value, str) and value.strip():
        return _file(r, value)
    raise r.fail(where, f"must be true, false or a CA bundle path, got {_kind(value)}")


def _file(r: _Reader, value: str) -> str:
    """A path from the config: ``~`` expanded, relative ones from the config's directory."""
    return str(Path(r.path).resolve().parent / Path(value).expanduser())


def _egress_params(r: _Reader, params: dict[str, Any], p: Any) -> dict[str, Any]:
    """The deployment's ``ssl_verify``, ``ssl_certfile``, ``ssl_keyfile`` and ``proxy``."""
    out: dict[str, Any] = {}
    if params.get("ssl_verify") is not None:
        out["ssl_verify"] = _ssl_verify(r, p("ssl_verify"), params["ssl_verify"])
    for key in ("ssl_certfile", "ssl_keyfile"):
        if params.get(key) is not None:
            out[key] = _file(r, r.string(p(key), params[key]))
    if "ssl_keyfile" in out and "ssl_certfile" not in out:
        raise r.fail(p("ssl_keyfile"), "needs ssl_certfile (the client certificate)")
    proxy = r.resolve(p("proxy"), params.get("proxy"))
    if isinstance(proxy, str) and proxy.lower() in ("false", "none", ""):
        proxy = False
    if proxy is not None:
        if proxy is not False and not isinstance(proxy, str):
            raise r.fail(p("proxy"), f"must be a proxy URL or false, got {_kind(proxy)}")
        out["proxy"] = proxy
    return out


def _deployment(r: _Reader, index: int, entry: Any, seen_ids: set[str]) -> Deployment:
    where = f"model_list[{index}]"
    if not isinstance(entry, dict):
        raise r.fail(where, f"must be a mapping with model_name and litellm_params, "
                            f"got {_kind(entry)}")
    if "model_name" not in entry:
        raise r.fail(where, "model_name is missing")
    name = entry["model_name"]
    if not isinstance(name, str) or not name.strip():
        raise r.fail(where, f"model_name must be a non-empty string, got {_kind(name)}")
    where = f"model_list[{index}] (model_name {name!r})"
    if "litellm_params" not in entry:
        raise r.fail(where, "litellm_params is missing")
    params = r.mapping(f"{where}: litellm_params", entry["litellm_params"])
    if "model" not in params:
        raise r.fail(where, "litellm_params.model is missing")
    model = r.string(f"{where}: litellm_params.model", params["model"])
    split = split_model(model)
    if split is None:
        prefix = model.partition("/")[0] + "/" if "/" in model else model
        if model.endswith("/") and model[:-1] in PROVIDERS:
            raise r.fail(where, f"litellm_params.model: {model!r} names no model (or "
                                "deployment) after the provider prefix")
        raise r.fail(where, f"litellm_params.model: unknown provider {prefix!r} "
                            f"(known: {', '.join(p + '/' for p in PROVIDERS)} "
                            f"or a bare gpt-*/claude-* name)")
    provider, upstream = split
    if catalog.is_unsupported(provider):
        r.warnings.append(f"{where}: litellm_params.model: provider '{provider}/' is not "
                          f"supported by gw; calls to this deployment answer 400")

    def p(key: str) -> str:
        return f"{where}: litellm_params.{key}"

    own = catalog.extra_params(provider)
    for key in params:
        if key not in _DEPLOYMENT_KEYS and key not in own:
            r.ignore("litellm_params", key, where.partition(" ")[0])
    base_value = params.get("api_base", params.get("base_url"))
    api_base = r.url(p("api_base"), base_value) if base_value is not None else None
    if api_base is None and provider in catalog.COMPATIBLE:
        env_base = catalog.base_from_env(provider, r.env)
        api_base = r.url(p("api_base"), env_base) if env_base is not None else None
        if api_base is None:
            raise r.fail(where, f"litellm_params.api_base is required for {provider}/ models")
    if api_base is None and provider in NEEDS_API_BASE:
        raise r.fail(where, f"litellm_params.api_base is required for {provider}/ models")
    if api_base is None:
        api_base = DEFAULT_API_BASE.get(provider) or catalog.NATIVE_BASE.get(provider)
    api_key = (r.string(p("api_key"), params["api_key"], secret=True)
               if params.get("api_key") is not None else catalog.key_from_env(provider, r.env))
    api_version = (r.string(p("api_version"), params["api_version"])
                   if params.get("api_version") is not None else None)
    if provider == "azure" and api_version is None:
        api_version = DEFAULT_AZURE_API_VERSION
    opt: dict[str, Any] = {}
    for key in ("timeout", "stream_timeout"):
        if params.get(key) is not None:
            opt[key] = float(r.number(p(key), params[key], exclusive=True))
    for key in ("rpm", "tpm"):
        if params.get(key) is not None:
            opt[key] = r.number(p(key), params[key], integer=True)
    if params.get("weight") is not None:
        opt["weight"] = float(r.number(p("weight"), params["weight"], exclusive=True))
    rates = read_litellm_prices(params, lambda key, value: r.price(p(key), value))
    for key, rate in (("input_cost_per_token", "input"), ("output_cost_per_token", "output")):
        if rate in rates:
            opt[key] = rates.pop(rate)
    if rates:
        opt["price_rates"] = tuple(sorted(rates.items()))
    extra: dict[str, Any] = {}
    if params.get("mock_response") is not None:
        extra["mock_response"] = r.string(p("mock_response"), params["mock_response"])
    if params.get("organization") is not None:
        extra["organization"] = r.string(p("organization"), params["organization"])
    for key in own:   # a provider's own settings (credentials, project, region, ...)
        if params.get(key) is not None and key not in extra:
            extra[key] = r.resolve(p(key), params[key])
            if key in catalog.PARAM_NOTES:
                r.warnings.append(f"{p(key)}: {catalog.PARAM_NOTES[key]}")
    opt.update(_egress_params(r, params, p))
    info = r.mapping(f"{where}: model_info", entry.get("model_info"))
    model_info.read(info, opt, where, r.string, r.price)
    for key in info:
        if key not in model_info.KNOWN:
            r.ignore("model_info", key, where.partition(" ")[0])
    for key in entry:
        if key not in ("model_name", "litellm_params", "model_info"):
            r.ignore("model_list[]", key, where.partition(" ")[0])
    dep_id = info.get("id")
    if dep_id is not None:
        dep_id = r.string(f"{where}: model_info.id", dep_id)
        if dep_id in seen_ids:
            raise r.fail(where, f"model_info.id {dep_id!r} is used twice")
    else:
        host = urlsplit(api_base).netloc.rpartition("@")[2] if api_base else ""
        dep_id = f"{model}@{host}" if host and provider != "mock" else model
        n = 2
        base_id = dep_id
        while dep_id in seen_ids:
            dep_id = f"{base_id}#{n}"
            n += 1
    seen_ids.add(dep_id)
    return Deployment(id=dep_id, model_name=name, provider=provider, model=upstream,
                      litellm_model=model, api_base=api_base, api_key=api_key,
                      api_version=api_version, extra=extra, **opt)


def _router(r: _Reader, raw: dict[str, Any]) -> RouterSettings:
    known = {f for f in RouterSettings.__dataclass_fields__}
    opt: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"router_settings.{key}"
        if key not in known:
            r.ignore("router_settings", key)
            continue
        if key == "routing_strategy":
            strategy = r.string(where, value)
            strategy = STRATEGY_ALIASES.get(strategy, strategy)
            if strategy in STRATEGY_FALLBACKS:
                r.warnings.append(f"{where}: {strategy!r} is not supported; "
                                  "using simple-shuffle (weighted by rpm/tpm)")
                strategy = "simple-shuffle"
            if strategy not in STRATEGIES:
                raise r.fail(where, f"unknown strategy {strategy!r} "
                                    f"(use {', '.join(STRATEGIES)})")
            opt[key] = strategy
        elif key in ("num_retries", "allowed_fails"):
            opt[key] = r.number(where, value, integer=True)
        else:
            opt[key] = float(r.number(where, value, exclusive=True))
    return RouterSettings(**opt)


def _general(r: _Reader, raw: dict[str, Any]) -> GeneralSettings:
    opt: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"general_settings.{key}"
        if key == "master_key":
            if value is not None:
                opt[key] = r.string(where, value, secret=True)
        elif key == "database_url":
            if value is not None:
                url = r.string(where, value, secret=True)
                if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
                    raise r.fail(where, "must start with sqlite:///, postgresql:// "
                                        "or postgres://")
                opt[key] = url
        elif key == "default_key_duration":
            try:
                opt[key] = parse_duration(r.resolve(where, value))
            except DurationError as exc:
                raise r.fail(where, str(exc)) from None
        elif key in ("max_request_body_mb", "key_cache_ttl", "spend_flush_interval",
                     "drain_timeout"):
            opt[key] = float(r.number(where, value, exclusive=True))
        elif key == "budget_output_allowance":
            opt[key] = r.number(where, value, integer=True)
        elif key in ("access_log", "metrics_auth", "otel", "otel_capture_content"):
            opt[key] = r.boolean(where, value)
        elif key == "otel_endpoint":
            if value is not None:
                opt[key] = r.string(where, value)
        elif key == "spend_journal":
            if value is not None:
                opt[key] = r.string(where, value)
        elif key in ("spend_journal_max_mb", "database_connection_timeout",
                     "request_header_timeout", "request_body_timeout"):
            opt[key] = float(r.number(where, value, exclusive=True))
        elif key == "max_parallel_requests_per_key_share":
            opt[key] = float(r.number(where, value, exclusive=True))
            if opt[key] > 1:
                raise r.fail(where, f"must be a fraction from 0 to 1, got {value}")
        elif key in ("database_connection_pool_limit", "global_max_parallel_requests"):
            opt[key] = r.number(where, value, integer=True, minimum=1)
        elif key == "allow_requests_on_db_unavailable":
            opt[key] = r.boolean(where, value)
        else:
            r.ignore("general_settings", key)
    return GeneralSettings(**opt)


def load_config(path: str | os.PathLike[str],
                env: Mapping[str, str] | None = None) -> Config:
    """Read, resolve and validate a config file. Raises :class:`ConfigError`."""
    path = str(path)
    r = _Reader(path, os.environ if env is None else env)
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise r.fail("", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise r.fail("", f"cannot read the file ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise r.fail(where, f"YAML error: {problem}") from None
    top = r.mapping("top level", raw)
    errors: list[ConfigError] = []
    env_vars = litellm_settings.environment(r, top.get("environment_variables"), errors)
    if env_vars:  # LiteLLM sets them before reading the rest of the file
        r.env = {**r.env, **env_vars}
    for key in top:
        if key not in _TOP_KEYS:
            r.ignore("top", key)
    entries = top.get("model_list")
    if entries is None:
        raise r.fail("model_list", "is missing: list at least one model")
    if not isinstance(entries, list) or not entries:
        raise r.fail("model_list", "must be a non-empty list of models")
    seen: set[str] = set()
    deployments: list[Deployment] = []
    for i, entry in enumerate(entries):
        try:
            deployments.append(_deployment(r, i, entry, seen))
        except ConfigError as exc:
            errors.append(exc)
    sections: dict[str, dict[str, Any]] = {}
    for name in ("general_settings", "router_settings", "litellm_settings"):
        try:
            sections[name] = dict(r.mapping(name, top.get(name)))
        except ConfigError as exc:
            errors.append(exc)
            sections[name] = {}
    ssl_verify: bool | str = True
    verify = sections["litellm_settings"].pop("ssl_verify", None)
    if verify is not None:
        try:
            ssl_verify = _ssl_verify(r, "litellm_settings.ssl_verify", verify)
        except ConfigError as exc:
            errors.append(exc)
    settings = litellm_settings.parse(r, sections["litellm_settings"],
                                      sections["router_settings"], env_vars, errors)
    general = _each(r, _general, sections["general_settings"], errors)
    router = _each(r, _router, sections["router_settings"], errors)
    summary = litellm_table.summarise(r.ignored)
    if errors:
        error = errors[0] if len(errors) == 1 else ConfigErrors(errors)
        error.warnings = (*r.warnings, *([summary] if summary else []))
        raise error
    assert general is not None and router is not None
    config = Config(path=path, deployments=tuple(deployments), general=general, router=router,
                    litellm=settings, ssl_verify=ssl_verify)
    litellm_settings.check_groups(settings, config.groups, r.warnings.append)
    if summary:
        r.warnings.append(summary)
    return replace(config, warnings=tuple(r.warnings))


_TOP_KEYS = ("model_list", "general_settings", "router_settings", "litellm_settings",
             "environment_variables")


def _each(r: _Reader, read: Any, raw: dict[str, Any], errors: list[ConfigError]) -> Any:
    """``read(r, raw)``, with every bad key of ``raw`` reported (not just the first)."""
    bad = False
    for key, value in raw.items():
        probe = _Reader(r.path, r.env)
        try:
            read(probe, {key: value})
        except ConfigError as exc:
            errors.append(exc)
            bad = True
    return None if bad else read(r, raw)
