"""The floor: the least any Python relay on aiohttp can do per request.

It forwards the request body to the upstream (same path, same Content-Type) and
the answer back — no authentication, no JSON parsing, no accounting — through
one pooled ``ClientSession``, on uvloop like gwd. A streamed answer
(``text/event-stream``) is relayed chunk by chunk as it arrives; any other answer
is read whole and returned with a Content-Length. Whatever gwd costs beyond this
is the price of its own features.

    python bench/floor.py --port 9300 --upstream http://127.0.0.1:9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def relay(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    async with session.post(request.app[UPSTREAM] + request.path_qs, data=body,
                            headers=headers) as upstream:
        ctype = upstream.headers.get("Content-Type", "application/json")
        if not ctype.startswith("text/event-stream"):
            return web.Response(body=await upstream.read(), status=upstream.status,
                                headers={"Content-Type": ctype})
        response = web.StreamResponse(status=upstream.status, headers={"Content-Type": ctype})
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def liveliness(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def build_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=30)
        app[SESSION] = aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=None),
                                             skip_auto_headers=("User-Agent",))
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.add_routes([web.get("/health/liveliness", liveliness), web.post("/{tail:.*}", relay)])
    return app


async def serve(host: str, port: int, upstream: str) -> None:
    runner = web.AppRunner(build_app(upstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    print(f"floor serving on http://{host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9100")
    args = p.parse_args()
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
