"""One call of a mixed spend load, shared by tests/e2e/test_spend.py and
tests/support/loadkit.py: call ``i`` is, by ``i % 4``, a chat completion, a streamed
chat completion that asks for usage, a text completion, or an embeddings call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

CHAT, STREAM, TEXT, EMBED = range(4)


@dataclass(frozen=True)
class Answer:
    kind: int                        # CHAT, STREAM, TEXT or EMBED
    status: int
    usage: dict[str, int] | None     # the usage the client saw (None unless status 200)
    headers: Mapping[str, str]       # case-insensitive, as aiohttp gives them
    text: str                        # the body of a refusal ("" for a 200)

    @property
    def tokens(self) -> tuple[int, int]:
        """(prompt_tokens, completion_tokens) of a 200; embeddings have no completion."""
        assert self.usage is not None, (self.status, self.text)
        return self.usage["prompt_tokens"], self.usage.get("completion_tokens", 0)


async def mixed_call(session: aiohttp.ClientSession, base: str, key: str, i: int, *,
                     text: str, max_tokens: int, model: str = "m",
                     embed_model: str = "m") -> Answer:
    """Call number ``i`` of a mixed load on the gwd at ``base``, with ``key``."""
    headers = {"Authorization": f"Bearer {key}"}
    kind = i % 4
    body: dict[str, Any]
    if kind == EMBED:
        path, body = "/v1/embeddings", {"model": embed_model, "input": [text, "more"]}
    elif kind == TEXT:
        path, body = "/v1/completions", {"model": model, "max_tokens": max_tokens,
                                         "prompt": text}
    else:
        path, body = "/v1/chat/completions", {
            "model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}
    if kind == STREAM:
        body.update(stream=True, stream_options={"include_usage": True})
    async with session.post(base + path, headers=headers, json=body) as r:
        if r.status != 200:
            return Answer(kind, r.status, None, r.headers, await r.text())
        usage = None
        if kind != STREAM:
            usage = (await r.json())["usage"]
        else:
            async for line in r.content:
                if line.startswith(b"data: {") and b'"usage"' in line:
                    usage = orjson.loads(line[6:])["usage"]
            assert usage is not None, "the stream carried no usage"
        return Answer(kind, r.status, usage, r.headers, "")
