"""A device queue's native thread (``onnx-run-thread``): one batch at a time, run without the GIL, the next one staged.

The thread is the ONNX backend's executor (inferd/backends/_ortrun_executor.c), made at the first batch it takes. The
loop hands over the batch's inputs, each as the list of its requests' arrays (:meth:`NativeThread.start`); the thread
joins them, runs the model's native session on them and makes its file descriptor readable when done, and the loop
(watching that descriptor) takes the outputs split per request (:meth:`NativeThread.finish`). While a batch runs, the
next one is staged on the thread and grows with the requests that come (:meth:`NativeThread.stage`), so that the thread
goes on to it as soon as it is done, without waiting for the loop to take the last one's outputs. Which batches go
there, and what happens to their requests, is the queue's (:class:`~inferd.scheduler.queues.DeviceQueue`). A queue's
batches run side by side under load (``side-batch-min-row-us``) each take a native thread of their own
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
    """The executor of one device queue, and the batches it has in hand (loop thread only)."""

    def __init__(self, device: str, loop: asyncio.AbstractEventLoop, readable: Callable[[], None],
                 unexpected: Callable[[Exception], CommandError]) -> None:
        self.device = device
        self.loop = loop
        self.readable = readable       # called by the loop when the thread's descriptor is readable
        self.unexpected = unexpected   # the queue's safety net for an error no backend wrapped
        self.executor: Any = None      # made at the first batch
        # (batch, native session, run, started), oldest first: the one the thread runs (or ran, not yet finished
        # here) and the next one, staged
        self.runs: list[tuple[Batch, Any, Any, float]] = []

    @property
    def busy(self) -> bool:
        """A batch was started and is not yet finished."""
        return bool(self.runs)

    @property
    def done(self) -> bool:
        """The oldest batch in hand is done: :meth:`finish` has its outcome."""
        return bool(self.runs) and bool(self.executor.done)

    def start(self, batch: Batch, native: Any, spin_us: int, started: float, want: int = 0) -> bool:
        """Start ``batch`` on the model's ``native`` session; False (nothing done) when the thread cannot take it.

        With ``want``, the thread starts it once it holds that many rows (see :meth:`stage`) or is released. It cannot
        for an input of a type the thread does not take, or when the thread could not be started. Raises the start's
        CommandError (a wrong count of inputs): nothing runs then.
        """
        if self.executor is None and not self._make_executor(native):
            return False
        run = native.start(self.executor, batching.input_parts(batch), spin_us, want)
        if run is None:
            return False
        self.runs.append((batch, native, run, started))
        return True

    def stage(self, batch: Batch, native: Any, spin_us: int, started: float) -> bool:
        """While a batch runs: ``batch`` as the next one, which the thread takes as soon as it is done and full.

        It joins the batch already staged where it can (the same model and inputs, within BATCHSIZE, not yet taken
        by the thread); else it is staged itself, behind the one running, to be taken once it holds as many rows as
        that one (the requests of one turn of the clients) or once :meth:`release` lets it go with fewer. False
        (nothing done) when neither can be: it waits for a batch to finish. Raises the start's CommandError.
        """
        staged, staged_native, run, _ = self.runs[-1]
        head = staged.requests[0]
        if (staged_native is native and not batching.runs_alone(head)
                and batching.compatible(head, batch.requests[0])
                and staged.rows + batch.rows <= batching.batch_cap(head.model)
                and native.extend(run, batching.input_lists(batch))):
            staged.requests.extend(batch.requests)
            staged.rows += batch.rows
            return True
        return len(self.runs) == 1 and self.start(batch, native, spin_us, started, staged.rows)

    def release(self) -> None:
        """The oldest batch in hand may start with the rows it holds, if it has not (the one before it is done)."""
        if self.runs:
            _, native, run, _ = self.runs[0]
            native.release(run)

    def _make_executor(self, native: Any) -> bool:
        try:
            self.executor = native.executor()
        except Exception:
            log.exception("device %s: no native thread; batches run on the loop", self.device)
            return False
        self.loop.add_reader(self.executor.fd, self.readable)
        return True

    def finish(self) -> Outcome | None:
        """The oldest batch's outcome once the thread is done with it; None while it runs, or with none in hand."""
        if not self.runs:
            self.executor.collect()   # nothing of ours in progress: clear the wake-up
            return None
        batch, native, run, started = self.runs[0]
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
        del self.runs[0]
        return batch, results, error, started, duration_us

    def close(self) -> None:
        """End the thread (server shutdown): the batches in hand finish first and stay for :meth:`finish`."""
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
