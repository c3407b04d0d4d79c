"""Every error gwd can answer with, in one hierarchy.

Each class carries its HTTP status and the OpenAI error ``type`` / ``code``; the
error middleware renders any of them as OpenAI's envelope::

    {"error": {"message": "...", "type": "...", "param": null, "code": "..."}}

    GatewayError                      500 internal_error
    ├── InvalidRequest                400 invalid_request_error
    │   ├── ModelNotFound             400 model_not_found
    │   └── BudgetExceeded            400 budget_exceeded
    ├── AuthenticationError           401 invalid_api_key / expired_key / deleted_key
    ├── PermissionDenied              403 model_not_allowed / admin_only
    ├── NotFound                      404 not_found
    ├── MethodNotAllowed              405 method_not_allowed
    ├── PayloadTooLarge               413 request_too_large
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── RateLimited                   429 rate_limit_exceeded
    ├── UpstreamError                 502 upstream_error (and upstream_bad_response)
    ├── ServiceUnavailable            503 service_unavailable
    └── UpstreamTimeout               504 upstream_timeout

Messages are written for the person reading them and never contain a key, a
provider credential or an upstream URL.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base class: an error that becomes an HTTP response in OpenAI's shape."""

    status = 500
    type = "internal_error"
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    """The request body, a parameter or a header is malformed or not allowed."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class ModelNotFound(InvalidRequest):
    """The requested model (after alias resolution) names no configured model group."""

    code = "model_not_found"


class BudgetExceeded(InvalidRequest):
    """The key's remaining budget cannot cover this call's worst-case cost."""

    type = "budget_exceeded"
    code = "budget_exceeded"


class AuthenticationError(GatewayError):
    """No key, an unknown key, or a key that expired or was deleted."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """A valid key asked for a model or route it may not use."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    """No such route or object."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Conflict(GatewayError):
    """The object to create already exists, or the change conflicts with what is stored."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class MethodNotAllowed(GatewayError):
    """The route exists but not for this HTTP method."""

    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    """The client did not send its request in time (a body trickled past its deadline)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class PayloadTooLarge(GatewayError):
    """The request body is larger than the configured limit."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaType(GatewayError):
    """The request body is not JSON."""

    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class RateLimited(GatewayError):
    """Too many requests (gwd's own limits, or every deployment is rate limited)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    """Every deployment tried failed (connect error, 5xx, 429, bad response)."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"


class ServiceUnavailable(GatewayError):
    """gwd cannot serve right now: database down, shutting down, overloaded."""

    status = 503
    type = "service_unavailable"
    code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    """The upstream did not answer within its timeouts on any deployment tried."""

    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamClientError(GatewayError):
    """The upstream refused the request as the client's fault (its 4xx other than 429).

    Not retried on another deployment: the same body would fail there too. The
    status is the upstream's (401/403 from the upstream become 502, because they
    mean gwd's provider credentials are wrong, not the caller's).
    """

    type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message, code=code, param=param)
        self.status = status
