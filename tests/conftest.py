"""Shared fixtures: a real inferd server on port 0 (in a thread, with its own uvloop loop), redis-py clients over
RESP2 and RESP3, and a real redis-server as the oracle for behaviour shared with Redis."""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from inferd import config as config_module
from inferd.resp import connection as connection_module
from inferd.server import Server, install_event_loop


class RunningServer:
    """An inferd server running in a background thread; any exception reaching its loop fails the test."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("port", 0)
        # its own snapshot folder unless given one, removed when it stops
        self._own_dir = None if "dir" in options else tempfile.mkdtemp(prefix="inferd-test-")
        options.setdefault("dir", self._own_dir)
        self.config = config_module.load(env={}, overrides=options)
        self.loop_errors: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.server: Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.start_error: BaseException | None = None
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("inferd did not become ready")
        if self.start_error is not None:
            raise self.start_error

    def _main(self) -> None:
        install_event_loop()
        loop = asyncio.new_event_loop()
        self.loop = loop
        loop.set_exception_handler(lambda _loop, ctx: self.loop_errors.append(ctx))

        async def main() -> None:
            self.server = Server(self.config)
            try:
                await self.server.start()
            except BaseException as exc:
                self.start_error = exc
                self._ready.set()
                return
            self._ready.set()
            await self.server.serve()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def state(self) -> Any:
        assert self.server is not None
        return self.server.state

    def client(self, protocol: int = 3, **kw: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=protocol, **kw)

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's loop thread and return its result (to inspect state safely)."""
        assert self.loop is not None
        done: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_wrap(fn), self.loop)  # type: ignore[assignment]
        return done.result(10)

    def stop(self) -> None:
        if self.server is not None and self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.request_shutdown)
        self._thread.join(30)
        assert not self._thread.is_alive(), "server did not stop"
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
        errors = [e for e in self.loop_errors if "exception" in e or "message" in e]
        assert not errors, f"unhandled exceptions reached the event loop: {errors}"


async def _wrap(fn: Any) -> Any:
    return fn()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = RunningServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=["yes", "no"], ids=["fastpath", "python"])
def server_both_paths(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A server with the compiled paths (the dispatcher's C fast path for plain
    GET/SET/HGET/HSET/LPUSH/RPUSH/MGET/INCR[BY]/DECR[BY], the connection's compiled read), then one without them: a
    module whose ``server`` is this one runs every test on both paths."""
    srv = RunningServer(fastpath=request.param)
    if request.param == "yes":
        assert srv.state.dispatcher.fast_run is not None, "the C fast path was not built (it needs gcc at install)"
        assert connection_module.QuickRead is not None, "inferd/resp/_reads.c was not built (it needs gcc at install)"
    yield srv
    srv.stop()


@pytest.fixture
def start_server() -> Iterator[Any]:
    """Factory for a server with specific options; stopped at the end of the test."""
    started: list[RunningServer] = []

    def start(**options: Any) -> RunningServer:
        srv = RunningServer(**options)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request: pytest.FixtureRequest, server: RunningServer) -> Iterator[redis.Redis]:
    """A redis-py client to inferd over RESP2 and RESP3; the server is flushed before each test."""
    client = server.client(protocol=request.param)
    client.flushall()
    yield client
    client.close()


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range: a server started on port 0 in the same test
    (the kernel picks from that range) cannot be given the same number while this one waits to be bound."""
    floor = min(_ephemeral_floor(), 32768)
    for port in random.sample(range(floor // 2, floor), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {floor}")


class RedisOracle:
    """A real redis-server (Debian's) on a free loopback port, for side-by-side comparison."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="inferd-oracle-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(port=self.port, protocol=2) as probe:
                    probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def client(self, protocol: int = 3, **kw: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=protocol, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


HAVE_REDIS_SERVER = shutil.which("redis-server") is not None
REQUIRE_ORACLE = os.environ.get("INFERD_REQUIRE_ORACLE", "1") == "1"


@pytest.fixture(scope="session")
def oracle() -> Iterator[RedisOracle]:
    if not HAVE_REDIS_SERVER:
        if REQUIRE_ORACLE:
            pytest.fail("redis-server is not installed: `make test` installs it (set INFERD_REQUIRE_ORACLE=0 to "
                        "run without the oracle)")
        pytest.skip("redis-server is not installed")
    srv = RedisOracle()
    yield srv
    srv.stop()


@pytest.fixture(params=["inferd", "redis"])
def target(request: pytest.FixtureRequest, server: RunningServer) -> Iterator[str]:
    """Which implementation a differential test body runs against."""
    yield request.param


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request: pytest.FixtureRequest, server: RunningServer, oracle: RedisOracle) -> Iterator[tuple[Any, Any]]:
    """A pair (inferd client, redis-server client) at the same protocol, both flushed: run one body on both and
    compare replies with :func:`tests.oracle.same`."""
    ours = server.client(protocol=request.param)
    theirs = oracle.client(protocol=request.param)
    ours.flushall()
    theirs.flushall()
    yield ours, theirs
    ours.close()
    theirs.close()
