"""The demo in a real browser: Debian's headless Chromium, driven by selenium.

``scripts/setup.d/50-browser.sh`` installs ``chromium`` and
``chromium-driver`` (scripts/test runs it; so does this module if they are
missing); selenium talks to /usr/bin/chromedriver, so no browser is ever
downloaded. The demo runs as ``python -m wskit demo`` in a subprocess.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SETUP = Path(__file__).parents[2] / "scripts" / "setup.d" / "50-browser.sh"
TIMEOUT = 15  # seconds, for any single wait


@contextmanager
def chromium(*arguments: str) -> Iterator[webdriver.Chrome]:
    """Run headless Chromium with a fresh profile; ``arguments`` go on its command line."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        subprocess.run(["bash", str(SETUP)], check=True, timeout=600)
    options = Options()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="wskit-chromium-") as profile:
        for argument in (
            "--headless=new",
            "--no-sandbox",  # tests run as root, in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            # Nothing but the test's pages: no calls home, no updates, no QUIC.
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *arguments,
        ):
            options.add_argument(argument)
        # Keep the page's console so that a test can fail on any error in it.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            driver.set_page_load_timeout(TIMEOUT)
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def demo_url() -> Iterator[str]:
    """Run ``wskit demo`` on a free port; yield the URL it prints."""
    with subprocess.Popen(
        [sys.executable, "-m", "wskit", "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            line = cast(IO[str], process.stdout).readline()
            assert line.startswith("wskit demo: open http://127.0.0.1:"), line
            yield line.split()[3]
            process.send_signal(signal.SIGINT)
            assert process.wait(TIMEOUT) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Return the errors logged in the console since the last call (a 404 is one)."""
    # selenium leaves get_log() without type hints.
    get_log: Callable[[str], list[dict[str, Any]]] = driver.get_log
    return [entry["message"] for entry in get_log("browser") if entry["level"] == "SEVERE"]


def text(driver: webdriver.Chrome, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def wait_for_text(driver: webdriver.Chrome, element_id: str, expected: str) -> None:
    WebDriverWait(driver, TIMEOUT).until(
        lambda driver: text(driver, element_id) == expected,
        f"#{element_id} never showed {expected!r}",
    )


def test_two_tabs_share_the_counter_and_the_clock(browser: webdriver.Chrome, demo_url: str) -> None:
    console_errors(browser)  # another test's page may have left some
    browser.get(demo_url)
    first = browser.current_window_handle
    wait_for_text(browser, "users", "1 user online")
    assert console_errors(browser) == []
    browser.switch_to.new_window("tab")
    browser.get(demo_url)
    second = browser.current_window_handle
    wait_for_text(browser, "users", "2 users online")
    browser.switch_to.window(first)
    wait_for_text(browser, "users", "2 users online")
    wait_for_text(browser, "value", "0")

    # + and - in the first tab; the second tab follows.
    browser.find_element(By.ID, "plus").click()
    wait_for_text(browser, "value", "1")
    browser.switch_to.window(second)
    wait_for_text(browser, "value", "1")
    browser.switch_to.window(first)
    browser.find_element(By.ID, "minus").click()
    browser.find_element(By.ID, "minus").click()
    browser.switch_to.window(second)
    wait_for_text(browser, "value", "-1")

    # The clock ticks...
    WebDriverWait(browser, TIMEOUT).until(
        lambda driver: text(driver, "clock") != "--:--:--", "the clock never showed the time"
    )
    before = text(browser, "clock")
    WebDriverWait(browser, TIMEOUT).until(
        lambda driver: text(driver, "clock") not in (before, "--:--:--"),
        "the clock never ticked",
    )
    # ... in both tabs at once: the same time, give or take the tick between two reads.
    times = set()
    for handle in (first, second, first):
        browser.switch_to.window(handle)
        times.add(browser.find_element(By.ID, "clock").get_attribute("datetime"))
    assert len(times) <= 2

    # A tab that goes away is a user less.
    browser.switch_to.window(second)
    browser.close()
    browser.switch_to.window(first)
    wait_for_text(browser, "users", "1 user online")
    assert console_errors(browser) == []
