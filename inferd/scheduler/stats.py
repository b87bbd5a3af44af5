"""The scheduler's own figures, for the metrics endpoint and for tests.

* :class:`BatchRecord`: one finished model batch (device, model, requests, rows, each request's queue wait, compute
  time, error). :attr:`Schedulers.observers <inferd.scheduler.schedulers.Schedulers.observers>` receive every record on
  the loop thread.
* :class:`DeviceStats` (``DeviceQueue.stats``): per device counters (refused, timed out, cancelled, batches, rows)
  and a :class:`ModelQueueStats` per model key. Queue depth is ``DeviceQueue.depth``; busy workers are
  ``threads - DeviceQueue.idle``, and the side worker's ``1 - DeviceQueue.side``.
* :func:`account`: a finished model batch charged to all of these, to its model's own figures (AI.INFO) and to its
  requests' ``on_done`` hooks.

Durations are seconds from monotonic clocks (``time.monotonic`` for waits, ``perf_counter`` for compute).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inferd.errors import CommandError
from inferd.scheduler import batching
from inferd.scheduler.batching import Batch

log = logging.getLogger("inferd.scheduler")


@dataclass(slots=True)
class BatchRecord:
    """One model batch a worker finished."""

    device: str
    model: Any                   # the model object (``.key`` names it)
    requests: int                # requests that shared the backend call
    rows: int                    # total rows (inferences); 0 for a lone request whose inputs disagree on dim 0
    waits: list[float]           # each request's time in the queue, seconds
    compute: float               # backend call time (concatenate, run, split), seconds
    error: str | None = None     # the error every request of the batch got, if any

    @property
    def model_key(self) -> bytes:
        """The model's key (``b""`` if the model object has none)."""
        return model_key(self.model)


Observer = Callable[[BatchRecord], None]   # Schedulers.observers: called with every finished batch's record


def model_key(model: Any) -> bytes:
    """A model object's key as bytes (``b""`` if it has none)."""
    key = getattr(model, "key", b"")
    return key if isinstance(key, bytes) else str(key).encode()


@dataclass(slots=True)
class ModelQueueStats:
    """Cumulative figures for one model on one device."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    errors: int = 0
    wait_seconds: float = 0.0
    compute_seconds: float = 0.0
    batch_sizes: Counter[int] = field(default_factory=Counter)   # requests per batch -> number of batches


@dataclass
class DeviceStats:
    """Counters of one device queue."""

    device: str
    refused: int = 0         # refused at once: queue-max-depth reached
    timed_out: int = 0       # dropped by TIMEOUT before running
    cancelled: int = 0       # dropped because the client went away
    inline: int = 0          # batches run on the event loop instead of a worker (inline-run-max-us)
    native: int = 0          # batches run on the queue's native thread instead of the loop (onnx-run-thread)
    narrow: int = 0          # batches run beside another on one thread (side-batch-min-row-us)
    batches: int = 0
    requests: int = 0
    rows: int = 0
    models: dict[bytes, ModelQueueStats] = field(default_factory=dict)

    def add(self, key: bytes, requests: int, rows: int, wait_seconds: float, compute: float, failed: bool) -> None:
        """Add a finished batch: its model's key, requests, rows, total queue wait and compute time (seconds)."""
        self.batches += 1
        self.requests += requests
        self.rows += rows
        model = self.models.get(key)
        if model is None:
            model = self.models[key] = ModelQueueStats()
        model.batches += 1
        model.requests += requests
        model.rows += rows
        model.errors += failed
        model.wait_seconds += wait_seconds
        model.compute_seconds += compute
        model.batch_sizes[requests] += 1


def account(stats: DeviceStats, observers: list[Observer], batch: Batch,
            results: list[Any] | None, error: CommandError | None, started: float, duration_us: int) -> None:
    """A model batch's figures: the model's run estimates and AI.INFO counters, the queue's, the observers'."""
    requests = batch.requests
    model = requests[0].model
    run_stats = getattr(model, "stats", None)   # the model's RunStats (AI.INFO), charged once for the batch
    if run_stats is not None:
        if error is None:
            run_stats.note_run(duration_us, batching.batch_size(batch))
            run_stats.charge(len(requests), *batching.totals(batch, duration_us, results), False)
        else:
            run_stats.charge(len(requests), 0, 0, True)
    text = error.text if error is not None else None
    waits = [started - request.enqueued for request in requests]
    for request in requests:
        if request.on_done is not None:   # a caller's own hook (AI.INFO needs none): RunOutcome per request
            _hooks(stats.device, batch, results, text, duration_us)
            break
    compute = duration_us / 1e6
    stats.add(model_key(model), len(requests), batch.rows, sum(waits), compute, text is not None)
    if observers:
        record = BatchRecord(stats.device, model, len(requests), batch.rows, waits, compute, text)
        for observer in observers:
            try:
                observer(record)
            except Exception:
                log.exception("device %s: batch observer failed", stats.device)


def _hooks(device: str, batch: Batch, results: list[Any] | None, text: str | None, duration_us: int) -> None:
    for request, outcome in zip(batch.requests, batching.outcomes(batch, duration_us, results, text), strict=True):
        if request.on_done is not None:
            try:
                request.on_done(outcome)
            except Exception:  # a statistics hook must never break the replies
                log.exception("device %s: on_done hook failed", device)
