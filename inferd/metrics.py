"""Prometheus metrics and the health endpoints: ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (serving).

The HTTP server runs on a daemon thread (``metrics-port``; 0 turns it off) with its own
:class:`~prometheus_client.CollectorRegistry`. Nothing on that thread touches the keyspace: live figures (clients,
keys, commands, queues) are read by a snapshot function that runs *on the event loop* (``call_soon_threadsafe``),
and per-model events (runs, batches, failures, loads) feed thread-safe prometheus-client metrics.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from inferd import __version__

log = logging.getLogger("inferd.metrics")
SNAPSHOT_TIMEOUT_SECONDS = 2.0
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, float("inf"))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, float("inf"))
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))
FAILURE_REASONS = ("timeout", "backend_error", "batch_size", "cancelled", "queue_full", "other")
MAX_ERROR_PREFIXES = 64   # errorstats prefixes exported (DEBUG ERROR can invent new ones)


def failure_reason(reason: str) -> str:
    """Bound the ``reason`` label to :data:`FAILURE_REASONS`."""
    return reason if reason in FAILURE_REASONS else "other"


class _ModelChildren(NamedTuple):
    """The per-(model, device) series a batch updates."""

    success: Any
    inferences: Any
    executions: Any
    request_seconds: Any
    queue_seconds: Any
    compute_seconds: Any
    batch_size: Any


class ModelMetrics:
    """Per-model families fed by events (prometheus-client metrics are thread-safe: workers may call these)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["model", "device"]
        self.success = Counter("inferd_model_request_success", "Model run requests that succeeded", labels,
                               registry=registry)
        self.failure = Counter("inferd_model_request_failure", "Model run requests that failed, by reason",
                               [*labels, "reason"], registry=registry)
        self.inferences = Counter("inferd_model_inference_count", "Rows (inferences) computed: a batch of n rows "
                                  "counts n", labels, registry=registry)
        self.executions = Counter("inferd_model_execution_count", "Backend executions (batches): a batch counts "
                                  "once", labels, registry=registry)
        self.request_seconds = Histogram("inferd_model_request_duration_seconds", "Request time from enqueue to "
                                         "result (the _sum is the cumulative time)", labels,
                                         buckets=LATENCY_BUCKETS, registry=registry)
        self.queue_seconds = Histogram("inferd_model_queue_duration_seconds", "Time requests waited in the device "
                                       "queue", labels, buckets=LATENCY_BUCKETS, registry=registry)
        self.compute_seconds = Histogram("inferd_model_compute_duration_seconds", "Backend compute time per "
                                         "execution", labels, buckets=LATENCY_BUCKETS, registry=registry)
        self.batch_size = Histogram("inferd_model_batch_size", "Rows per backend execution", labels,
                                    buckets=BATCH_BUCKETS, registry=registry)
        self.load_seconds = Histogram("inferd_model_load_duration_seconds", "Model load (compile) time",
                                      ["model", "backend", "device"], buckets=LOAD_BUCKETS, registry=registry)
        self._by_model: dict[tuple[str, str], _ModelChildren] = {}

    def _children(self, model: str, device: str) -> _ModelChildren:
        """The labelled series of one (model, device), looked up once: labels() takes a lock and builds a key."""
        children = self._by_model.get((model, device))
        if children is None:
            children = self._by_model[(model, device)] = _ModelChildren(
                self.success.labels(model, device), self.inferences.labels(model, device),
                self.executions.labels(model, device), self.request_seconds.labels(model, device),
                self.queue_seconds.labels(model, device), self.compute_seconds.labels(model, device),
                self.batch_size.labels(model, device))
        return children

    def request_done(self, model: str, device: str, ok: bool, reason: str = "", queue_s: float = 0.0,
                     total_s: float = 0.0) -> None:
        """One request finished (success or failure); ``reason`` is bounded by :func:`failure_reason`."""
        if ok:
            children = self._children(model, device)
            children.success.inc()
            children.queue_seconds.observe(queue_s)
            children.request_seconds.observe(total_s)
        else:
            self.failure.labels(model, device, failure_reason(reason)).inc()

    def execution_done(self, model: str, device: str, rows: int, compute_s: float) -> None:
        """One backend execution (a batch of ``rows`` rows) finished."""
        children = self._children(model, device)
        children.executions.inc()
        children.inferences.inc(rows)
        children.batch_size.observe(rows)
        children.compute_seconds.observe(compute_s)

    def observe_batch(self, record: Any) -> None:
        """Scheduler observer (:attr:`inferd.scheduler.Schedulers.observers`): one finished model batch."""
        model = record.model_key.decode("utf-8", "replace")
        device = record.device
        if record.error is None:
            self.execution_done(model, device, record.rows, record.compute)
            children = self._children(model, device)
            children.success.inc(len(record.waits))
            for wait in record.waits:
                children.queue_seconds.observe(wait)
                children.request_seconds.observe(wait + record.compute)
        else:
            self._children(model, device).executions.inc()
            reason = "batch_size" if "batch size" in record.error else "backend_error"
            self.failure.labels(model, device, reason).inc(record.requests)

    def model_loaded(self, model: str, backend: str, device: str, seconds: float) -> None:
        """A model was loaded (MODELSTORE or preload)."""
        self.load_seconds.labels(model, backend, device).observe(seconds)

    def model_loaded_hook(self, model: Any, seconds: float) -> None:
        """The models' load hook (``extensions['model_loaded_hooks']``): one MODELSTORE finished."""
        key = model.key.decode("utf-8", "replace") if isinstance(model.key, bytes) else str(model.key)
        self.model_loaded(key, str(model.backend), str(model.device).upper(), seconds)


