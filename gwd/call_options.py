"""LiteLLM's request-level options, taken out of the body before it goes upstream.

A client of the LiteLLM proxy may add to a call's body (SPEC §4a: accepted, never
forwarded upstream; ``null`` means not set):

- ``fallbacks``: model groups to try once the call's own group failed (gwd/fallbacks.py);
- ``mock_response``: a string answered at once, without calling any upstream, billed 0
  and marked in the ledger as deployment ``mock_response`` (provider ``mock``);
- ``num_retries``: at most this many further deployments of the group are tried (gw
  retries on another deployment, never the same one, so this can lower the attempts the
  router would make, not raise them past the group's size);
- ``timeout``: seconds; the whole of each upstream attempt (and each of its phases) is
  bounded by it instead of the deployment's or router's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .config import Deployment
from .errors import InvalidRequest
from .fallbacks import request_fallbacks

NAMES = ("fallbacks", "mock_response", "num_retries", "timeout")
MAX_RETRIES = 100
MAX_TIMEOUT = 86_400.0
MOCK_ID = "mock_response"


@dataclass(slots=True)
class CallOptions:
    fallbacks: tuple[str, ...] | None = None
    mock_response: str | None = None
    num_retries: int | None = None
    timeout: float | None = None


def present(body: dict[str, Any]) -> bool:
    """Whether the body carries any of them (four dict lookups: the plain path's cost)."""
    return ("fallbacks" in body or "mock_response" in body or "num_retries" in body
            or "timeout" in body)


def take(body: dict[str, Any]) -> CallOptions:
    """Remove the options from ``body`` and validate them (400 naming the field)."""
    opts = CallOptions(fallbacks=request_fallbacks(body.pop("fallbacks", None)))
    mock = body.pop("mock_response", None)
    if mock is not None and not isinstance(mock, str):
        raise InvalidRequest("'mock_response' must be a string (gw does not support other "
                             "mock responses)", param="mock_response")
    opts.mock_response = mock
    retries = body.pop("num_retries", None)
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) \
                or not 0 <= retries <= MAX_RETRIES:
            raise InvalidRequest(f"'num_retries' must be an integer from 0 to {MAX_RETRIES}",
                                 param="num_retries")
        opts.num_retries = retries
    timeout = body.pop("timeout", None)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not 0 < timeout <= MAX_TIMEOUT:
            raise InvalidRequest(f"'timeout' must be a number of seconds, above 0 and at most "
                                 f"{int(MAX_TIMEOUT)}", param="timeout")
        opts.timeout = float(timeout)
    return opts


def mock_deployment(group: str, text: str) -> Deployment:
    """The deployment that answers a ``mock_response`` call: local, free, marked."""
    return Deployment(id=MOCK_ID, model_name=group, provider="mock", model=group,
                      litellm_model=f"mock/{group}", api_base=None,
                      input_cost_per_token=Decimal(0), output_cost_per_token=Decimal(0),
                      extra={"mock_response": text})
