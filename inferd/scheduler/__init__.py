"""Device queues: backend calls run on each device's worker threads, never on the event loop.

The contract every caller uses (MODELEXECUTE, DAG ops, model loading):

* ``Schedulers.submit(device, model, inputs, timeout_ms)`` -> ``asyncio.Future`` resolving (on the loop thread) to
  the list of output arrays, to :data:`TIMEDOUT`, or raising :class:`~inferd.errors.CommandError`.
* ``Schedulers.call(device, fn)`` -> ``asyncio.Future`` of ``fn()`` run on that device's workers (model loading,
  script runs): same threads, same ordering guarantees.
* A cancelled future (client disconnected) is dropped before it runs.

``model`` is anything with ``run(list[np.ndarray]) -> list[np.ndarray]`` and the batching attributes
``batchsize``, ``minbatchsize``, ``minbatchtimeout`` (see :mod:`inferd.backends`).
"""
from __future__ import annotations

from inferd.scheduler.queues import TIMEDOUT, DeviceQueue, RunRequest, Schedulers

__all__ = ["TIMEDOUT", "DeviceQueue", "RunRequest", "Schedulers"]
