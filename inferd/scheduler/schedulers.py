"""Every device's queue (:class:`Schedulers`), and the live settings the queues read.

The queues are created on first use and started and stopped with the server; CONFIG SET applies to queues already
created. Among the settings: whether a single client is active (``lone-client-run-max-us``).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from inferd.errors import CommandError
from inferd.scheduler.batching import RunOutcome, RunRequest
from inferd.scheduler.queues import DeviceQueue
from inferd.scheduler.stats import Observer

_monotonic = time.monotonic
LONE_IDLE_S = 1.0   # a connection that sent nothing for this long (and waits on no model run) counts as idle
LONE_RECOUNT_S = 0.05   # the active connections are counted again at most this often (see Schedulers._lone_max_us)


class Schedulers:
    """Every device's queue, created on first use, owned and stopped by the server lifecycle.

    :attr:`observers` are called on the loop thread with a :class:`~inferd.scheduler.stats.BatchRecord` for every
    model batch a worker finishes (on every device); the metrics endpoint subscribes here.
    """

    def __init__(self, threads_per_queue: int = 1) -> None:
        self.threads_per_queue = threads_per_queue
        self.queues: dict[str, DeviceQueue] = {}
        self.observers: list[Observer] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._config: Any = None
        self.lone_idle_s = LONE_IDLE_S
        self.lone_recount_s = LONE_RECOUNT_S
        self._lone_counted = -LONE_RECOUNT_S - 1.0    # when the active connections were last counted
        self._lone_active = False                     # then: exactly one of them was active

    async def start(self, server: Any) -> None:
        """Subsystem start: remember the loop and the live config, create the CPU queue."""
        self._loop = asyncio.get_running_loop()
        self._config = server.state
        server.state.extensions["schedulers"] = self
        self.queue("CPU")

    async def stop(self) -> None:
        """Subsystem stop: fail what is still pending, then let the workers finish what they hold and exit."""
        for q in self.queues.values():
            q.drain()
        for q in self.queues.values():
            await asyncio.get_running_loop().run_in_executor(None, q.stop)
        self.queues.clear()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the queues run on, set at start.

        Cheaper per request than ``asyncio.get_running_loop()``, which makes a getpid system call each time.
        """
        assert self._loop is not None
        return self._loop

    def _setting(self, name: str, default: int) -> int:
        """A live config value (CONFIG SET applies to queues already created); ``default`` before start-up."""
        return int(getattr(getattr(self._config, "config", None), name, default))

    def _max_depth(self) -> int:
        return self._setting("queue_max_depth", 1 << 62)

    def _inline_max_us(self) -> int:
        return self._setting("inline_run_max_us", 0)

    def _side_min_row_us(self) -> int:
        return self._setting("side_batch_min_row_us", 0)

    def _run_thread_spin_us(self) -> int:
        return self._setting("onnx_run_thread_spin_us", 0)

    def _run_thread_min_rows(self) -> int:
        return self._setting("onnx_run_thread_min_rows", 0)

    def _lone_max_us(self) -> int:
        """``lone-client-run-max-us`` while a single client is active; else 0.

        Active: connected, and either sent something in the last :attr:`lone_idle_s` or waits on a model run. The
        other connections of a pool, or an operator's redis-cli left open, do not keep a lone client's runs off the
        loop, yet any connection that sends something turns the rule off within :attr:`lone_recount_s` (how long a
        count over every connection, which the loop thread pays, is trusted).
        """
        config = self._config
        if config is None:
            return 0
        clients = config.clients
        if len(clients) != 1:
            now = _monotonic()
            if now - self._lone_counted >= self.lone_recount_s:
                self._lone_counted = now
                self._lone_active = _one_active(clients.values(), now - self.lone_idle_s)
            if not self._lone_active:
                return 0
        return self._setting("lone_client_run_max_us", 0)

    def queue(self, device: str) -> DeviceQueue:
        """The queue of ``device`` (upper-cased, as RedisAI keys its queues), created if needed."""
        q = self.queues.get(device)
        if q is not None:
            return q
        name = device.upper()
        q = self.queues.get(name)
        if q is None:
            assert self._loop is not None
            q = self.queues[name] = DeviceQueue(name, self.threads_per_queue, self._loop, self._max_depth,
                                                self.observers, self._inline_max_us, self._lone_max_us,
                                                self._side_min_row_us, self._run_thread_spin_us,
                                                self._run_thread_min_rows)
        return q

    def submit(self, device: str, model: Any, inputs: list[Any], timeout_ms: int = 0, *,
               deadline: float | None = None, on_done: Callable[[RunOutcome], None] | None = None
               ) -> asyncio.Future[Any]:
        """Queue a model run; the future resolves to its outputs, TIMEDOUT, or a CommandError.

        ``timeout_ms`` > 0 (or an explicit monotonic ``deadline``) drops the request with TIMEDOUT if it has not
        started by then. ``on_done`` receives the request's :class:`~inferd.scheduler.batching.RunOutcome` on the
        loop thread (AI.INFO statistics).
        """
        assert self._loop is not None
        future = self._loop.create_future()
        if deadline is None and timeout_ms > 0:
            deadline = _monotonic() + timeout_ms / 1000
        self.enqueue(device, future, model, inputs, None, deadline=deadline, on_done=on_done)
        return future

    def run_now(self, device: str, model: Any, inputs: list[Any]) -> list[Any] | None:
        """The outputs of a lone run made at once on a lightly loaded queue, or None: queue it.

        See :meth:`DeviceQueue.run_now`; raises the run's CommandError.
        """
        return self.queue(device).run_now(model, inputs)

    def enqueue(self, device: str, future: asyncio.Future[Any], model: Any, inputs: list[Any],
                deliver: Callable[[Any, CommandError | None], None] | None, *, deadline: float | None = None,
                on_done: Callable[[RunOutcome], None] | None = None) -> None:
        """Queue a model run for a reply that the caller settles itself: no future of its own per run.

        ``future`` is the reply the client waits on (cancelling it drops the run while it is queued; several runs
        may share it); ``deliver(result, error)`` receives the outputs, :data:`TIMEDOUT` or the CommandError on the
        loop thread, never inside this call. With ``deliver`` None the outcome settles ``future`` (as :meth:`submit`).
        """
        self.queue(device).put(RunRequest(future, model=model, inputs=inputs, deadline=deadline,
                                          enqueued=_monotonic(), on_done=on_done, deliver=deliver))

    def call(self, device: str, fn: Callable[[], Any], *, reply: asyncio.Future[Any] | None = None,
             deadline: float | None = None, deliver: Callable[[Any, CommandError | None], None] | None = None
             ) -> asyncio.Future[Any]:
        """Run ``fn`` alone on the device's workers; the future resolves to its result or CommandError.

        As with :meth:`enqueue`, a caller may pass the ``reply`` its client waits on and a ``deliver`` callback that
        settles it (a script run, a DAG's script op); ``deadline`` drops the call with :data:`TIMEDOUT` if it has
        not started by then. Returns ``reply`` (or the new future).
        """
        assert self._loop is not None
        future: asyncio.Future[Any] = reply if reply is not None else self._loop.create_future()
        self.queue(device).put(RunRequest(future, fn=fn, deadline=deadline, enqueued=_monotonic(), deliver=deliver))
        return future


def _one_active(clients: Any, since: float) -> bool:
    """Whether exactly one of ``clients`` sent something after ``since`` or waits on a model run."""
    active = 0
    for client in clients:
        if client.last_interaction > since or client.in_flight:
            active += 1
            if active > 1:
                return False
    return active == 1
