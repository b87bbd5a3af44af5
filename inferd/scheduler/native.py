"""A device queue's native thread (``onnx-run-thread``): one batch at a time, run without the GIL.

The thread is the ONNX backend's executor (inferd/backends/_ortrun.c), made at the first batch it takes. The loop
hands over the batch's inputs, each as the list of its requests' arrays (:meth:`NativeThread.start`); the thread joins
them, runs the model's native session on them and makes its file descriptor readable when done, and the loop
(watching that descriptor) takes the outputs split per request (:meth:`NativeThread.finish`). Which batches go there,
and what happens to their requests, is the queue's (:class:`~inferd.scheduler.queues.DeviceQueue`). A queue's batches
run side by side under load (``side-batch-min-row-us``) each take a native thread of their own
(:class:`NativeThreads`).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from inferd.errors import CommandError
from inferd.scheduler import batching
from inferd.scheduler.batching import Batch

log = logging.getLogger("inferd.scheduler")

# a finished batch: (batch, results per request, its error, when it started, the run's µs); see DeviceQueue._settle
Outcome = tuple[Batch, list[Any], CommandError | None, float, int]


class NativeThread:
    """The executor of one device queue, and the batch it runs (loop thread only)."""

    def __init__(self, device: str, loop: asyncio.AbstractEventLoop, readable: Callable[[], None],
                 unexpected: Callable[[Exception], CommandError]) -> None:
        self.device = device
        self.loop = loop
        self.readable = readable       # called by the loop when the thread's descriptor is readable
        self.unexpected = unexpected   # the queue's safety net for an error no backend wrapped
        self.executor: Any = None      # made at the first batch
        self.running: tuple[Batch, Any, Any, float] | None = None   # (batch, native session, run, started)

    @property
    def busy(self) -> bool:
        """A batch was started and is not yet finished."""
        return self.running is not None

    def start(self, batch: Batch, native: Any, spin_us: int, started: float) -> bool:
        """Start ``batch`` on the model's ``native`` session; False (nothing done) when the thread cannot take it.

        It cannot for an input of a type the thread does not take, or when the thread could not be started. Raises
        the start's CommandError (a wrong count of inputs): nothing runs then.
        """
        if self.executor is None and not self._make_executor(native):
            return False
        run = native.start(self.executor, batching.input_parts(batch), spin_us)
        if run is None:
            return False
        self.running = (batch, native, run, started)
        return True

    def _make_executor(self, native: Any) -> bool:
        try:
            self.executor = native.executor()
        except Exception:
            log.exception("device %s: no native thread; batches run on the loop", self.device)
            return False
        self.loop.add_reader(self.executor.fd, self.readable)
        return True

    def finish(self) -> Outcome | None:
        """The running batch's outcome once the thread is done with it; None while it runs, or with none running."""
        entry = self.running
        if entry is None:
            self.executor.collect()   # nothing of ours in progress: clear the wake-up
            return None
        batch, native, run, started = entry
        results: list[Any] = []
        error: CommandError | None = None
        duration_us = 0
        try:
            done = native.finish(run)
            if done is None:
                return None
            outputs, duration_us = done
            results = batching.split_outputs(batch, outputs)
        except CommandError as exc:
            error = exc
        except Exception as exc:  # as in the queue's own runs: a safety net
            error = self.unexpected(exc)
        self.running = None
        return batch, results, error, started, duration_us

    def close(self) -> None:
        """End the thread (server shutdown): a batch in progress finishes first and stays for :meth:`finish`."""
        if self.executor is not None:
            self.loop.remove_reader(self.executor.fd)
            self.executor.close()


class NativeThreads:
    """Native threads for batches that run side by side: one per batch running, made as needed (loop thread only).

    ``done(index)`` is called by the loop when thread ``index``'s descriptor is readable.
    """

    def __init__(self, device: str, loop: asyncio.AbstractEventLoop, done: Callable[[int], None],
                 unexpected: Callable[[Exception], CommandError]) -> None:
        self.device = device
        self.loop = loop
        self.done = done
        self.unexpected = unexpected
        self.threads: list[NativeThread] = []

    def idle(self) -> NativeThread:
        """A thread running no batch: the first such, else a new one."""
        for thread in self.threads:
            if not thread.busy:
                return thread
        thread = NativeThread(self.device, self.loop, partial(self.done, len(self.threads)), self.unexpected)
        self.threads.append(thread)
        return thread
