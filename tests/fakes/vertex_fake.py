"""VertexFake: Gemini on Vertex AI, plus the OAuth2 token endpoint of a service account.

* ``POST /token``: Google's JWT-bearer grant. The assertion's RS256 signature is checked
  with the service account's public key, and its claims (``iss`` = the account's email,
  ``aud`` = this token URI or Google's, the cloud-platform ``scope``, ``exp`` in the future); the
  answer is a new ``ya29.fake-N`` token with ``expires_in`` = ``token_lifetime``.
* ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}``
  ``:generateContent`` / ``:streamGenerateContent`` / ``:predict``, answered as
  GeminiFake does, only with ``Authorization: Bearer <a token it issued, unexpired>``
  (else 401 UNAUTHENTICATED).

:func:`service_account` makes a fresh RSA key and the JSON document Google would hand out,
pointing ``token_uri`` at this fake.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .base import Fault, JsonReply, RecordedRequest, StreamReply
from .gemini_fake import GeminiFake

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class VertexFake(GeminiFake):
    def __init__(self, name: str = "vertex", *, token_lifetime: int = 3600,
                 **kw: Any) -> None:
        super().__init__(name, **kw)
        self.token_lifetime = token_lifetime
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.email = "gw-test@fake-project.iam.gserviceaccount.com"
        self.issued: dict[str, float] = {}    # token -> expiry (time.time())
        self.calls: list[tuple[str, str, str]] = []   # (project, location, model:method)

    def service_account(self, project: str = "fake-project") -> dict[str, Any]:
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": project,
                "private_key_id": "0123456789abcdef0123456789abcdef01234567",
                "private_key": pem, "client_email": self.email,
                "client_id": "100000000000000000001", "token_uri": self.base_url + "/token"}

    @property
    def token_requests(self) -> int:
        return sum(1 for r in self.requests if r.path == "/token")

    def split(self, path: str) -> tuple[str, str] | None:
        parts = path.split("/")
        # "", v1, projects, P, locations, L, publishers, google, models, "M:method"
        if len(parts) != 10 or parts[1:3] != ["v1", "projects"] or parts[4] != "locations" \
                or parts[6:9] != ["publishers", "google", "models"] or ":" not in parts[9]:
            return None
        model, _, method = parts[9].partition(":")
        self.calls.append((parts[3], parts[5], parts[9]))
        return model, method

    def authorised(self, request: RecordedRequest) -> bool:
        auth = request.header("authorization") or ""
        expiry = self.issued.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        return expiry is not None and expiry > time.time()

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if request.path == "/token" and request.method == "POST":
            return self.grant(request)
        route = self.split(request.path)
        if route is not None and not self.authorised(request):
            return JsonReply(self.error_body(401, "Request had invalid authentication "
                                                  "credentials."), 401)
        if route is not None and route[1] == "predict":
            body = request.json if isinstance(request.json, dict) else {}
            dims = (body.get("parameters") or {}).get("outputDimensionality")
            return JsonReply({"predictions": [
                {"embeddings": {"values": self.vector({"parts": [{"text": i.get("content")}]},
                                                      dims),
                                "statistics": {"token_count": 3, "truncated": False}}}
                for i in body.get("instances") or ()]})
        return super().answer(request, fault)

    def grant(self, request: RecordedRequest) -> JsonReply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        problem = self.assertion_problem(form)
        if problem is not None:
            return JsonReply({"error": "invalid_grant", "error_description": problem}, 400)
        token = f"ya29.fake-{len(self.issued) + 1}-{int(time.time() * 1000)}"
        self.issued[token] = time.time() + self.token_lifetime
        return JsonReply({"access_token": token, "expires_in": self.token_lifetime,
                          "token_type": "Bearer"})

    def assertion_problem(self, form: dict[str, str]) -> str | None:
        if form.get("grant_type") != JWT_GRANT:
            return "Invalid grant_type"
        try:
            header, claims, signature = form.get("assertion", "").split(".")
            self.key.public_key().verify(_b64(signature), f"{header}.{claims}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
            body = json.loads(_b64(claims))
        except Exception:
            return "Invalid JWT Signature."
        audiences = (self.base_url + "/token", GOOGLE_TOKEN_URI)   # google-auth sends Google's
        if body.get("iss") != self.email or body.get("aud") not in audiences:
            return "Invalid JWT: wrong issuer or audience"
        if SCOPE not in str(body.get("scope", "")).split():
            return "Invalid JWT: scope"
        if not isinstance(body.get("exp"), int) or body["exp"] < time.time():
            return "Invalid JWT: Token must be a short-lived token"
        return None
