"""Every code sample in the docs is an example file that a test runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"

INCLUDE = re.compile(r"^\s*\.\. literalinclude:: (\S+)\s*$", re.MULTILINE)
PASTED = re.compile(r"^\s*\.\. (code-block|code|sourcecode):: (python|py)\b", re.MULTILINE)


def pages() -> list[Path]:
    found = sorted(DOCS.rglob("*.rst"))
    return [page for page in found if "_build" not in page.relative_to(DOCS).parts]


def included_examples() -> dict[Path, list[Path]]:
    """Map each example file that the docs include to the pages that include it."""
    included: dict[Path, list[Path]] = {}
    for page in pages():
        for target in INCLUDE.findall(page.read_text()):
            path = (page.parent / target).resolve()
            assert path.exists(), f"{page}: {target} doesn't exist"
            if path != ROOT / "LICENSE":
                assert path.is_relative_to(EXAMPLES), f"{page}: {target} isn't in examples/"
                included.setdefault(path, []).append(page)
    return included


def test_no_python_pasted_in_pages() -> None:
    for page in pages():
        assert PASTED.search(page.read_text()) is None, f"{page}: include a file instead"


def test_included_examples_are_run_by_tests() -> None:
    included = included_examples()
    assert EXAMPLES / "tutorial" / "part1" / "server.py" in included
    # Tests name the examples they run by their path in examples/, quoted.
    tests = "".join(path.read_text() for path in TESTS.rglob("test_*.py"))
    for path, where in included.items():
        name = path.relative_to(EXAMPLES).as_posix()
        assert f'"{name}"' in tests, f"{name}, included by {where}, isn't run by a test"
