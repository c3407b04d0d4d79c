"""Config reload (SPEC §6): POST /config/reload and SIGHUP, without dropping calls in flight."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, write_config

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


def config(*groups: tuple[str, str]) -> dict[str, Any]:
    return {"model_list": [{"model_name": name, "litellm_params": {"model": "openai/gpt-4o",
                                                                  "api_base": base}}
                           for name, base in groups],
            "general_settings": {"master_key": MASTER_KEY}}


def models(proc: GwdProcess) -> set[str]:
    r = httpx.get(proc.base_url + "/v1/models", headers=MASTER, timeout=5)
    return {m["id"] for m in r.json()["data"]}


def chat(proc: GwdProcess, model: str) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", headers=MASTER, timeout=20,
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def wait_for(check: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_removing_a_model_does_not_drop_its_call_in_flight(gwd: GwdFactory) -> None:
    with OpenAIFake("slow") as slow, OpenAIFake("new") as new:
        slow.set_default(Fault(delay=1.5))
        proc = gwd(config(("old", slow.base_url)))
        result: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: result.update(r=chat(proc, "old")))
        thread.start()
        slow.wait_for_requests(1)
        write_config(proc.config_path, config(("fresh", new.base_url)))
        r = httpx.post(proc.base_url + "/config/reload", headers=MASTER, timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "reloaded"
        assert models(proc) == {"fresh"}
        assert chat(proc, "fresh").status_code == 200
        assert chat(proc, "old").status_code == 400  # gone for new calls
        thread.join(10)
        assert result["r"].status_code == 200  # ...but the call in flight finished
        assert slow.reply_text in result["r"].text


def test_sighup_reloads_and_a_bad_config_keeps_the_old_one(gwd: GwdFactory) -> None:
    with OpenAIFake("a") as a:
        proc = gwd(config(("one", a.base_url)))
        write_config(proc.config_path, config(("one", a.base_url), ("two", a.base_url)))
        proc.signal(signal.SIGHUP)
        wait_for(lambda: models(proc) == {"one", "two"})
        proc.config_path.write_text("model_list: [\n")
        proc.signal(signal.SIGHUP)
        wait_for(lambda: "config not reloaded" in proc.log_text())
        assert models(proc) == {"one", "two"} and chat(proc, "two").status_code == 200
        lines = [ln for ln in proc.log_text().splitlines() if "config not reloaded" in ln]
        assert "YAML error" in lines[-1] and str(proc.config_path) in lines[-1]


def test_bad_reload_over_http_is_a_400_with_the_one_line_error(gwd: GwdFactory) -> None:
    with OpenAIFake("a") as a:
        proc = gwd(config(("one", a.base_url)))
        write_config(proc.config_path, {"model_list": [
            {"model_name": "x", "litellm_params": {"model": "nope/x"}}]})
        r = httpx.post(proc.base_url + "/config/reload", headers=MASTER, timeout=5)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "invalid_config" and "unknown provider" in error["message"]
        assert "\n" not in error["message"]
        assert models(proc) == {"one"}


def test_reload_cannot_move_the_database(gwd: GwdFactory) -> None:
    with OpenAIFake("a") as a:
        proc = gwd(config(("one", a.base_url)))
        moved = config(("one", a.base_url))
        moved["general_settings"]["database_url"] = f"sqlite:///{proc.dir / 'other.db'}"
        write_config(proc.config_path, moved)
        r = httpx.post(proc.base_url + "/config/reload", headers=MASTER, timeout=5)
        assert r.status_code == 400 and "restart gwd" in r.json()["error"]["message"]
