"""Servers under test as subprocesses on free loopback ports: start, wait until ready, read their CPU time, stop.

Every process started here is registered with a :class:`ProcessGroup`, which stops all of them on exit, on failure
too (SIGTERM, then SIGKILL to the process group it created after a grace period).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """A benchmark step could not run (a server did not start, a command is missing...)."""


def short_error(exc: BaseException | str, limit: int = 300) -> str:
    """One printable line of at most ``limit`` characters for an error (replies may quote binary arguments)."""
    text = " ".join(str(exc).split())
    text = "".join(ch if ch.isprintable() and ord(ch) < 0x2000 else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resp_request(*args: bytes | str) -> bytes:
    """One command as a client writes it: a RESP array of bulk strings (str arguments UTF-8 encoded)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a.encode() if isinstance(a, str) else a
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def resp_call(port: int, *args: bytes | str, timeout: float = 5.0) -> bytes:
    """Send one RESP command on a fresh connection and return the raw first line of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(resp_request(*args))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def wait_until(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path,
               timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``check`` until it is true; fail early if the process died, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode}: {tail(log)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"{what} not ready after {timeout:.0f}s: {tail(log)}")


def tail(path: Path, limit: int = 800) -> str:
    """The last characters of a log file (for error messages)."""
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


def process_tree_cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and all its live descendants, in seconds (from /proc/<pid>/stat)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        found = stats.get(current)
        if found is not None:
            total += int(found[11]) + int(found[12])  # utime, stime (fields 14 and 15 of stat)
        todo.extend(children.get(current, []))
    return total / CLOCK_TICKS


class ServerProcess:
    """One started server: its name, port(s), process and log file."""

    def __init__(self, name: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.port, self.proc, self.log = name, port, proc, log

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its worker processes."""
        return process_tree_cpu_seconds(self.proc.pid)


class ProcessGroup:
    """Starts servers and always stops them (use as a context manager)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[ServerProcess] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_all()

    def _spawn(self, name: str, port: int, argv: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        log = self.workdir / f"{name}-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=ROOT, env=env, start_new_session=True)
        server = ServerProcess(name, port, proc, log)
        self.started.append(server)
        return server

    def start_inferd(self, *options: str) -> ServerProcess:
        """``python -m inferd`` on a free port, ready when it answers PING."""
        port = free_port()
        argv = [sys.executable, "-m", "inferd", "--port", str(port), "--loglevel", "warning", *options]
        server = self._spawn("inferd", port, argv)
        wait_until(lambda: resp_call(port, "PING").startswith(b"+PONG"), "inferd", server.proc, server.log)
        return server

    def start_redis(self) -> ServerProcess:
        """A real redis-server without persistence, ready when it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise BenchError("redis-server is not installed (make system-deps)")
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        server = self._spawn("redis-server", port, argv)
        wait_until(lambda: resp_call(port, "PING").startswith(b"+PONG"), "redis-server", server.proc, server.log)
        return server

    def start_floor(self) -> ServerProcess:
        """bench/uvloop_floor.py (+OK to every 3-argument request, nothing else), ready when it answers a SET."""
        port = free_port()
        argv = [sys.executable, str(ROOT / "bench" / "uvloop_floor.py"), str(port)]
        server = self._spawn("uvloop-floor", port, argv)
        wait_until(lambda: resp_call(port, "SET", "k", "v").startswith(b"+OK"), "uvloop-floor", server.proc,
                   server.log)
        return server

    def start_scoring_floor(self, model_path: str, users: int) -> ServerProcess:
        """``python -m bench.scoring_floor`` (the scoring command's floor), ready when it answers PING."""
        port = free_port()
        argv = [sys.executable, "-m", "bench.scoring_floor", str(port), model_path, str(users)]
        server = self._spawn("scoring-floor", port, argv)
        wait_until(lambda: resp_call(port, "PING").startswith(b"+PONG"), "scoring-floor", server.proc, server.log)
        return server

    def start_uvicorn(self, app: str, workers: int, env: dict[str, str]) -> ServerProcess:
        """uvicorn serving ``app`` with ``workers`` processes (uvloop/httptools when installed).

        Each worker has its own listening socket on the port (``bench/peer_serve.py``: SO_REUSEPORT), so that the
        clients' connections are spread over the workers rather than raced for.
        """
        port = free_port()
        argv = [sys.executable, str(ROOT / "bench" / "peer_serve.py"), str(port), str(workers), app, uvicorn_loop(),
                uvicorn_http()]
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        server = self._spawn("uvicorn", port, argv, full_env)
        wait_until(lambda: _all_workers_answer(port, workers), "uvicorn", server.proc, server.log)
        return server

    def stop(self, server: ServerProcess) -> None:
        """Stop one server: SIGTERM, then SIGKILL to its process group after a grace period."""
        proc = server.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session it leads: its worker processes, if any remain
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(5)
        if server in self.started:
            self.started.remove(server)

    def stop_all(self) -> None:
        """Stop every server started by this group, newest first."""
        for server in reversed(list(self.started)):
            self.stop(server)


def uvicorn_loop() -> str:
    """uvicorn's fastest event loop available here."""
    try:
        import uvloop  # noqa: F401
        return "uvloop"
    except ImportError:
        return "asyncio"


def uvicorn_http() -> str:
    """uvicorn's fastest HTTP parser available here."""
    try:
        import httptools  # noqa: F401
        return "httptools"
    except ImportError:
        return "h11"


def _all_workers_answer(port: int, workers: int) -> bool:
    """True once /healthz answered from ``workers`` distinct worker processes (new connection each time)."""
    pids: set[str] = set()
    for _ in range(workers * 20):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            pids.add(response.read().decode())
        if len(pids) >= workers:
            return True
    return False
