"""One FIFO queue per device with ``threads-per-queue`` worker threads (first version: no batching yet)."""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inferd.errors import CommandError
from inferd.resp.encoder import Status

log = logging.getLogger("inferd.scheduler")
TIMEDOUT = Status(b"TIMEDOUT")


@dataclass(slots=True)
class RunRequest:
    """One unit of work for a device: a model run (``model``/``inputs``) or a plain call (``fn``)."""

    future: asyncio.Future[Any]
    model: Any = None
    inputs: list[Any] = field(default_factory=list)
    fn: Callable[[], Any] | None = None
    deadline: float | None = None
    enqueued: float = field(default_factory=time.monotonic)


class DeviceQueue:
    """A device's queue and its worker threads."""

    def __init__(self, device: str, threads: int, loop: asyncio.AbstractEventLoop) -> None:
        self.device = device
        self.loop = loop
        self._queue: queue.SimpleQueue[RunRequest | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"inferd-{device}-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def put(self, request: RunRequest) -> None:
        """Enqueue (called on the loop thread)."""
        self._queue.put(request)

    def stop(self) -> None:
        """Let the workers finish what they hold and exit."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(10)

    def _work(self) -> None:
        while (request := self._queue.get()) is not None:
            if request.future.cancelled():
                continue
            if request.deadline is not None and time.monotonic() > request.deadline:
                self._resolve(request, TIMEDOUT, None)
                continue
            try:
                result = request.fn() if request.fn is not None else request.model.run(request.inputs)
            except CommandError as exc:
                self._resolve(request, None, exc)
            except Exception as exc:  # backend errors are wrapped at the backend boundary; this is a safety net
                log.exception("device %s: unexpected error", self.device)
                self._resolve(request, None, CommandError(f"ERR {exc}"))
            else:
                self._resolve(request, result, None)

    def _resolve(self, request: RunRequest, result: Any, error: BaseException | None) -> None:
        def settle() -> None:
            if request.future.done():
                return
            if error is not None:
                request.future.set_exception(error)
            else:
                request.future.set_result(result)
        self.loop.call_soon_threadsafe(settle)


class Schedulers:
    """Every device's queue, created on first use, owned and stopped by the server lifecycle."""

    def __init__(self, threads_per_queue: int = 1) -> None:
        self.threads_per_queue = threads_per_queue
        self.queues: dict[str, DeviceQueue] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, server: Any) -> None:
        """Subsystem start: remember the loop, create the CPU queue."""
        self._loop = asyncio.get_running_loop()
        server.state.extensions["schedulers"] = self
        self.queue("CPU")

    async def stop(self) -> None:
        """Subsystem stop."""
        for q in self.queues.values():
            await asyncio.get_running_loop().run_in_executor(None, q.stop)
        self.queues.clear()

    def queue(self, device: str) -> DeviceQueue:
        """The queue of ``device`` (upper-cased, as RedisAI keys its queues), created if needed."""
        name = device.upper()
        q = self.queues.get(name)
        if q is None:
            assert self._loop is not None
            q = self.queues[name] = DeviceQueue(name, self.threads_per_queue, self._loop)
        return q

    def submit(self, device: str, model: Any, inputs: list[Any], timeout_ms: int = 0) -> asyncio.Future[Any]:
        """Queue a model run; the future resolves to its outputs, TIMEDOUT, or a CommandError."""
        assert self._loop is not None
        future = self._loop.create_future()
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else None
        self.queue(device).put(RunRequest(future, model=model, inputs=inputs, deadline=deadline))
        return future

    def call(self, device: str, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``fn`` on the device's workers; the future resolves to its result or CommandError."""
        assert self._loop is not None
        future = self._loop.create_future()
        self.queue(device).put(RunRequest(future, fn=fn))
        return future
