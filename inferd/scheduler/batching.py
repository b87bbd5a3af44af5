"""Batch formation, as pure functions: no threads, no event loop, no clocks read here.

A device queue keeps its pending :class:`RunRequest` objects in arrival order. When a worker is free,
:func:`form_batch` picks the next batch among them:

* a plain call (``fn``), a model with ``batchsize`` 0, a request whose inputs disagree on dim 0 (or are 0-d), and a
  request already at least ``batchsize`` rows long each run alone;
* otherwise the first live request gathers the later requests of the **same model object** with the same number of
  inputs, the same dtypes and the same inner dimensions (dims 1..n), in order, as long as the total stays within
  ``batchsize`` (a batch never grows past it);
* with ``minbatchsize`` > 0 a batch below it is not ready until ``minbatchtimeout`` ms have passed since its first
  request was enqueued; its requests then wait (a timer, TIMEOUT or a disconnect ends the wait) while requests of
  other groups behind it may run.

:func:`concat_inputs` builds the backend inputs with one concatenate per input (:func:`input_parts` leaves the
joining to a backend that does it off the loop, the native thread); :func:`split_outputs` slices the outputs back into
per-request views and checks the batch size.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from inferd import errors
from inferd.errors import CommandError


class RunRequest:
    """One unit of work for a device: a model run (``model``/``inputs``) or a plain call (``fn``).

    ``future`` is what the client waits on: once it is done (cancelled: the client went away) the request is dropped
    before it runs. The outcome (outputs, :data:`~inferd.scheduler.TIMEDOUT` or an error) goes to ``deliver(result,
    error)`` on the loop thread when there is one (the caller then settles ``future`` itself, possibly after other
    runs of the same reply), else becomes ``future``'s result or exception. ``enqueued`` and ``deadline`` are
    monotonic seconds. ``rows`` is the request's batch size (dim 0 shared by all its inputs; 0 when they disagree or
    are 0-d, which makes the request run alone); ``size`` the elements of all its inputs (what its run time is
    estimated by); ``inner`` each input's dtype and dims 1..n, what a request must share with a batch's others (kept
    once, as batch formation compares it for every pending request each time it forms a batch). ``on_done``
    (optional) is called on the loop thread with the request's :class:`RunOutcome` once it has run, failed or timed
    out.
    """

    # a plain class with its own __init__, one made per request: the dataclass's __init__ and __post_init__ took
    # 1.36 µs for a two-input request, this 1.11 µs
    __slots__ = ("future", "model", "inputs", "fn", "deadline", "enqueued", "rows", "size", "on_done", "deliver",
                 "timer", "discard", "inner")

    def __init__(self, future: Any, model: Any = None, inputs: list[Any] | None = None,
                 fn: Callable[[], Any] | None = None, deadline: float | None = None, enqueued: float = 0.0,
                 on_done: Callable[[RunOutcome], None] | None = None,
                 deliver: Callable[[Any, CommandError | None], None] | None = None) -> None:
        self.future = future
        self.model = model
        self.inputs: list[Any] = [] if inputs is None else inputs
        self.fn = fn
        self.deadline = deadline
        self.enqueued = enqueued
        self.on_done = on_done
        self.deliver = deliver
        self.timer: Any = None
        self.discard: Any = None   # the done callback that drops the request if its future is cancelled while pending
        self.rows = 0
        self.size = 0
        self.inner: tuple[Any, ...] = ()
        if fn is None and inputs:   # rows, size and inner in one pass over the inputs
            rows = -1
            size = 0
            inner = []
            for array in inputs:
                shape = array.shape
                if not shape:
                    rows = 0
                elif rows == -1:
                    rows = shape[0]
                elif shape[0] != rows:
                    rows = 0
                size += array.size
                inner.append((array.dtype, shape[1:]))
            self.rows = rows
            self.size = size
            self.inner = tuple(inner)


class RunOutcome:
    """What happened to one request: its rows, its share of the batch's compute time, and its error if any."""

    # this and Batch: plain classes with their own __init__, made per request (per batch) on the loop thread; a
    # dataclass's __init__ is interpreted Python even where mypyc compiles the class
    __slots__ = ("rows", "samples", "duration_us", "error", "timed_out")

    def __init__(self, rows: int, samples: int, duration_us: int, error: str | None = None,
                 timed_out: bool = False) -> None:
        self.rows = rows
        self.samples = samples
        self.duration_us = duration_us
        self.error = error
        self.timed_out = timed_out

    def __repr__(self) -> str:
        return (f"RunOutcome(rows={self.rows}, samples={self.samples}, duration_us={self.duration_us}, "
                f"error={self.error!r}, timed_out={self.timed_out})")


