"""bedrock/: the Converse API (tests/data/bedrock), credentials as LiteLLM takes them, and
SigV4 signing checked against AWS's published known-answer vectors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import Deployment, load_config
from gwd.errors import InvalidRequest, UpstreamError
from gwd.eventstream import EventStreamDecoder
from gwd.providers import get_provider
from gwd.providers.aws_auth import AWSCredentials, credentials_of, region_of, sign
from gwd.providers.base import BadUpstreamResponse
from gwd.providers.bedrock import BedrockProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "bedrock"
MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRET"
CHAT = {"model": "claude", "messages": [{"role": "user", "content": "Say hello in French"}]}


def dep(api_base: str | None = None, model: str = MODEL, **extra: Any) -> Deployment:
    extra = {"aws_access_key_id": "AKIATESTKEY000000001", "aws_secret_access_key": SECRET,
             "aws_region_name": "eu-west-1", **extra}
    return Deployment(id="b", model_name="claude", provider="bedrock", model=model,
                      litellm_model=f"bedrock/{model}", api_base=api_base, extra=extra)


P = BedrockProvider()


def events(name: str) -> list[tuple[str | None, bytes]]:
    return EventStreamDecoder().feed((DATA / name).read_bytes())


def feed_all(name: str, body: dict[str, Any], endpoint: Any = "chat") -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for event, data in events(name):
        chunks += translator.feed(data, event)
    if translator.done:
        chunks += translator.finish()
    return translator, chunks


# ---------------------------------------------------------------- SigV4 known answers

KAT = AWSCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def at_kat_time() -> datetime:
    return datetime(2015, 8, 30, 12, 36, 0)


@pytest.mark.parametrize("method, signature", [
    # aws-sig-v4-test-suite: get-vanilla and post-vanilla (us-east-1, service "service")
    ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
])
def test_sigv4_matches_aws_published_vectors(method: str, signature: str) -> None:
    headers = sign(KAT, "us-east-1", "service", method, "https://example.amazonaws.com/", {},
                   b"", now=at_kat_time)
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}")


def test_a_session_token_is_sent_and_signed() -> None:
    creds = AWSCredentials("AKIDEXAMPLE", "secret", "FQoGZXIvYXdzEtoken")
    headers = sign(creds, "us-east-1", "bedrock", "POST", "https://h.example/x", {}, b"{}",
                   now=at_kat_time)
    assert headers["X-Amz-Security-Token"] == "FQoGZXIvYXdzEtoken"
    assert "x-amz-security-token" in headers["Authorization"]


# ---------------------------------------------------------------- credentials and config

def test_credentials_order_params_then_environment() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret",
           "AWS_SESSION_TOKEN": "envtoken", "AWS_REGION": "ap-south-1"}
    assert credentials_of({"aws_access_key_id": "AKIAP", "aws_secret_access_key": "s"},
                          env) == AWSCredentials("AKIAP", "s", None)
    assert credentials_of({}, env) == AWSCredentials("AKIAENV", "envsecret", "envtoken")
    assert region_of({}, env) == "ap-south-1"
    assert region_of({"aws_region_name": "us-east-2"}, env) == "us-east-2"
    assert region_of({}, {}) == "us-west-2"
    assert "envsecret" not in repr(credentials_of({}, env))


def test_credentials_from_a_named_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    shared = tmp_path / "credentials"
    shared.write_text("[team]\naws_access_key_id = AKIAPROFILE\n"
                      "aws_secret_access_key = profilesecret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert credentials_of({"aws_profile_name": "team"}, {}) == \
        AWSCredentials("AKIAPROFILE", "profilesecret", None)


def test_config_takes_litellm_s_aws_params(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"""model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/{MODEL}
      aws_access_key_id: os.environ/AK
      aws_secret_access_key: os.environ/SK
      aws_region_name: us-east-1
      aws_role_name: arn:aws:iam::123456789012:role/bedrock
