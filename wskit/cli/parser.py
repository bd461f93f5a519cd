"""The command line's options: ``wskit [connect] URI``, ``wskit serve``, ``wskit demo``."""

from __future__ import annotations

import argparse
import textwrap
from typing import NoReturn

from ..version import __version__
from . import bench as bench_command
from . import client
from . import demo as demo_command
from . import serve as serve_command
from .commands import HELP
from .errors import EXIT_STATUSES, USAGE

__all__ = ["COMMANDS", "build_parser", "with_command"]

COMMANDS = ("connect", "serve", "demo", "bench")
DEFAULT_PORT = 8765

DESCRIPTION = """\
WebSockets from the command line: a client, a server and a demo.

  wskit ws://HOST:PORT/PATH        talk to a server (same as wskit connect URI)
  wskit serve --broadcast          run a chat-like server on 127.0.0.1:8765
  wskit demo                       serve a demo page, then open it in a browser
  wskit bench ws://HOST:PORT/      measure round trips against an echo server

wskit COMMAND --help describes each command."""

CONNECT_DESCRIPTION = (
    """\
Connect to a WebSocket server and exchange messages.

On a terminal, type a message and press Enter to send it; messages received
print above the line being typed. Commands start with /:

"""
    + textwrap.indent(HELP, "  ")
    + """

When standard input or output isn't a terminal, or with --raw, each input line
is a message and each message received is one output line:

  echo '{"hello": 1}' | wskit ws://127.0.0.1:8765 --json
  wskit wss://example.com/feed --send subscribe --count 10 > feed.log

Control characters and escape sequences from the server are always shown
escaped (\\x1b, \\n...), and binary messages as hexadecimal."""
)

SERVE_DESCRIPTION = """\
Run a WebSocket server for any number of clients, until Ctrl-C.

  --echo       send every message back to its sender (the default)
  --broadcast  relay every message to every other client
  --exec CMD   run CMD (with /bin/sh) for each connection: each message
               received is a line on its standard input, each line of its
               standard output is a message; the connection closes when CMD
               exits (1000 if it succeeded, 1011 if not); when the connection
               closes, CMD's input ends, and whatever CMD started gets SIGTERM
               2 s later if still running, then SIGKILL."""

DEMO_DESCRIPTION = """\
Serve wskit's demo on one port: a page with a counter that every tab can change
(+ and -), the number of users online, and a clock that ticks in every tab at
once. Open the URL it prints in several tabs. Ctrl-C stops it."""


