"""vertex_ai/: Vertex URLs, credentials as LiteLLM takes them, and service-account tokens
fetched from a loopback token endpoint (the key's token_uri) and refreshed before expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import Deployment, load_config
from gwd.errors import UpstreamError
from gwd.providers import get_provider
from gwd.providers.google_auth import REFRESH_MARGIN, GoogleAuthError, load_info, source_for
from gwd.providers.vertex import VertexProvider
from tests.fakes import VertexFake

CHAT = {"model": "g", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[VertexFake]:
    with VertexFake("vertex-unit") as f:
        yield f


def dep(info: Any, **extra: Any) -> Deployment:
    return Deployment(id="v", model_name="g", provider="vertex_ai", model="gemini-2.0-flash",
                      litellm_model="vertex_ai/gemini-2.0-flash", api_base=None,
                      extra={"vertex_credentials": info, **extra})


def test_config_takes_litellm_s_vertex_params(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("""model_list:
  - model_name: g
    litellm_params:
      model: vertex_ai/gemini-2.5-pro
      vertex_project: my-project
      vertex_location: europe-west4
      vertex_credentials: os.environ/VERTEX_CREDS
""")
    config = load_config(path, env={"VERTEX_CREDS": '{"type": "service_account"}'})
    (d,) = config.deployments
    assert (d.provider, d.model) == ("vertex_ai", "gemini-2.5-pro")
    assert d.extra["vertex_location"] == "europe-west4"
    assert d.extra["vertex_credentials"] == '{"type": "service_account"}'
    assert not config.warnings and isinstance(get_provider("vertex_ai"), VertexProvider)


def test_credentials_as_json_text_mapping_or_path(tmp_path: Path, fake: VertexFake) -> None:
    info = fake.service_account()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert load_info(json.dumps(info)) == info == load_info(info) == load_info(str(path))
    assert load_info(None, {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}) == info
    with pytest.raises(GoogleAuthError, match="service-account") as err:
        load_info({"type": "authorized_user", "refresh_token": "secret-refresh"})
    assert "secret-refresh" not in str(err.value)
    with pytest.raises(GoogleAuthError, match="no Google credentials"):
        load_info(None, {})
    with pytest.raises(GoogleAuthError, match="could not be read") as err2:
        load_info(str(tmp_path / "missing.json"))
    assert "missing" not in str(err2.value)


def test_token_is_fetched_once_and_replaced_before_expiry(fake: VertexFake) -> None:
    source = source_for({**fake.service_account(), "private_key_id": "k-refresh"})
    before = fake.token_requests
    first = asyncio.run(source.ensure())
    assert first in fake.issued and fake.token_requests == before + 1
    assert asyncio.run(source.ensure()) == first and fake.token_requests == before + 1
    # near the end of its life (inside the margin) it is replaced, not used
    assert source.expiry is not None
    source.expiry = datetime.now() + timedelta(seconds=REFRESH_MARGIN - 5)   # noqa: DTZ005
    assert not source.fresh(source.expiry - timedelta(seconds=REFRESH_MARGIN - 5))
    second = asyncio.run(source.ensure())
    assert second != first and fake.token_requests == before + 2


def test_concurrent_calls_share_one_refresh(fake: VertexFake) -> None:
    source = source_for({**fake.service_account(), "private_key_id": "k-single-flight"})
    before = fake.token_requests

    async def many() -> set[str]:
        return set(await asyncio.gather(*(source.ensure() for _ in range(8))))

    assert len(asyncio.run(many())) == 1 and fake.token_requests == before + 1


def test_a_refused_key_is_an_upstream_auth_error_without_the_key(fake: VertexFake) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    info = {**fake.service_account(), "private_key": pem, "private_key_id": "k-wrong"}
    with pytest.raises(UpstreamError) as err:
        asyncio.run(VertexProvider().prepare(dep(info)))
    assert err.value.code == "upstream_auth_error" and "PRIVATE KEY" not in str(err.value)


def test_urls_project_location_and_bearer(fake: VertexFake) -> None:
    provider = VertexProvider()
    info = {**fake.service_account("sa-project"), "private_key_id": "k-urls"}
    d = dep(info, vertex_location="europe-west4")
    asyncio.run(provider.prepare(d))
    req = provider.build_request(d, "chat", CHAT, stream=True)
    assert req.url == ("https://europe-west4-aiplatform.googleapis.com/v1/projects/sa-project/"
                       "locations/europe-west4/publishers/google/models/gemini-2.0-flash:"
                       "streamGenerateContent?alt=sse")
    assert req.headers["Authorization"] == f"Bearer {provider.source(d).token}"
    assert orjson.loads(req.body)["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    g = dep(info, vertex_location="global", vertex_project="explicit")
    asyncio.run(provider.prepare(g))
    embed = provider.build_request(g, "embeddings", {"input": ["a"], "dimensions": 3}, False)
    assert embed.url == ("https://aiplatform.googleapis.com/v1/projects/explicit/locations/"
                         "global/publishers/google/models/gemini-2.0-flash:predict")
    assert orjson.loads(embed.body) == {"instances": [{"content": "a"}],
                                        "parameters": {"outputDimensionality": 3}}


def test_predict_answer_with_token_counts() -> None:
    provider = VertexProvider()
    payload = orjson.dumps({"predictions": [
        {"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": 4}}},
        {"embeddings": {"values": [0.3, 0.4], "statistics": {"token_count": 2.0}}}]})
    done = provider.parse_response(dep({}), "embeddings", {"input": ["a", "b"]}, payload)
    assert done.usage.prompt_tokens == 6 and not done.usage.estimated
    assert [d["embedding"] for d in done.body["data"]] == [[0.1, 0.2], [0.3, 0.4]]
