"""examples/pubsub/index.html in Debian's Chromium: a page whose server goes away
reconnects to another one and shows every line once, none lost."""

from __future__ import annotations

import json
from contextlib import ExitStack

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from wskit.sync.client import connect

from ..cli.test_browser import TIMEOUT, browser
from ..test_examples import running
from .redis_server import RedisServer

__all__ = ["browser"]


def lines(driver: webdriver.Chrome) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, "#log p")]


def wait_for_line(driver: webdriver.Chrome, line: str) -> None:
    WebDriverWait(driver, TIMEOUT).until(
        lambda driver: line in lines(driver), f"the page never showed {line!r}"
    )


def test_the_page_resumes_on_another_server(
    browser: webdriver.Chrome, redis_server: RedisServer
) -> None:
    with ExitStack() as stack:
        one, two = [
            stack.enter_context(running("pubsub/chat.py", "http", REDIS_URL=redis_server.url))
            for _ in range(2)
        ]
        servers = f"127.0.0.1:{one.port},127.0.0.1:{two.port}"
        browser.get(f"http://127.0.0.1:{one.port}/?name=alice&servers={servers}")
        wait_for_line(browser, "Hello alice, welcome to lobby.")
        bob = stack.enter_context(connect(f"ws://127.0.0.1:{two.port}/?name=bob"))
        bob.recv(TIMEOUT)  # welcome
        bob.send("first")
        wait_for_line(browser, "bob: first")

        # Alice's server goes away; Bob writes on while her page is disconnected.
        one.stop()
        wait_for_line(browser, "Disconnected: reconnecting...")
        for text in ("second", "third"):
            bob.send(text)
        wait_for_line(browser, "bob: third")
        bob.send("fourth")
        wait_for_line(browser, "bob: fourth")
        said = [line for line in lines(browser) if line.startswith("bob: ")]
        assert said == ["bob: first", "bob: second", "bob: third", "bob: fourth"]
        assert "Some messages were lost while you were away." not in lines(browser)
        # Bob saw his own lines too, once each.
        received = [json.loads(bob.recv(TIMEOUT))["text"] for _ in range(4)]
        assert received == ["first", "second", "third", "fourth"]
