"""LiteLLM's model-info routes for the configured models: /model/info, /v1/model/info,
/v2/model/info and /model_group/info.

A virtual key sees only the model groups it may use; the master key sees all.
Nothing secret is shown: no ``api_key``, and an ``api_base`` loses any user
name, password or query string it carries (``mask_api_base``), and is shown to the
master key only (a virtual key learns no upstream URL). Models added at
run time (/model/new) are not gw's yet, so every entry has ``db_model: false``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from ..config import Deployment
from ..errors import InvalidRequest
from ..middleware import PROXY, identity, json_response, route_auth
from ..money import to_json
from ..policy import allowed_models
from ..providers import get_provider
from ..runtime import RUNTIME, Runtime

_MODES = (("chat", "chat"), ("embeddings", "embedding"), ("completions", "completion"))


def mask_api_base(api_base: str | None) -> str | None:
    """The API base without credentials or query: ``https://user:pw@h/v1?k=x`` ->
    ``https://h/v1``."""
    if not api_base:
        return api_base
    parts = urlsplit(api_base)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def mode(dep: Deployment) -> str | None:
    provider = get_provider(dep.provider)
    for endpoint, name in _MODES:
        if provider.supports(endpoint):  # type: ignore[arg-type]
            return name
    return None


def deployment_info(runtime: Runtime, dep: Deployment, master: bool) -> dict[str, Any]:
    """One ``data`` entry of /model/info, LiteLLM's shape."""
    price = runtime.prices.price_for(dep)
    params: dict[str, Any] = {"model": dep.litellm_model}
    if master:
        params["api_base"] = mask_api_base(dep.api_base)
    for name in ("api_version", "timeout", "stream_timeout", "rpm", "tpm", "weight"):
        if getattr(dep, name) is not None:
            params[name] = getattr(dep, name)
    return {
        "model_name": dep.model_name,
        "litellm_params": params,
        "model_info": {
            "id": dep.id, "db_model": False, "mode": mode(dep),
            "litellm_provider": dep.provider, "key": dep.model,
            "input_cost_per_token": to_json(price.input) if price else None,
            "output_cost_per_token": to_json(price.output) if price else None,
        },
    }


def _visible(request: web.Request) -> list[str]:
    """The model groups the caller may use (a key's aliases are not groups)."""
    runtime = request.app[RUNTIME]
    return [name for name in allowed_models(identity(request).key, runtime.groups)
            if name in runtime.groups]


def _entries(request: web.Request) -> list[dict[str, Any]]:
    runtime = request.app[RUNTIME]
    wanted = request.query.get("litellm_model_id") or request.query.get("model_id")
    group = request.query.get("model") or request.query.get("model_name")
    master = identity(request).master
    out = []
    for name in _visible(request):
        if group is not None and name != group:
            continue
        for dep in runtime.groups[name]:
            if wanted is None or dep.id == wanted:
                out.append(deployment_info(runtime, dep, master))
    return out


@route_auth(PROXY)
async def model_info(request: web.Request) -> web.Response:
    """``GET /model/info`` (and ``/v1/model/info``): one entry per deployment;
    ``?litellm_model_id=`` picks one."""
    return json_response({"data": _entries(request)})


@route_auth(PROXY)
async def model_info_v2(request: web.Request) -> web.Response:
    """``GET /v2/model/info?page=&size=``: the same entries, paginated like LiteLLM's."""
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", "50"))
    except ValueError:
        page = size = 0
    if not 1 <= page <= 1_000_000 or not 1 <= size <= 1000:
        raise InvalidRequest("'page' must be from 1 to 1000000 and 'size' from 1 to 1000.",
                             param="page")
    entries = _entries(request)
    total = len(entries)
    return json_response({"data": entries[(page - 1) * size:page * size],
                          "total_count": total, "current_page": page, "size": size,
                          "total_pages": (total + size - 1) // size})


@route_auth(PROXY)
async def model_group_info(request: web.Request) -> web.Response:
    """``GET /model_group/info``: one entry per model group the caller may use."""
    runtime = request.app[RUNTIME]
    group = request.query.get("model_group")
    data = []
    for name in _visible(request):
        if group is not None and name != group:
            continue
        deps = runtime.groups[name]
        prices = [p for p in (runtime.prices.price_for(d) for d in deps) if p is not None]
        data.append({
            "model_group": name,
            "providers": sorted({d.provider for d in deps}),
            "mode": mode(deps[0]) if deps else None,
            "input_cost_per_token": to_json(max(p.input for p in prices)) if prices else None,
            "output_cost_per_token": to_json(max(p.output for p in prices)) if prices else None,
            "max_input_tokens": None, "max_output_tokens": None,
            "tpm": sum(d.tpm for d in deps if d.tpm) or None,
            "rpm": sum(d.rpm for d in deps if d.rpm) or None,
            "deployments": len(deps),
        })
    return json_response({"data": data})


def routes() -> list[web.RouteDef]:
    return [web.get("/model/info", model_info, allow_head=False),
            web.get("/v1/model/info", model_info, allow_head=False),
            web.get("/v2/model/info", model_info_v2, allow_head=False),
            web.get("/model_group/info", model_group_info, allow_head=False)]
