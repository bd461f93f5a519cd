"""The command line's options, help and usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wskit.cli import client, demo, main, serve
from wskit.cli.parser import build_parser, with_command
from wskit.version import __version__


def parse(*argv: str) -> object:
    return build_parser().parse_args(with_command(list(argv)))


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    # One line, no usage block, no traceback.
    assert captured.err.count("\n") == 1
    return captured.err


def test_uri_alone_means_connect() -> None:
    assert with_command(["ws://x"]) == ["connect", "ws://x"]
    assert with_command(["--json", "ws://x"]) == ["connect", "--json", "ws://x"]
    assert with_command(["serve"]) == ["serve"]
    assert with_command(["--help"]) == ["--help"]
    assert with_command([]) == []


def test_connect_defaults() -> None:
    args = parse("ws://x")
    assert vars(args) == {
        "command": "connect",
        "uri": "ws://x",
        "header": [],
        "subprotocol": [],
        "origin": None,
        "no_compression": False,
        "max_size": 2**20,
        "unix": None,
        "proxy": None,
        "reconnect": False,
        "ping_interval": 20.0,
        "ping_timeout": 20.0,
        "show_pings": False,
        "cacert": None,
        "insecure": False,
        "cert": None,
        "key": None,
        "json": False,
        "binary": False,
        "timestamps": False,
        "raw": False,
        "send": [],
        "count": None,
        "linger": 1.0,
        "main": client.main,
    }


def test_connect_options() -> None:
    args = parse(
        "connect",
        "wss://x",
        "-H",
        "A: 1",
        "--header",
        "B: 2",
        "-s",
        "chat",
        "-s",
        "superchat",
        "--origin",
        "https://o",
        "--max-size",
        "none",
        "--proxy",
        "socks5h://127.0.0.1:1080",
        "--reconnect",
        "--cacert",
        "ca.pem",
        "--insecure",
        "--binary",
        "--timestamps",
        "--raw",
        "--send",
        "a",
        "--send",
        "b",
        "--count",
        "3",
        "--linger",
        "0.5",
    )
    assert args.header == ["A: 1", "B: 2"]  # type: ignore[attr-defined]
    assert args.subprotocol == ["chat", "superchat"]  # type: ignore[attr-defined]
    assert args.max_size is None  # type: ignore[attr-defined]
    assert args.proxy == "socks5h://127.0.0.1:1080"  # type: ignore[attr-defined]
    assert args.reconnect  # type: ignore[attr-defined]
    assert args.send == ["a", "b"]  # type: ignore[attr-defined]
    assert (args.count, args.linger) == (3, 0.5)  # type: ignore[attr-defined]


def test_serve_and_demo_defaults() -> None:
    assert vars(parse("serve")) == {
        "command": "serve",
        "host": "127.0.0.1",
        "port": 8765,
        "mode": "echo",
        "exec": None,
        "origin": [],
        "max_size": 2**20,
        "certfile": None,
        "keyfile": None,
        "metrics": None,
        "metrics_host": "127.0.0.1",
        "main": serve.main,
    }
    assert vars(parse("demo", "--port", "0", "--host", "::1")) == {
        "command": "demo",
        "host": "::1",
        "port": 0,
        "main": demo.main,
    }
    args = parse("serve", "--broadcast", "--origin", "https://a", "--origin", "https://b")
    assert args.mode == "broadcast"  # type: ignore[attr-defined]
    assert args.origin == ["https://a", "https://b"]  # type: ignore[attr-defined]
    assert parse("serve", "--exec", "cat").exec == "cat"  # type: ignore[attr-defined]
    assert parse("serve", "--metrics", "9100").metrics == 9100  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([], "wskit: error: give a URI to connect to, or a command; see wskit --help\n"),
        (["connect"], "wskit: error: missing URI; see wskit --help\n"),
        (["--bogus"], "wskit: error: unrecognized arguments: --bogus; see wskit --help\n"),
        (["ws://x", "--count", "0"], "argument --count: expected a positive integer, got '0'"),
        (["ws://x", "--count", "x"], "argument --count: expected a positive integer, got 'x'"),
        (["ws://x", "--linger", "-1"], "argument --linger: expected a number of seconds"),
        (["ws://x", "--linger", "nan"], "argument --linger: expected a number of seconds"),
        (["ws://x", "--linger", "inf"], "argument --linger: expected a number of seconds"),
        (["ws://x", "--max-size", "1k"], "expected a number of bytes or 'none', got '1k'"),
        (["ws://x", "--json", "--binary"], "argument --binary: not allowed with argument --json"),
        (["serve", "--port", "65536"], "expected a port number from 0 to 65535, got '65536'"),
        (["serve", "--port", "-1"], "expected a port number from 0 to 65535, got '-1'"),
        (["serve", "--echo", "--exec", "cat"], "not allowed with argument --echo"),
        (["demo", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], error: str) -> None:
    assert error in usage_error(capsys, *argv)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"wskit {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ["connect", "serve", "demo", "exit status:", "130"]),
        (["connect", "--help"], ["/close [CODE [REASON]]", "--subprotocol", "exit status:"]),
        (["serve", "--help"], ["--broadcast", "--exec CMD", "--certfile", "exit status:"]),
        (["demo", "--help"], ["--port", "users online", "exit status:"]),
        (["bench", "--help"], ["--connections", "90th and 99th percentiles", "exit status:"]),
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_python_m_wskit_and_the_console_script() -> None:
    script = Path(sys.executable).with_name("wskit")
    for command in ([sys.executable, "-m", "wskit"], [str(script)]):
        result = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        assert (result.returncode, result.stdout) == (0, f"wskit {__version__}\n")
        result = subprocess.run(
            [*command, "ws://127.0.0.1:1/"], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 3
        assert (
            result.stderr
            == "wskit: connection to ws://127.0.0.1:1/ refused: nothing listens there\n"
        )
