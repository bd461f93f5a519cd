"""The systemd unit, the Dockerfile and the Kubernetes manifest of the deployment guides.

No test needs systemd, Docker or a cluster: each file is checked the way its
tool reads it (``systemd-analyze verify`` where it exists, a parser of
Dockerfile instructions, PyYAML), then the command it starts runs for real,
with the environment it sets, and a client talks to it: WebSocket messages,
the health check the probes hit, SIGTERM closing connections with 1001.
Only where the server listens changes: 127.0.0.1 and a port the system picks.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from wskit.exceptions import ConnectionClosed
from wskit.frames import CloseCode
from wskit.sync.client import connect

ROOT = Path(__file__).parents[2]
DEPLOYMENT = ROOT / "docs" / "deployment"
SERVER = ROOT / "examples" / "deployment/server.py"
# Bounds every wait: starting, answering, stopping.
WAIT = 10.0
LISTENING = re.compile(r"server listening on 127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[ServerProcess]:
    """Run the server's command; yield once it logs the address it listens on."""
    environment = {"PATH": "/usr/bin:/bin", **env, "HOST": "127.0.0.1", "PORT": "0"}
    with subprocess.Popen(
        command, cwd=cwd, env=environment, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            yield ServerProcess(process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(WAIT)


class ServerProcess:
    """A server started by :func:`running`, and the lines it logs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stderr is not None
        threading.Thread(target=self._read, args=(process.stderr,), daemon=True).start()
        self.log: list[str] = []
        match = self.wait_for_line(LISTENING)
        self.port = int(match.group(1))

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for_line(self, pattern: re.Pattern[str]) -> re.Match[str]:
        while True:
            line = self.lines.get(timeout=WAIT)
            self.log.append(line)
            assert line, f"the server exited: {''.join(self.log)}"
            if match := pattern.search(line):
                return match

    def stop(self, signum: int) -> int:
        """Send ``signum``; return the exit status."""
        self.process.send_signal(signum)
        return self.process.wait(WAIT)


def check_server(server: ServerProcess, health_check: str, stop_signal: int) -> None:
    """Echo over a WebSocket, the health check, then a stop that closes with 1001."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{health_check}", timeout=WAIT) as r:
        assert (r.status, r.read()) == (200, b"OK\n")
    # Anything else is a WebSocket endpoint, which a plain GET can't open.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=WAIT)
    assert refused.value.code == 426
    refused.value.close()  # else the server waits close_timeout for the end of TCP
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=WAIT) as websocket:
        websocket.send("ping?")
        assert websocket.recv(timeout=WAIT) == "ping?"
        assert server.stop(stop_signal) == 0
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.GOING_AWAY


# systemd


def unit_file(text: str) -> dict[str, list[tuple[str, str]]]:
    """Parse a unit file into sections of ``(key, value)`` (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, equals, value = line.partition("=")
        assert equals, f"not a unit file line: {line!r}"
        assert current is not None, f"outside a section: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_runs_the_server() -> None:
    text = (DEPLOYMENT / "wskit.service").read_text()
    service = unit_file(text)["Service"]
    settings = dict(service)
    environment = dict(value.partition("=")[::2] for key, value in service if key == "Environment")
    assert environment["HOST"] == "127.0.0.1"  # behind a proxy
    # Longer than close_timeout, so that the server closes connections itself.
    assert int(settings["TimeoutStopSec"]) > 10
    command = shlex.split(settings["ExecStart"])
    assert command == ["/srv/wskit/.venv/bin/python", "/srv/wskit/server.py"]
    installed = {"/srv/wskit/.venv/bin/python": sys.executable, "/srv/wskit/server.py": str(SERVER)}

    with running([installed[part] for part in command], environment, SERVER.parent) as server:
        check_server(server, "/healthz", signal.Signals[settings["KillSignal"]])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd's own checker accepts the unit, paths made real and the user made root."""
    text = (DEPLOYMENT / "wskit.service").read_text()
    for old, new in [
        ("/srv/wskit/.venv/bin/python", sys.executable),
        ("/srv/wskit/server.py", str(SERVER)),
        ("WorkingDirectory=/srv/wskit", f"WorkingDirectory={SERVER.parent}"),
        ("User=wskit", "User=root"),  # no wskit user on the test machine
    ]:
        assert old in text
        text = text.replace(old, new)
    unit = tmp_path / "wskit.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


# Docker


