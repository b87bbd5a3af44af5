"""Side batches: while the queue's workers are busy, a compute-bound model's batch runs beside them on one thread.

The queue's only worker is held by a :class:`Blocker`; a model whose full batches are expected to cost at least
``side-batch-min-row-us`` per row must then run on the side worker (its ``run_narrow``), and any other model must
wait for the worker. Run-time estimates are set on the models' own statistics, so nothing depends on timing. A stored
ONNX model with a session for the native thread (``onnx-run-thread``) runs such a batch on a native thread of its own
instead of the side worker.
"""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import numpy as np
import pytest

from inferd import errors
from inferd.errors import CommandError
from inferd.store.model import RunStats
from tests.ai.conftest import get_tensor, set_tensor
from tests.conftest import free_port
from tests.ops.helpers import scrape, value
from tests.scheduler.models import Blocker, OrtModel, affine_onnx, depth, hold, observe, schedulers, wait_until
from tests.scheduler.test_queues import rows, submit
from tests.scheduler.test_run_thread import spin_onnx

BLOB = affine_onnx()


class SideModel(OrtModel):
    """A real ONNX model that may run beside another batch; records which way each batch ran."""

    side_capable = True

    def __init__(self, row_us: int, batchsize: int = 4) -> None:
        super().__init__(BLOB, batchsize=batchsize, key=b"side")
        self.stats = RunStats()
        self.stats.note_run(row_us * batchsize, 4 * batchsize)   # its full batches' estimate (4 elements a row)
        self.ways: list[str] = []
        self.gate: threading.Event | None = None   # a narrow run waits for it, when set

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.ways.append("wide")
        return super().run(inputs)

    def run_narrow(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.ways.append("narrow")
        if self.gate is not None:
            assert self.gate.wait(30)
        return super().run(inputs)


class SideBlocker(Blocker):
    """A Blocker that may take the side worker (its narrow run holds it the same way)."""

    side_capable = True
    batchsize = 1

    def __init__(self) -> None:
        super().__init__()
        self.stats = RunStats()
        self.stats.note_run(1_000_000, 1)

    def run_narrow(self, inputs: list[Any]) -> list[Any]:
        return self.run(inputs)


def submit_together(srv: Any, model: Any, inputs: list[np.ndarray]) -> list[concurrent.futures.Future[Any]]:
    """Submit one request per input in one loop turn (so that they may form one batch); their outputs' futures."""
    results: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in inputs]

    def go() -> None:
        for x, result in zip(inputs, results, strict=True):
            fut = schedulers(srv).submit("CPU", model, [x])
            fut.add_done_callback(lambda f, result=result: result.set_result(f.result()))
    srv.call(go)
    return results


@pytest.fixture
def srv(start_server: Any) -> Any:
    return start_server(threads_per_queue=1)


def queue_figures(srv: Any) -> dict[str, int]:
    q = srv.call(lambda: schedulers(srv).queue("CPU"))
    return srv.call(lambda: {"narrow": q.stats.narrow, "side": q.side, "idle": q.idle, "running": q.running})


def test_a_compute_bound_batch_runs_beside_a_busy_worker_on_one_thread(srv):
    model = SideModel(row_us=2_000)
    seen = observe(srv)
    blocker, held = hold(srv)
    inputs = [rows(2, 0), rows(1, 100)]
    futures = submit_together(srv, model, inputs)
    for fut, x in zip(futures, inputs, strict=True):   # done while the worker is still held
        np.testing.assert_array_equal(fut.result(10)[0], x * 2 + 1)
    assert not held.done() and model.ways == ["narrow"] and model.ran == [3]
    assert [r.rows for r in seen] == [3]
    wait_until(lambda: queue_figures(srv)["side"] == 1)   # the side worker is free again, the worker still held
    assert queue_figures(srv) == {"narrow": 1, "side": 1, "idle": 0, "running": 1}
    blocker.release.set()
    held.result(10)
    # alone on the queue, the model's batch takes its usual session (no batch beside it)
    np.testing.assert_array_equal(submit(srv, model, [rows(1, 7)])[0].result(10)[0], rows(1, 7) * 2 + 1)
    assert model.ways == ["narrow", "wide"]
    assert queue_figures(srv) == {"narrow": 1, "side": 1, "idle": 1, "running": 0}


