"""Tutorial, part 3: the poll behind the deployment guide's nginx, in Chromium.

The server is ``examples/tutorial/part3/server.py`` in a subprocess; nginx
runs ``docs/deployment/nginx.conf`` in front of it (see
:mod:`tests.deployment.proxies`); Chromium opens the page over HTTPS and votes.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from contextlib import ExitStack

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.cli.test_browser import TIMEOUT, chromium, console_errors, text, wait_for_text
from tests.deployment.proxies import CERTIFICATE, LOCALHOST, Nginx
from tests.test_examples import EXAMPLES, running
from wskit.exceptions import InvalidStatus
from wskit.sync.client import connect
from wskit.typing import Origin


def wait_for_count(browser: webdriver.Chrome, option: str, count: int) -> None:
    def shown(browser: webdriver.Chrome) -> bool:
        shown = browser.find_elements(By.CSS_SELECTOR, f"#vote-{option} .count")
        return [element.text for element in shown] == [str(count)]

    WebDriverWait(browser, TIMEOUT).until(shown, f"{option} never showed {count} votes")


def test_part3_page_votes_through_nginx_over_tls() -> None:
    tls = ssl.create_default_context(cafile=CERTIFICATE)
    with ExitStack() as stack:
        proxy = Nginx()
        stack.callback(proxy.stop)
        site = f"https://{LOCALHOST}:{proxy.port}"
        server = stack.enter_context(running("tutorial/part3/server.py", "ws", ORIGIN=site))
        proxy.backend_port = server.port
        proxy.start()

        # Plain HTTP goes through nginx too: the health check and the page.
        with urllib.request.urlopen(f"{site}/healthz", context=tls, timeout=TIMEOUT) as health:
            assert health.read() == b"OK\n"
        with urllib.request.urlopen(f"{site}/", context=tls, timeout=TIMEOUT) as page:
            assert page.read() == (EXAMPLES / "tutorial/part3/index.html").read_bytes()

        # The browser trusts the self-signed certificate of examples/localhost.pem.
        browser = stack.enter_context(chromium("--ignore-certificate-errors"))
        browser.get(f"{site}/")
        wait_for_text(browser, "status", "connected: click to vote")
        assert text(browser, "question") == "Tea or coffee?"
        wait_for_count(browser, "tea", 0)
        browser.find_element(By.ID, "vote-tea").click()
        wait_for_count(browser, "tea", 1)

        # Another voter, on wss:// with the site's origin: each sees the other's vote.
        with connect(f"wss://{LOCALHOST}:{proxy.port}/", ssl=tls, origin=Origin(site)) as voter:
            assert json.loads(voter.recv(TIMEOUT))["votes"] == {"tea": 1, "coffee": 0}
            voter.send(json.dumps({"vote": "coffee"}))
            assert json.loads(voter.recv(TIMEOUT))["votes"] == {"tea": 1, "coffee": 1}
            wait_for_count(browser, "coffee", 1)
            browser.find_element(By.ID, "vote-coffee").click()
            assert json.loads(voter.recv(TIMEOUT))["votes"] == {"tea": 1, "coffee": 2}
        assert console_errors(browser) == []

        # A page of another site may not connect (Cross-Site WebSocket Hijacking).
        with pytest.raises(InvalidStatus) as refused:
            connect(
                f"wss://{LOCALHOST}:{proxy.port}/",
                ssl=tls,
                origin=Origin("https://elsewhere.example"),
            )
        assert refused.value.response.status_code == 403
