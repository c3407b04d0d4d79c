"""The console at /ui in a real headless Chromium, against a real gwd and a fake OpenAI.

One walk-through per database: a wrong master key is refused; the right one logs
in; a key is created from the form (its alias and metadata hold ``<script>``,
which must render as text and never run) and listed; calls made with it through
the official openai SDK show up as spend, in the stacked chart's data and in the
ledger; the model page shows the deployment's health and latency. A second test
checks the page at 390 px (no sideways scrolling of the page) and that the
controls are reachable with the Tab key. Screenshots are kept under the test's
tmp dir (``screenshots/``); no CSP violation or script error may be logged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from selenium.webdriver.common.keys import Keys

from tests.browser.browser import Page, chrome
from tests.conftest import GwdFactory
from tests.fakes import OpenAIFake
from tests.support.gwd import MASTER_KEY
from tests.support.pg import create_database, drop_database

pytestmark = pytest.mark.slow
IN, OUT = Decimal("0.00001"), Decimal("0.00003")
ALIAS = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
METADATA = {"note": "<script>window.__pwned=3</script>", "team": "<b>ops</b>"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.db'}"
        return
    base = request.getfixturevalue("pg_url")
    url = create_database(base, "gw_console")
    yield url
    drop_database(base, url)


def config(api_base: str, database_url: str) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": api_base, "api_key": "sk-provider-secret-abc",
        "input_cost_per_token": str(IN), "output_cost_per_token": str(OUT)}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": database_url}}


def login(page: Page, key: str) -> None:
    page.type("#master-key", key)
    page.find("#master-key").send_keys(Keys.ENTER)


def chart_total(page: Page) -> float:
    return float(page.js("const c = window.Chart && Chart.getChart('spend-chart');"
                         "return c ? c.data.datasets.reduce((s, d) => s + d.data.reduce("
                         "(a, b) => a + b, 0), 0) : -1;"))


def test_log_in_create_a_key_call_with_it_and_see_its_spend(
        gwd: GwdFactory, database_url: str, tmp_path: Path) -> None:
    with OpenAIFake("up", prompt_tokens=1000, completion_tokens=2000) as fake:
        proc = gwd(config(fake.base_url, database_url))
        with chrome(proc.base_url, tmp_path) as page:
            page.open("/ui")
            login(page, "sk-not-the-master-key-000000000")
            page.until(lambda: "not the master key" in page.text("#login-error"),
                       what="the refusal")
            assert not page.find("#app").is_displayed()
            page.screenshot("01-wrong-master-key")

            login(page, MASTER_KEY)
            page.visible("#page-keys")
            assert page.find("#master-key").get_attribute("value") == ""
            page.until(lambda: "No keys yet." in page.text("#keys-table"), what="an empty list")
            page.open("/ui#spend")  # before any call: the chart is there and empty
            page.until(lambda: chart_total(page) == 0, what="an empty chart")
            assert page.text("#spend-total") == "$0"

            page.open("/ui#keys")  # a reload keeps the session (the cookie)
            page.click("#create-details summary")
            page.type("#key-alias", ALIAS)
            page.type("#key-models", "m")
            page.type("#key-duration", "30d")
            page.type("#key-budget", "5")
            page.type("#key-metadata", json.dumps(METADATA))
            page.click("#create-submit")
            key = page.until(lambda: page.text("#new-key-value"), what="the new key")
            assert key.startswith("sk-") and len(key) == 25
            page.screenshot("02-key-created")

            row = page.until(lambda: page.all("#keys-table tbody tr td"), what="a key row")
            cells = [c.text for c in row]
            assert cells[1] == ALIAS and cells[3] == "m" and cells[5] == "$5.00"
            assert json.loads(cells[7]) == METADATA
            assert key not in page.text("#keys-table")  # listed by its short name only
            assert page.js("return window.__pwned === undefined") is True
            assert page.js("return document.querySelectorAll("
                           "'main script, main img').length") == 0
            page.click("#new-key-done")
            assert page.text("#new-key-value") == ""  # shown once, then gone

            client = openai.OpenAI(base_url=proc.base_url + "/v1", api_key=key, max_retries=0)
            for _ in range(3):
                client.chat.completions.create(model="m", messages=[  # a prompt that can
                    {"role": "user", "content": "hello " * 400}])  # be 1000 tokens (budgeted)
            client.close()
            cost = 3 * (1000 * IN + 2000 * OUT)  # $0.21

            page.open("/ui#spend")
            page.until(lambda: abs(chart_total(page) - float(cost)) < 1e-9,
                       what="the chart to show the calls")
            assert page.text("#spend-total") == "$0.210000".rstrip("0")
            assert page.js("return Chart.getChart('spend-chart').data.datasets[0].label") \
                == ALIAS
            top = page.all("#top-table tbody tr")[0].text
            assert ALIAS in top and "3" in top
            page.screenshot("03-spend")

            page.open("/ui#ledger")
            rows = page.until(lambda: page.all("#ledger-table tbody tr")
                              if len(page.all("#ledger-table tbody tr")) == 3 else None,
                              what="three ledger rows")
            assert all(ALIAS in r.text and "success" in r.text for r in rows)
            page.screenshot("04-ledger")

            page.open("/ui#models")
            health = page.until(lambda: page.all("#health-table tbody tr td"), what="health")
            assert [c.text for c in health][:4] == ["m", health[1].text, "openai", "healthy"]
            assert health[4].text.endswith(" ms") and health[6].text == "3"
            page.screenshot("05-models")
            assert page.js("return window.__pwned === undefined") is True
            # the 401 for the wrong master key, nothing else
            assert page.console_errors(expected=("/ui/login",)) == []

            page.click("#logout")
            page.visible("#login")
            page.open("/ui#keys")
            page.visible("#login")  # the cookie is gone


def test_narrow_screen_and_keyboard(gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("up") as fake:
        proc = gwd(config(fake.base_url, f"sqlite:///{tmp_path / 'narrow.db'}"))
        with chrome(proc.base_url, tmp_path) as page:
            page.width(390, 844)
            page.open("/ui")
            login(page, MASTER_KEY)
            page.visible("#page-keys")
            for name in ("keys", "spend", "models", "ledger", "teams"):
                page.open(f"/ui#{name}")
                page.visible(f"#page-{name}")
                page.screenshot(f"390-{name}")
                overflow = page.js("return document.documentElement.scrollWidth")
                assert overflow <= 390, (name, overflow)
            page.open("/ui#keys")
            page.visible("#page-keys")
            page.find("body").click()
            reached = []
            for _ in range(25):
                page.js("void 0")
                page.driver.switch_to.active_element.send_keys(Keys.TAB)
                active = page.driver.switch_to.active_element
                reached.append(active.get_attribute("id") or active.text)
            for target in ("Keys", "Spend", "Ledger", "logout", "Create a key",
                           "keys-filter", "keys-refresh"):
                assert target in reached, (target, reached)
