"""vertex_ai/ end to end: the official openai SDK -> a real gwd -> VertexFake on loopback,
which is also the service account's token endpoint (its token_uri): tokens are fetched
with a signed JWT, sent as Bearer, and replaced before they expire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import config_secrets, scan_gwd
from tests.fakes import VertexFake
from tests.support.gwd import MASTER_KEY, GwdProcess

MESSAGES: Any = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[VertexFake, VertexFake]]:
    with VertexFake("vertex") as steady, VertexFake("vertex-short", token_lifetime=200) as short:
        yield steady, short


@pytest.fixture(scope="module")
def server(fakes: tuple[VertexFake, VertexFake],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    steady, short = fakes
    tmp = tmp_path_factory.mktemp("vertex")
    key_file = tmp / "sa.json"
    key_file.write_text(json.dumps(short.service_account("file-project")))
    config = {"model_list": [
        {"model_name": "gemini", "litellm_params": {
            "model": "vertex_ai/gemini-2.0-flash", "api_base": steady.base_url,
            "vertex_project": "proj-e2e", "vertex_location": "us-east5",
            "vertex_credentials": "os.environ/VERTEX_CREDS"}},
        {"model_name": "embed", "litellm_params": {
            "model": "vertex_ai/text-embedding-005", "api_base": steady.base_url,
            "vertex_project": "proj-e2e", "vertex_credentials": "os.environ/VERTEX_CREDS"}},
        {"model_name": "short", "litellm_params": {   # key file path; project from the key
            "model": "vertex_ai/gemini-2.5-flash", "api_base": short.base_url,
            "vertex_credentials": str(key_file)}},
    ], "general_settings": {"master_key": MASTER_KEY}}
    creds = json.dumps(steady.service_account())
    proc = GwdProcess(config, tmp, env={"VERTEX_CREDS": creds}, record=True).start()
    yield proc
    proc.close()
    secrets = [*config_secrets(config), *steady.issued, *short.issued]
    for fake in (steady, short):   # a line of each private key's body
        secrets.append(fake.service_account()["private_key"].splitlines()[3])
    scan_gwd(proc, secrets)


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                       timeout=20) as c:
        yield c


def test_chat_with_a_service_account_token(client: openai.OpenAI,
                                           fakes: tuple[VertexFake, VertexFake]) -> None:
    steady = fakes[0]
    reply = client.chat.completions.create(model="gemini", messages=MESSAGES, max_tokens=30)
    assert reply.choices[0].message.content == steady.reply_text
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 5)
    assert steady.calls[-1] == ("proj-e2e", "us-east5", "gemini-2.0-flash:generateContent")
    sent = steady.requests[-1]
    assert sent.header("authorization") in {f"Bearer {t}" for t in steady.issued}
    assert sent.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_stream_and_the_token_is_reused_while_fresh(client: openai.OpenAI,
                                                    fakes: tuple[VertexFake, VertexFake]
                                                    ) -> None:
    steady = fakes[0]
    text, usage = "", None
    for chunk in client.chat.completions.create(model="gemini", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == steady.reply_text and usage is not None and usage.completion_tokens == 5
    assert steady.calls[-1][2] == "gemini-2.0-flash:streamGenerateContent"
    assert steady.token_requests == 1    # one token (an hour) for every call so far


def test_embeddings_through_predict(client: openai.OpenAI,
                                    fakes: tuple[VertexFake, VertexFake]) -> None:
    out = client.embeddings.create(model="embed", input=["a", "b"], encoding_format="float")
    assert len(out.data) == 2 and out.usage.prompt_tokens == 6
    assert fakes[0].calls[-1] == ("proj-e2e", "us-central1", "text-embedding-005:predict")
    default = client.embeddings.create(model="embed", input=["a", "b"])
    assert default.data[0].embedding == pytest.approx(out.data[0].embedding, abs=1e-6)


def test_tokens_close_to_expiry_are_replaced_before_use(client: openai.OpenAI,
                                                        fakes: tuple[VertexFake, VertexFake]
                                                        ) -> None:
    short = fakes[1]   # issues 200-second tokens: inside the 300 s refresh margin
    for _ in range(3):
        reply = client.chat.completions.create(model="short", messages=MESSAGES)
        assert reply.choices[0].message.content == short.reply_text
    assert short.token_requests == 3
    used = [r.header("authorization") for r in short.requests if r.path != "/token"]
    assert len(set(used)) == 3      # each call went with the newest token
    assert short.calls[-1][:2] == ("file-project", "us-central1")
