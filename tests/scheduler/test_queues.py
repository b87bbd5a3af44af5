"""The scheduler inside a real running server: batching decided by the queue, not by timing.

A :class:`Blocker` holds the device's only worker, so requests submitted meanwhile must queue; releasing it lets
the queue form batches from exactly those requests.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import time
from typing import Any

import numpy as np
import pytest

from inferd import errors
from inferd.errors import CommandError
from inferd.scheduler import TIMEDOUT, BatchRecord, RunOutcome, RunRequest
from tests.scheduler.models import Blocker, OrtModel, affine_onnx

BLOB = affine_onnx()


def schedulers(srv: Any) -> Any:
    return srv.state.extensions["schedulers"]


def submit(srv: Any, model: Any, inputs: list[np.ndarray], timeout_ms: int = 0,
           on_done: Any = None) -> tuple[concurrent.futures.Future[Any], asyncio.Future[Any]]:
    """Submit from the test thread; returns (a thread-safe future of the result, the loop future)."""
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def go() -> asyncio.Future[Any]:
        fut = schedulers(srv).submit("CPU", model, inputs, timeout_ms, on_done=on_done)

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                result.cancel()
            elif f.exception() is not None:
                result.set_exception(f.exception())
            else:
                result.set_result(f.result())
        fut.add_done_callback(done)
        return fut
    return result, srv.call(go)


def depth(srv: Any) -> int:
    return int(srv.call(lambda: schedulers(srv).queue("CPU").depth))


def hold(srv: Any) -> tuple[Blocker, concurrent.futures.Future[Any]]:
    blocker = Blocker()
    fut, _ = submit(srv, blocker, [np.zeros((1, 1), np.float32)])
    assert blocker.started.wait(10)
    return blocker, fut


def rows(n: int, start: float, width: int = 4) -> np.ndarray:
    return (np.arange(n * width, dtype=np.float32).reshape(n, width) + start)


@pytest.fixture
def srv(start_server: Any) -> Any:
    return start_server(threads_per_queue=1)


@pytest.fixture
def records(srv: Any) -> list[BatchRecord]:
    seen: list[BatchRecord] = []
    srv.call(lambda: schedulers(srv).observers.append(seen.append))
    return seen


def test_queued_requests_form_one_batch_and_get_their_own_outputs(srv, records):
    model = OrtModel(BLOB, batchsize=8)
    blocker, held = hold(srv)
    inputs = [rows(n, 100 * i) for i, n in enumerate([1, 2, 1, 3, 1])]
    futures = [submit(srv, model, [x])[0] for x in inputs]
    assert depth(srv) == 5
    blocker.release.set()
    held.result(10)
    for x, fut in zip(inputs, futures, strict=True):
        (y,) = fut.result(10)
        np.testing.assert_array_equal(y, x * 2 + 1)
    assert model.ran == [8]
    batch = [r for r in records if r.model is model]
    assert len(batch) == 1 and batch[0].requests == 5 and batch[0].rows == 8 and batch[0].error is None
    stats = srv.call(lambda: schedulers(srv).queue("CPU").stats.models[b"onnx"])
    assert (stats.batches, stats.requests, stats.rows, stats.batch_sizes[5]) == (1, 5, 8, 1)


def test_batchsize_caps_batches_and_large_requests_run_alone(srv):
    model = OrtModel(BLOB, batchsize=4)
    blocker, held = hold(srv)
    inputs = [rows(1, i) for i in range(6)] + [rows(6, 50)]
    futures = [submit(srv, model, [x])[0] for x in inputs]
    blocker.release.set()
    for x, fut in zip(inputs, futures, strict=True):
        np.testing.assert_array_equal(fut.result(10)[0], x * 2 + 1)
    held.result(10)
    assert model.ran == [4, 2, 6]


def test_incompatible_inner_dims_and_dtypes_do_not_merge(srv):
    model = OrtModel(BLOB, batchsize=8)
    blocker, held = hold(srv)
    a, b = submit(srv, model, [rows(1, 0)])[0], submit(srv, model, [rows(1, 0, width=3)])[0]
    c = submit(srv, model, [rows(1, 0).astype(np.float64)])[0]
    d = submit(srv, model, [rows(2, 9)])[0]
    blocker.release.set()
    held.result(10)
    np.testing.assert_array_equal(d.result(10)[0], rows(2, 9) * 2 + 1)
    a.result(10)
    for bad in (b, c):   # ONNX Runtime refuses these shapes/types: the error comes back, the server stays up
        with pytest.raises(CommandError):
            bad.result(10)
    assert model.ran == [3, 1, 1]   # a and d shared the first batch; b and c ran alone


def test_minbatchsize_waits_for_rows_then_runs_together(srv):
    model = OrtModel(BLOB, batchsize=8, minbatchsize=4)
    blocker, held = hold(srv)
    first = [submit(srv, model, [rows(1, i)])[0] for i in range(2)]
    blocker.release.set()
    held.result(10)   # the worker was handed back and batch formation ran before this resolved
    assert depth(srv) == 2 and model.ran == []
    rest = [submit(srv, model, [rows(1, 10 + i)])[0] for i in range(2)]
    for fut in first + rest:
        fut.result(10)
    assert model.ran == [4]


def test_minbatchtimeout_releases_a_short_batch(srv):
    model = OrtModel(BLOB, batchsize=8, minbatchsize=4, minbatchtimeout=30)
    futures = [submit(srv, model, [rows(1, i)])[0] for i in range(2)]
    for i, fut in enumerate(futures):
        np.testing.assert_array_equal(fut.result(10)[0], rows(1, i) * 2 + 1)
    assert model.ran == [2]


def test_timeout_resolves_timedout_without_running(srv):
    model = OrtModel(BLOB, batchsize=8)
    outcomes: list[RunOutcome] = []
    blocker, held = hold(srv)
    late, _ = submit(srv, model, [rows(1, 0)], timeout_ms=20, on_done=outcomes.append)
    assert late.result(10) == TIMEDOUT     # resolved by its timer while the worker is still held
    assert not blocker.release.is_set() and depth(srv) == 0
    blocker.release.set()
    held.result(10)
    assert model.ran == [] and outcomes[0].timed_out


def test_timeout_ends_a_minbatchsize_wait(srv):
    model = OrtModel(BLOB, batchsize=8, minbatchsize=4)
    fut, _ = submit(srv, model, [rows(1, 0)], timeout_ms=20)
    assert fut.result(10) == TIMEDOUT
    assert model.ran == [] and depth(srv) == 0


def test_cancelled_request_never_runs(srv, records):
    model = OrtModel(BLOB, batchsize=8, minbatchsize=2)
    blocker, held = hold(srv)
    keep, _ = submit(srv, model, [rows(1, 0)])
    gone, loop_future = submit(srv, model, [rows(2, 0)])
    assert depth(srv) == 2
    srv.call(loop_future.cancel)
    assert depth(srv) == 1                 # dropped at once, not when a worker gets to it
    blocker.release.set()
    held.result(10)
    assert gone.cancelled() and not keep.done()   # the cancelled rows do not count towards MINBATCHSIZE
    other, _ = submit(srv, model, [rows(1, 5)])
    keep.result(10), other.result(10)
    assert model.ran == [2]
    assert srv.call(lambda: schedulers(srv).queue("CPU").stats.cancelled) == 1


def test_queue_max_depth_refuses_at_once_and_is_read_live(srv):
    client = srv.client()
    client.config_set("queue-max-depth", 2)
    model = OrtModel(BLOB, batchsize=0)
    blocker, held = hold(srv)
    queued = [submit(srv, model, [rows(1, i)])[0] for i in range(2)]
    refused, _ = submit(srv, model, [rows(1, 9)])
    with pytest.raises(CommandError) as info:
        refused.result(10)
    assert info.value.text == errors.QUEUE_FULL.format("CPU", 2)
    client.config_set("queue-max-depth", 3)
    accepted, _ = submit(srv, model, [rows(1, 9)])
    blocker.release.set()
    for fut in [*queued, accepted, held]:
        fut.result(10)
    assert model.ran == [1, 1, 1]
    client.close()


def test_wrong_output_batch_size_fails_every_request_of_the_batch(srv, records):
    model = OrtModel(BLOB, batchsize=8, wrong_rows=True)
    outcomes: list[RunOutcome] = []
    blocker, held = hold(srv)
    futures = [submit(srv, model, [rows(2, i)], on_done=outcomes.append)[0] for i in range(3)]
    blocker.release.set()
    for fut in futures:
        with pytest.raises(CommandError) as info:
            fut.result(10)
        assert info.value.text == errors.AI_BATCH_SIZE
    held.result(10)
    assert [o.error for o in outcomes] == [errors.AI_BATCH_SIZE] * 3
    assert [r.error for r in records if r.model is model] == [errors.AI_BATCH_SIZE]


def test_on_done_shares_compute_time_by_rows(srv):
    model = OrtModel(BLOB, batchsize=8)
    outcomes: list[RunOutcome] = []
    blocker, held = hold(srv)
    futures = [submit(srv, model, [rows(n, 0)], on_done=outcomes.append)[0] for n in (1, 3)]
    blocker.release.set()
    for fut in futures:
        fut.result(10)
    held.result(10)
    assert [(o.rows, o.samples) for o in outcomes] == [(1, 1), (3, 3)]
    assert outcomes[1].duration_us >= outcomes[0].duration_us


def test_call_runs_on_a_worker_and_errors_are_replies(srv):
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def go() -> None:
        fut = schedulers(srv).call("CPU", lambda: 42)
        fut.add_done_callback(lambda f: result.set_result(f.result()))
    srv.call(go)
    assert result.result(10) == 42
    bad = OrtModel(BLOB)
    result, _ = submit(srv, bad, [np.zeros((1, 4), np.int32)])
    with pytest.raises(CommandError):
        result.result(10)


def test_drain_fails_waiting_requests(srv):
    model = OrtModel(BLOB, batchsize=8, minbatchsize=4)
    waiting, _ = submit(srv, model, [rows(1, 0)])
    assert depth(srv) == 1
    srv.call(lambda: schedulers(srv).queue("CPU").drain())   # what the server's shutdown does
    with pytest.raises(CommandError) as info:
        waiting.result(10)
    assert info.value.text == errors.SHUTTING_DOWN and depth(srv) == 0 and model.ran == []


def enqueue_shared(srv: Any, model: Any, inputs: list[np.ndarray]) -> tuple[asyncio.Future[Any], list[Any]]:
    """Queue one run per input with ``enqueue``, all for one reply future; returns it and the deliveries seen."""
    delivered: list[Any] = []

    def go() -> asyncio.Future[Any]:
        reply = srv.loop.create_future()
        for i, x in enumerate(inputs):
            schedulers(srv).enqueue("CPU", reply, model, [x], lambda out, err, i=i: delivered.append((i, out, err)))
        delivered.append("returned")   # no delivery happens inside enqueue, even a refusal
        return reply
    return srv.call(go), delivered


def test_enqueue_delivers_outcomes_to_the_callback_and_leaves_the_reply_to_the_caller(srv):
    model = OrtModel(BLOB, batchsize=8)
    blocker, held = hold(srv)
    inputs = [rows(1, 0), rows(2, 10)]
    reply, delivered = enqueue_shared(srv, model, inputs)
    assert depth(srv) == 2
    blocker.release.set()
    held.result(10)
    deadline = time.monotonic() + 10
    while len(delivered) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert delivered[0] == "returned" and sorted(d[0] for d in delivered[1:]) == [0, 1]
    for i, out, err in delivered[1:]:
        assert err is None
        np.testing.assert_array_equal(out[0], inputs[i] * 2 + 1)
    assert model.ran == [3] and not reply.done()   # one batch; the reply is the caller's to settle


def test_cancelling_a_shared_reply_drops_all_its_queued_runs(srv):
    model = OrtModel(BLOB, batchsize=8)
    blocker, held = hold(srv)
    reply, delivered = enqueue_shared(srv, model, [rows(1, 0), rows(1, 5)])
    assert depth(srv) == 2
    srv.call(reply.cancel)
    assert depth(srv) == 0
    blocker.release.set()
    held.result(10)
    submit(srv, model, [rows(1, 1)])[0].result(10)
    assert model.ran == [1] and delivered == ["returned"]
    assert srv.call(lambda: schedulers(srv).queue("CPU").stats.cancelled) == 2


def test_a_refused_enqueue_is_delivered_after_the_call(srv):
    srv.client().config_set("queue-max-depth", 1)
    model = OrtModel(BLOB, batchsize=0)
    blocker, held = hold(srv)
    reply, delivered = enqueue_shared(srv, model, [rows(1, 0), rows(1, 1)])
    srv.call(lambda: None)   # one loop turn later
    assert delivered[0] == "returned"
    assert [(i, out, err.text) for i, out, err in delivered[1:]] == [(1, None, errors.QUEUE_FULL.format("CPU", 1))]
    blocker.release.set()
    held.result(10)


def test_runs_leave_no_reference_cycles(srv):
    """Finished requests are freed by reference counting: garbage collection is rare in the server (thresholds
    raised at start), so a cycle per request would pile up requests and their arrays until a long collection."""
    model = OrtModel(BLOB, batchsize=8)
    gc.collect()
    gc.disable()
    try:
        blocker, held = hold(srv)
        futures = [submit(srv, model, [rows(1, i)])[0] for i in range(4)]
        reply, delivered = enqueue_shared(srv, model, [rows(1, 7)])
        gone, loop_future = submit(srv, model, [rows(1, 9)])
        srv.call(loop_future.cancel)
        blocker.release.set()
        for fut in [held, *futures]:
            fut.result(10)
        srv.call(lambda: None)
        assert len(delivered) == 2
        canary = RunRequest(None)   # held here, so the count below shows that the collector sees requests at all
        alive = sum(isinstance(o, RunRequest) for o in gc.get_objects())   # the canary, and any still referenced
        assert alive >= 1
        gc.collect()
        assert sum(isinstance(o, RunRequest) for o in gc.get_objects()) == alive   # none was garbage in a cycle
        del canary
    finally:
        gc.enable()
