"""The server as users run it: `python -m inferd` in a subprocess, its log line, config precedence, signals."""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis

from inferd import config as config_module
from inferd.server import Server, install_event_loop


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """Start inferd on port 0 and return it once its ready line names the bound port."""
    proc = subprocess.Popen([sys.executable, "-m", "inferd", "--port", "0", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if "ready to accept connections" in line:
            port = int(line.rsplit("port=", 1)[1].split()[0])
            return proc, port
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("inferd did not report readiness")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    code = proc.wait(30)
    if proc.stderr:
        proc.stderr.close()
    return code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_exit_0(sig):
    proc, port = start()
    with redis.Redis(port=port) as client:
        assert client.ping()
    assert stop(proc, sig) == 0


def test_shutdown_command_exits_0():
    proc, port = start()
    client = redis.Redis(port=port, protocol=2)
    client.set("k", "v")
    client.shutdown()          # redis-py treats the connection closing without a reply as success
    assert proc.wait(30) == 0
    assert proc.stderr is not None
    proc.stderr.close()
    client.close()


def test_shutdown_answers_blocked_clients_and_does_not_wait_for_them():
    """A client blocked for ever (BLPOP ... 0) holds no work: shutdown answers it an error instead of waiting."""
    proc, port = start()
    blocked = redis.Redis(port=port, protocol=2, socket_timeout=30)
    pending: list[object] = []
    waiter = threading.Thread(target=lambda: pending.append(_outcome(blocked, "BLPOP", "q", "0")))
    waiter.start()
    with redis.Redis(port=port) as client:
        deadline = time.monotonic() + 10
        while client.info("clients")["blocked_clients"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.shutdown()
    assert proc.wait(30) == 0
    waiter.join(10)
    # answered before the in-flight wait (without it, the wait would run its grace period and then close it unanswered)
    assert pending == ["the server is shutting down: blocking command released"]
    assert proc.stderr is not None
    proc.stderr.close()
    blocked.close()


def _outcome(client: redis.Redis, *args: str) -> object:
    try:
        return client.execute_command(*args)
    except redis.ResponseError as exc:
        return str(exc)


def test_banner_names_version_address_and_backends():
    proc = subprocess.Popen([sys.executable, "-m", "inferd", "--port", "0"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while "ready" not in line:
        line = proc.stderr.readline()
    assert "inferd 0.1.0" in line and "127.0.0.1" in line
    assert "(backends: ONNX TORCH TF TFLITE)" in line      # `make test` installs every framework
    assert stop(proc) == 0


def test_config_file_env_and_flags_precedence(tmp_path):
    conf = tmp_path / "inferd.toml"
    conf.write_text('databases = 4\nslowlog-max-len = 7\nhz = 20\n')
    proc, port = start("--config", str(conf), "--hz", "30", env={"INFERD_SLOWLOG_MAX_LEN": "9"})
    try:
        with redis.Redis(port=port, decode_responses=True) as client:
            assert client.config_get("databases") == {"databases": "4"}          # file
            assert client.config_get("slowlog-max-len") == {"slowlog-max-len": "9"}  # env over file
            assert client.config_get("hz") == {"hz": "30"}                      # flag over file
            with pytest.raises(redis.ResponseError, match="DB index is out of range"):
                client.select(4)
    finally:
        assert stop(proc) == 0


def test_bad_option_fails_start_with_a_clear_message(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text("no-such-option = 1\n")
    done = subprocess.run([sys.executable, "-m", "inferd", "--config", str(conf)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "unknown option 'no-such-option'" in done.stderr


def test_port_in_use_fails_start_with_exit_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "inferd", "--port", str(port)], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 1
    assert "cannot start" in done.stderr and "address already in use" in done.stderr.lower()


def test_metrics_port_equal_to_the_port_fails_start_with_a_clear_message():
    done = subprocess.run([sys.executable, "-m", "inferd", "--port", "16399", "--metrics-port", "16399"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "metrics-port 16399 is the Redis port" in done.stderr


def test_the_port_is_held_from_bind_to_ready(tmp_path):
    """While the subsystems start (snapshot, preloads, the metrics endpoint), nothing else can bind the server's
    port, even with SO_REUSEADDR as an HTTP server sets it; a client connecting then, over TCP or the Unix socket,
    waits and is served once the server is ready."""
    install_event_loop()
    seen: dict[str, object] = {}
    path = str(tmp_path / "inferd.sock")

    class Squatter:
        async def start(self, server: Server) -> None:
            with socket.socket() as other:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    other.bind(("127.0.0.1", server.port))
                    other.listen()
                    seen["squatted"] = True
                except OSError as exc:
                    seen["refused"] = exc.errno
            early = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            early.sendall(b"PING\r\n")
            seen["early"] = early
            local = socket.socket(socket.AF_UNIX)
            local.settimeout(10)
            local.connect(path)
            local.sendall(b"ECHO local\r\n")
            seen["local"] = local

        async def stop(self) -> None:
            pass

    async def main() -> tuple[bytes, bytes]:
        server = Server(config_module.load(env={}, overrides={"port": 0, "dir": str(tmp_path), "unixsocket": path}))
        server.subsystems.append(Squatter())
        await server.start()
        early, local = seen["early"], seen["local"]
        assert isinstance(early, socket.socket) and isinstance(local, socket.socket)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, early.recv, 64), await loop.run_in_executor(None, local.recv, 64)
        finally:
            early.close()
            local.close()
            await server.stop()

    loop = asyncio.new_event_loop()
    try:
        reply = loop.run_until_complete(main())
    finally:
        loop.close()
    assert "squatted" not in seen and seen["refused"] == errno.EADDRINUSE
    assert reply == (b"+PONG\r\n", b"$5\r\nlocal\r\n")


def test_unix_socket_serves_like_tcp(tmp_path):
    path = str(tmp_path / "inferd.sock")
    proc, port = start("--unixsocket", path)
    try:
        local = redis.Redis(unix_socket_path=path, protocol=2)
        local.set("k", "v")
        assert redis.Redis(port=port, protocol=2).get("k") == b"v"
        assert local.execute_command("CONFIG", "GET", "unixsocket") == [b"unixsocket", path.encode()]
        local.close()
    finally:
        assert stop(proc) == 0


def test_logfile_gets_the_log(tmp_path):
    log = tmp_path / "inferd.log"
    proc = subprocess.Popen([sys.executable, "-m", "inferd", "--port", "0", "--logfile", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "ready to accept connections" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None, "inferd did not log its readiness to the file"
            time.sleep(0.05)
        port = int(log.read_text().rsplit("port=", 1)[1].split()[0])
        assert redis.Redis(port=port, protocol=2).ping() is True
    finally:
        assert stop(proc) == 0
    text = log.read_text()
    assert "inferd stopped" in text and " INFO inferd: " in text


def test_unwritable_logfile_fails_start_with_a_clear_message(tmp_path):
    done = subprocess.run([sys.executable, "-m", "inferd", "--port", "0", "--logfile",
                           str(tmp_path / "missing" / "inferd.log")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("inferd: cannot open the log file:") and "Traceback" not in done.stderr


def test_help_lists_every_option():
    from inferd.config import OPTIONS
    done = subprocess.run([sys.executable, "-m", "inferd", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in OPTIONS:
        assert f"--{option.name}" in done.stdout


def test_timeout_closes_idle_clients_only(tmp_path):
    """timeout N: a client idle past N seconds is closed; one blocked in BLPOP is waiting on the server, not idle."""
    proc, port = start("--timeout", "1", "--dir", str(tmp_path))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as blocked:
            idle.sendall(b"PING\r\n")
            assert idle.recv(64) == b"+PONG\r\n"
            blocked.sendall(b"BLPOP q 0\r\n")
            assert idle.recv(64) == b""   # closed by the server (the recv waits up to 10 s)
            redis.Redis(port=port, protocol=2).rpush("q", "x")
            assert blocked.recv(64) == b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n"
    finally:
        assert stop(proc) == 0
