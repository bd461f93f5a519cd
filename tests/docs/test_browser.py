"""The built documentation site in Chromium: navigation, search, images, no console errors.

The site built once per session (conftest.py) is served over HTTP on
127.0.0.1, as a browser would fetch it from a host: Sphinx's search loads
its index with a script, which ``file://`` pages may not do. With
``WSKIT_DOCS_SCREENSHOTS=<folder>`` set, the test also saves screenshots of
the landing page, a guide and a reference page there.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.cli.test_browser import TIMEOUT, browser, console_errors

__all__ = ["browser"]  # the fixture, shared with the demo's browser tests

SCREENSHOTS = os.environ.get("WSKIT_DOCS_SCREENSHOTS")
# Pages shown in the screenshots: the landing page, a guide, a reference page.
SHOWN = {
    "landing.png": "index.html",
    "guide.png": "topics/keepalive.html",
    "reference.png": "reference/features.html",
}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """Serve the built site on a free port of 127.0.0.1."""
    handler = functools.partial(QuietHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


def toctree_links(driver: webdriver.Chrome) -> list[str]:
    """The pages that the current page's tables of contents link to, in order."""
    anchors = driver.find_elements(By.CSS_SELECTOR, "article .toctree-wrapper a.reference.internal")
    pages = (urldefrag(str(anchor.get_attribute("href"))).url for anchor in anchors)
    return list(dict.fromkeys(pages))


def open_page(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url)
    assert driver.find_element(By.CSS_SELECTOR, "article h1").text, f"{url}: no title"
    # Every image of the page loaded (the performance guide's charts, logos).
    broken = driver.execute_script(
        "return Array.from(document.images)"
        ".filter(image => !(image.complete && image.naturalWidth > 0))"
        ".map(image => image.src)"
    )
    assert broken == [], f"{url}: images that didn't load"
    assert console_errors(driver) == [], f"{url}: errors in the console"


def test_navigation_reaches_every_page_from_the_landing_page(
    browser: webdriver.Chrome, base_url: str, site: Path
) -> None:
    console_errors(browser)  # another test's page may have left some
    open_page(browser, base_url)
    links = toctree_links(browser)
    # The landing page's tables of contents reach each section and its pages.
    for page in ("intro/index.html", "topics/index.html", "topics/security.html"):
        assert base_url + page in links
    assert base_url + "reference/environment.html" in links
    visited = {base_url}
    for link in links:
        assert link.startswith(base_url), f"a table of contents leaves the site: {link}"
        if link not in visited:
            open_page(browser, link)
            visited.add(link)
    # Every page of the site is one click or two from the landing page.
    built = {
        base_url + path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        # _modules/: the highlighted source that viewcode links to, not pages.
        if not any(part.startswith("_") for part in path.relative_to(site).parts)
    }
    built -= {base_url + name for name in ("genindex.html", "search.html", "py-modindex.html")}
    missing = {page for page in built if page not in visited and page != base_url + "index.html"}
    assert missing == set(), "pages that no table of contents reaches"

    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        browser.set_window_size(1280, 1000)
        for name, page in SHOWN.items():
            open_page(browser, base_url + page)
            assert browser.save_screenshot(str(folder / name)), name


def test_search_finds_a_known_term(browser: webdriver.Chrome, base_url: str) -> None:
    console_errors(browser)
    browser.get(base_url + "search.html?q=ping_timeout")
    # Results appear one by one; the status line says when they're all there.
    WebDriverWait(browser, TIMEOUT).until(
        lambda driver: "Search finished" in driver.find_element(By.ID, "search-results").text,
        "the search never finished, or found nothing",
    )
    results = [
        str(link.get_attribute("href"))
        for link in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")
    ]
    assert any(result.startswith(base_url + "topics/keepalive.html") for result in results), results
    assert console_errors(browser) == []
