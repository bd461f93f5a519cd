"""The ``wskit`` command: a WebSocket client, a server and a demo.

``python -m wskit`` and the ``wskit`` script both run :func:`main`; see
``wskit --help``. The command is built on :mod:`wskit.asyncio`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .parser import build_parser, with_command

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (``sys.argv[1:]`` by default); return the exit status."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        parser.error("give a URI to connect to, or a command")
    args = parser.parse_args(with_command(arguments))
    if args.command == "connect" and args.uri is None:
        parser.error("missing URI")
    status: int = args.main(args)
    return status