""")
    config = load_config(path, env={"AK": "AKIAFROMENV", "SK": SECRET})
    (d,) = config.deployments
    assert (d.provider, d.model) == ("bedrock", MODEL)
    assert d.extra["aws_secret_access_key"] == SECRET and d.extra["aws_region_name"] == \
        "us-east-1"
    assert SECRET not in repr(d)
    assert any("aws_role_name" in w and "does not assume" in w for w in config.warnings)
    assert not any("aws_access_key_id" in w for w in config.warnings)
    assert isinstance(get_provider("bedrock"), BedrockProvider)


# ---------------------------------------------------------------- requests

def test_request_url_signature_and_body() -> None:
    body = {"model": "claude", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look:"}, {
            "type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]},
        {"role": "assistant", "content": "Calling.", "tool_calls": [{
            "id": "t1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "-3C"},
        {"role": "user", "content": "Thanks"}],
        "max_tokens": 300, "temperature": 0.5, "top_p": 0.9, "stop": ["END"],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                                                    "description": "weather",
                                                    "parameters": {"type": "object"}}}],
        "tool_choice": "required"}
    req = P.build_request(dep(), "chat", body, stream=False)
    assert req.url == ("https://bedrock-runtime.eu-west-1.amazonaws.com/model/"
                       "anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse")
    auth = req.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000001/")
    assert "/eu-west-1/bedrock/aws4_request" in auth and SECRET not in str(req.headers)
    sent = orjson.loads(req.body)
    assert sent["system"] == [{"text": "Be brief."}]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"][1] == {"image": {"format": "jpeg", "source": {
        "bytes": "/9j/4AAQ"}}}
    assert sent["messages"][1]["content"] == [{"text": "Calling."}, {"toolUse": {
        "toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}]
    assert sent["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "-3C"}]}}, {"text": "Thanks"}]
    assert sent["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.5, "topP": 0.9,
                                       "stopSequences": ["END"]}
    assert sent["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "weather",
        "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}}


def test_stream_request_and_endpoint_overrides() -> None:
    req = P.build_request(dep("http://127.0.0.1:9"), "chat", CHAT, stream=True)
    assert req.url.startswith("http://127.0.0.1:9/model/") and req.url.endswith(
        "/converse-stream")
    assert req.stream_format == "aws-eventstream"
    own = P.build_request(dep(aws_bedrock_runtime_endpoint="https://vpce-1.example.com/"),
                          "chat", CHAT, stream=False)
    assert own.url.startswith("https://vpce-1.example.com/model/")
    routed = P.build_request(dep(model=f"converse/{MODEL}"), "chat", CHAT, stream=False)
    assert "/model/anthropic.claude" in routed.url


def test_image_urls_that_are_not_data_urls_are_a_400() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}
    with pytest.raises(InvalidRequest, match="data: URLs"):
        P.build_request(dep(), "chat", body, stream=False)


def test_missing_credentials_is_an_upstream_auth_error(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    bare = Deployment(id="b2", model_name="c", provider="bedrock", model=MODEL,
                      litellm_model="bedrock/x", api_base=None, extra={})
    with pytest.raises(UpstreamError) as err:
        BedrockProvider().build_request(bare, "chat", CHAT, stream=False)
    assert err.value.code == "upstream_auth_error"


# ---------------------------------------------------------------- answers

def test_converse_answer_and_cached_prompt_usage() -> None:
    done = P.parse_response(dep(), "chat", CHAT, (DATA / "converse_response.json").read_bytes())
    assert done.body["choices"][0]["message"]["content"] == "Bonjour! Comment puis-je vous aider?"
    assert done.body["choices"][0]["finish_reason"] == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (19, 11)


def test_tool_use_answer() -> None:
    done = P.parse_response(dep(), "chat", CHAT,
                            (DATA / "converse_tool_response.json").read_bytes())
    choice = done.body["choices"][0]
    (call,) = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll look up the weather."
    assert call["id"] == "tooluse_2e3fbWt9TGmsoTL2PcpfBw"
    assert json.loads(call["function"]["arguments"]) == {"city": "Seattle"}


def test_bad_answer_and_error_messages() -> None:
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), "chat", CHAT, b'{"output": {}}')
    assert P.error_message(400, (DATA / "error.json").read_bytes()) == \
        "The provided model identifier is invalid."
    assert P.error_message(403, b'{"Message": "User is not authorized"}') == \
        "User is not authorized"


def test_stream_text_usage_after_message_stop() -> None:
    translator, chunks = feed_all("converse_stream_text.bin",
                                  {**CHAT, "stream_options": {"include_usage": True}})
    assert translator.done
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello! How can I help?"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 9,
                                   "total_tokens": 21}


def test_stream_tool_use() -> None:
    translator, chunks = feed_all("converse_stream_tool.bin", CHAT)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and calls[0]["index"] == 0
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Seattle"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage().total_tokens == 460


def test_stream_for_text_completions() -> None:
    _, chunks = feed_all("converse_stream_text.bin", {"prompt": "x"}, "completions")
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Hello! How can I help?"


def test_stream_exception_raises_with_aws_s_message() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    with pytest.raises(BadUpstreamResponse, match="throttlingException.*Too many requests"):
        for event, data in events("converse_stream_throttled.bin"):
            translator.feed(data, event)