BENCH_DESCRIPTION = """\
Measure round trips against an echo server (wskit serve is one): each
connection sends a message, waits for its echo, and sends the next. Prints the
messages per second over all connections and the round-trip time at the 50th,
90th and 99th percentiles."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage message."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    return value


def size(text: str) -> int | None:
    if text == "none":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of bytes or 'none', got {text!r}"
        ) from None


def port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) < 2**16):
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def build_parser() -> Parser:
    """Return the parser of the whole command line."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="wskit",
        description=DESCRIPTION,
        epilog=EXIT_STATUSES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"wskit {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=Parser, required=True
    )

    connect = subparsers.add_parser(
        "connect",
        help="talk to a WebSocket server (the default: wskit URI)",
        description=CONNECT_DESCRIPTION,
        epilog=EXIT_STATUSES,
        formatter_class=formatter,
    )
    # Optional for argparse, so that an unknown option is reported before a
    # missing URI (wskit --bogus means wskit connect --bogus); main() checks it.
    connect.add_argument("uri", metavar="URI", nargs="?", help="ws:// or wss:// URI of the server")
    group = connect.add_argument_group("handshake")
    group.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a header to the handshake request (repeatable)",
    )
    group.add_argument(
        "-s",
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer a subprotocol, in order of preference (repeatable)",
    )
    group.add_argument("--origin", help="send this Origin header")
    group.add_argument(
        "--no-compression",
        action="store_true",
        help="don't offer permessage-deflate: messages go uncompressed",
    )
    add_max_size(group)
    group = connect.add_argument_group("network")
    group.add_argument(
        "--unix",
        metavar="PATH",
        help="connect to the Unix socket at PATH; the URI still gives the Host and path",
    )
    group.add_argument(
        "--proxy",
        metavar="URL",
        help="connect through this proxy: http://, https://, socks5:// or socks5h://, "
        "with user:password@ if it asks; 'none' to connect directly (default: the proxy "
        "of the environment variables https_proxy, all_proxy..., if any)",
    )
    group.add_argument(
        "--reconnect",
        action="store_true",
        help="when the server closes the connection or it is lost, connect again, "
        "waiting longer after each failure, until the input ends",
    )
    group.add_argument(
        "--ping-interval",
        type=seconds,
        default=20.0,
        metavar="SECONDS",
        help="send a keepalive ping every SECONDS; 0 sends none (default: %(default)s)",
    )
    group.add_argument(
        "--ping-timeout",
        type=seconds,
        default=20.0,
        metavar="SECONDS",
        help="close the connection if a keepalive pong takes longer; 0 waits forever "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--show-pings",
        action="store_true",
        help="show the pings and pongs received, keepalive ones included",
    )
    group = connect.add_argument_group("TLS (wss://)")
    group.add_argument("--cacert", metavar="FILE", help="trust the certificates in FILE (PEM)")
    group.add_argument(
        "--insecure",
        action="store_true",
        help="don't check the server's certificate (testing only)",
    )
    group.add_argument(
        "--cert", metavar="FILE", help="client certificate chain, in PEM, if the server asks"
    )
    group.add_argument("--key", metavar="FILE", help="its private key, if not in --cert")
    group = connect.add_argument_group("messages")
    formats = group.add_mutually_exclusive_group()
    formats.add_argument(
        "--json",
        action="store_true",
        help="pretty-print JSON messages received; refuse to send invalid JSON",
    )
    formats.add_argument(
        "--binary",
        action="store_true",
        help="input lines are hexadecimal, sent as binary messages",
    )
    group.add_argument(
        "--timestamps", action="store_true", help="show the time each message arrived"
    )
    group = connect.add_argument_group("scripts")
    group.add_argument(
        "--raw",
        action="store_true",
        help="work as a pipe (one message per line) even on a terminal",
    )
    group.add_argument(
        "--send",
        action="append",
        default=[],
        metavar="MSG",
        help="send MSG instead of reading standard input (repeatable)",
    )
    group.add_argument(
        "--count",
        type=positive_int,
        metavar="N",
        help="close after receiving N messages",
    )
    group.add_argument(
        "--linger",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="when the input ends, wait until no message came for SECONDS before "
        "closing, or with --count until N messages came (default: %(default)s)",
    )
    connect.set_defaults(main=client.main)

    serve = subparsers.add_parser(
        "serve",
        help="run a WebSocket server: echo, broadcast or a command per connection",
        description=SERVE_DESCRIPTION,
        epilog=EXIT_STATUSES,
        formatter_class=formatter,
    )
    add_address(serve)
    modes = serve.add_mutually_exclusive_group()
    modes.add_argument(
        "--echo",
        dest="mode",
        action="store_const",
        const="echo",
        default="echo",
        help="send messages back (default)",
    )
    modes.add_argument(
        "--broadcast",
        dest="mode",
        action="store_const",
        const="broadcast",
        help="relay messages to every other client",
    )
    modes.add_argument("--exec", metavar="CMD", help="bridge each connection to a run of CMD")
    serve.add_argument(
        "--origin",
        action="append",
        default=[],
        help="accept browsers only from this origin, e.g. https://example.com (repeatable); "
        "clients that send no Origin, which aren't browsers, are always accepted",
    )
    add_max_size(serve)
    serve.add_argument(
        "--metrics",
        metavar="PORT",
        type=int,
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics (needs wskit[prometheus])",
    )
    serve.add_argument(
        "--metrics-host",
        metavar="HOST",
        default="127.0.0.1",
        help="address the metrics listen on (default: 127.0.0.1)",
    )
    group = serve.add_argument_group("TLS (wss://)")
    group.add_argument("--certfile", metavar="FILE", help="certificate chain, in PEM")
    group.add_argument("--keyfile", metavar="FILE", help="private key, if not in --certfile")
    serve.set_defaults(main=serve_command.main)

    demo = subparsers.add_parser(
        "demo",
        help="serve the demo page: a shared counter, users online, a clock",
        description=DEMO_DESCRIPTION,
        epilog=EXIT_STATUSES,
        formatter_class=formatter,
    )
    add_address(demo)
    demo.set_defaults(main=demo_command.main)

    bench = subparsers.add_parser(
        "bench",
        help="measure round trips against an echo server",
        description=BENCH_DESCRIPTION,
        epilog=EXIT_STATUSES,
        formatter_class=formatter,
    )
    bench.add_argument("uri", metavar="URI", help="ws:// URI of an echo server")
    bench.add_argument(
        "--connections", type=positive_int, default=1, metavar="N", help="default: %(default)s"
    )
    bench.add_argument(
        "--messages",
        type=positive_int,
        default=1000,
        metavar="N",
        help="round trips per connection (default: %(default)s)",
    )
    bench.add_argument(
        "--size", type=positive_int, default=32, metavar="BYTES", help="default: %(default)s"
    )
    bench.add_argument("--binary", action="store_true", help="send binary messages, not text")
    bench.add_argument(
        "--no-compression", action="store_true", help="don't offer permessage-deflate"
    )
    bench.set_defaults(main=bench_command.main)
    return parser


def add_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on; 0.0.0.0 for every one (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )


def add_max_size(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--max-size",
        type=size,
        default=2**20,
        metavar="BYTES",
        help="largest message accepted, or 'none' (default: %(default)s)",
    )


def with_command(argv: list[str]) -> list[str]:
    """Insert ``connect`` in ``wskit URI ...``, the short form of ``wskit connect URI ...``."""
    if argv and argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        return ["connect", *argv]
    return argv
