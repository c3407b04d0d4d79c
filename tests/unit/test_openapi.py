"""The OpenAPI document: the same routes as the app, the right security, refs that resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gwd.app import build_app
from gwd.config import load_config
from gwd.middleware import PUBLIC
from gwd.openapi import document
from gwd.runtime import Runtime
from tests.support.gwd import write_config
from tests.support.inproc import app_client

CONFIG: dict[str, Any] = {
    "model_list": [{"model_name": "b", "litellm_params": {"model": "mock/b"}},
                   {"model_name": "a", "litellm_params": {"model": "mock/a"}}],
    "general_settings": {"master_key": "sk-test-master-key-0123456789abcdef"},
}
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


@pytest.fixture
def app(tmp_path: Path) -> web.Application:
    return build_app(Runtime(load_config(write_config(tmp_path / "c.yaml", CONFIG))))


def routes(app: web.Application) -> dict[tuple[str, str], Any]:
    return {(r.method.lower(), r.resource.canonical): r.handler  # type: ignore[union-attr]
            for r in app.router.routes()}


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


def test_every_route_is_documented_and_every_documented_route_exists(
        app: web.Application) -> None:
    assert set(routes(app)) == set(operations(document()))


def test_security_is_none_exactly_on_the_public_routes(app: web.Application) -> None:
    ops = operations(document())
    for key, handler in routes(app).items():
        public = getattr(handler, "__gw_auth__", None) == PUBLIC
        assert (ops[key]["security"] == []) == public, key


def test_operation_ids_are_unique_and_every_ref_resolves() -> None:
    doc = document(["a"])
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref


def test_every_response_carries_a_request_id_and_errors_are_the_openai_envelope() -> None:
    doc = document()
    shared = doc["components"]["responses"]
    for (method, path), op in operations(doc).items():
        for status, response in op["responses"].items():
            if "$ref" in response:
                response = shared[response["$ref"].rsplit("/", 1)[1]]
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, status)
            assert "x-request-id" in response["headers"], (method, path, status)


async def test_the_document_is_public_and_shows_the_models_to_the_master_key_only(
        tmp_path: Path) -> None:
    master = {"Authorization": f"Bearer {CONFIG['general_settings']['master_key']}"}
    async with app_client(CONFIG, tmp_path) as client:
        public = await client.get("/openapi.json")
        assert public.status == 200
        doc = await public.json()
        shown = await (await client.get("/openapi.json", headers=master)).json()
    assert doc["openapi"] == "3.1.0"
    assert "/v1/chat/completions" in doc["paths"] and "/chat/completions" in doc["paths"]
    assert "examples" not in doc["components"]["schemas"]["Model"]
    assert shown["components"]["schemas"]["Model"]["examples"] == ["a", "b"]
