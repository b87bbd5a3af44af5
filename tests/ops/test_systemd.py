"""systemd's notify protocol over a real datagram socket, and the unit file."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import redis

from inferd import systemd
from tests.ops.helpers import REPO, InferdProcess


@pytest.fixture
def notify_socket():
    """A bound AF_UNIX datagram socket standing in for systemd; yields (socket, NOTIFY_SOCKET value)."""
    folder = tempfile.mkdtemp(prefix="sd-")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    yield sock, path
    sock.close()
    shutil.rmtree(folder, ignore_errors=True)


def receive_until(sock: socket.socket, wanted: str) -> list[dict[str, str]]:
    """Notifications (parsed) up to and including the first one holding ``wanted`` (e.g. ``READY=1``)."""
    seen = []
    while True:
        text = sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in text.split("\n") if line)
        seen.append(fields)
        if wanted in text.split("\n"):
            return seen


def test_ready_after_listeners_and_preloads_then_stopping_on_sigterm(notify_socket, tmp_path):
    sock, path = notify_socket
    (tmp_path / "data.redis").write_bytes(b"SET preloaded yes\nDEBUG SLEEP 0.5\nSET last yes\n")
    config = tmp_path / "inferd.toml"
    config.write_text('[[data]]\nfile = "data.redis"\n')
    proc = InferdProcess(str(config), env={"NOTIFY_SOCKET": path})
    try:
        messages = receive_until(sock, "READY=1")
        # READY=1 arrives once: the port answers and the preload finished, at that very moment
        r = redis.Redis(port=proc.port, protocol=2, socket_timeout=5)
        assert r.ping()
        assert r.get("last") == b"yes"
        assert any(m.get("STATUS", "").startswith("preloading 1/1") for m in messages[:-1])
        assert not any("READY" in m for m in messages[:-1])
        ready = messages[-1]
        assert ready["MAINPID"] == str(proc.proc.pid)
        assert "ready to accept connections" in ready["STATUS"]
        assert r.info("server")["process_supervised"] == "systemd"
        r.close()
        proc.proc.send_signal(signal.SIGTERM)
        stopping = receive_until(sock, "STOPPING=1")
        assert stopping[-1]["STOPPING"] == "1"
        assert proc.wait(30) == 0
    finally:
        proc.stop()


def test_no_ready_when_startup_fails(notify_socket, tmp_path):
    sock, path = notify_socket
    config = tmp_path / "inferd.toml"
    config.write_text('[[data]]\nfile = "missing.redis"\n')
    proc = InferdProcess(str(config), env={"NOTIFY_SOCKET": path})
    try:
        assert proc.wait(60) == 1
    finally:
        proc.stop()
    sock.settimeout(0.5)
    texts = []
    try:
        while True:
            texts.append(sock.recv(4096).decode())
    except TimeoutError:
        pass
    assert not any("READY=1" in t for t in texts)


def test_abstract_socket_names():
    name = f"inferd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert systemd.notify("STATUS=hello", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"STATUS=hello"


def test_without_notify_socket_nothing_is_sent():
    assert systemd.notify("READY=1", environ={}) is False
    assert systemd.notify_address({"NOTIFY_SOCKET": "relative/path"}) is None


UNIT = os.path.join(REPO, "deploy", "inferd.service")
REQUIRED = {"Type": "notify", "NoNewPrivileges": "true", "ProtectSystem": "strict", "PrivateTmp": "true",
            "ProtectHome": "true"}


def unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, val = line.partition("=")
        sections[current].append((key, val))
    return sections


def test_unit_file_declares_notify_and_hardening():
    sections = unit_entries(Path(UNIT).read_text())
    service = dict(sections["Service"])
    for key, expected in REQUIRED.items():
        assert service.get(key) == expected, key
    assert "--config" in service["ExecStart"]
    assert int(service["LimitNOFILE"]) >= 10000
    assert sections["Install"] == [("WantedBy", "multi-user.target")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_file_passes_systemd_analyze_verify(tmp_path):
    """The unit as shipped, with ExecStart pointed at this checkout's interpreter (verify checks it exists)."""
    text = Path(UNIT).read_text()
    service = dict(unit_entries(text)["Service"])
    text = text.replace(service["ExecStart"], f"{sys.executable} -m inferd --config /etc/inferd/inferd.toml")
    unit = tmp_path / "inferd.service"
    unit.write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
