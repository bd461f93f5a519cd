"""The documentation site builds without a single warning, references checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

# The whole site takes 20-40 s on the busy test machine.
TIMEOUT = 300


def sphinx_build(source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """Build ``source`` as scripts/docs does: warnings as errors, nitpicky."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-E"),
            *("-b", "html", "-d", str(output / "doctrees"), str(source), str(output / "html")),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_site_builds_without_warnings(
    site_build: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, html = site_build  # built once per session (conftest.py)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # The quick start includes the example files themselves.
    quickstart = (html / "intro" / "quickstart.html").read_text()
    assert "hello_server.py" in quickstart
    assert "websocket" in quickstart
    # The API reference has the public modules' classes.
    server = (html / "reference" / "asyncio-server.html").read_text()
    assert 'id="wskit.asyncio.server.ServerConnection"' in server
    assert "MIT License" in (html / "license.html").read_text()
    # The command line's reference is its --help, for every command.
    cli = (html / "reference" / "cli.html").read_text()
    for usage in ["usage: wskit [-h]", "usage: wskit connect", "usage: wskit serve"]:
        assert usage in cli


@pytest.mark.parametrize(
    ("page", "error"),
    [
        pytest.param(
            "See :class:`wskit.asyncio.server.NoSuchServer`.",
            "reference target not found: wskit.asyncio.server.NoSuchServer",
            id="reference",
        ),
        pytest.param(
            ".. literalinclude:: ../examples/no_such_example.py",
            "no_such_example.py",
            id="include",
        ),
    ],
)
def test_broken_page_fails_the_build(tmp_path: Path, page: str, error: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(DOCS / "conf.py", source)
    (source / "index.rst").write_text(f"Broken\n======\n\n{page}\n")
    result = sphinx_build(source, tmp_path / "out")
    assert result.returncode != 0
    assert error in result.stderr
