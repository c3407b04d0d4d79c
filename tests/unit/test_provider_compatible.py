"""The OpenAI-compatible family (one table, providers/catalog.py) and LiteLLM prefixes gw does
not serve: config recognition, the per-host quirks, recorded payloads (tests/data/compatible)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import PROVIDERS, ConfigError, Deployment, load_config
from gwd.providers import catalog, get_provider
from gwd.providers.compatible import CompatibleProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "compatible"
CHAT = {"model": "g", "messages": [{"role": "user", "content": "Say hello in French"}]}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def config(tmp_path: Path, model: str, env: dict[str, str] | None = None,
           **params: Any) -> Any:
    path = tmp_path / "config.yaml"
    entry = {"model_name": "g", "litellm_params": {"model": model, **params}}
    path.write_text(json.dumps({"model_list": [entry]}))   # JSON is YAML
    return load_config(path, env=env or {})


def dep(provider: str, model: str = "m", base: str = "http://127.0.0.1:9") -> Deployment:
    return Deployment(id="d", model_name="g", provider=provider, model=model,
                      litellm_model=f"{provider}/{model}", api_base=base, api_key="sk-up-123")


def feed_all(provider: str, name: str, body: dict[str, Any]) -> tuple[Any, list[Any]]:
    translator = get_provider(provider).stream_translator(dep(provider), "chat", body)
    chunks: list[Any] = []
    for event in load(name):
        data = event["data"]
        chunks += translator.feed(data.encode() if isinstance(data, str) else orjson.dumps(data))
    return translator, chunks


# ---------------------------------------------------------------- config recognition

@pytest.mark.parametrize("prefix", sorted(p for p, row in catalog.COMPATIBLE.items()
                                          if row.api_base is not None))
def test_every_row_starts_with_its_default_base_and_its_key_from_the_environment(
        tmp_path: Path, prefix: str) -> None:
    row = catalog.COMPATIBLE[prefix]
    env = {row.key_env[-1]: "key-from-env-0123456789"}
    (d,) = config(tmp_path, f"{prefix}/some-model", env).deployments
    assert (d.provider, d.model, d.api_base) == (prefix, "some-model", row.api_base)
    assert d.api_key == "key-from-env-0123456789"
    assert prefix in PROVIDERS and isinstance(get_provider(prefix), type(get_provider(prefix)))


def test_the_documented_bases_and_key_variables() -> None:
    rows = catalog.COMPATIBLE
    assert rows["groq"].api_base == "https://api.groq.com/openai/v1"
    assert rows["groq"].key_env == ("GROQ_API_KEY",)
    assert rows["mistral"].api_base == "https://api.mistral.ai/v1"
    assert rows["fireworks_ai"].api_base == "https://api.fireworks.ai/inference/v1"
    assert rows["deepinfra"].api_base == "https://api.deepinfra.com/v1/openai"
    assert rows["together_ai"].key_env[0] == "TOGETHERAI_API_KEY"
    assert rows["perplexity"].key_env[0] == "PERPLEXITYAI_API_KEY"


def test_an_explicit_key_and_base_win_over_the_environment(tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "env-key-abcdefghij", "GROQ_API_BASE": "http://env.example/v1"}
    (d,) = config(tmp_path, "groq/llama-3.3-70b-versatile", env, api_key="given-key-0123456",
                  api_base="http://127.0.0.1:8000/v1/").deployments
    assert (d.api_key, d.api_base) == ("given-key-0123456", "http://127.0.0.1:8000/v1")
    (d,) = config(tmp_path, "groq/llama-3.3-70b-versatile", env).deployments
    assert (d.api_key, d.api_base) == ("env-key-abcdefghij", "http://env.example/v1")


def test_hosted_vllm_needs_a_base_from_the_config_or_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="api_base is required for hosted_vllm/"):
        config(tmp_path, "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct")
    (d,) = config(tmp_path, "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct",
                  {"HOSTED_VLLM_API_BASE": "http://10.0.0.5:8000/v1"}).deployments
    assert (d.model, d.api_base, d.api_key) == ("meta-llama/Llama-3.1-8B-Instruct",
                                                "http://10.0.0.5:8000/v1", None)
    with pytest.raises(ConfigError, match="must be an http"):
        config(tmp_path, "hosted_vllm/x", {"HOSTED_VLLM_API_BASE": "not a url"})


def test_a_litellm_prefix_gw_does_not_serve_starts_with_a_warning(tmp_path: Path) -> None:
    cfg = config(tmp_path, "sagemaker/jumpstart-dft-meta-textgeneration-llama-2-7b")
    (d,) = cfg.deployments
    assert d.provider == "sagemaker"
    assert any("'sagemaker/'" in w and "not supported" in w for w in cfg.warnings)
    provider = get_provider("sagemaker")
    assert not any(provider.supports(e) for e in ("chat", "completions", "embeddings"))
    assert "vertex_ai_beta" in catalog.LITELLM_ONLY and "groq" not in catalog.LITELLM_ONLY


def test_a_prefix_litellm_does_not_know_stays_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider 'nosuchvendor/'"):
        config(tmp_path, "nosuchvendor/model")


def test_rows_serve_only_their_endpoints() -> None:
    assert get_provider("groq").supports("chat")
    assert not get_provider("groq").supports("embeddings")
    assert get_provider("mistral").supports("embeddings")
    assert not get_provider("perplexity").supports("completions")
    tco = get_provider("text-completion-openai")
    assert tco.supports("completions") and not tco.supports("chat")
    assert all(get_provider("hosted_vllm").supports(e)
               for e in ("chat", "completions", "embeddings"))


# ---------------------------------------------------------------- requests and quirks

def test_groq_asks_for_streamed_usage_at_its_openai_path() -> None:
    req = get_provider("groq").build_request(dep("groq", "llama-3.3-70b-versatile"), "chat",
                                             {**CHAT, "stream": True}, stream=True)
    body = orjson.loads(req.body)
    assert req.url == "http://127.0.0.1:9/chat/completions"
    assert req.headers["Authorization"] == "Bearer sk-up-123"
    assert body["model"] == "llama-3.3-70b-versatile"
    assert body["stream_options"] == {"include_usage": True}


def test_mistral_is_sent_no_stream_options_and_max_tokens_by_its_name() -> None:
    body = {**CHAT, "stream": True, "max_completion_tokens": 50,
            "stream_options": {"include_usage": True}}
    req = get_provider("mistral").build_request(dep("mistral", "mistral-small-latest"), "chat",
                                                body, stream=True)
    sent = orjson.loads(req.body)
    assert "stream_options" not in sent and "max_completion_tokens" not in sent
    assert sent["max_tokens"] == 50
    assert body["max_completion_tokens"] == 50   # the client's body is not mutated


def test_mistral_stream_usage_comes_from_its_last_chunk() -> None:
    translator, chunks = feed_all("mistral", "mistral_stream.json", CHAT)
    assert translator.done and not translator.usage().estimated
    assert (translator.usage().prompt_tokens, translator.usage().completion_tokens) == (9, 4)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Bonjour !"
    assert all("usage" not in c for c in chunks)   # the client did not ask for it
    asked = {**CHAT, "stream_options": {"include_usage": True}}
    _, chunks = feed_all("mistral", "mistral_stream.json", asked)
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_mistral_streamed_tool_call_passes_through() -> None:
    translator, chunks = feed_all("mistral", "mistral_tool_stream.json", CHAT)
    (call,) = chunks[1]["choices"][0]["delta"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage().total_tokens == 106


def test_groq_answer_is_forwarded_with_its_usage() -> None:
    payload = (DATA / "groq_response.json").read_bytes()
    done = get_provider("groq").parse_response(dep("groq"), "chat", CHAT, payload)
    assert done.raw == payload and not done.usage.estimated
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (18, 9)


def test_one_translator_class_for_the_whole_family() -> None:
    for name in catalog.COMPATIBLE:
        if name not in ("openai", "openrouter"):
            assert isinstance(get_provider(name), CompatibleProvider)
