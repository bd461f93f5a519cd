"""The reference pages that state facts about the code stay true to it.

- docs/reference/environment.rst lists every environment variable wskit
  reads, and only those.
- docs/reference/features.rst names only APIs that exist.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from wskit.asyncio.client import connect as asyncio_connect
from wskit.proxy import get_proxy
from wskit.uri import parse_uri

with warnings.catch_warnings():  # the matrix documents the deprecated legacy API too
    warnings.simplefilter("ignore", DeprecationWarning)
    from wskit.legacy.client import connect as legacy_connect

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "wskit"
REFERENCE = ROOT / "docs" / "reference"

# Modules that read variables whose names aren't literals where they're read:
# settings.py reads WSKIT_<name> for setting("<name>", ...) calls, and
# proxy.py reads the proxy variables that get_proxy() asks for.
INDIRECT = {"settings.py", "proxy.py"}


class RecordingEnviron(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def reads_environment(node: ast.AST) -> bool:
    """``os.environ`` or ``os.getenv``/``getenv``."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("environ", "getenv")
    return isinstance(node, ast.Name) and node.id == "getenv"


def literal_names(tree: ast.AST) -> tuple[set[str], bool]:
    """Names read from ``os.environ``/``getenv`` as literals, and whether any isn't one."""
    names: set[str] = set()
    other = False
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            function = node.func
            if reads_environment(function) or (
                isinstance(function, ast.Attribute)
                and function.attr == "get"
                and reads_environment(function.value)
            ):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and reads_environment(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(
            reads_environment(comparator) for comparator in node.comparators
        ):
            key = node.left
        if key is None:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
        else:
            other = True
    return names, other


def variables_read() -> set[str]:
    """Every environment variable that wskit's code can read."""
    names: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found, other = literal_names(tree)
        names |= found
        mentions = any(reads_environment(node) for node in ast.walk(tree))
        if mentions and path.name not in INDIRECT:
            assert not other, f"{path}: reads a variable this test can't name; teach it how"
        # setting("NAME", ...) reads WSKIT_NAME.
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "setting"
            ):
                argument = node.args[0]
                assert isinstance(argument, ast.Constant), f"{path}: setting() of a non-literal"
                assert isinstance(argument.value, str), f"{path}: setting() of a non-string"
                names.add(f"WSKIT_{argument.value}")
    environ = RecordingEnviron()
    for uri in ("ws://example.com/", "wss://example.com/"):
        assert get_proxy(parse_uri(uri), environ) is None
    return names | environ.asked


def listed_variables() -> set[str]:
    """The variables that the page documents: the terms of its definition lists."""
    text = (REFERENCE / "environment.rst").read_text()
    terms = re.findall(r"^(``.*``)$", text, re.MULTILINE)
    return {name for term in terms for name in re.findall(r"``(\w+)``", term)}


def test_environment_page_lists_every_variable_read() -> None:
    read, listed = variables_read(), listed_variables()
    # Known ones, so that the scan can't quietly find nothing.
    assert {"WSKIT_NO_SPEEDUPS", "WSKIT_MAX_REDIRECTS", "https_proxy", "NO_PROXY"} <= read
    assert read - listed == set(), "read by the code, missing from environment.rst"
    assert listed - read == set(), "listed in environment.rst, never read"


def test_variable_scan_finds_a_new_variable() -> None:
    tree = ast.parse(
        'import os\nos.environ.get("A")\nos.getenv("B")\nos.environ["C"]\n"D" in os.environ'
    )
    assert literal_names(tree) == ({"A", "B", "C", "D"}, False)
    assert literal_names(ast.parse("import os\nos.environ.get(name)"))[1]


ROLES = re.compile(r":(?:func|class|meth|attr|mod|data|exc|obj):`~?([\w.]+)`")


def resolve(name: str) -> object:
    """Import the longest module prefix of ``name``, then get the attributes."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(name)


def matrix_names() -> list[str]:
    return ROLES.findall((REFERENCE / "features.rst").read_text())


@pytest.mark.parametrize("name", matrix_names())
def test_feature_matrix_names_exist(name: str) -> None:
    assert name.startswith("wskit")
    resolve(name)


def test_feature_matrix_claims() -> None:
    """Claims of the matrix that aren't a name."""
    names = matrix_names()
    assert len(names) > 40
    # Reconnection: async for over connect(), in both asyncio APIs.
    assert hasattr(asyncio_connect, "__aiter__")
    assert hasattr(legacy_connect, "__aiter__")