@dataclass
class Snapshot:
    """Live figures copied on the event loop, read by the scrape thread."""

    ready: bool = False
    uptime: float = 0.0
    clients: int = 0
    maxclients: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    keyspace: list[tuple[int, int, int]] = field(default_factory=list)      # (db, keys, expires)
    commands: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # name, calls, usec, failed, rej
    queues: list[dict[str, Any]] = field(default_factory=list)   # {"device", "depth", "threads", ...}
    rss: int = 0
    slowlog: int = 0


_STAT_COUNTERS = {
    "connections_received": "Connections accepted",
    "rejected_connections": "Connections refused (maxclients)",
    "net_input_bytes": "Bytes read from clients",
    "net_output_bytes": "Bytes written to clients",
    "expired_keys": "Keys removed by expiry",
    "keyspace_hits": "Successful key lookups",
    "keyspace_misses": "Failed key lookups",
}


def take_snapshot(server: Any) -> Snapshot:
    """Copy the live figures of ``server`` (an :class:`inferd.server.Server`); call on the event loop only."""
    from inferd.commands.info import rss_bytes
    from inferd.commands.table import unique_commands
    from inferd.info_ai import queue_figures
    state = server.state
    st = state.stats
    snap = Snapshot(ready=server.ready is not None and server.ready.is_set(),
                    uptime=time.monotonic() - st.started_monotonic, clients=len(state.clients),
                    maxclients=state.config.maxclients, rss=rss_bytes(), slowlog=len(state.slowlog))
    snap.stats = {name: getattr(st, name) for name in _STAT_COUNTERS}
    snap.stats["commands_processed"] = state.dispatcher.commands_processed() if state.dispatcher else 0
    snap.errors = dict(sorted(st.error_replies.items())[:MAX_ERROR_PREFIXES])
    snap.keyspace = [(db.index, len(db.data), len(db.expires)) for db in state.keyspace.dbs if db.data]
    if state.dispatcher is not None:
        for cmd in unique_commands(state.dispatcher.table):
            for c in (cmd, *cmd.subcommands.values()):
                s = c.stats
                if s.calls or s.rejected_calls:
                    snap.commands.append((c.name, s.calls, s.usec, s.failed_calls, s.rejected_calls))
    snap.queues = queue_figures(state)
    return snap


