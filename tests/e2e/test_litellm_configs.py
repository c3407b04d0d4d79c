"""Real LiteLLM configs (tests/data/litellm_configs/) start unchanged and answer; --check-config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import GwdFactory
from tests.fakes import OllamaFake, OpenAIFake
from tests.support.gwd import REPO, free_port

CONFIGS = REPO / "tests" / "data" / "litellm_configs"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def run_gwd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gwd", *args], capture_output=True, text=True,
                          timeout=30, cwd=REPO, env={"PATH": "/usr/bin:/bin", **(env or {})})


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CONFIGS / name).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake("litellm-cfg") as fake:
        yield fake


def chat(base_url: str, model: str) -> httpx.Response:
    return httpx.post(base_url + "/v1/chat/completions", timeout=30,
                      json={"model": model, "messages": MESSAGES})


def test_load_balancer_example_starts_unchanged_and_answers(gwd: GwdFactory,
                                                            openai_fake: OpenAIFake) -> None:
    proc = gwd(load("load_balancer.yaml"), env={"FAKE_OPENAI_BASE": openai_fake.base_url})
    for _ in range(6):
        r = chat(proc.base_url, "gpt-3.5-turbo")
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == openai_fake.reply_text
    assert {q.json["model"] for q in openai_fake.requests} <= {"gpt-3.5-turbo"}
    log = proc.log_text()
    assert log.count("not honoured by gw") == 1
    assert "litellm_settings.drop_params" in log and "model_list[0]" in log


def test_aliases_example_starts_unchanged_and_every_group_answers(gwd: GwdFactory) -> None:
    with OllamaFake("aliases") as fake:
        proc = gwd(load("aliases_config.yaml"), env={"FAKE_OLLAMA_BASE": fake.base_url})
        for model, upstream in [("text-davinci-003", "zephyr"), ("gpt-4", "llama2"),
                                ("gpt-3.5-turbo", "llama2")]:
            r = chat(proc.base_url, model)
            assert r.status_code == 200, r.text
            assert fake.requests[-1].json["model"] == upstream
        assert "litellm_params.temperature in model_list[2]" in proc.log_text()


def test_environment_variables_reach_the_upstream_key(gwd: GwdFactory,
                                                      openai_fake: OpenAIFake) -> None:
    proc = gwd({"environment_variables": {"MY_UPSTREAM_KEY": "sk-env-section-1234567"},
                "model_list": [{"model_name": "g", "litellm_params": {
                    "model": "openai/gpt-4o", "api_base": openai_fake.base_url,
                    "api_key": "os.environ/MY_UPSTREAM_KEY"}}]},
               secrets=["sk-env-section-1234567"])
    assert chat(proc.base_url, "g").status_code == 200
    assert openai_fake.requests[-1].header("authorization") == "Bearer sk-env-section-1234567"


def test_check_config_reports_warnings_and_exits_0_without_starting(tmp_path: Path) -> None:
    path = tmp_path / "lb.yaml"
    shutil.copy(CONFIGS / "load_balancer.yaml", path)
    out = run_gwd("--check-config", str(path), env={"FAKE_OPENAI_BASE": "http://127.0.0.1:9"})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == f"{path}: usable: 0 error(s), 1 warning(s)"
    assert lines[0].startswith("warning: ") and "litellm_settings.drop_params" in lines[0]
    assert "sk-uj6F" not in out.stdout + out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lb.yaml"]  # no database, no journal


BROKEN = """
model_list:
  - model_name: a
    litellm_params: {model: gpt-4, api_key: os.environ/GW_SURELY_UNSET_VAR}
  - model_name: b
    litellm_params: {model: nope/x}
  - model_name: c
    litellm_params: {model: mock/c, drop_params: true}
