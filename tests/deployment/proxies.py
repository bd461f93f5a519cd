"""Run the deployment guides' nginx and HAProxy configurations for a test.

Each proxy runs Debian's binary (installed by ``scripts/setup.d/60-proxies.sh``)
as a subprocess, in the foreground, with its files in a temporary directory,
on a free port of 127.0.0.1, in front of a backend on another free port. The
configuration is ``docs/deployment``'s file with only its marked values
replaced: listening address, backend address, certificate paths.

Reloads are observed in ``/proc``: which worker processes the master has,
which of them still listen, which one holds a given connection to the backend.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.processes import Started, free_port, stop_process, wait_for, wait_started

__all__ = ["HAProxy", "Nginx", "Proxy"]

ROOT = Path(__file__).parents[2]
DEPLOYMENT = ROOT / "docs" / "deployment"
CERTIFICATE = ROOT / "examples" / "localhost.pem"  # key and certificate
LOCALHOST = "127.0.0.1"

# Bounds every wait for a proxy: starting, reloading, stopping.
WAIT = 10.0


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each key of ``replacements``, which must occur exactly once."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} must occur once in the guide's file"
        text = text.replace(old, new)
    return text


def tcp_inodes(port: int, *, listening: bool) -> set[str]:
    """Inodes of TCP sockets on 127.0.0.1 whose local port is ``port``."""
    local = f"0100007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and (fields[3] == "0A") == listening:  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets that process ``pid`` has open."""
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    try:
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:  # the process is gone
        pass
    return inodes


class Proxy(Started):
    """A proxy subprocess: started on ``with``, stopped when leaving it.

    Attributes:
        port: Where it accepts TLS connections, on 127.0.0.1.
        backend_port: Where it forwards them, on 127.0.0.1; the test serves there.
        directory: Its temporary directory (configuration, pid, logs).
    """

    executable_name = ""

    def __init__(self) -> None:
        executable = shutil.which(self.executable_name)
        if executable is None:
            pytest.skip(
                f"{self.executable_name} isn't installed: run scripts/setup.d/60-proxies.sh"
            )
        self.executable = executable
        self.port = free_port()
        self.backend_port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"wskit-{self.executable_name}-"))
        # Run as root, nginx's workers switch to an unprivileged user, which
        # must reach the temp directories inside (nothing in there is secret).
        self.directory.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None
        self.output = self.directory / "output.log"

    def command(self) -> list[str]:
        """The command line that runs the proxy in the foreground."""
        raise NotImplementedError

    def configure(self) -> None:
        """Write the configuration into :attr:`directory`."""
        raise NotImplementedError

    def signal_reload(self) -> None:
        """Ask the running proxy to reload its configuration."""
        raise NotImplementedError

    @property
    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def start(self) -> None:
        """Start the proxy and wait until its workers accept connections."""
        self.configure()
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        wait_started(self.executable_name, self.process, self._ready, WAIT, lambda: self.log)

    def _ready(self) -> bool:
        return any(self.listens(pid) for pid in self.workers())

    def workers(self) -> set[int]:
        """Process ids of the master's children."""
        assert self.process is not None
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # The command name, in parentheses, may hold spaces: split after it.
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.add(int(stat.parent.name))
        return children

    def listens(self, pid: int) -> bool:
        """Whether process ``pid`` holds a listening socket on :attr:`port`."""
        return bool(tcp_inodes(self.port, listening=True) & socket_inodes(pid))

    def owner(self, backend_client_port: int) -> int:
        """The worker holding the connection to the backend from ``backend_client_port``.

        That's the port the backend sees as its peer's
        (``connection.remote_address[1]``).
        """
        inodes = tcp_inodes(backend_client_port, listening=False)
        [pid] = [pid for pid in self.workers() if socket_inodes(pid) & inodes]
        return pid

    def reload(self) -> set[int]:
        """Reload the configuration; return the previous workers.

        Returns once new workers accept connections and none of the previous
        ones listens any longer.
        """
        old = self.workers()
        self.signal_reload()

        def reloaded() -> bool:
            workers = self.workers()
            return any(self.listens(pid) for pid in workers - old) and not any(
                self.listens(pid) for pid in workers & old
            )

        wait_for(f"{self.executable_name} to reload", reloaded, WAIT, lambda: self.log)
        return old

    def stop(self) -> None:
        """Stop the proxy, killing it if it doesn't exit in time; remove its files."""
        if self.process is not None:
            stop_process(self.process, WAIT, self._kill_workers)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def _kill_workers(self) -> None:
        for pid in self.workers():
            os.kill(pid, signal.SIGKILL)


class Nginx(Proxy):
    """``docs/deployment/nginx.conf``, included by a throwaway main configuration."""

    executable_name = "nginx"

    def configure(self) -> None:
        site = substitute(
            (DEPLOYMENT / "nginx.conf").read_text(),
            {
                "server 127.0.0.1:8765;": f"server {LOCALHOST}:{self.backend_port};",
                "listen 443 ssl;": f"listen {LOCALHOST}:{self.port} ssl;",
                "/etc/ssl/certs/example.com.pem": str(CERTIFICATE),
                "/etc/ssl/private/example.com.key": str(CERTIFICATE),
            },
        )
        (self.directory / "site.conf").write_text(site)
        # What Debian's /etc/nginx/nginx.conf sets, with every file in the
        # temporary directory: nothing needs root, nothing touches /var.
        temp = " ".join(
            f"{name}_temp_path {self.directory / name};"
            for name in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        )
        (self.directory / "nginx.conf").write_text(
            f"pid {self.directory / 'nginx.pid'};\n"
            f"error_log {self.directory / 'error.log'} info;\n"
            "worker_processes 1;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {self.directory / 'access.log'};\n"
            f"    {temp}\n"
            "    include site.conf;\n"
            "}\n"
        )

    @property
    def log(self) -> str:
        logs = [self.output, self.directory / "error.log"]
        return "".join(path.read_text(errors="replace") for path in logs if path.exists())

    def command(self) -> list[str]:
        return [
            self.executable,
            *("-p", str(self.directory), "-c", str(self.directory / "nginx.conf")),
            *("-e", str(self.directory / "error.log")),
            *("-g", "daemon off;"),
        ]

    def signal_reload(self) -> None:
        # As an operator would: nginx finds the master through the pid file.
        subprocess.run(
            [*self.command()[:-2], "-s", "reload"],
            check=True,
            capture_output=True,
            timeout=WAIT,
        )


class HAProxy(Proxy):
    """``docs/deployment/haproxy.cfg``, in master-worker mode."""

    executable_name = "haproxy"

    def configure(self) -> None:
        config = substitute(
            (DEPLOYMENT / "haproxy.cfg").read_text(),
            {
                "server wskit 127.0.0.1:8765": f"server wskit {LOCALHOST}:{self.backend_port}",
                "bind :443 ssl crt /etc/haproxy/certs/example.com.pem": (
                    f"bind {LOCALHOST}:{self.port} ssl crt {CERTIFICATE}"
                ),
            },
        )
        (self.directory / "haproxy.cfg").write_text(config)

    def command(self) -> list[str]:
        # -W: master-worker, as Debian's systemd unit runs it; -db: foreground.
        return [self.executable, "-W", "-db", "-f", str(self.directory / "haproxy.cfg")]

    def signal_reload(self) -> None:
        # What `systemctl reload haproxy` does: SIGUSR2 to the master.
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR2)
