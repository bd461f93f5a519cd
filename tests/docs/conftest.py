"""One build of the documentation site per test session, shared by the tests that read it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docs.test_build import DOCS, sphinx_build


@pytest.fixture(scope="session")
def site_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Build docs/ as scripts/docs does; return the result and the HTML folder."""
    output = tmp_path_factory.mktemp("site")
    return sphinx_build(DOCS, output), output / "html"


@pytest.fixture(scope="session")
def site(site_build: tuple[subprocess.CompletedProcess[str], Path]) -> Path:
    """The built site's HTML folder; the build must have succeeded."""
    result, html = site_build
    if result.returncode != 0:
        pytest.fail(f"the site doesn't build:\n{result.stderr}")
    return html
