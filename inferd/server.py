"""Lifecycle: listeners, subsystems (device schedulers, metrics), the cron, signals, readiness and shutdown."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from inferd import __version__, systemd
from inferd.commands import blocking, build_table
from inferd.commands.context import ServerState
from inferd.commands.dispatch import Dispatcher
from inferd.info_ai import available_backends
from inferd.resp.connection import Connection, WriteBatch
from inferd.store.keyspace import Keyspace

log = logging.getLogger("inferd")
SHUTDOWN_GRACE_SECONDS = 10.0


class StartupError(Exception):
    """A subsystem could not start (e.g. a bad preload entry): logged, and the process exits with status 1."""


class Subsystem(Protocol):
    """A part of the server with its own start/stop (device schedulers, the metrics endpoint)."""

    async def start(self, server: Server) -> None:
        """Start; the server is not ready until every subsystem has started."""

    async def stop(self) -> None:
        """Stop after listeners are closed and in-flight commands have finished."""


def _subsystem_factories(config: Any) -> list[Callable[[], Subsystem]]:
    """The subsystems, in start order (stopped in reverse)."""
    from inferd.appendonly import AppendOnly
    from inferd.metrics import MetricsEndpoint
    from inferd.persistence import Snapshots
    from inferd.preload import Preloader
    from inferd.scheduler import Schedulers
    return [Snapshots, AppendOnly, lambda: Schedulers(config.threads_per_queue),
            lambda: MetricsEndpoint(config.metrics_port, config.metrics_bind), lambda: Preloader(config.preload)]


class Server:
    """One inferd server: build with a Config, then ``await start()`` and ``await serve()`` (or ``run()``)."""

    def __init__(self, config: Any, config_file: str = "") -> None:
        self.config = config
        self.state = ServerState(config, Keyspace(config.databases))
        for db in self.state.keyspace.dbs:
            db.stats = self.state.stats
        self.state.extensions["config_file"] = config_file
        self.state.dispatcher = Dispatcher(self.state, build_table())
        self.subsystems: list[Subsystem] = [factory() for factory in _subsystem_factories(config)]
        self.listeners: list[asyncio.Server] = []
        self.ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._cron: asyncio.Task[None] | None = None
        self.exit_status = 0   # 1 when the shutdown save failed

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        return self.state.bound_port

    async def start(self) -> None:
        """Bind the listeners, start the subsystems and the cron; then the server is ready."""
        loop = asyncio.get_running_loop()
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.state.shutdown_requested = self.request_shutdown
        state = self.state
        hosts = self.config.bind.split() or ["127.0.0.1"]
        writes = WriteBatch(loop, compiled=self.config.fastpath == "yes")   # the replies of one poll's reads

        def connection() -> Connection:
            return Connection(state, writes)
        # Bound and listening at once (a port in use fails start-up before any loading, and nothing else can bind
        # it meanwhile, the metrics endpoint included), served once the snapshot and the preloaded models are in:
        # a client connecting earlier waits in the backlog and never sees a keyspace half loaded.
        listener = await loop.create_server(connection, hosts, self.config.port, reuse_address=True, backlog=511,
                                            start_serving=False)
        self.listeners.append(listener)
        state.bound_port = listener.sockets[0].getsockname()[1]
        if self.config.unixsocket:
            self.listeners.append(await loop.create_unix_server(connection, self.config.unixsocket, backlog=511,
                                                                start_serving=False))
        for listening in self.listeners:
            for bound in listening.sockets:
                with socket.socket(fileno=os.dup(bound.fileno())) as same:   # the loop's wrapper has no listen()
                    same.listen(511)
        try:
            for sub in self.subsystems:
                await sub.start(self)
        except BaseException:
            for listening in self.listeners:
                listening.close()
            raise
        for listening in self.listeners:
            await listening.start_serving()
        self._cron = loop.create_task(self._run_cron())
        # The keyspace holds millions of long-lived containers (hashes, lists, sets) that rarely form cycles: move
        # what start-up created out of the collector's sight and collect less often, so a full collection does not
        # walk the reference data in the middle of a request.
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        log.info("inferd %s ready to accept connections tcp %s port=%d (backends: %s)", __version__,
                 " ".join(hosts), state.bound_port, " ".join(available_backends()) or "none installed")
        self.ready.set()
        systemd.ready(f"ready to accept connections on port {state.bound_port}")

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown (SIGTERM, SIGINT, SHUTDOWN)."""
        if self._stop is not None:
            self._stop.set()

    async def serve(self) -> None:
        """Serve until a shutdown is requested, then stop gracefully."""
        assert self._stop is not None
        await self._stop.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop accepting, let in-flight commands finish, stop subsystems, close connections."""
        log.info("shutting down: no new connections, finishing in-flight commands")
        systemd.stopping()
        if self.ready is not None:
            self.ready.clear()   # /readyz answers 503 from now on
        for listener in self.listeners:
            listener.close()
        for db in self.state.keyspace.dbs:   # clients blocked on keys (BLPOP...) are answered, not waited for
            blocking.release(db)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while any(c.in_flight for c in self.state.clients.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._cron is not None:
            self._cron.cancel()
        for sub in reversed(self.subsystems):
            await sub.stop()
        snapshots = self.state.extensions.get("snapshots")
        if snapshots is not None and not snapshots.save_at_shutdown():   # no await from here to the closes below:
            self.exit_status = 1                                         # no command runs after the save
        for client in list(self.state.clients.values()):
            client.close_callback()
        await asyncio.sleep(0)
        log.info("inferd stopped")

    async def _run_cron(self) -> None:
        """Active expiry, idle-client timeouts and snapshots (save points, BGSAVE's child), ``hz`` times a second."""
        while True:
            await asyncio.sleep(1.0 / self.state.config.hz)
            self.state.keyspace.active_expire()
            snapshots = self.state.extensions.get("snapshots")
            if snapshots is not None:
                snapshots.cron()
            appendonly = self.state.extensions.get("appendonly")
            if appendonly is not None:
                appendonly.cron()
            timeout = self.state.config.timeout
            if timeout > 0:
                now = time.monotonic()
                for client in list(self.state.clients.values()):
                    if not client.in_flight and now - client.last_interaction > timeout:
                        client.close_callback()


def install_event_loop() -> None:
    """Use uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a core dependency
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(config: Any, config_file: str = "") -> int:
    """Run a server in this thread until SIGTERM/SIGINT/SHUTDOWN; return the exit status."""
    install_event_loop()

    async def main() -> int:
        server = Server(config, config_file)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_shutdown)
        try:
            await server.start()
        except StartupError as exc:
            log.error("cannot start: %s", exc)
            await server.stop()
            return 1
        await server.serve()
        return server.exit_status

    return asyncio.run(main())
