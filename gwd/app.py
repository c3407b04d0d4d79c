"""The aiohttp application: middlewares, the route table, the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from . import logbudget
from .accesslog import access_middleware
from .handlers import (
    anthropic,
    azure,
    console,
    keys,
    litellm_spend,
    model_info,
    openai,
    ops,
    responses,
    spend,
    tenants,
)
from .middleware import auth_middleware, error_middleware, redact_parse_errors
from .runtime import RUNTIME, Runtime


def build_app(runtime: Runtime) -> web.Application:
    redact_parse_errors()
    logbudget.install()
    app = web.Application(middlewares=[access_middleware, error_middleware, auth_middleware],
                          client_max_size=runtime.max_body_bytes)
    app[RUNTIME] = runtime
    app.add_routes(openai.routes() + anthropic.routes() + responses.routes() + azure.routes()
                   + keys.routes() + spend.routes() + ops.routes() + console.routes()
                   + tenants.routes() + litellm_spend.routes() + model_info.routes())

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
