"""gwd's real app served from a background thread, for synchronous tests (hypothesis).

``with served(config, tmp_path) as (base_url, runtime):`` builds the real Runtime
and app (gwd's own server settings), serves them on a loopback port from a thread
with its own event loop, and stops them at the end. Unlike a ``gwd`` process it
starts in milliseconds and shares the test's process, so a handler that raised
would show in the test's log; unlike :mod:`tests.support.inproc` a synchronous
test (a hypothesis ``@given``) can call it with a plain HTTP client.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from gwd.app import build_app
from gwd.config import load_config
from gwd.middleware import SERVER_OPTIONS
from gwd.runtime import Runtime
from tests.support.gwd import write_config


@contextmanager
def served(config: dict[str, Any], tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    runtime = Runtime(load_config(write_config(tmp_path / "served.yaml", config)))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(runtime), access_log=None, **SERVER_OPTIONS)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    thread = threading.Thread(target=loop.run_forever, name="served-gwd", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(20)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", runtime
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()
        sock.close()
