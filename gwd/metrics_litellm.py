"""LiteLLM's Prometheus metric names beside gw's, so dashboards built for LiteLLM keep working.

Per billed call :meth:`CallTally.add` updates ONE dict entry, keyed by the caller,
the models, the deployment and the HTTP status; at scrape time :func:`families`
turns the tally into LiteLLM's families, with the names and labels LiteLLM's
proxy exposes (prometheus_client adds ``_total`` to a counter's name, and
dashboards query it so):

* ``litellm_requests_metric_total``, ``litellm_spend_metric_total``;
* ``litellm_total_tokens_total``, ``litellm_input_tokens_total``,
  ``litellm_output_tokens_total``;
* ``litellm_proxy_total_requests_metric_total``,
  ``litellm_proxy_failed_requests_metric_total``;
* ``litellm_deployment_success_responses_total``,
  ``litellm_deployment_failure_responses_total``,
  ``litellm_deployment_total_requests_total``;
* ``litellm_deployment_state`` (0 healthy, 2 cooling down: LiteLLM's "complete outage").

Where gw differs: ``hashed_api_key`` carries the key's public ``key_id``
(``master`` for the master key) — gw never shows a key's hash to anyone, and the
key_id names a key just as uniquely. ``end_user``, ``user``, ``user_email``,
``team`` and ``team_alias`` are empty: ``end_user`` is whatever a client sends
(unbounded label values), and the others are not known to the tally. Calls
refused before they are admitted (no key, a bad body) are not counted here; they
are in ``gw_http_errors_total``. ``model`` is the model group, ``requested_model``
what the client asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import Deployment
    from .metrics import Metric
    from .routing import Router

#: key_id, key_alias, requested_model, model_group, deployment id, provider, HTTP status
TallyKey = tuple[str, str, str, str, str, str, int]
EXCEPTION_CLASSES = {400: "BadRequestError", 401: "AuthenticationError",
                     403: "PermissionDeniedError", 404: "NotFoundError", 408: "Timeout",
                     409: "ConflictError", 413: "BadRequestError",
                     422: "UnprocessableEntityError", 429: "RateLimitError",
                     500: "InternalServerError", 502: "APIError",
                     503: "ServiceUnavailableError", 504: "Timeout"}
KEY_LABELS = ("end_user", "hashed_api_key", "api_key_alias")
TEAM_LABELS = ("team", "team_alias", "user")
DEPLOYMENT_LABELS = ("litellm_model_name", "model_id", "api_base", "api_provider")


class CallTally:
    """Per (caller, models, deployment, status): [calls, input tokens, output tokens, USD]."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[TallyKey, list] = {}  # type: ignore[type-arg]

    def add(self, key: TallyKey, prompt: int, completion: int, cost: Decimal | None) -> None:
        entry = self.values.get(key)
        if entry is None:
            entry = self.values[key] = [0, 0, 0, Decimal(0)]
        entry[0] += 1
        entry[1] += prompt
        entry[2] += completion
        if cost:
            entry[3] += cost


def api_base(dep: Deployment | None) -> str:
    """The deployment's base URL without credentials or query (as a label value)."""
    if dep is None or not dep.api_base:
        return ""
    parts = urlsplit(dep.api_base)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else ""


def families(tally: CallTally, deployments: dict[str, Deployment],
             router: Router) -> Iterable[Metric]:
    """LiteLLM's families, from the tally and the router's health now."""
    from .metrics import Metric

    def counter(name: str, help: str, labels: tuple[str, ...]) -> Metric:
        return Metric(name, help, labels)

    requests = counter("litellm_requests_metric_total", "Requests, per key and model.",
                       (*KEY_LABELS, "model", *TEAM_LABELS, "user_email"))
    spend = counter("litellm_spend_metric_total", "Spend in USD, per key and model.",
                    (*KEY_LABELS, "model", *TEAM_LABELS))
    token_labels = (*KEY_LABELS, "requested_model", *TEAM_LABELS, "model")
    total_tokens = counter("litellm_total_tokens_total", "Input + output tokens.", token_labels)
    input_tokens = counter("litellm_input_tokens_total", "Input tokens.", token_labels)
    output_tokens = counter("litellm_output_tokens_total", "Output tokens.", token_labels)
    proxy_labels = (*KEY_LABELS, "requested_model", *TEAM_LABELS)
    proxy_total = counter("litellm_proxy_total_requests_metric_total",
                          "Admitted calls by the status the client got.",
                          (*proxy_labels, "status_code"))
    proxy_failed = counter("litellm_proxy_failed_requests_metric_total",
                           "Admitted calls the client did not get a success for.",
                           (*proxy_labels, "exception_status", "exception_class"))
    dep_labels = ("requested_model", *DEPLOYMENT_LABELS, "hashed_api_key", "api_key_alias",
                  "team", "team_alias")
    dep_ok = counter("litellm_deployment_success_responses_total",
                     "Successful calls per deployment.", dep_labels)
    dep_failed = counter("litellm_deployment_failure_responses_total",
                         "Failed calls per deployment.",
                         (*dep_labels, "exception_status", "exception_class"))
    dep_total = counter("litellm_deployment_total_requests_total",
                        "Calls per deployment, success + failure.", dep_labels)
    for (key_id, alias, requested, group, dep_id, provider, status), entry in \
            tally.values.items():
        calls, prompt, completion, cost = entry
        who = ("", key_id, alias)
        requests.inc((*who, group, "", "", "", ""), calls)
        if cost:
            spend.inc((*who, group, "", "", ""), cost)
        if prompt or completion:
            tokens = (*who, requested, "", "", "", group)
            total_tokens.inc(tokens, prompt + completion)
            input_tokens.inc(tokens, prompt)
            output_tokens.inc(tokens, completion)
        caller = (*who, requested, "", "", "")
        proxy_total.inc((*caller, str(status)), calls)
        failed = not 200 <= status < 300
        exception = (str(status), EXCEPTION_CLASSES.get(status, "APIError"))
        if failed:
            proxy_failed.inc((*caller, *exception), calls)
        if dep_id:
            dep = deployments.get(dep_id)
            where = (requested, dep.litellm_model if dep else "", dep_id, api_base(dep),
                     provider, key_id, alias, "", "")
            dep_total.inc(where, calls)
            if failed:
                dep_failed.inc((*where, *exception), calls)
            else:
                dep_ok.inc(where, calls)
    state = Metric("litellm_deployment_state", "0 healthy, 2 cooling down after failures.",
                   DEPLOYMENT_LABELS, "gauge")
    for dep in deployments.values():
        state.set((dep.litellm_model, dep.id, api_base(dep), dep.provider),
                  2 if router.cooling(dep) else 0)
    return (requests, spend, total_tokens, input_tokens, output_tokens, proxy_total,
            proxy_failed, dep_ok, dep_failed, dep_total, state)
