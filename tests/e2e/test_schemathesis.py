"""schemathesis against a real gwd, from the /openapi.json that gwd serves.

Every operation gets the examples, coverage and fuzzing phases (a bounded
number of examples, a fixed seed so CI is repeatable), sent with the master
key. Each answer must be: never a 5xx, a status the document lists for that
operation, a documented content type, headers and body (errors in OpenAI's
envelope, checked again by ``openai_error_envelope`` below), 4xx for bodies the
document says are invalid, 401 without a key, 405 (with ``Allow``) for other
methods. Not checked: that every schema-valid body is accepted — a valid
``model`` string may name no model group, a valid duration may be ``0s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import assert_no_secret, config_secrets
from tests.support.gwd import MASTER_KEY, GwdProcess

CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": "m", "litellm_params": {"model": "mock/m"}},
        {"model_name": "fixed", "litellm_params": {"model": "mock/fixed",
                                                   "mock_response": "A fixed answer."}},
    ],
    "general_settings": {"master_key": MASTER_KEY},
}
EXAMPLES_PER_OPERATION = 10
pytestmark = [pytest.mark.slow,  # ~25 s alone; minutes on a loaded machine (every route)
              pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    proc = GwdProcess(CONFIG, Path(tmp_path_factory.mktemp("schemathesis")), name="st")
    proc.start()
    yield proc
    proc.stop()
    log = proc.log_text()
    assert_no_secret(log, config_secrets(CONFIG), "the log of the fuzzed gwd")
    assert "unhandled error" not in log


@pytest.fixture(scope="module")
def api(served: GwdProcess) -> Any:
    config = schemathesis.Config.from_dict({
        "seed": 20261128,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        # 413 (body over the size limit) rejects invalid data as surely as 400 does: a
        # generated body with a huge array can be both schema-violating and too large
        "checks": {"negative_data_rejection": {"expected-statuses": [
            "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428",
            "429", "5XX"]}},
    })
    return schemathesis.openapi.from_url(served.base_url + "/openapi.json", config=config,
                                         headers=served.headers())  # with the models


schema = schemathesis.pytest.from_fixture("api")


@schemathesis.check
def openai_error_envelope(ctx: CheckContext, response: schemathesis.Response,
                          case: schemathesis.Case) -> bool | None:
    """Every error gwd answers is exactly OpenAI's envelope (the readiness probe excepted)."""
    if response.status_code < 400 or case.path == "/health/readiness":
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return True


@schema.parametrize()
def test_gwd_answers_as_its_openapi_document_says(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {MASTER_KEY}"},
                           excluded_checks=[positive_data_acceptance])