def dockerfile(text: str) -> list[tuple[str, str]]:
    """Parse a Dockerfile into ``(INSTRUCTION, arguments)``, continuations joined."""
    instructions = []
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        instruction, _, arguments = logical.strip().partition(" ")
        instructions.append((instruction.upper(), " ".join(arguments.split())))
        logical = ""
    assert not logical, "a continuation at the end of the file"
    return instructions


def test_dockerfile_runs_the_server() -> None:
    instructions = dockerfile((DEPLOYMENT / "Dockerfile").read_text())
    assert instructions[0][0] == "FROM"
    assert {name for name, _ in instructions} <= {
        *("FROM", "RUN", "WORKDIR", "COPY", "USER", "ENV", "EXPOSE"),
        *("HEALTHCHECK", "STOPSIGNAL", "CMD"),
    }
    by_name: dict[str, list[str]] = {}
    for name, arguments in instructions:
        by_name.setdefault(name, []).append(arguments)
    # The image copies wskit's wheel, installed and removed in one step, and
    # the example, beside which the guide builds it.
    wheel, application = (copy.split() for copy in by_name["COPY"])
    assert wheel == ["wskit-*.whl", "/tmp/"]
    assert "pip install --no-cache-dir /tmp/wskit-*.whl" in by_name["RUN"][1]
    source, destination = application
    assert (SERVER.parent / source).resolve() == SERVER
    [workdir] = by_name["WORKDIR"]
    assert destination == f"{workdir}/{source}"
    environment: dict[str, str] = {}
    for arguments in by_name["ENV"]:
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            environment[name] = value
    assert environment["HOST"] == "0.0.0.0"  # reachable from outside the container
    assert by_name["EXPOSE"] == [environment["PORT"]]
    # The exec form, so that the server is PID 1 and gets the stop signal.
    [cmd] = by_name["CMD"]
    command = json.loads(cmd)
    assert command[0] == "python"
    [healthcheck] = by_name["HEALTHCHECK"]
    probe = json.loads(healthcheck.partition(" CMD ")[2])
    [stop_signal] = by_name["STOPSIGNAL"]

    with running([sys.executable, *command[1:]], environment, SERVER.parent) as server:
        # Docker's health check, run against the port the test's server has.
        port = environment["PORT"]
        probe = [part.replace(f":{port}/", f":{server.port}/") for part in probe]
        assert probe[0] == "python"
        subprocess.run([sys.executable, *probe[1:]], check=True, timeout=WAIT)
        check_server(server, "/healthz", signal.Signals[stop_signal])


def test_dockerfile_builds(tmp_path: Path) -> None:
    """Where a Docker daemon answers, the image builds (the test machines have none)."""
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "info"], capture_output=True, timeout=30, check=False
        ).returncode
    ):
        pytest.skip("needs a Docker daemon")
    shutil.copy(DEPLOYMENT / "Dockerfile", tmp_path)
    shutil.copy(SERVER, tmp_path)
    wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)]
    subprocess.run(wheel, check=True, timeout=600)
    subprocess.run(["docker", "build", "-q", str(tmp_path)], check=True, timeout=600)


# Kubernetes


def manifests() -> dict[str, dict[str, Any]]:
    documents = list(yaml.safe_load_all((DEPLOYMENT / "kubernetes.yaml").read_text()))
    return {document["kind"]: document for document in documents}


def test_kubernetes_manifest_is_consistent() -> None:
    found = manifests()
    assert set(found) == {"Deployment", "Service"}
    deployment, service = found["Deployment"], found["Service"]
    assert deployment["apiVersion"] == "apps/v1"
    assert service["apiVersion"] == "v1"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > 10  # close_timeout
    [container] = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    environment = {variable["name"]: variable["value"] for variable in container["env"]}
    # Probes and the Service name ports that the container declares, which
    # are where the server listens.
    for probe in ("readinessProbe", "livenessProbe"):
        assert ports[container[probe]["httpGet"]["port"]] == int(environment["PORT"])
    for port in service["spec"]["ports"]:
        assert ports[port["targetPort"]] == int(environment["PORT"])


def test_kubernetes_probes_hit_the_health_check() -> None:
    [container] = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    environment = {variable["name"]: variable["value"] for variable in container["env"]}
    command = container["command"]
    assert command[0] == "python"
    paths = {container[probe]["httpGet"]["path"] for probe in ("readinessProbe", "livenessProbe")}
    [path] = paths
    with running([sys.executable, *command[1:]], environment, SERVER.parent) as server:
        # Kubernetes stops a pod with SIGTERM.
        check_server(server, path, signal.SIGTERM)