class ServerCollector(Collector):
    """Families computed from a :class:`Snapshot` at scrape time."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield every snapshot-based family."""
        snap = self._snapshot()
        yield InfoMetricFamily("inferd_build", "inferd version", value={"version": __version__})
        yield GaugeMetricFamily("inferd_ready", "1 when listeners are up and preloads finished", value=int(snap.ready))
        yield GaugeMetricFamily("inferd_uptime_seconds", "Seconds since start", value=snap.uptime)
        yield GaugeMetricFamily("inferd_connected_clients", "Connected clients", value=snap.clients)
        yield GaugeMetricFamily("inferd_max_clients", "The maxclients setting", value=snap.maxclients)
        yield GaugeMetricFamily("inferd_memory_rss_bytes", "Resident set size of the process", value=snap.rss)
        yield GaugeMetricFamily("inferd_slowlog_length", "Entries in the slow log", value=snap.slowlog)
        for name, help_text in {**_STAT_COUNTERS, "commands_processed": "Commands run"}.items():
            yield CounterMetricFamily(f"inferd_{name}", help_text, value=snap.stats.get(name, 0))
        yield from self._keyspace(snap)
        yield from self._commands(snap)
        yield from self._queues(snap)

    @staticmethod
    def _keyspace(snap: Snapshot) -> Iterable[Metric]:
        keys = GaugeMetricFamily("inferd_keyspace_keys", "Keys per database", labels=["db"])
        expires = GaugeMetricFamily("inferd_keyspace_expires", "Keys with a TTL per database", labels=["db"])
        for db, n, e in snap.keyspace:
            keys.add_metric([str(db)], n)
            expires.add_metric([str(db)], e)
        errors = CounterMetricFamily("inferd_error_replies", "Error replies by prefix", labels=["prefix"])
        for prefix, n in snap.errors.items():
            errors.add_metric([prefix], n)
        return (keys, expires, errors)

    @staticmethod
    def _commands(snap: Snapshot) -> Iterable[Metric]:
        calls = CounterMetricFamily("inferd_command_calls", "Calls per command", labels=["command"])
        seconds = CounterMetricFamily("inferd_command_duration_seconds", "Cumulative time in each command's "
                                      "handler", labels=["command"])
        failed = CounterMetricFamily("inferd_command_failed_calls", "Calls that replied an error",
                                     labels=["command"])
        rejected = CounterMetricFamily("inferd_command_rejected_calls", "Calls refused before running (auth)",
                                       labels=["command"])
        for name, n, usec, nfail, nrej in snap.commands:
            calls.add_metric([name], n)
            seconds.add_metric([name], usec / 1e6)
            failed.add_metric([name], nfail)
            rejected.add_metric([name], nrej)
        return (calls, seconds, failed, rejected)

    @staticmethod
    def _queues(snap: Snapshot) -> Iterable[Metric]:
        depth = GaugeMetricFamily("inferd_queue_depth", "Requests waiting in each device queue", labels=["device"])
        threads = GaugeMetricFamily("inferd_queue_threads", "Worker threads per device queue", labels=["device"])
        busy = GaugeMetricFamily("inferd_queue_busy_workers", "Workers running a batch", labels=["device"])
        dropped = CounterMetricFamily("inferd_queue_dropped_requests", "Requests that never ran, by reason "
                                      "(timeout: TIMEOUT passed while queued; cancelled: client gone; queue_full: "
                                      "queue-max-depth reached)", labels=["device", "reason"])
        inline = CounterMetricFamily("inferd_queue_inline_runs", "Model batches run on the event loop "
                                     "(inline-run-max-us) instead of on a worker", labels=["device"])
        narrow = CounterMetricFamily("inferd_queue_side_by_side_batches", "Model batches run beside another "
                                     "batch on one intra-op thread (side-batch-min-row-us)", labels=["device"])
        for q in snap.queues:
            device = q["device"]
            depth.add_metric([device], q.get("depth", 0))
            threads.add_metric([device], q.get("threads", 0))
            busy.add_metric([device], q.get("busy", 0) + q.get("side_busy", 0))
            inline.add_metric([device], q.get("inline", 0))
            narrow.add_metric([device], q.get("narrow", 0))
            for reason, field_name in (("timeout", "timed_out"), ("cancelled", "cancelled"), ("queue_full", "refused")):
                dropped.add_metric([device, reason], q.get(field_name, 0))
        return (depth, threads, busy, dropped, inline, narrow)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Silence the per-request log."""


def _server_class(host: str) -> type[ThreadingWSGIServer]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingWSGIServer):
        address_family = family
    return Server


class MetricsEndpoint:
    """Subsystem: the metrics registry and, when ``metrics-port`` is set, the HTTP endpoint on a daemon thread."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.registry = CollectorRegistry()
        self.models = ModelMetrics(self.registry)
        self.registry.register(ServerCollector(self.snapshot))
        ProcessCollector(registry=self.registry)
        self.bound_port = 0
        self._server: Any = None
        self._owner: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last = Snapshot()
        self._sampler: Any = None

    async def start(self, server: Any) -> None:
        """Register with the server state; serve HTTP when a port is configured."""
        from inferd import info_ai
        self._owner = server
        self._loop = asyncio.get_running_loop()
        server.state.extensions["metrics"] = self
        info_ai.register(server.state)
        self._sampler = info_ai.RateSampler(server.state)
        self._sampler.start()
        server.state.extensions["instantaneous"] = self._sampler
        server.state.extensions.setdefault("config_hooks", []).append(_follow_loglevel)
        if not self.port:
            return   # nobody can scrape: the per-batch and per-load hooks would be work for nothing
        server.state.extensions.setdefault("model_loaded_hooks", []).append(self.models.model_loaded_hook)
        schedulers = server.state.extensions.get("schedulers")
        if schedulers is not None and self.models.observe_batch not in schedulers.observers:
            schedulers.observers.append(self.models.observe_batch)
        self._serve()

    def _serve(self) -> None:
        app = self.wsgi_app()
        self._server = make_server(self.host, self.port, app, server_class=_server_class(self.host),
                                   handler_class=_QuietHandler)
        self.bound_port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="inferd-metrics", daemon=True).start()
        log.info("metrics endpoint on http://%s:%d/metrics (/healthz, /readyz)", self.host, self.bound_port)

    async def stop(self) -> None:
        """Stop the HTTP thread and the rates sampler (safe when never started)."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.get_running_loop().run_in_executor(None, server.shutdown)
            server.server_close()

    def ready(self) -> bool:
        """Listeners up and preloads finished (``Server.ready``), and not shutting down."""
        owner = self._owner
        return owner is not None and owner.ready is not None and owner.ready.is_set()

    def snapshot(self) -> Snapshot:
        """A fresh snapshot taken on the loop; the last one if the loop does not answer in time."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return self._last
        done: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()

        def take() -> None:
            try:
                done.set_result(take_snapshot(self._owner))
            except BaseException as exc:  # reported to the scrape thread below
                done.set_exception(exc)
        try:
            loop.call_soon_threadsafe(take)
            self._last = done.result(SNAPSHOT_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            log.warning("metrics snapshot: the event loop did not answer in %.0fs; serving the last one",
                        SNAPSHOT_TIMEOUT_SECONDS)
        except RuntimeError:   # the loop closed under us (shutdown)
            pass
        except Exception:
            log.exception("metrics snapshot failed")
        return self._last

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """The WSGI application: /metrics from the registry, /healthz and /readyz."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "/")
            if path == "/healthz":
                return _plain(start_response, "200 OK", b"ok\n")
            if path == "/readyz":
                if self.ready():
                    return _plain(start_response, "200 OK", b"ready\n")
                return _plain(start_response, "503 Service Unavailable", b"not ready\n")
            if path in ("/metrics", "/"):
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            return _plain(start_response, "404 Not Found", b"not found: try /metrics, /healthz, /readyz\n")
        return app


def _follow_loglevel(config: Any) -> None:
    """CONFIG SET loglevel takes effect at once (a config hook)."""
    from inferd.cli import LOG_LEVELS
    level = LOG_LEVELS.get(config.loglevel, logging.INFO)
    if logging.getLogger().level != level:
        logging.getLogger().setLevel(level)


def _plain(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
