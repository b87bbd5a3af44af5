"""The model value type: what MODELSTORE was given (kept for MODELGET), the loaded backend session, and AI.INFO stats.

A Model is immutable once stored except for its statistics; replacing a key stores a new Model, so runs already
queued finish on the object they were submitted with. ``run`` is called from device worker threads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferd.backends.base import Session

RUN_BUCKETS = 48   # run-time estimates by a run's input elements: 1, 2, 3-4, 5-8, ...; larger runs share the last


def run_bucket(size: int) -> int:
    """The bucket of a run whose inputs hold ``size`` elements in all (0 counts as one)."""
    return min(max(size - 1, 0).bit_length(), RUN_BUCKETS - 1)


@dataclass(slots=True)
class RunStats:
    """AI.INFO counters of one model or script (in memory only, zeroed when the key is stored again).

    Also what its runs typically take by the size of their inputs (elements of every input of every request in the
    batch, so that longer rows count as much as more rows): the scheduler's choice between the event loop and a
    worker.
    """

    calls: int = 0
    samples: int = 0
    duration_us: int = 0
    errors: int = 0
    run_us: list[int] = field(default_factory=lambda: [-1] * RUN_BUCKETS)   # by run_bucket; -1: none yet

    def record(self, samples: int, duration_us: int, failed: bool) -> None:
        """Charge one finished request (called on the loop thread)."""
        self.charge(1, samples, duration_us, failed)

    def note_run(self, duration_us: int, size: int) -> None:
        """Fold in one successful backend call whose inputs held ``size`` elements: lower at once, higher by an eighth.

        A run measured on a worker includes the wait for the GIL after the backend returns, which under load can
        be several times the run itself; a few such samples must not hide what the model costs, while a model that
        is really slow still rises past the limit within a few runs (one sample far above moves it far).
        """
        bucket = run_bucket(size)
        typical = self.run_us[bucket]
        if typical < 0 or duration_us <= typical:
            self.run_us[bucket] = duration_us
        else:
            self.run_us[bucket] = typical + (duration_us - typical + 7) // 8

    def estimate_us(self, size: int) -> int:
        """What a run whose inputs hold ``size`` elements should take, in µs; -1 before any run of at most that size.

        A bucket's figure is capped at twice the estimate of the bucket below (twice the elements are assumed never
        to cost more than twice the time), and a bucket not measured yet is estimated that way from the largest
        smaller one. So a request with longer rows than any run so far is estimated in proportion to its elements
        (a model whose cost grows faster than its inputs, attention over a longer sequence, is underestimated by
        that much; see docs/operations.md).
        """
        return self._estimates(run_bucket(size) + 1)[-1]

    def measured_us(self, size: int) -> int:
        """What runs of ``size``'s own bucket have taken (see :meth:`note_run`); -1 if none has run yet."""
        return self.run_us[run_bucket(size)]

    def size_within(self, limit_us: int) -> int:
        """The most input elements (a power of two) that :meth:`estimate_us` puts at most ``limit_us``; 0 if none."""
        size = 0
        for bucket, estimate in enumerate(self._estimates(RUN_BUCKETS)):
            if estimate > limit_us:
                break
            if estimate >= 0:   # sizes below the smallest measured one are unknown
                size = 1 << bucket
        return size

    def _estimates(self, buckets: int) -> list[int]:
        """The estimates of the first ``buckets`` buckets (see :meth:`estimate_us`); a plain loop, once per batch."""
        estimates = []
        estimate = -1
        for measured in self.run_us[:buckets]:
            if estimate < 0:
                estimate = measured
            elif measured < 0 or measured > 2 * estimate:
                estimate *= 2
            else:
                estimate = measured
            estimates.append(estimate)
        return estimates

    def charge(self, requests: int, samples: int, duration_us: int, failed: bool) -> None:
        """Charge the requests of one batch at once (the scheduler, once per batch): as many :meth:`record` calls."""
        self.calls += requests
        if failed:
            self.errors += requests
        else:
            self.samples += samples
            self.duration_us += duration_us

    def reset(self) -> None:
        """AI.INFO key RESETSTAT."""
        self.calls = self.samples = self.duration_us = self.errors = 0
        self.run_us = [-1] * RUN_BUCKETS


@dataclass(eq=False, slots=True)
class Model:
    """A stored model (``TYPE`` reports ``AI__MODEL``)."""

    key: bytes
    backend: str                 # canonical upper-case: TF, TFLITE, TORCH, ONNX
    device: str                  # as the client typed it (queues key on its upper-case form)
    tag: bytes
    batchsize: int
    minbatchsize: int
    minbatchtimeout: int
    inputs: list[str]
    outputs: list[str] | None    # None: the count is only known after a run (TorchScript returning a list)
    blob: bytes
    session: Session
    stats: RunStats = field(default_factory=RunStats)

    redis_type = "AI__MODEL"
    ai_type = "MODEL"

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Run the backend session (thread-safe; raises CommandError with the backend's text)."""
        return self.session.run(inputs)

    @property
    def nbytes(self) -> int:
        """MEMORY USAGE's estimate: the blob kept for MODELGET plus about one copy of it per backend session."""
        extra = (getattr(self.session, name, None) for name in ("light", "narrow", "native"))   # the ONNX backend's
        sessions = 1 + sum(session is not None for session in extra)
        return len(self.blob) * (1 + sessions)

    def run_light(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """:meth:`run` for a lightly loaded queue: the session's ``run_light`` where it has one."""
        return getattr(self.session, "run_light", self.session.run)(inputs)

    @property
    def native(self) -> Any:
        """The session for a device queue's native thread (the ONNX backend's ``NativeSession``), or None."""
        return getattr(self.session, "native", None)

    @property
    def side_capable(self) -> bool:
        """Whether a batch may run beside another one on a thread of its own (the session's ``run_narrow``)."""
        return bool(getattr(self.session, "narrow_capable", False))

    def run_narrow(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """:meth:`run` beside another batch of the queue: the session's ``run_narrow`` where it has one."""
        return getattr(self.session, "run_narrow", self.session.run)(inputs)

    def meta(self) -> list[Any]:
        """MODELGET META: 16 elements in RedisAI's order."""
        return [b"backend", self.backend.encode(), b"device", self.device.encode(), b"tag", self.tag,
                b"batchsize", self.batchsize, b"minbatchsize", self.minbatchsize,
                b"inputs", [n.encode() for n in self.inputs], b"outputs", [n.encode() for n in self.outputs or []],
                b"minbatchtimeout", self.minbatchtimeout]
