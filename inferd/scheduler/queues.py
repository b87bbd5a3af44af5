"""Device queues: event-driven batch formation on the loop thread; backend calls on the loop or on worker threads.

Each :class:`DeviceQueue` keeps its pending requests in arrival order and a count of idle workers. A request that
arrives schedules a *step* for the next loop turn, so every request the loop reads in one turn is pending before a
batch is formed (:func:`~inferd.scheduler.batching.form_batch`); only a lone request on a queue that loop turns
reach one request at a time may run at once, inside its command (:meth:`DeviceQueue.run_now`). A step runs one
batch on the loop thread itself when the model's runs of that size are expected to take at most
``inline-run-max-us`` (or on the queue's native thread, for a model that has a session for it:
:meth:`DeviceQueue._start_native`), and hands the other batches to idle workers; workers handing a batch back and
MINBATCHTIMEOUT timers form batches too. While every worker is busy, compatible requests simply accumulate and
later form larger batches, except that a compute-bound model's batch may run beside them on the queue's one side worker
(``side-batch-min-row-us``, :meth:`DeviceQueue._side_pays`); such a batch of a model with a native session runs on a
native thread instead of the worker (:meth:`DeviceQueue._start_beside`). Nothing sleeps or polls: TIMEOUT and
MINBATCHTIMEOUT use loop timers, a disconnect (cancelled future) removes the request at once, and workers block on a
queue of ready batches.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from inferd import errors
from inferd.errors import CommandError
from inferd.resp.encoder import Status
from inferd.scheduler import batching
from inferd.scheduler.batching import Batch, RunOutcome, RunRequest
from inferd.scheduler.native import NativeThread, NativeThreads
from inferd.scheduler.stats import DeviceStats, Observer, account

log = logging.getLogger("inferd.scheduler")
TIMEDOUT = Status(b"TIMEDOUT")
_perf_ns = time.perf_counter_ns
_monotonic = time.monotonic
LIGHT_BATCH_ROWS = 2.5   # a queue whose recent batches average at most this many rows is lightly loaded
LONE_TURN_REQUESTS = 1.25   # run_now runs while loop turns bring a queue at most this many requests (on average)
LOOP_CUT_SMALL = 4   # a cut for the loop that keeps less than 1/this of a batch's rows is checked (see _loop_sized)
LOOP_CUT_COST = 2   # such a cut is made only while its rows cost at most this many times the whole's per row
LOOP_CUT_RECHECK = 256   # of this many such cuts, one goes to a worker whole instead (its size measured again)


class DeviceQueue:
    """A device's pending requests, its worker threads and its statistics (:attr:`stats`)."""

    def __init__(self, device: str, threads: int, loop: asyncio.AbstractEventLoop,
                 max_depth: Callable[[], int] = lambda: 1 << 62, observers: list[Observer] | None = None,
                 inline_max_us: Callable[[], int] = lambda: 0, lone_max_us: Callable[[], int] = lambda: 0,
                 side_min_row_us: Callable[[], int] = lambda: 0, spin_us: Callable[[], int] = lambda: 0,
                 native_min_rows: Callable[[], int] = lambda: 0) -> None:
        self.device = device
        self.loop = loop
        self.max_depth = max_depth
        self.inline_max_us = inline_max_us
        self.lone_max_us = lone_max_us   # the limit for a lone request while its client is the only one; else 0
        self.side_min_row_us = side_min_row_us   # side-batch-min-row-us (0: no side batches)
        self.spin_us = spin_us                   # onnx-run-thread-spin-us
        self.native_min_rows = native_min_rows   # onnx-run-thread-min-rows
        self.observers: list[Observer] = observers if observers is not None else []
        self.stats = DeviceStats(device)
        self.pending: dict[int, RunRequest] = {}      # id(request) -> request; insertion order is arrival order
        self.idle = threads
        self.side = 1                                 # the side worker is free (see _side_pays)
        self.running = 0                              # batches on workers
        self.recent_rows = 0.0                        # rows per model batch, a moving average (1/8 per batch)
        self._stepping = False                        # a _step is scheduled
        self._ran_now = False                         # run_now ran a request in this loop turn
        self.turn_requests = 0.0                      # requests per loop turn, a moving average (1/8 per turn)
        self._cuts = 0                                # small cuts for the loop made (see _small_cut_pays)
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at: float | None = None
        self._ready: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._native = NativeThread(device, loop, self._native_done, self._unexpected)   # see _start_native
        self._beside = NativeThreads(device, loop, self._beside_done, self._unexpected)   # see _start_beside
        self._threads = [threading.Thread(target=self._work, name=f"inferd-{device}-{i}", daemon=True)
                         for i in range(threads)]
        self._threads.append(threading.Thread(target=self._work, name=f"inferd-{device}-side", daemon=True))
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting (not yet handed to a worker)."""
        return len(self.pending)

    # ---- loop thread -------------------------------------------------------------------------------
    def put(self, request: RunRequest) -> None:
        """Enqueue (loop thread); past ``queue-max-depth`` the request fails at once with QUEUE_FULL.

        A ``deliver`` callback gets that error on the next loop iteration, never inside its caller's ``put``.
        """
        limit = self.max_depth()
        if len(self.pending) >= limit:
            self.stats.refused += 1
            error = CommandError(errors.QUEUE_FULL.format(self.device, limit))
            if request.deliver is not None:
                self.loop.call_soon(self._outcome, request, None, error)
            else:
                request.future.set_exception(error)
            return
        if not request.enqueued:
            request.enqueued = _monotonic()
        self.pending[id(request)] = request
        request.discard = partial(self._discard, request)
        request.future.add_done_callback(request.discard)
        if request.deadline is not None:
            request.timer = self.loop.call_later(max(0.0, request.deadline - _monotonic()), self._expire, request)
        self._step_soon()

    def _step_soon(self) -> None:
        """Decide on the pending requests once the loop has read everything that arrived with them."""
        if not self._stepping:
            self._stepping = True
            self.loop.call_soon(self._step)

    def run_now(self, model: Any, inputs: list[Any]) -> list[Any] | None:
        """Run a lone model request at once, inside its caller, when nothing could join it; its outputs, or None.

        For a queue whose loop turns bring it one request at a time (:attr:`turn_requests`, at most
        ``LONE_TURN_REQUESTS`` on average) and that has nothing pending: when the model's run is short enough for
        the loop (:meth:`_runs_inline`) and needs no MINBATCHSIZE wait, the first request of a loop turn runs here,
        as the inline batch of one it would otherwise make after the turn's reads, without being queued (no request
        kept pending, no future, no loop callback for its outcome). Later requests of the same turn are queued, so
        that what arrives together is batched together, and they count for that turn: once turns bring more than
        one request, requests are queued again until turns are lone again. Raises the run's CommandError;
        statistics as for any batch. None: nothing was done, the caller queues the request.
        """
        if self.pending or self._ran_now or self.turn_requests > LONE_TURN_REQUESTS or self._native_first(model):
            return None
        request = RunRequest(None, model=model, inputs=inputs, enqueued=_monotonic())
        if not self._may_run_alone(request):
            return None
        self._ran_now = True
        self._step_soon()   # ends the turn: the step clears _ran_now once the turn's reads are done
        batch = self._alone_on_loop(request)
        results, error, started, duration_us = self._execute(batch)
        self._account(batch, results if error is None else None, error, started, duration_us)
        if error is not None:
            raise error
        return results[0]   # type: ignore[no-any-return]

    def _step(self) -> None:
        """A loop turn's batch decisions: one batch inline, or batches handed to idle workers."""
        self.turn_requests += (len(self.pending) + self._ran_now - self.turn_requests) / 8
        self._stepping = self._ran_now = False
        if len(self.pending) != 1 or not self._run_alone():
            self._dispatch(inline=True)

    def _run_alone(self) -> bool:
        """The lone pending request run on the loop, as :meth:`_dispatch` would run it, without forming a batch.

        The commonest step under light load: one request, a model run short enough for the loop
        (:meth:`_runs_inline`), no TIMEOUT, no MINBATCHSIZE to wait for, its client still there. Returns False,
        having done nothing, for any other request: :meth:`_dispatch` then decides.
        """
        request = next(iter(self.pending.values()))
        if (request.deadline is not None or request.future.done() or self._native_first(request.model)
                or not self._may_run_alone(request)):
            return False
        self._remove(request)
        batch = self._alone_on_loop(request)
        self._settle(batch, *self._execute(batch))
        if self.pending:
            self._step_soon()
        return True

    def _native_first(self, model: Any) -> bool:
        """Whether a lone request of ``model`` leaves the loop to the native thread rather than run on it alone.

        For a model with a session for the native thread (``onnx-run-thread``) while that thread runs a batch (the
        request waits to join the next one) or while the queue's batches go there (:meth:`_native_time`).
        """
        return getattr(model, "native", None) is not None and (self._native.busy or self._native_time())

    def _native_time(self) -> bool:
        """Whether the native thread takes the queue's batches for the loop now.

        While the queue's recent batches average at least ``onnx-run-thread-min-rows`` rows and none of its batches
        is on a worker.

        With fewer rows the loop is not what limits the queue and the thread's wake-ups only delay the replies (the
        scoring benchmark at 4 clients: 10,504/s with every batch there, at 1f7de80, against 12,528 on the loop in
        the run before); beside a worker's batch the thread would take a core from that batch's intra-op threads,
        which wait for each other (the saturating load, where the workers are the limit).
        """
        return self.running == 0 and self.recent_rows >= self.native_min_rows()

    def _may_run_alone(self, request: RunRequest) -> bool:
        """Whether ``request`` may run on the loop by itself: a model run short enough, no MINBATCHSIZE to wait for.

        Short enough: expected to take at most ``inline-run-max-us``, or ``lone-client-run-max-us`` while its client
        is the server's only one (:attr:`lone_max_us`): then no other client waits while the loop runs it, and on a
        worker the thread hand-offs slow the run itself (bench/HISTORY.md: 8 x Dense 1024's one-row run, ~500 µs,
        took 0.8-1.2 ms on a worker against 0.5-0.8 ms on the loop in the same minutes).
        """
        if request.rows < batching.min_rows(request.model):
            return False
        estimate = self._estimate_us(request, request.size)
        return 0 <= estimate and (estimate <= self.inline_max_us() or estimate <= self.lone_max_us())

    def _alone_on_loop(self, request: RunRequest) -> Batch:
        """The batch of ``request`` alone, counted as a batch on the loop (light while recent batches are small)."""
        self.stats.inline += 1
        return Batch([request], request.rows, self.recent_rows <= LIGHT_BATCH_ROWS)

    def _runs_inline(self, head: RunRequest, size: int) -> bool:
        """Whether a batch led by ``head`` whose inputs hold ``size`` elements runs on the loop thread itself.

        Only a model's run expected to take at most ``inline-run-max-us``: never a model's first run, nor a plain call.
        """
        estimate = self._estimate_us(head, size)
        return 0 <= estimate <= self.inline_max_us()

    @staticmethod
    def _estimate_us(head: RunRequest, size: int) -> int:
        """The µs that ``head``'s model run on ``size`` elements is expected to take; -1 when unknown.

        Unknown: a model's first run, or a plain call (see ``RunStats.estimate_us``).
        """
        stats = getattr(head.model, "stats", None)
        if head.fn is not None or stats is None:
            return -1
        return stats.estimate_us(size)  # type: ignore[no-any-return]

    def _loop_sized(self, batch: Batch, now: float) -> tuple[Batch, bool]:
        """A batch too long for the loop, cut to the rows the loop may run for its model, if that is worth it.

        Returns the batch to use and whether it runs on the loop: the same requests in arrival order up to the most
        rows whose inputs fit the largest size (a power of two) that the model's runs take at most
        ``inline-run-max-us`` for, when that is at least the head's own rows and MINBATCHSIZE; else ``batch``
        unchanged, for a worker. The rest stay pending for the next loop turn, so a small model's requests are not
        handed to a worker just because many arrived at once.

        A cut batch is a smaller batch: its rows cost more each, little for a model whose runs grow with their rows,
        much for a compute-bound one whose single row already takes most of the limit (8 x Dense 1024: 431 µs for one
        row against 96 µs a row in a batch of 32). So a cut that keeps less than 1/``LOOP_CUT_SMALL`` of the rows
        is made only when runs of the whole size have been measured (until then the batch goes to a worker whole,
        which measures it) and the cut rows are expected to cost at most ``LOOP_CUT_COST`` times as much each as the
        whole batch's; one such cut in ``LOOP_CUT_RECHECK`` goes to a worker whole all the same, so that one slow
        first run of the whole size (a cold worker) does not keep its batches cut for good. Larger cuts are always
        made: a worker batch waits for the GIL while the loop is busy, which costs a small model more than its cut.
        """
        head = batch.requests[0]
        stats = getattr(head.model, "stats", None)
        if stats is None:
            return batch, False
        rows = stats.size_within(self.inline_max_us()) // max(head.size // head.rows, 1)
        if rows < head.rows or rows < batching.min_rows(head.model):
            return batch, False
        smaller, _ = batching.form_batch(self.pending.values(), now, max_rows=rows)
        if smaller is None or smaller.requests[0] is not head:
            return batch, False
        if smaller.rows * LOOP_CUT_SMALL < batch.rows and not self._small_cut_pays(stats, batch, smaller):
            return batch, False
        return smaller, True

    def _small_cut_pays(self, stats: Any, batch: Batch, smaller: Batch) -> bool:
        """Whether cutting ``batch`` to ``smaller`` for the loop is worth its dearer rows (see :meth:`_loop_sized`)."""
        whole_us = stats.measured_us(batching.batch_size(batch))
        if whole_us < 0:
            return False
        if stats.estimate_us(batching.batch_size(smaller)) * batch.rows > LOOP_CUT_COST * whole_us * smaller.rows:
            return False
        self._cuts += 1
        return self._cuts % LOOP_CUT_RECHECK != 0

    def _remove(self, request: RunRequest) -> bool:
        """Take a request out of ``pending`` (to run it, or to drop it); False if it was not there."""
        if self.pending.pop(id(request), None) is None:
            return False
        request.future.remove_done_callback(request.discard)   # no longer pending: nothing to discard
        request.discard = None                                  # (and no reference cycle request <-> partial)
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        return True

    def _discard(self, request: RunRequest, _future: Any) -> None:
        """Done callback: a request cancelled while pending (its client went away) is dropped."""
        if request.future.cancelled() and self._remove(request):
            self.stats.cancelled += 1

    def _expire(self, request: RunRequest) -> None:
        """TIMEOUT timer: a request still pending resolves to TIMEDOUT without running."""
        request.timer = None
        if self._remove(request):
            self._timed_out(request)

    def _timed_out(self, request: RunRequest) -> None:
        self.stats.timed_out += 1
        if request.on_done is not None:
            request.on_done(RunOutcome(request.rows, 0, 0, None, True))
        self._outcome(request, TIMEDOUT, None)

    def _dispatch(self, inline: bool = False) -> None:
        """Form batches in arrival order and hand them to idle workers, or run one on the loop.

        A batch for the loop runs only when ``inline`` (from :meth:`_step`); otherwise a step is scheduled for it.
        Arms a timer for the earliest MINBATCHTIMEOUT.
        """
        while self.pending:
            if not self.idle:   # only a batch for the loop or the side worker could start: is it worth forming?
                head = next(iter(self.pending.values()))
                if not self._runs_inline(head, head.size) and not (self.side and self._side_model(head)):
                    return
            now = _monotonic()
            cancelled, expired = batching.dead(self.pending.values(), now)
            for request in cancelled:
                self._remove(request)
            for request in expired:
                self._remove(request)
                self._timed_out(request)
            batch, wake = batching.form_batch(self.pending.values(), now)
            self._arm(wake)
            if batch is None:
                return
            on_loop = self._runs_inline(batch.requests[0], batching.batch_size(batch))
            if not on_loop and batch.batched:
                batch, on_loop = self._loop_sized(batch, now)
            native = getattr(batch.requests[0].model, "native", None) if on_loop else None
            if native is not None:
                if self._native_time() and self._start_native(batch, native):
                    if self.pending:
                        continue
                    return
                if self._native.busy:
                    return   # it waits for the native thread's batches: the next one forms when one is done
            if on_loop and not inline:
                self._step_soon()
                return
            if not on_loop:
                batch.narrow = self.running > 0 and self._side_pays(batch)
                if not self.idle and not (self.side and batch.narrow):
                    return
            for request in batch.requests:
                self._remove(request)
            batch.light = self.recent_rows <= LIGHT_BATCH_ROWS
            if on_loop:
                self.stats.inline += 1
                self._settle(batch, *self._execute(batch))
                if self.pending:
                    self._step_soon()   # the next batch after the loop's I/O
                return
            if self.idle:
                self.idle -= 1
            else:
                self.side = 0
                batch.side = True
            self.running += 1
            self.stats.narrow += batch.narrow
            if not (batch.narrow and self._start_beside(batch)):
                self._ready.put(batch)

    def _start_native(self, batch: Batch, native: Any) -> bool:
        """Run ``batch`` on the queue's native thread (``onnx-run-thread``); False when it cannot take it.

        The loop hands the inputs over and goes on; the thread joins and runs them without the GIL and signals its
        file descriptor, and :meth:`_native_done` settles the batch. While the thread runs a batch, this one is
        staged behind it, or joins the one staged (:meth:`NativeThread.stage`). False (nothing done): an input of a
        type the thread does not take, the thread could not be started, or it has two batches in hand; the batch
        then runs as any other, or waits while the thread is busy.
        """
        started = _monotonic()
        thread = self._native
        try:
            if thread.busy:
                if not thread.stage(batch, native, self.spin_us(), started):
                    return False
            elif not thread.start(batch, native, self.spin_us(), started):
                return False
        except CommandError as exc:   # the batch's error: it ran nowhere, but it is settled here
            self._take(batch)
            self.stats.native += 1
            self._settle(batch, [], exc, started, 0)
            return True
        self._take(batch)
        return True

    def _take(self, batch: Batch) -> None:
        """The native thread takes ``batch``: its requests leave ``pending`` (counted once settled, as every batch)."""
        for request in batch.requests:
            self._remove(request)

    def _native_done(self, dispatch: bool = True) -> None:
        """The native thread's file descriptor is readable (loop thread): settle its batches done, in order."""
        outcome = self._native.finish()
        while outcome is not None:
            self.stats.native += 1
            if dispatch and self.pending:
                self._dispatch(inline=True)   # the next batch is staged before this one's replies are written
            self._native.release()   # what came for the next batch by now goes: the thread is free
            self._settle(*outcome)
            outcome = self._native.finish() if self._native.done else None

    def _start_beside(self, batch: Batch) -> bool:
        """Run a batch beside another (``narrow``) on a native thread of its own; False (nothing done) if it cannot.

        A model's session for the native thread runs on one intra-op thread, as a worker's narrow session, but needs no
        GIL: the run starts at once, not when the busy loop lets a worker in. The batch keeps its worker slot
        (:meth:`_finished` frees it). It cannot without that session, for an input type the thread does not take, or
        if no thread could be started: a worker runs it then.
        """
        native = getattr(batch.requests[0].model, "native", None)
        if native is None:
            return False
        started = _monotonic()
        try:
            return self._beside.idle().start(batch, native, 0, started)
        except CommandError as exc:   # the batch's error: settled as a worker's would be, after this turn
            self.loop.call_soon(self._finished, batch, [], exc, started, 0)
            return True

    def _beside_done(self, index: int, dispatch: bool = True) -> None:
        """A native thread of :meth:`_start_beside` is readable (loop thread): its batch is done."""
        outcome = self._beside.threads[index].finish()
        if outcome is not None:
            self._finished(*outcome, dispatch=dispatch)

    def _side_model(self, head: RunRequest) -> bool:
        """Whether ``head``'s model may run a batch beside another one (see :meth:`_side_pays`)."""
        return self.side_min_row_us() > 0 and getattr(head.model, "side_capable", False)

    def _side_pays(self, batch: Batch) -> bool:
        """Whether ``batch`` runs beside the batches already on workers, each on one thread (``run_narrow``).

        For a model that can (an ONNX model on the CPU) and whose full batches (BATCHSIZE rows, or this batch's if
        more) are expected to take at least ``side-batch-min-row-us`` per row: a compute-bound model, whose backend,
        not the loop, limits how many rows the server completes (judged at a full batch, as a small model's few
        rows cost more each than its batches' rows). When every worker is busy, such a batch goes to the queue's
        side worker. Two batches on one thread each keep onnxruntime busy while the loop settles one of them and
        reads the next requests, and the loop preempting one slows only that one, where it stalls a batch split
        over two threads (they wait for each other): measured on 2 vCPUs, bench/HISTORY.md. A small model's rows
        cost the loop more than the backend: a second worker would only cut its batches smaller and take CPU from
        the loop.
        """
        head = batch.requests[0]
        if not self._side_model(head):
            return False
        rows = max(head.model.batchsize, batch.rows, 1)
        estimate = self._estimate_us(head, batching.batch_size(batch) // max(batch.rows, 1) * rows)
        return estimate >= self.side_min_row_us() * rows

    def _arm(self, wake: float | None) -> None:
        if wake is None or (self._wake_at is not None and self._wake_at <= wake):
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake_at = wake
        self._wake = self.loop.call_later(max(0.0, wake - _monotonic()), self._woken)

    def _woken(self) -> None:
        self._wake = self._wake_at = None
        self._dispatch()

    def _finished(self, batch: Batch, results: list[Any], error: CommandError | None, started: float,
                  duration_us: int, dispatch: bool = True) -> None:
        """A worker or a native thread of :meth:`_start_beside` handed a batch back (loop thread): settle it.

        Its slot takes the next batch first, unless ``dispatch`` is False (the server is stopping).
        """
        if batch.side:
            self.side = 1
        else:
            self.idle += 1
        self.running -= 1
        if dispatch and self.pending:
            self._dispatch()
        self._settle(batch, results, error, started, duration_us)

    def _settle(self, batch: Batch, results: list[Any], error: CommandError | None, started: float,
                duration_us: int) -> None:
        """Statistics, then every request's result or error (loop thread)."""
        if batch.requests[0].fn is None:
            self._account(batch, results if error is None else None, error, started, duration_us)
        outcome = self._outcome
        if error is not None:
            for request in batch.requests:
                outcome(request, None, error)
        else:
            for request, result in zip(batch.requests, results, strict=True):
                outcome(request, result, None)

    def _outcome(self, request: RunRequest, result: Any, error: CommandError | None) -> None:
        """Give one request its outcome (loop thread): to its ``deliver`` callback, else as its future's result."""
        future = request.future
        if future.done():   # cancelled: the client went away
            return
        deliver = request.deliver
        if deliver is None:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
            return
        try:
            deliver(result, error)
        except Exception:  # a bug in a caller's callback must not keep the batch's other requests waiting
            log.exception("device %s: a run's deliver callback failed", self.device)
            if not future.done():
                future.set_exception(CommandError("ERR internal error"))

    def _account(self, batch: Batch, results: list[Any] | None, error: CommandError | None, started: float,
                 duration_us: int) -> None:
        """A model batch's figures (:func:`~inferd.scheduler.stats.account`), and the queue's rows per batch."""
        self.recent_rows += (batch.rows - self.recent_rows) / 8
        account(self.stats, self.observers, batch, results, error, started, duration_us)

    def drain(self) -> None:
        """Server shutdown (loop thread): requests still pending get an error instead of waiting forever."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = self._wake_at = None
        self._native.close()   # the batches on the native thread finish and are answered
        if self._native.busy:
            self._native_done(dispatch=False)
        for index, thread in enumerate(self._beside.threads):   # as are the batches run side by side
            thread.close()
            if thread.busy:
                self._beside_done(index, dispatch=False)
        for request in list(self.pending.values()):
            self._remove(request)
            self._outcome(request, None, CommandError(errors.SHUTTING_DOWN))

    # ---- worker threads ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Let the workers finish what they hold and exit."""
        for _ in self._threads:
            self._ready.put(None)
        for thread in self._threads:
            thread.join(10)

    def _work(self) -> None:
        while (batch := self._ready.get()) is not None:
            self.loop.call_soon_threadsafe(self._finished, batch, *self._execute(batch))

    def _execute(self, batch: Batch) -> tuple[list[Any], CommandError | None, float, int]:
        """Run one batch (a worker thread, or the loop for an inline run): (results, error, started, duration_us)."""
        started = _monotonic()
        t0 = _perf_ns()
        results: list[Any] = []
        error: CommandError | None = None
        try:
            results = self._run(batch)
        except CommandError as exc:
            error = exc
        except Exception as exc:  # backend errors are wrapped at the backend boundary; this is a safety net
            error = self._unexpected(exc)
        return results, error, started, (_perf_ns() - t0) // 1000

    def _unexpected(self, exc: Exception) -> CommandError:
        """A run's unexpected exception (logged with its traceback) as the one-line error its requests get."""
        log.exception("device %s: unexpected error", self.device)
        return CommandError(f"ERR {exc}".replace("\r", " ").replace("\n", " "))

    @staticmethod
    def _run(batch: Batch) -> list[Any]:
        head = batch.requests[0]
        if head.fn is not None:
            return [head.fn()]
        model = head.model
        if batch.narrow:
            run = model.run_narrow   # beside another batch, on one thread
        else:
            run = getattr(model, "run_light", model.run) if batch.light else model.run   # the light-load session
        outputs = run(batching.concat_inputs(batch))
        return batching.split_outputs(batch, list(outputs))