def test_a_cheap_model_waits_for_the_worker(srv):
    model = SideModel(row_us=10)   # below side-batch-min-row-us (50): the loop, not the backend, limits it
    blocker, held = hold(srv)
    fut, _ = submit(srv, model, [rows(1, 0)])
    wait_until(lambda: depth(srv) == 1)
    assert not fut.done() and model.ways == []
    blocker.release.set()
    np.testing.assert_array_equal(fut.result(10)[0], rows(1, 0) * 2 + 1)
    assert model.ways == ["wide"] and queue_figures(srv)["narrow"] == 0


def test_judged_at_a_full_batch_not_at_its_few_rows(srv):
    # A lone row costs 800 µs (too long for the loop, and over the limit) but a full batch of 64 only 20 µs a row.
    model = SideModel(row_us=20, batchsize=64)
    model.stats.note_run(800, 4)
    blocker, held = hold(srv)
    fut, _ = submit(srv, model, [rows(1, 0)])
    wait_until(lambda: depth(srv) == 1)
    assert model.ways == []
    blocker.release.set()
    fut.result(10)
    assert model.ways == ["wide"]


def test_side_batches_off_with_zero(srv):
    client = srv.client()
    assert client.config_set("side-batch-min-row-us", 0)
    assert client.info("ai")["ai_side_batch_min_row_us"] == 0
    model = SideModel(row_us=2_000)
    blocker, held = hold(srv)
    fut, _ = submit(srv, model, [rows(1, 0)])
    wait_until(lambda: depth(srv) == 1)
    assert not fut.done()
    assert client.config_set("side-batch-min-row-us", 50)   # live: the next decision takes it
    blocker.release.set()
    fut.result(10)
    assert model.ways == ["wide"]


def test_one_side_worker_and_both_batches_narrow_while_the_other_runs(srv):
    """The side worker takes one batch at a time; the worker's next batch beside it runs narrow too."""
    blocker, held = hold(srv)
    side_blocker = SideBlocker()
    side_held, _ = submit(srv, side_blocker, [np.zeros((1, 1), np.float32)])
    assert side_blocker.started.wait(10)                          # on the side worker
    model = SideModel(row_us=2_000)
    model.gate = threading.Event()
    fut, _ = submit(srv, model, [rows(1, 0)])
    wait_until(lambda: depth(srv) == 1)                           # both workers busy: it waits
    blocker.release.set()                                          # the worker frees: the side batch still runs
    wait_until(lambda: model.ways == ["narrow"])
    model.gate.set()
    np.testing.assert_array_equal(fut.result(10)[0], rows(1, 0) * 2 + 1)
    side_blocker.release.set()
    side_held.result(10)
    held.result(10)
    figures = queue_figures(srv)
    assert figures == {"narrow": 2, "side": 1, "idle": 1, "running": 0}


def store_compute_bound(srv: Any, blob: bytes = BLOB, width: int = 4, key: str = "m") -> tuple[Any, Any]:
    """A client, and an ONNX model (rows ``width`` wide) stored as ``key``, BATCHSIZE 8, as if its full batches took
    12.5 ms a row (until its first run is measured: the run of another size is then derived from it)."""
    client = srv.client(protocol=2)
    client.execute_command("AI.MODELSTORE", key, "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", blob)
    model = srv.call(lambda: srv.state.keyspace.dbs[0].get(key.encode()))
    assert model.side_capable
    srv.call(lambda: model.stats.note_run(100_000, 8 * width))
    return client, model


def beside_threads(srv: Any) -> list[Any]:
    """The queue's native threads of batches run side by side (made as needed)."""
    return srv.call(lambda: list(schedulers(srv).queue("CPU")._beside.threads))


