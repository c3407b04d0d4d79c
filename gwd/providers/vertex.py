"""``vertex_ai/``: Gemini models on Google Cloud's Vertex AI (Gemini's wire format).

The chat, completion and stream translation is Gemini's (``gemini.py``); Vertex differs in
the URL and the credentials:

* ``{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}``
  ``:generateContent`` / ``:streamGenerateContent?alt=sse``, embeddings ``:predict``
  (``{"instances": [{"content": ...}]}`` -> ``predictions[].embeddings.values``, token
  counts from ``statistics.token_count``); ``base`` is ``api_base``, else
  ``https://{location}-aiplatform.googleapis.com`` (``https://aiplatform.googleapis.com``
  for ``global``);
* ``vertex_project`` (else VERTEXAI_PROJECT, VERTEX_PROJECT, GOOGLE_CLOUD_PROJECT, else the
  service account's ``project_id``); ``vertex_location`` (else VERTEXAI_LOCATION,
  VERTEX_LOCATION, else ``us-central1``, LiteLLM's default);
* a Bearer token from the service account in ``vertex_credentials`` (``google_auth.py``),
  made fresh by :meth:`prepare` (awaited before each call is built) and read here.

Only Google's own (Gemini and embedding) models are served: partner models on Vertex
(Claude, Llama, ...) speak other formats.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Mapping
from typing import Any

from ..config import Deployment
from ..errors import UpstreamError
from ..memo import IdentityMemo
from . import google_auth
from .base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    UpstreamRequest,
    Usage,
    dumps,
    estimated_usage,
    loads_object,
)
from .gemini import GeminiProvider

DEFAULT_LOCATION = "us-central1"


def location_of(dep: Deployment, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = dep.extra.get("vertex_location")
    if isinstance(value, str) and value:
        return value
    return next((env[n] for n in ("VERTEXAI_LOCATION", "VERTEX_LOCATION") if env.get(n)),
                DEFAULT_LOCATION)


def project_of(dep: Deployment, source: google_auth.TokenSource | None,
               env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = dep.extra.get("vertex_project")
    if isinstance(value, str) and value:
        return value
    for name in ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        if env.get(name):
            return env[name]
    if source is not None and source.project_id:
        return source.project_id
    raise UpstreamError(f"deployment {dep.id}: no Vertex AI project: set vertex_project",
                        code="upstream_auth_error")


def embed_body(body: Mapping[str, Any]) -> Json:
    value = body.get("input")
    inputs = value if isinstance(value, list) else [value]
    out: Json = {"instances": [{"content": str(v)} for v in inputs]}
    dims = body.get("dimensions")
    if isinstance(dims, int) and not isinstance(dims, bool) and dims > 0:
        out["parameters"] = {"outputDimensionality": dims}
    return out


def parse_predictions(dep: Deployment, body: Mapping[str, Any], data: Json) -> Completion:
    predictions = data.get("predictions")
    if not isinstance(predictions, list):
        raise BadUpstreamResponse("upstream embeddings answer has no predictions list")
    items: list[Json] = []
    tokens = 0
    counted = True
    for index, prediction in enumerate(predictions):
        embeddings = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
        values = embeddings.get("values") if isinstance(embeddings, Mapping) else None
        if not isinstance(values, list):
            raise BadUpstreamResponse("upstream embedding has no values")
        stats = embeddings.get("statistics") if isinstance(embeddings, Mapping) else None
        count = stats.get("token_count") if isinstance(stats, Mapping) else None
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 0:
            tokens += int(count)
        else:
            counted = False
        vector: Any = values
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
        items.append({"object": "embedding", "index": index, "embedding": vector})
    usage = Usage(tokens, 0) if counted and items else estimated_usage("embeddings", body)
    return Completion({"object": "list", "data": items, "model": dep.model,
                       "usage": {"prompt_tokens": usage.prompt_tokens,
                                 "total_tokens": usage.prompt_tokens}}, usage)


class VertexProvider(GeminiProvider):
    name = "vertex_ai"
    prepares = True

    def __init__(self) -> None:
        self._sources: IdentityMemo[Deployment, google_auth.TokenSource] = IdentityMemo()

    async def prepare(self, dep: Deployment) -> None:
        """Make the deployment's token fresh (read its key file the first time)."""
        try:
            source = self._sources.get(dep)
            if source is None:
                info = await asyncio.to_thread(google_auth.load_info,
                                               dep.extra.get("vertex_credentials"))
                source = self._sources.put(dep, google_auth.source_for(info))
            await source.ensure()
        except google_auth.GoogleAuthError as exc:
            raise UpstreamError(f"deployment {dep.id}: {exc}",
                                code="upstream_auth_error") from None

    def source(self, dep: Deployment) -> google_auth.TokenSource:
        source = self._sources.get(dep)
        if source is None or source.token is None:
            raise UpstreamError(f"deployment {dep.id}: no Google token yet",
                                code="upstream_auth_error")
        return source

    def base(self, dep: Deployment) -> str:
        location = location_of(dep)
        host = (dep.api_base or ("https://aiplatform.googleapis.com" if location == "global"
                                 else f"https://{location}-aiplatform.googleapis.com"))
        project = project_of(dep, self._sources.get(dep))
        return (f"{host.rstrip('/')}/v1/projects/{project}/locations/{location}"
                "/publishers/google")

    def url(self, dep: Deployment, endpoint: Endpoint, stream: bool) -> str:
        method = ("predict" if endpoint == "embeddings"
                  else "streamGenerateContent?alt=sse" if stream else "generateContent")
        return f"{self.base(dep)}/{self.model_path(dep)}:{method}"

    def headers(self, dep: Deployment) -> dict[str, str]:
        return {"Content-Type": "application/json",
                "Authorization": f"Bearer {self.source(dep).token}"}

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        if endpoint != "embeddings":
            return super().build_request(dep, endpoint, body, stream)
        return UpstreamRequest(self.url(dep, endpoint, False), self.headers(dep),
                               dumps(embed_body(body)), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        if endpoint == "embeddings":
            return parse_predictions(dep, body, loads_object(payload))
        return super().parse_response(dep, endpoint, body, payload)