general_settings: {database_url: mysql://x, master_key: sk-1234}
router_settings: {routing_strategy: magic}
"""


def test_check_config_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    out = run_gwd("--check-config", str(path))
    assert out.returncode == 1
    errors = [line for line in out.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4
    for fragment in ("GW_SURELY_UNSET_VAR is not set", "'nope/'", "database_url", "'magic'"):
        assert sum(fragment in line for line in errors) == 1
    warnings = [line for line in out.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "litellm_params.drop_params in model_list[2]" in warnings[0]
    assert out.stdout.splitlines()[-1].endswith("not usable: 4 error(s), 1 warning(s)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml"]


def test_check_config_warns_about_a_weak_master_key(tmp_path: Path) -> None:
    path = tmp_path / "weak.yaml"
    path.write_text("model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n"
                    "general_settings: {master_key: sk-1234}\n")
    out = run_gwd("--check-config", str(path))
    assert out.returncode == 0 and "master_key is weak" in out.stdout
    assert "sk-1234" not in out.stdout


def test_a_failing_start_reports_every_error_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    out = run_gwd("--config", str(path), "--port", str(free_port()))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith(f"gwd: config error: {path}: ")
                                   for line in lines)


PSC_ENV = {"AZURE_API_KEY": "azure-upstream-key-0001", "OPENAI_API_KEY": "sk-upstream-psc-0001",
           "ANTHROPIC_API_KEY": "sk-ant-upstream-psc-01", "GROQ_API_KEY": "gsk-upstream-psc-01",
           "MISTRAL_API_KEY": "mistral-upstream-psc-01", "REDIS_HOST": "localhost",
           "REDIS_PASSWORD": "redis-password-psc-01", "REDIS_PORT": "6379"}


def test_litellms_own_proxy_config_is_checked_in_one_pass(tmp_path: Path) -> None:
    """LiteLLM's proxy_server_config.yaml: everything at once, not one restart per problem."""
    out = run_gwd("--check-config", str(CONFIGS / "proxy_server_config.yaml"), env=PSC_ENV)
    errors = [line for line in out.stdout.splitlines() if line.startswith("error: ")]
    assert out.returncode == 1 and len(errors) == 1  # the one gap: an Azure image deployment
    assert "model_list[7] (model_name 'dall-e-2')" in errors[0] and "names no model" in errors[0]
    warnings = [line for line in out.stdout.splitlines() if line.startswith("warning: ")]
    named = [w for w in warnings if "not honoured by gw" in w]
    assert len(named) == 1 and "a typo" not in named[0]
    assert any("sagemaker/" in w for w in warnings)


def test_litellms_own_proxy_config_serves_its_groups(gwd: GwdFactory,
                                                     openai_fake: OpenAIFake) -> None:
    """The same file, its api_base values pointed at a fake (and the Azure image entry
    gw cannot serve left out): plain groups, the alias, the "*" wildcard, fallbacks."""
    from tests.fakes import AzureFake, Fault
    config = load("proxy_server_config.yaml")
    del config["model_list"][7]
    with AzureFake("psc-azure") as azure:
        for entry in config["model_list"]:
            params = entry["litellm_params"]
            params["api_base"] = azure.base_url if params["model"].startswith("azure/") \
                else openai_fake.base_url
        proc = gwd(config, env=PSC_ENV,
                   secrets=[v for k, v in PSC_ENV.items() if k.endswith("_API_KEY")])
        key = {"Authorization": "Bearer sk-1234"}

        def ask(model: str) -> httpx.Response:
            return httpx.post(proc.base_url + "/v1/chat/completions", headers=key, timeout=30,
                              json={"model": model, "messages": MESSAGES})
        for model, upstream in [("fake-openai-endpoint", "fake"),
                                ("my-special-fake-model-alias-name", None),
                                ("gpt-4o-mini", "gpt-4o-mini"),
                                ("gpt-3.5-turbo-large", "gpt-3.5-turbo-1106")]:
            r = ask(model)
            assert r.status_code == 200, (model, r.text)
            if upstream is not None:
                assert openai_fake.requests[-1].json["model"] == upstream
        assert ask("gpt-3.5-turbo").status_code == 200
        assert "chatgpt-v-2" in azure.requests[-1].path
        azure.enqueue(Fault(status=400, body={"error": {
            "message": "This model's maximum context length is 4096 tokens.",
            "type": "invalid_request_error", "code": "context_length_exceeded"}}))
        r = ask("gpt-3.5-turbo")  # context_window_fallbacks -> gpt-3.5-turbo-large
        assert r.status_code == 200 and r.headers["x-gw-model-group"] == "gpt-3.5-turbo-large"
        r = ask("sagemaker-completion-model")
        assert r.status_code == 400
