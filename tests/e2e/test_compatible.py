"""The OpenAI-compatible family and unsupported LiteLLM prefixes through a real gwd, with the
official openai SDK as client, against loopback fakes speaking each host's wire format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import MistralFake, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess

GROQ_KEY = "gsk_upstream_secret_5d4c3b2a19080706"
MISTRAL_KEY = "mistral-upstream-secret-8a7b6c5d4e"
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def fakes() -> Iterator[tuple[OpenAIFake, MistralFake, OpenAIFake]]:
    with OpenAIFake("groq") as groq, MistralFake("mistral") as mistral, \
            OpenAIFake("vllm") as vllm:
        yield groq, mistral, vllm


@pytest.fixture
def server(gwd: GwdFactory, fakes: tuple[OpenAIFake, MistralFake, OpenAIFake]) -> GwdProcess:
    groq, mistral, vllm = fakes
    config = {"model_list": [
        # keys from the environment, as LiteLLM takes them (GROQ_API_KEY, MISTRAL_API_KEY)
        {"model_name": "fast", "litellm_params": {"model": "groq/llama-3.3-70b-versatile",
                                                  "api_base": groq.base_url + "/v1"}},
        {"model_name": "mistral", "litellm_params": {"model": "mistral/mistral-small-latest",
                                                     "api_base": mistral.base_url + "/v1"}},
        {"model_name": "local", "litellm_params": {"model": "hosted_vllm/Qwen/Qwen2.5-7B"}},
        {"model_name": "sm", "litellm_params": {"model": "sagemaker/jumpstart-llama-2-7b"}},
    ], "general_settings": {"master_key": MASTER_KEY}}
    env = {"GROQ_API_KEY": GROQ_KEY, "MISTRAL_API_KEY": MISTRAL_KEY,
           "HOSTED_VLLM_API_BASE": vllm.base_url + "/v1"}
    return gwd(config, env=env, secrets=[GROQ_KEY, MISTRAL_KEY])


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                       timeout=20) as c:
        yield c


def test_groq_mistral_and_vllm_answer_through_the_sdk(
        client: openai.OpenAI, fakes: tuple[OpenAIFake, MistralFake, OpenAIFake]) -> None:
    groq, mistral, vllm = fakes
    for group, fake in (("fast", groq), ("mistral", mistral), ("local", vllm)):
        reply = client.chat.completions.create(model=group, messages=MESSAGES,
                                               max_completion_tokens=20)
        assert reply.choices[0].message.content == fake.reply_text
        assert reply.usage is not None and reply.usage.completion_tokens == 5
    sent = groq.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.header("authorization") == f"Bearer {GROQ_KEY}"
    assert sent.json["model"] == "llama-3.3-70b-versatile"
    assert mistral.requests[-1].header("authorization") == f"Bearer {MISTRAL_KEY}"
    assert mistral.requests[-1].json["max_tokens"] == 20   # renamed: Mistral would 422
    assert vllm.requests[-1].json["model"] == "Qwen/Qwen2.5-7B"
    assert vllm.requests[-1].header("authorization") is None   # no key configured


@pytest.mark.parametrize("group", ["fast", "mistral"])
def test_streams_carry_the_upstream_usage(client: openai.OpenAI, group: str,
                                          fakes: tuple[OpenAIFake, MistralFake, OpenAIFake]
                                          ) -> None:
    stream = client.chat.completions.create(model=group, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in stream:
        usage = chunk.usage or usage
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text.startswith("Hello from")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 5)
    if group == "mistral":
        assert "stream_options" not in fakes[1].requests[-1].json


def test_endpoints_a_host_does_not_serve_answer_400(client: openai.OpenAI,
                                                    fakes: tuple[OpenAIFake, ...]) -> None:
    before = len(fakes[0].requests)
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="fast", input="x")
    assert err.value.body["code"] == "unsupported_endpoint"  # type: ignore[index]
    assert len(fakes[0].requests) == before
    vectors = client.embeddings.create(model="mistral", input=["a", "b"])
    assert len(vectors.data) == 2


def test_an_unsupported_litellm_provider_starts_and_answers_400_naming_it(
        client: openai.OpenAI, server: GwdProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="sm", messages=MESSAGES)
    body: Any = err.value.body
    assert body["code"] == "unsupported_provider"
    assert "sagemaker/" in body["message"] and "not support" in body["message"]
    assert "sagemaker/" in server.log_text()   # the start-up warning names it
    assert client.chat.completions.create(model="fast", messages=MESSAGES).choices
