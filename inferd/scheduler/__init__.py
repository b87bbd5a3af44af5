"""Device queues: a model's batches run on the event loop thread when they are cheap, else on worker threads.

The requests that reach a device queue in one loop turn are batched together once the loop has read them all. A
batch whose model runs of that size typically take at most ``inline-run-max-us`` runs on the event loop thread
itself: for a small model the two thread hand-offs of a worker run (and, above all, the GIL passing between the loop
and the worker, each pass a thread wake-up) cost more than the model. Run times are measured per power-of-two size of
the inputs (elements of all inputs, so longer rows count as much as more rows), never assumed to grow faster than
the elements. A batch estimated above the limit is cut to the rows that fit, the rest waiting for the next loop
turn. A model's first run, a model too slow for the loop even in a cut batch (or below its MINBATCHSIZE), and model
loading (``call``) run on the queue's workers.
A lone request (alone on its queue) may run on the loop up to ``lone-client-run-max-us`` instead while its client is
the server's only active one (the other connections idle for a second): nobody else waits for the loop then.
A batch for the loop of a model with a session for the native thread (the ONNX backend's, ``onnx-run-thread``) runs
instead on the queue's native thread (native.py, over inferd/backends/_ortrun.c: no GIL, an eventfd wakes the loop
when it is done), one batch at a time; the loop keeps a lone request under light load. While every worker is busy,
a compute-bound model's batch may run beside them on one intra-op thread (``side-batch-min-row-us``); such batches
of a model with that session run on native threads of their own too, one per batch, instead of on the workers.

While a queue is lightly loaded (inline runs, and batches while the queue's recent batches average at most
``LIGHT_BATCH_ROWS`` rows) runs call the model's ``run_light`` where it has one: the ONNX backend's second session,
whose pool threads spin ``light-load-spin-us`` after a run and so keep a core awake between requests.

The contract every caller uses (MODELEXECUTE, DAG ops, model loading):

* ``Schedulers.submit(device, model, inputs, timeout_ms, *, deadline=None, on_done=None)`` -> ``asyncio.Future``
  resolving (on the loop thread) to the list of output arrays, to :data:`TIMEDOUT`, or raising
  :class:`~inferd.errors.CommandError`. ``on_done`` (optional) receives a :class:`RunOutcome` (rows, samples, this
  request's share of the compute time in µs, error) on the loop thread. A model's AI.INFO counters need no hook:
  the queue charges the model's ``stats`` (:class:`~inferd.store.model.RunStats`) once per batch.
* ``Schedulers.enqueue(device, reply, model, inputs, deliver, *, deadline=None, on_done=None)``: the same run for a
  caller that settles its reply future itself (MODELEXECUTE, each DAG model op): ``deliver(result, error)`` gets
  the outputs, :data:`TIMEDOUT` or the CommandError on the loop thread, and cancelling ``reply`` drops the run. No
  future per run: one fewer future and two fewer loop callbacks per request than chaining on ``submit``'s future.
* ``Schedulers.run_now(device, model, inputs)`` -> the outputs of a run made at once inside the caller, or None
  (queue it with ``enqueue``): only the first request of a loop turn, on a queue that has nothing pending and whose
  loop turns bring it one request at a time, for a model whose run qualifies for the loop. Raises the run's
  CommandError. A lone MODELEXECUTE then replies without a future or a loop callback (see
  ``DeviceQueue.run_now``).
* ``Schedulers.call(device, fn, *, reply=None, deadline=None, deliver=None)`` -> ``asyncio.Future`` of ``fn()``
  run alone on that device's workers (script runs, AI.SCRIPTEXECUTE and DAG script ops): same threads, same
  ordering guarantees, TIMEOUT and disconnects as for model runs.
* A cancelled future (client disconnected) is dropped before it runs; past ``queue-max-depth`` pending requests a
  request is refused at once (:data:`inferd.errors.QUEUE_FULL`).

``model`` is anything with ``run(list[np.ndarray]) -> list[np.ndarray]`` (optionally ``run_light`` too) and the
batching attributes ``batchsize``, ``minbatchsize``, ``minbatchtimeout`` (see :mod:`inferd.backends`). Batch
formation is in :mod:`inferd.scheduler.batching`; the figures for metrics in :mod:`inferd.scheduler.stats`
(``DeviceQueue.stats``, ``Schedulers.observers``).
"""
from __future__ import annotations

from inferd.scheduler.batching import Batch, RunOutcome, RunRequest
from inferd.scheduler.queues import TIMEDOUT, DeviceQueue
from inferd.scheduler.schedulers import Schedulers
from inferd.scheduler.stats import BatchRecord, DeviceStats, ModelQueueStats

__all__ = ["TIMEDOUT", "Batch", "BatchRecord", "DeviceQueue", "DeviceStats", "ModelQueueStats", "RunOutcome",
           "RunRequest", "Schedulers"]
