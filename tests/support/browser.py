"""Headless Chromium driven by Selenium through the Debian ``chromium-driver`` (the driver matches
the browser's version, and nothing is downloaded): for tests that look at the dashboard as an
operator does. Screenshots go to ``test-artifacts/`` (or ``$TEST_ARTIFACTS_DIR``) for CI to keep."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.support.daemon import ROOT
from tests.support.debian import ensure_command

T = TypeVar("T")

# Without the background-networking flags Chromium's own connections are refused on a closed
# network and slow it down; a new user-data dir per browser keeps runs apart.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1100",
)


def artifacts_dir() -> Path:
    """Where test artifacts (screenshots) are written."""
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium (installed from Debian when missing), quit afterwards."""
    browser = ensure_command("chromium", "chromium", "chromium-driver", "fonts-liberation")
    driver_path = ensure_command("chromedriver", "chromium-driver")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


def field(driver: webdriver.Chrome, name: str) -> str:
    """The raw value (``data-value``) of the page's first ``data-field=name`` element."""
    element = driver.find_element(By.CSS_SELECTOR, f'[data-field="{name}"]')
    return str(element.get_attribute("data-value") or "")


def number(driver: webdriver.Chrome, name: str) -> float:
    """:func:`field` as a number (fails when the page shows none yet)."""
    value = field(driver, name)
    assert value != "", f"the page shows no {name} yet"
    return float(value)


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (AssertionError, ValueError):
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def body_data(driver: webdriver.Chrome) -> dict[str, Any]:
    """The page's ``document.body.dataset`` (its readiness and counters)."""
    data: dict[str, Any] = driver.execute_script("return Object.assign({}, document.body.dataset)")
    return data


def table(driver: webdriver.Chrome, body_id: str) -> list[list[str]]:
    """The cell texts of a table body, read at once (the page replaces its tables as it updates)."""
    rows: list[list[str]] = driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).rows,"
        " (row) => Array.from(row.cells, (c) => c.textContent))",
        body_id,
    )
    return rows
