"""Every code sample in the docs is a file that a test runs.

Python samples live in examples/; the proxy configurations of the deployment
guide live beside its pages, in docs/deployment/, and tests/deployment runs
those very files.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
DEPLOYMENT = DOCS / "deployment"
TESTS = ROOT / "tests"
# Where included files may live, and how the tests that run them name them.
SAMPLE_ROOTS = (EXAMPLES, DEPLOYMENT)

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
                assert any(path.is_relative_to(root) for root in SAMPLE_ROOTS), (
                    f"{page}: {target} isn't in examples/ or docs/deployment/"
                )
                included.setdefault(path, []).append(page)
    return included


def test_no_python_pasted_in_pages() -> None:
    for page in pages():
        assert PASTED.search(page.read_text()) is None, f"{page}: include a file instead"


def test_included_examples_are_run_by_tests() -> None:
    included = included_examples()
    assert EXAMPLES / "tutorial" / "part1" / "server.py" in included
    assert DEPLOYMENT / "nginx.conf" in included
    # Tests name the files they run by their path in examples/ or
    # docs/deployment/, quoted.
    tests = "".join(path.read_text() for path in TESTS.rglob("*.py"))
    for path, where in included.items():
        root = next(root for root in SAMPLE_ROOTS if path.is_relative_to(root))
        name = path.relative_to(root).as_posix()
        assert f'"{name}"' in tests, f"{name}, included by {where}, isn't run by a test"
