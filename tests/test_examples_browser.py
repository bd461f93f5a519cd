"""The pages of the quick examples in Chromium: the clock, the clock every tab shares, the counter.

tests/test_examples.py checks what the servers send with wskit clients; here
the pages themselves run, as a reader of the quick start would open them.
"""

from __future__ import annotations

import re

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.cli.test_browser import TIMEOUT, browser, console_errors, text, wait_for_text
from tests.test_examples import EXAMPLES, TICK, running

__all__ = ["browser"]  # the fixture, shared with the demo's browser test


def open_page(driver: webdriver.Chrome, port: int, page: str) -> None:
    """Open the server's page and check that it is ``page``, from examples/."""
    driver.get(f"http://127.0.0.1:{port}/")
    title = re.search(r"<title>(.*)</title>", (EXAMPLES / page).read_text())
    assert title is not None
    assert driver.title == title[1]


def iso_times(driver: webdriver.Chrome, count: int) -> list[str]:
    """Wait until the page has shown ``count`` different timestamps; return them."""
    seen: list[str] = []

    def another(driver: webdriver.Chrome) -> bool:
        shown = text(driver, "iso")
        if shown[:2] == "20" and shown not in seen:
            seen.append(shown)
        return len(seen) >= count

    WebDriverWait(driver, TIMEOUT).until(another, f"the clock showed only {seen}")
    return seen


def test_clock_page_ticks(browser: webdriver.Chrome) -> None:
    console_errors(browser)  # another test's page may have left some
    for example, page in [
        ("clock/server.py", "clock/index.html"),
        ("clock_broadcast/server.py", "clock_broadcast/index.html"),
    ]:
        with running(example, "http", INTERVAL=TICK) as server:
            open_page(browser, server.port, page)
            times = iso_times(browser, 3)
            assert times == sorted(times)
            assert text(browser, "time") != "--:--:--"
            server.stop()
            wait_for_text(browser, "iso", "disconnected: reload the page to reconnect")
        assert console_errors(browser) == [], example


def test_counter_page_counts_clicks(browser: webdriver.Chrome) -> None:
    console_errors(browser)
    with running("counter/server.py", "http") as server:
        open_page(browser, server.port, "counter/index.html")
        wait_for_text(browser, "users", "1 user online")
        wait_for_text(browser, "value", "0")
        plus = browser.find_element(By.ID, "plus")
        WebDriverWait(browser, TIMEOUT).until(lambda _: plus.is_enabled(), "never connected")
        plus.click()
        plus.click()
        wait_for_text(browser, "value", "2")
        browser.find_element(By.ID, "minus").click()
        wait_for_text(browser, "value", "1")
        server.stop()
        wait_for_text(browser, "users", "disconnected: reload the page to reconnect")
    assert console_errors(browser) == []
