"""Headless Chromium for the console tests: Debian's chromium driven by selenium.

``chrome()`` starts a fresh browser (its own ``--user-data-dir``, no network
beyond what the page asks for) or, when chromium is missing, skips — except
under ``CI=true``, where a missing browser fails the test (``.ci/run`` installs
it). ``Page`` wraps the few things the tests do: wait for an element or a
condition, type, click, read text, save a screenshot, collect console errors.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = os.environ.get("GW_TEST_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("GW_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")
T = TypeVar("T")


def require_chromium() -> None:
    missing = [p for p in (CHROMIUM, DRIVER) if not shutil.which(p)]
    if not missing:
        return
    message = f"headless chromium is needed for the console tests: missing {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI installs it: apt-get install chromium chromium-driver)")
    pytest.skip(message)


class Page:
    def __init__(self, driver: webdriver.Chrome, base: str, shots: Path) -> None:
        self.driver = driver
        self.base = base
        self.shots = shots

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def width(self, pixels: int, height: int = 900) -> None:
        self.driver.set_window_size(pixels, height)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def until(self, check: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
                if value:
                    return value
            except Exception as exc:  # the element may not exist yet
                last = exc
            time.sleep(0.05)
        self.screenshot("timeout")
        raise AssertionError(f"timed out waiting for {what or check}: {last!r}")

    def visible(self, css: str, timeout: float = 10.0) -> WebElement:
        return self.until(lambda: (e := self.find(css)).is_displayed() and e, timeout, css)

    def type(self, css: str, text: str) -> None:
        field = self.visible(css)
        field.clear()
        field.send_keys(text)

    def click(self, css: str) -> None:
        self.visible(css).click()

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Errors the page logged (CSP violations, script errors, failed loads), but
        for failed loads of the ``expected`` paths (a refused login, say)."""
        return [str(e["message"]) for e in self.driver.get_log("browser")
                if e["level"] == "SEVERE" and not any(
                    f"{self.base}{path} - Failed to load resource" in e["message"]
                    for path in expected)]


@contextmanager
def chrome(base: str, tmp: Path) -> Iterator[Page]:
    require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    shots = tmp / "screenshots"
    shots.mkdir(exist_ok=True)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        driver.set_page_load_timeout(20)
        yield Page(driver, base, shots)
    finally:
        driver.quit()
