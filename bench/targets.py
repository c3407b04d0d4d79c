"""The things measured side by side, and how each is started and called.

* ``direct`` — a fake upstream of its own (same code as the shared one), called
  with no proxy in between: the ceiling.
* ``floor`` — bench/floor.py in front of the shared upstream.
* ``gwd-sqlite`` / ``gwd-pg`` — ``python -m gwd`` with a fresh SQLite file or a
  scratch PostgreSQL database, called with a virtual key minted through
  ``POST /key/generate``; spend is recorded as always (there is no off switch).
* ``litellm`` — the LiteLLM proxy from its own venv, master key only (no
  database, so no spend rows), model ``openai/gpt-3.5-turbo`` on the shared upstream.

Every proxy serves two model groups: ``gpt-3.5-turbo`` (upstream answers at once)
and ``gpt-3.5-turbo-slow`` (upstream path ``/delay/<ms>/v1``). ``direct`` and
``floor`` do not read the model, so for them "slow" is chosen by the URL path.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from procs import Proc

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FAST, SLOW = "gpt-3.5-turbo", "gpt-3.5-turbo-slow"


@dataclass
class Target:
    name: str
    proc: Proc
    key: str | None = None       # the bearer token the load generators send
    slow_by_path: bool = False   # direct/floor: pick the slow upstream by URL path
    delay_ms: float = 50.0

    def path(self, slow: bool) -> str:
        prefix = f"/delay/{self.delay_ms:g}" if slow and self.slow_by_path else ""
        return f"{prefix}/v1/chat/completions"

    def model(self, slow: bool) -> str:
        return SLOW if slow and not self.slow_by_path else FAST

    def url(self, slow: bool) -> str:
        return f"http://127.0.0.1:{self.proc.port}{self.path(slow)}"


def post_json(port: int, path: str, body: object, key: str | None,
              timeout: float = 30.0) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw or b"null")
    finally:
        conn.close()


def get_json(port: int, path: str, key: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _models(upstream: int, delay_ms: float, prices: bool) -> list[dict[str, Any]]:
    out = []
    for name, base in ((FAST, f"http://127.0.0.1:{upstream}/v1"),
                       (SLOW, f"http://127.0.0.1:{upstream}/delay/{delay_ms:g}/v1")):
        params: dict[str, Any] = {"model": "openai/gpt-3.5-turbo", "api_base": base,
                                  "api_key": "sk-fake-upstream"}
        if prices:
            params |= {"input_cost_per_token": 0.0000005, "output_cost_per_token": 0.0000015}
        out.append({"model_name": name, "litellm_params": params})
    return out


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def direct(port: int, delay_ms: float, log_dir: Path, cpu: int | None,
           shape: list[str]) -> Target:
    argv = [sys.executable, str(BENCH / "upstream.py"), "--port", str(port), *shape]
    proc = Proc("direct", argv, log_dir / "direct.log", port=port, ready="upstream serving",
                cpu=cpu)
    return Target("direct", proc, slow_by_path=True, delay_ms=delay_ms)


def floor(port: int, upstream: int, delay_ms: float, log_dir: Path, cpu: int | None) -> Target:
    argv = [sys.executable, str(BENCH / "floor.py"), "--port", str(port),
            "--upstream", f"http://127.0.0.1:{upstream}"]
    proc = Proc("floor", argv, log_dir / "floor.log", port=port, ready="floor serving", cpu=cpu)
    return Target("floor", proc, slow_by_path=True, delay_ms=delay_ms)


def gwd(name: str, port: int, upstream: int, delay_ms: float, database_url: str,
        work: Path, log_dir: Path, cpu: int | None, tree: Path = REPO) -> Target:
    """gwd from ``tree`` (a checkout holding the ``gwd`` package; default this repo)."""
    master = "sk-bench-" + secrets.token_hex(16)
    config = write_config(work / f"{name}.yaml", {
        "model_list": _models(upstream, delay_ms, prices=True),
        "general_settings": {"master_key": master, "database_url": database_url}})
    argv = [sys.executable, "-m", "gwd", "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "info"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = Proc(name, argv, log_dir / f"{name}.log", port=port, ready=r"gwd \S+ serving",
                cpu=cpu, env=env, cwd=tree)
    target = Target(name, proc, key=master, delay_ms=delay_ms)
    return target


def mint_key(target: Target) -> str:
    """Replace the target's master key by a fresh virtual key (POST /key/generate)."""
    status, _, body = post_json(target.proc.port, "/key/generate",
                                {"models": [FAST, SLOW], "duration": "24h",
                                 "key_alias": "bench"}, target.key)
    if status != 200 or not isinstance(body, dict) or "key" not in body:
        raise RuntimeError(f"{target.name}: /key/generate answered {status}: {body}")
    return str(body["key"])


def litellm(exe: str, port: int, upstream: int, delay_ms: float, work: Path, log_dir: Path,
            cpu: int | None, env: dict[str, str]) -> Target:
    master = "sk-bench-" + secrets.token_hex(16)
    config = write_config(work / "litellm.yaml", {
        "model_list": _models(upstream, delay_ms, prices=False),
        "general_settings": {"master_key": master}})
    argv = [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_HOST")}
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    proc = Proc("litellm", argv, log_dir / "litellm.log", port=port,
                ready="Application startup complete|Uvicorn running", cpu=cpu, env=env)
    return Target("litellm", proc, key=master, delay_ms=delay_ms)


# ---------------------------------------------------------------- PostgreSQL scratch db
def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + db))


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(admin_url: str) -> tuple[str, str]:
    """Create a scratch database; returns (its name, its URL)."""
    name = "gw_bench_" + secrets.token_hex(4)
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return name, _with_db(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
