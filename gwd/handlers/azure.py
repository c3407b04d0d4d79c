"""Azure OpenAI's routes: ``/openai/deployments/{group}/chat/completions|completions|embeddings``.

What the ``AzureOpenAI`` SDK sends: the model in the path (Azure calls it a
deployment; here it names a model group or an alias of the key), the key in an
``api-key`` header, an ``api-version`` query parameter (accepted, not needed:
gwd speaks one version of the wire format). The path's name wins over a ``model``
in the body, as on Azure. Everything else is the OpenAI route of the same name:
the same handler, validation, keys, budgets and spend.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..providers.base import Endpoint
from ..schema import CallRequest, validate
from .openai import Parse, call_handler

PATHS: dict[Endpoint, str] = {"chat": "chat/completions", "completions": "completions",
                              "embeddings": "embeddings"}


def path_model(endpoint: Endpoint) -> Parse:
    def parse(request: web.Request, body: Any, size: int) -> CallRequest:
        if isinstance(body, dict):
            body["model"] = request.match_info["group"]
        return validate(endpoint, body, size)
    return parse


def routes() -> list[web.RouteDef]:
    table = []
    for endpoint, path in PATHS.items():
        handler = call_handler(endpoint, path_model(endpoint))
        handler.__name__ = f"azure_{endpoint}_handler"
        table.append(web.post(f"/openai/deployments/{{group}}/{path}", handler))
    return table
