"""bedrock/ end to end: the official openai SDK -> a real gwd -> BedrockFake on loopback,
which checks every request's SigV4 signature and streams AWS event-stream frames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import config_secrets, scan_gwd
from tests.fakes import BedrockFake, Fault
from tests.support.gwd import MASTER_KEY, GwdProcess

ACCESS_KEY = "AKIAFAKEBEDROCK00001"
SECRET = "bedrock/Secret+Key0123456789abcdefghijKLMN"
ENV_SECRET = "env/Secret+Key9876543210zyxwvutsrqpoONML"
TOKEN = "IQoJb3JpZ2luX2VjEFAKE-session-token-0001"
MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
MESSAGES: Any = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Say hello"}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather",
                                                "parameters": {"type": "object"}}}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[BedrockFake, BedrockFake]]:
    with BedrockFake("bedrock", access_key=ACCESS_KEY, secret_key=SECRET,
                     region="eu-central-1") as keyed, \
            BedrockFake("bedrock-env", access_key="AKIAFROMENVIRONMENT1", secret_key=ENV_SECRET,
                        region="us-west-2", token=TOKEN) as from_env:
        yield keyed, from_env


@pytest.fixture(scope="module")
def server(fakes: tuple[BedrockFake, BedrockFake],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    keyed, from_env = fakes
    config = {"model_list": [
        {"model_name": "claude", "litellm_params": {
            "model": f"bedrock/{MODEL}", "aws_bedrock_runtime_endpoint": keyed.base_url,
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET,
            "aws_region_name": "eu-central-1"}},
        {"model_name": "claude-env", "litellm_params": {   # credentials from the environment
            "model": f"bedrock/converse/{MODEL}", "api_base": from_env.base_url}},
        {"model_name": "claude-wrong", "litellm_params": {
            "model": f"bedrock/{MODEL}", "api_base": keyed.base_url,
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": "not-the-secret-0000",
            "aws_region_name": "eu-central-1"}},
    ], "general_settings": {"master_key": MASTER_KEY}}
    env = {"AWS_ACCESS_KEY_ID": "AKIAFROMENVIRONMENT1", "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
           "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": "us-west-2"}
    proc = GwdProcess(config, tmp_path_factory.mktemp("bedrock"), env=env, record=True).start()
    yield proc
    proc.close()
    scan_gwd(proc, [*config_secrets(config), SECRET, ENV_SECRET, TOKEN, "not-the-secret-0000"])


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                       timeout=20) as c:
        yield c


@pytest.mark.parametrize("group", ["claude", "claude-env"])
def test_signed_converse_call(group: str, client: openai.OpenAI,
                              fakes: tuple[BedrockFake, BedrockFake]) -> None:
    fake = fakes[0] if group == "claude" else fakes[1]
    reply = client.chat.completions.create(model=group, messages=MESSAGES, max_tokens=40)
    assert reply.choices[0].message.content == fake.reply_text
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 5)
    sent = fake.requests[-1]
    assert sent.raw_path == "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
    assert sent.json["system"] == [{"text": "Be brief."}]
    assert sent.json["inferenceConfig"] == {"maxTokens": 40}


def test_stream_in_event_stream_framing(client: openai.OpenAI,
                                        fakes: tuple[BedrockFake, BedrockFake]) -> None:
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(model="claude", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert (text, finish) == (fakes[0].reply_text, "stop")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 5)
    assert fakes[0].requests[-1].raw_path.endswith("/converse-stream")
    assert fakes[0].streams[-1][0] == "completed"


def test_tool_calls_both_ways(client: openai.OpenAI) -> None:
    choice: Any = {"type": "function", "function": {"name": "get_weather"}}
    reply = client.chat.completions.create(model="claude", messages=MESSAGES, tools=TOOLS,
                                           tool_choice=choice)
    (call,) = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"fake": "get_weather"}
    follow = client.chat.completions.create(model="claude", tools=TOOLS, messages=[
        *MESSAGES, reply.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert follow.choices[0].message.content
    chunks = list(client.chat.completions.create(model="claude", messages=MESSAGES,
                                                 tools=TOOLS, tool_choice=choice, stream=True))
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    args = "".join(d[0].function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert json.loads(args) == {"fake": "get_weather"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_text_completions(client: openai.OpenAI, fakes: tuple[BedrockFake, BedrockFake]
                          ) -> None:
    reply = client.completions.create(model="claude", prompt="Say hello", max_tokens=9)
    assert reply.choices[0].text == fakes[0].reply_text


def test_a_wrong_secret_is_refused_by_the_signature_check(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="claude-wrong", messages=MESSAGES)
    assert err.value.status_code == 502
    assert err.value.body["code"] == "upstream_auth_error"  # type: ignore[index]


def test_embeddings_are_refused_and_upstream_errors_map(
        client: openai.OpenAI, fakes: tuple[BedrockFake, BedrockFake]) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="claude", input="x")
    assert err.value.body["code"] == "unsupported_endpoint"  # type: ignore[index]
    fakes[0].enqueue(Fault(status=400, body={"message": "Malformed input request"}))
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="claude", messages=MESSAGES)
    assert "Malformed input request" in str(bad.value)


def test_the_call_is_priced_from_the_table(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="claude", messages=MESSAGES)
    # anthropic.claude-3-5-sonnet on Bedrock: $3 / $15 per million; 10 in, 5 out
    assert raw.headers["x-litellm-response-cost"] == "0.000105"
