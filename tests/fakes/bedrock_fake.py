"""BedrockFake: Amazon Bedrock's Converse API, ``POST /model/{modelId}/converse`` and
``/converse-stream`` (AWS event-stream binary framing).

Like the real service it checks the SigV4 signature: it parses ``Authorization``,
rebuilds the canonical request from what it received (the raw, still-encoded path, the
signed headers, the body) and recomputes the signature with the secret it was given
(botocore's SigV4 code, as AWS's own SDKs do), answering 403
``InvalidSignatureException`` on any difference: a wrong key, region, service, date,
body or header. Errors are ``{"message": ...}`` with ``x-amzn-ErrorType``.

Streams are event-stream messages (prelude, headers ``:event-type``,
``:content-type``, ``:message-type``, JSON payload with Bedrock's ``p`` padding, CRCs):
messageStart, contentBlockDelta x words (or a toolUse start + delta), contentBlockStop,
messageStop, metadata (usage). A toolChoice ``any``/``tool`` forces one call of that
tool (the first for ``any``), input ``{"fake": <name>}``.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any

from .base import FakeUpstream, Fault, JsonReply, RecordedRequest, StreamReply, words

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (the fake's own encoder)."""
    block = b""
    for name, value in headers.items():
        block += bytes([len(name)]) + name.encode() + b"\x07" \
            + struct.pack(">H", len(value.encode())) + value.encode()
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + block + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(name: str, body: dict[str, Any]) -> bytes:
    body = {**body, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[:max(1, 32 - len(name))]}
    return frame({":event-type": name, ":content-type": "application/json",
                  ":message-type": "event"}, json.dumps(body).encode())


def exception(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())


class BedrockFake(FakeUpstream):
    def __init__(self, name: str = "bedrock", *, access_key: str, secret_key: str,
                 region: str = "us-east-1", token: str | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.access_key, self.secret_key, self.region, self.token = \
            access_key, secret_key, region, token

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def signature_problem(self, request: RecordedRequest) -> str | None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        match = _AUTH.match(request.header("authorization") or "")
        if match is None:
            return "Missing Authentication Token"
        key, day, region, service, signed, signature = match.groups()
        stamp = request.header("x-amz-date") or ""
        if key != self.access_key or region != self.region or service != "bedrock" \
                or not stamp.startswith(day):
            return "The security token included in the request is invalid."
        if self.token is not None and request.header("x-amz-security-token") != self.token:
            return "The security token included in the request is invalid."
        headers = {name: request.header(name) or "" for name in signed.split(";")}
        url = f"http://{headers.get('host', '')}{request.raw_path}"
        rebuilt = AWSRequest(method=request.method, url=url, data=request.body,
                             headers={k: v for k, v in headers.items() if k != "host"})
        rebuilt.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key, self.token),
                           "bedrock", self.region)
        canonical = signer.canonical_request(rebuilt)
        expected = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
        if expected != signature:
            return ("The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method.")
        return None

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        parts = request.raw_path.split("/")
        if request.method != "POST" or len(parts) != 4 or parts[1] != "model" \
                or parts[3] not in ("converse", "converse-stream"):
            return None
        problem = self.signature_problem(request)
        if problem is not None:
            return JsonReply({"message": problem}, 403)
        body = request.json if isinstance(request.json, dict) else {}
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages \
                or any(m.get("role") not in ("user", "assistant") for m in messages) \
                or any(a.get("role") == b.get("role") for a, b in zip(messages, messages[1:],
                                                                        strict=False)):
            return JsonReply({"message": "A conversation must alternate between user and "
                                        "assistant roles."}, 400)
        tool = self.forced_tool(body)
        usage = None if fault.no_usage else {
            "inputTokens": self.prompt_tokens, "outputTokens": self.completion_tokens,
            "totalTokens": self.prompt_tokens + self.completion_tokens}
        stop = "tool_use" if tool else "end_turn"
        if parts[3] == "converse":
            content: list[dict[str, Any]] = (
                [{"toolUse": {"toolUseId": "tooluse_fake01", "name": tool,
                              "input": {"fake": tool}}}] if tool
                else [{"text": self.reply_text}])
            out: dict[str, Any] = {"output": {"message": {"role": "assistant",
                                                          "content": content}},
                                   "stopReason": stop, "metrics": {"latencyMs": 12}}
            if usage is not None:
                out["usage"] = usage
            return JsonReply(out)
        events = [event("messageStart", {"role": "assistant"})]
        if tool:
            events.append(event("contentBlockStart", {"contentBlockIndex": 0, "start": {
                "toolUse": {"toolUseId": "tooluse_fake01", "name": tool}}}))
            events.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {
                "toolUse": {"input": json.dumps({"fake": tool})}}}))
        else:
            events += [event("contentBlockDelta", {"contentBlockIndex": 0,
                                                   "delta": {"text": w}})
                       for w in words(self.reply_text)]
        events.append(event("contentBlockStop", {"contentBlockIndex": 0}))
        events.append(event("messageStop", {"stopReason": stop}))
        if usage is not None:
            events.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 12}}))
        return StreamReply(events, content_type="application/vnd.amazon.eventstream")

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        config = body.get("toolConfig") or {}
        choice = config.get("toolChoice") or {}
        tools = config.get("tools") or []
        if "tool" in choice:
            return str(choice["tool"].get("name"))
        if "any" in choice and tools:
            return str(tools[0]["toolSpec"]["name"])
        return None
