"""examples/fastapi in Debian's headless Chromium: a FastAPI page on the wskit engine."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.cli.test_browser import TIMEOUT, browser, wait_for_text

__all__ = ["browser"]  # the fixture, shared with the CLI demo's test

APP = Path(__file__).resolve().parents[2] / "examples" / "fastapi" / "app.py"


@pytest.fixture
def app_url() -> Iterator[str]:
    """Run the example on a free port; yield its URL."""
    with subprocess.Popen(
        [sys.executable, str(APP), "0"], stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            # uvicorn logs the port it bound to; wait for that line.
            for line in cast(IO[str], process.stderr):
                if match := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
                    break
            else:  # pragma: no cover
                pytest.fail("the example never said where it listens")
            yield match[1]
        finally:
            process.terminate()
            process.wait(TIMEOUT)


def test_two_tabs_chat(browser: webdriver.Chrome, app_url: str) -> None:
    browser.get(f"{app_url}/?name=ada")
    ada = browser.current_window_handle
    wait_for_text(browser, "status", "connected")
    browser.switch_to.new_window("tab")
    browser.get(f"{app_url}/?name=bob")
    bob = browser.current_window_handle
    wait_for_text(browser, "users", "2 users online")

    browser.switch_to.window(ada)
    wait_for_text(browser, "users", "2 users online")
    browser.find_element(By.ID, "text").send_keys("hello <b>bob</b>")
    browser.find_element(By.ID, "send").click()
    wait_for_text(browser, "log", "adahello <b>bob</b>")

    browser.switch_to.window(bob)
    wait_for_text(browser, "log", "adahello <b>bob</b>")
    browser.find_element(By.ID, "text").send_keys("hi ada")
    browser.find_element(By.ID, "send").click()
    browser.switch_to.window(ada)
    WebDriverWait(browser, TIMEOUT).until(
        lambda driver: driver.find_element(By.ID, "log").text.endswith("bobhi ada"),
        "ada never saw bob's answer",
    )

    # A tab that goes away is a user less.
    browser.switch_to.window(bob)
    browser.close()
    browser.switch_to.window(ada)
    wait_for_text(browser, "users", "1 user online")
