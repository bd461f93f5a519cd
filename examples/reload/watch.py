"""Run a command, and run it again whenever a Python file under a directory changes.

A development server that reloads on code changes, with the standard
library only (docs/howto/reload.rst)::

    python examples/reload/watch.py examples/reload -- python examples/reload/server.py

On a change, the command gets SIGTERM, as from a service manager: a wskit
server closes its connections with 1001 (going away) and exits, then starts
again with the new code, and clients that reconnect find it back. If the
command exits by itself (a syntax error, say), the watcher waits for the
next change. Ctrl-C or SIGTERM stops both.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

# Seconds between two looks at the files, and for the command to exit.
INTERVAL = 0.5
STOP_TIMEOUT = 10.0


def snapshot(root: Path) -> dict[Path, int]:
    """The modification time of every Python file under ``root``."""
    times = {}
    for path in root.rglob("*.py"):
        try:
            times[path] = path.stat().st_mtime_ns
        except FileNotFoundError:  # deleted meanwhile
            continue
    return times


def stop_command(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def watch(command: list[str], root: Path, stop: threading.Event, interval: float) -> None:
    """Run ``command`` until ``stop`` is set, restarting it on every change under ``root``."""
    while not stop.is_set():
        files = snapshot(root)
        process = subprocess.Popen(command)
        exited = False
        # Wait for a change; the command may exit meanwhile.
        while not stop.wait(interval) and snapshot(root) == files:
            if not exited and process.poll() is not None:
                exited = True
                print(
                    f"watch: exited with {process.returncode}; waiting for a change",
                    file=sys.stderr,
                )
        stop_command(process)
        if not stop.is_set():
            print("watch: a file changed; restarting", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory to watch")
    parser.add_argument("command", nargs="+", help="command to run, after --")
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between looks")
    args = parser.parse_args()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    watch(args.command, args.root, stop, args.interval)


if __name__ == "__main__":
    main()