class Batch:
    """Requests that run in one backend call, and their total rows.

    ``light``: run while the queue is lightly loaded (the model's ``run_light``, where it has one); ``narrow``: run
    beside another batch of the queue, on one thread (the model's ``run_narrow``); ``side``: on the queue's side
    worker (see DeviceQueue).
    """

    __slots__ = ("requests", "rows", "light", "narrow", "side")

    def __init__(self, requests: list[RunRequest], rows: int, light: bool = False) -> None:
        self.requests = requests
        self.rows = rows
        self.light = light
        self.narrow = False
        self.side = False

    @property
    def batched(self) -> bool:
        """Whether more than one request shares the call (outputs must then be split and checked)."""
        return len(self.requests) > 1


def batch_size(batch: Batch) -> int:
    """The elements of all inputs of a batch: its requests share their inner dims, so each row holds the head's."""
    head = batch.requests[0]
    if not batch.batched:
        return head.size
    return head.size // head.rows * batch.rows


def compatible(a: RunRequest, b: RunRequest) -> bool:
    """Whether ``b`` may join a batch led by ``a``: same model object, inputs alike in count, dtype and dims 1..n."""
    return b.model is a.model and b.fn is None and b.rows > 0 and b.inner == a.inner


def batch_cap(model: Any, max_rows: int = 0) -> int:
    """The rows a batch of ``model`` may hold: BATCHSIZE, or ``max_rows`` where that is smaller (and > 0)."""
    batchsize = int(getattr(model, "batchsize", 0) or 0)
    return min(batchsize, max_rows) if max_rows > 0 else batchsize


def runs_alone(request: RunRequest, max_rows: int = 0) -> bool:
    """Whether a request can never share a batch (of at most ``max_rows`` rows when > 0)."""
    if request.fn is not None:
        return True
    cap = batch_cap(request.model, max_rows)
    return cap <= 0 or request.rows == 0 or request.rows >= cap


def min_rows(model: Any) -> int:
    """The rows a batch of ``model`` waits for (MINBATCHSIZE, never above BATCHSIZE so that it can be reached)."""
    minimum = int(getattr(model, "minbatchsize", 0) or 0)
    return min(minimum, int(model.batchsize)) if minimum > 0 else 0


def gather(head: RunRequest, rest: Iterable[RunRequest], taken: set[int], max_rows: int = 0) -> Batch:
    """The batch that ``head`` leads: compatible requests from ``rest`` (in order) while the total fits the cap.

    The cap is BATCHSIZE, or ``max_rows`` where that is smaller (see :func:`batch_cap`).
    """
    cap = batch_cap(head.model, max_rows)
    members = [head]
    total = head.rows
    for request in rest:
        if total >= cap:
            break
        if id(request) in taken or request.rows + total > cap or not compatible(head, request):
            continue
        members.append(request)
        total += request.rows
    return Batch(members, total)


def ready_at(batch: Batch) -> float | None:
    """When a batch below MINBATCHSIZE becomes ready (monotonic seconds); None when it never will by itself."""
    head = batch.requests[0]
    timeout_ms = int(getattr(head.model, "minbatchtimeout", 0) or 0)
    return head.enqueued + timeout_ms / 1000 if timeout_ms > 0 else None


def form_batch(pending: Iterable[RunRequest], now: float, max_rows: int = 0) -> tuple[Batch | None, float | None]:
    """Pick the next batch among ``pending`` (arrival order) at monotonic time ``now``.

    ``max_rows`` > 0 caps the batch's rows below BATCHSIZE (the caller keeps it at or above MINBATCHSIZE).

    Returns ``(batch, wake)``: the batch to run (None if nothing is ready) and the earliest time at which a batch
    that is waiting for MINBATCHSIZE becomes ready by MINBATCHTIMEOUT (None if no such wait). Requests whose future
    is done (cancelled) or whose deadline has passed are skipped; the caller removes them (see :func:`dead`).
    """
    queue = [r for r in pending if not r.future.done() and (r.deadline is None or r.deadline > now)]
    taken: set[int] = set()
    wake: float | None = None
    for index, head in enumerate(queue):
        if id(head) in taken:
            continue
        if runs_alone(head, max_rows):
            return Batch([head], head.rows), wake
        batch = gather(head, queue[index + 1:], taken, max_rows)
        if batch.rows >= min_rows(head.model):
            return batch, wake
        when = ready_at(batch)
        if when is not None and when <= now:
            return batch, wake
        if when is not None and (wake is None or when < wake):
            wake = when
        taken.update(id(r) for r in batch.requests)
    return None, wake