def test_a_stored_onnx_model_runs_beside_a_busy_worker_on_a_native_thread(start_server):
    """AI.MODELEXECUTE of a stored ONNX model while the worker is held: beside it, on a native thread of its own."""
    srv = start_server(threads_per_queue=1, metrics_port=free_port())
    client, model = store_compute_bound(srv)
    _, other = store_compute_bound(srv, spin_onnx(), width=1, key="s")
    x = rows(2, 0)
    set_tensor(client, "x", x)
    blocker, held = hold(srv)
    assert client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    np.testing.assert_array_equal(get_tensor(client, "y"), x * 2 + 1)
    assert not held.done()
    assert model.session.narrow is None            # not the worker's one-thread session: the native session's
    threads = beside_threads(srv)
    assert len(threads) == 1 and threads[0].executor is not None and not threads[0].busy
    queue = client.info("ai")["ai_queue_CPU"]
    assert queue["narrow"] == 1 and queue["busy"] == 1 and queue["side_busy"] == 0   # the side slot is free again
    assert value(scrape(srv.config.metrics_port), "inferd_queue_side_by_side_batches_total", device="CPU") == 1
    # the next batch beside the held worker (another model's, whose run is not measured yet) takes the same thread
    client.execute_command("AI.TENSORSET", "t", "FLOAT", 1, 1, "VALUES", 3)
    assert client.execute_command("AI.MODELEXECUTE", "s", "INPUTS", 1, "t", "OUTPUTS", 1, "u") == b"OK"
    assert client.execute_command("AI.TENSORGET", "u", "VALUES") == [b"6"] and other.session.narrow is None
    assert beside_threads(srv) == threads and client.info("ai")["ai_queue_CPU"]["narrow"] == 2
    blocker.release.set()
    held.result(10)
    assert queue_figures(srv) == {"narrow": 2, "side": 1, "idle": 1, "running": 0}


def test_without_onnx_run_thread_the_side_worker_runs_it_on_a_one_thread_session(start_server):
    srv = start_server(threads_per_queue=1, onnx_run_thread="no")
    client, model = store_compute_bound(srv)
    assert model.session.native is None
    x = rows(2, 0)
    set_tensor(client, "x", x)
    blocker, held = hold(srv)
    assert client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    np.testing.assert_array_equal(get_tensor(client, "y"), x * 2 + 1)
    assert not held.done() and model.session.narrow.get_session_options().intra_op_num_threads == 1
    assert beside_threads(srv) == [] and client.info("ai")["ai_queue_CPU"]["narrow"] == 1
    blocker.release.set()
    held.result(10)


def test_a_batch_beside_that_the_native_session_refuses_fails_and_frees_its_slot(srv):
    _, model = store_compute_bound(srv)
    blocker, held = hold(srv)
    fut, _ = submit(srv, model, [rows(1, 0), rows(1, 0)])   # two inputs for a one-input model
    with pytest.raises(CommandError) as refused:
        fut.result(10)
    assert refused.value.text == errors.AI_INPUTS_VS_MODEL and len(beside_threads(srv)) == 1   # refused there
    wait_until(lambda: queue_figures(srv)["side"] == 1)
    assert queue_figures(srv) == {"narrow": 1, "side": 1, "idle": 0, "running": 1}
    blocker.release.set()
    held.result(10)


def test_a_server_stopping_answers_the_batch_beside_on_its_native_thread(start_server):
    # the run takes seconds: a busy machine must not make it pass the default model-execution-timeout (5 s)
    srv = start_server(threads_per_queue=1, **{"model-execution-timeout": 120_000})
    client, model = store_compute_bound(srv, spin_onnx(), width=1)
    blocker, held = hold(srv)
    fut, _ = submit(srv, model, [np.full((1, 1), 3e6, np.float32)])   # some 3 million Adds: still running at stop
    wait_until(lambda: depth(srv) == 0 and len(beside_threads(srv)) == 1)
    blocker.release.set()
    srv.stop()
    np.testing.assert_array_equal(fut.result(0)[0], [[3e6 + 3e6]])
