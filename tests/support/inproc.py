"""gwd's aiohttp app in the test's own event loop: fast tests of the HTTP edge.

``async with app_client(config_dict, tmp_path) as client`` builds the real
Runtime (real SQLite store in tmp_path) and app, served on a loopback port by
aiohttp's TestServer with gwd's server settings; ``client`` is an aiohttp TestClient.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gwd.app import build_app
from gwd.config import load_config
from gwd.middleware import SERVER_OPTIONS
from gwd.runtime import Runtime
from tests.support.gwd import write_config


@asynccontextmanager
async def app_client(config: dict[str, Any], tmp_path: Path) -> AsyncIterator[TestClient]:
    path = write_config(tmp_path / "config.yaml", config)
    runtime = Runtime(load_config(path))
    server = TestServer(build_app(runtime))
    await server.start_server(**SERVER_OPTIONS)  # gwd's own server settings
    client = TestClient(server)
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
