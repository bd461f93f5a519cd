"""Sphinx configuration of wskit's documentation site (built by scripts/docs)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.ext import napoleon
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the examples' modules import as examples.*

from wskit.cli.parser import build_parser  # noqa: E402
from wskit.version import __version__  # noqa: E402

project = "wskit"
author = "wskit contributors"
copyright = "wskit contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # wskit's docstrings are Google-style (Args:, Returns:...)
    "sphinx.ext.viewcode",
]

html_theme = "furo"
html_title = f"wskit {release}"
# Browsers ask for a favicon on every site: without one, /favicon.ico is a 404
# in the console of every page (tests/docs/test_browser.py checks there's none).
html_favicon = "_static/favicon.svg"
exclude_patterns = ["_build"]

# Every cross-reference must resolve: a broken one is a warning, and the build
# runs with warnings as errors (scripts/docs, tests/docs).
nitpicky = True

autodoc_member_order = "bysource"
# undoc-members: enum members and the like are referred to by other docstrings.
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
# Signatures as written; types go to the parameters' descriptions.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Attributes:" sections as fields, not as entries that undoc-members repeats.
napoleon_use_ivar = True

# No intersphinx: the machines that build the site reach no documentation
# inventories, so references to the standard library and to third-party
# packages can't resolve: they are ignored here, and so are the few wskit
# names that have no entry of their own (each says why).
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(_asyncio|_thread|abc|asyncio|collections|collections\.abc|concurrent|enum|http"
        r"|logging|os|re|socket|ssl|ssl_module|threading|urllib|uuid|warnings|wsgiref|zlib)\..*",
    ),
    (r"py:.*", r"dict\..*"),
    (r"py:.*", r"redis\..*"),  # the optional dependency of wskit.pubsub.redis
    (r"py:.*", r"trio\..*"),  # the optional dependency of wskit.trio
    (r"py:.*", r"prometheus_client\..*"),  # the optional dependency of wskit.metrics
    # uvicorn's classes, in the annotations of wskit.uvicorn, as it imports them.
    (r"py:.*", r"(uvicorn\..*|Config|ServerState|ClientDisconnected)"),
    (r"py:obj", r"True|False"),  # builtins without an inventory
    # Private modules, and the type variables of generic base classes.
    (r"py:.*", r"wskit\.(\w+\.){0,2}_.*"),
    (r"py:.*", r"wskit\.shared\.(dispatch\.Connection|(connection_attributes|keepalive)\.Waiter)"),
    (r"py:class", r"wskit\.datastructures\.T"),
    # A shared timer's entry, which keepalive_timer and close_timer may hold
    # instead of a TimerHandle: it has the one method used, cancel().
    (r"py:class", r"wskit\.asyncio\.timers\.Deadline"),
    # Type aliases in annotations: autodoc shows their names, which Sphinx
    # looks up as classes, while they are documented as data.
    (r"py:class", r"(wskit\.typing\.)?LoggerLike"),
    (r"py:class", r"(Legacy)?(SelectSubprotocol|ProcessRequest|ProcessResponse)"),
    (r"py:class", r"HeadersLikeOrCallable|Render|Handler"),
    # What the legacy serve() and connect() return: undocumented, as in websockets.
    (r"py:class", r"(wskit\.legacy\.(server|client)\.)?(Serve|Connect)"),
    # A property of the private base class of the HTTP parsers.
    (r"py:attr", r"trailing"),
]
# An annotation names a class as its module imports it ("Connection"), which
# is ambiguous where both I/O layers have one: the link goes to the first.
suppress_warnings = ["ref.python"]


def _prose_attributes(  # noqa: PLR0917 (the signature of Sphinx's event)
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Run napoleon on attribute and property docstrings as on any other.

    Napoleon reads the first line of an attribute's docstring as ``type:
    description``; wskit's are sentences (the type is the annotation), and a
    sentence such as "The open connections: ..." would become a bogus type.
    """
    kind: Any = "method" if what in ("attribute", "data", "property") else what
    napoleon._process_docstring(app, kind, name, obj, options, lines)


class CommandHelp(SphinxDirective):
    """``.. wskit-help:: [COMMAND]``: what ``wskit [COMMAND] --help`` prints, 80 columns wide.

    The command line's reference is its own help, so that the two can't differ.
    """

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        output = io.StringIO()
        with (
            contextlib.redirect_stdout(output),
            contextlib.suppress(SystemExit),  # --help exits once printed
        ):
            saved, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "80"
            try:
                build_parser().parse_args([*self.arguments, "--help"])
            finally:
                if saved is None:
                    del os.environ["COLUMNS"]
                else:
                    os.environ["COLUMNS"] = saved
        text = output.getvalue()
        if not text:
            raise self.error(f"no help for: wskit {' '.join(self.arguments)}")
        return [nodes.literal_block(text, text, language="text")]


def setup(app: Sphinx) -> None:
    app.add_directive("wskit-help", CommandHelp)
    for listener in list(app.events.listeners["autodoc-process-docstring"]):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _prose_attributes)