def dead(pending: Iterable[RunRequest], now: float) -> tuple[list[RunRequest], list[RunRequest]]:
    """The requests to drop before running: ``(cancelled, expired)`` (future done / deadline passed)."""
    cancelled: list[RunRequest] = []
    expired: list[RunRequest] = []
    for request in pending:
        if request.future.done():
            cancelled.append(request)
        elif request.deadline is not None and request.deadline <= now:
            expired.append(request)
    return cancelled, expired


def concat_inputs(batch: Batch) -> list[np.ndarray]:
    """The backend inputs of a batch: a lone request's own arrays (no copy), else one concatenate per input."""
    if not batch.batched:
        return batch.requests[0].inputs
    return [np.concatenate(parts) for parts in input_parts(batch)]


def input_parts(batch: Batch) -> list[Any]:
    """The backend inputs of a batch for a backend that joins them itself (see NativeSession.start).

    A lone request's own arrays, else each input as the list of the requests' arrays (:func:`input_lists`).
    """
    if not batch.batched:
        return batch.requests[0].inputs
    return input_lists(batch)


def input_lists(batch: Batch) -> list[list[Any]]:
    """Each input of a batch as the list of its requests' arrays."""
    count = len(batch.requests[0].inputs)
    return [[r.inputs[i] for r in batch.requests] for i in range(count)]


def split_outputs(batch: Batch, outputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per-request outputs as views of the batch's outputs; every output must have ``batch.rows`` rows.

    Raises :class:`CommandError` (``Model did not generate the expected batch size``) otherwise: the caller gives
    that error to every request of the batch.
    """
    if not batch.batched:
        return [outputs]
    for array in outputs:
        shape = getattr(array, "shape", ())
        if not shape or shape[0] != batch.rows:
            raise CommandError(errors.AI_BATCH_SIZE)
    result: list[list[np.ndarray]] = []
    offset = 0
    for request in batch.requests:
        end = offset + request.rows
        result.append([array[offset:end] for array in outputs])
        offset = end
    return result


def outcomes(batch: Batch, duration_us: int, outputs: list[list[np.ndarray]] | None,
             error: str | None) -> list[RunOutcome]:
    """Each request's outcome; the batch's compute time is shared in proportion to rows (inferd's AI.INFO rule)."""
    return [RunOutcome(request.rows, samples, share, error)
            for request, samples, share in _shares(batch, duration_us, outputs)]


def totals(batch: Batch, duration_us: int, outputs: list[list[np.ndarray]] | None) -> tuple[int, int]:
    """The sums of the samples and of the compute shares of a batch's :func:`outcomes` (what its model is charged)."""
    if not batch.batched:   # the commonest batch: one request, its whole run
        return _samples(outputs[0] if outputs else None), duration_us
    # split_outputs gave each request views of batch.rows-row outputs: its first output holds its own rows (none
    # when the model has no outputs); its share of the run as in _shares, summed without a generator
    samples = batch.rows if outputs and outputs[0] else 0
    total = batch.rows
    share = 0
    for request in batch.requests:
        share += duration_us * request.rows // total
    return samples, share


def _shares(batch: Batch, duration_us: int, outputs: list[list[np.ndarray]] | None
            ) -> Iterator[tuple[RunRequest, int, int]]:
    """Each request with its samples (dim 0 of its first output; 0 without outputs) and its share of the run (µs)."""
    total = batch.rows
    for index, request in enumerate(batch.requests):
        share = duration_us * request.rows // total if total and batch.batched else duration_us
        yield request, _samples(outputs[index] if outputs is not None else None), share


def _samples(outputs: list[np.ndarray] | None) -> int:
    if not outputs:
        return 0
    shape = getattr(outputs[0], "shape", ())
    return int(shape[0]) if shape else 0
