"""onnx-run-thread: an ONNX batch the event loop would run goes to the device queue's native thread instead.

The thread (inferd/backends/_ortrun.c) runs the model through onnxruntime's C API without the GIL, so the loop goes
on answering while it runs; a lone request under light load still runs on the loop. Tested at both ends: the
backend's ``NativeSession`` with an executor driven by hand (types, errors, terminate, close), and a running server
whose queue hands it batches (``srv.call`` queues requests in one loop turn, as in test_inline.py).
"""
from __future__ import annotations

import select
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import redis
from onnx import TensorProto, helper

from inferd.backends import onnx as onnx_backend
from inferd.backends.base import LoadOptions
from inferd.errors import CommandError
from tests.ai.models import _onnx_model, add_one_body
from tests.scheduler.models import affine_onnx, hold, observe, schedulers, wait_until

LIMIT = 100_000   # inline-run-max-us: far above what the test models take once measured
NATIVE = LoadOptions(run_thread=True, light_load_max_bytes=1 << 30)


def identity_onnx(elem: int) -> bytes:
    """y = x over a [N, 3] tensor of ONNX element type ``elem``."""
    return _onnx_model([helper.make_node("Identity", ["x"], ["y"])],
                       [helper.make_tensor_value_info("x", elem, ["N", 3])],
                       [helper.make_tensor_value_info("y", elem, ["N", 3])])


def spin_onnx() -> bytes:
    """y = x + trips over float[N, 1], where trips = max(x): as slow as its largest input asks (one Add per trip)."""
    body = add_one_body()
    nodes = [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
             helper.make_node("Cast", ["top"], ["trips"], to=TensorProto.INT64),
             helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
             helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)]
    return _onnx_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])])


def run_native(session: Any, inputs: list[np.ndarray], executor: Any = None) -> list[np.ndarray]:
    """One run on a native thread, waited for as the event loop would (its fd readable)."""
    executor = executor or session.native.executor()
    run = session.native.start(executor, inputs)
    assert run is not None
    select.select([executor.fd], [], [], 30)
    done = session.native.finish(run)
    assert done is not None
    outputs, duration_us = done
    assert duration_us >= 0
    return outputs


@pytest.mark.parametrize("elem,dtype", [(TensorProto.FLOAT, np.float32), (TensorProto.DOUBLE, np.float64),
                                        (TensorProto.INT64, np.int64), (TensorProto.INT32, np.int32),
                                        (TensorProto.UINT8, np.uint8), (TensorProto.BOOL, np.bool_),
                                        (TensorProto.FLOAT16, np.float16)])
def test_the_native_thread_returns_what_onnxruntime_returns_for_each_numeric_type(elem, dtype):
    session = onnx_backend.load(identity_onnx(elem), NATIVE)
    assert session.native is not None
    x = (np.arange(12).reshape(4, 3) % 3).astype(dtype)
    got = run_native(session, [x])
    want = session.run([x])
    assert got[0].dtype == want[0].dtype == dtype and got[0].shape == (4, 3)
    np.testing.assert_array_equal(got[0], want[0])
    got[0][0, 0] = 1   # the outputs are the caller's own arrays


def test_runs_follow_one_another_on_one_thread_and_a_run_error_has_onnxruntimes_text():
    session = onnx_backend.load(affine_onnx(), NATIVE)
    executor = session.native.executor()
    for rows in (1, 5, 2):
        x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
        np.testing.assert_array_equal(run_native(session, [x], executor)[0], x * 2 + 1)
    wrong = np.zeros((2, 5), np.float32)
    with pytest.raises(CommandError) as native_error:
        run_native(session, [wrong], executor)
    with pytest.raises(CommandError) as loop_error:
        session.run([wrong])
    assert native_error.value.text == loop_error.value.text and "Got invalid dimensions" in loop_error.value.text
    np.testing.assert_array_equal(run_native(session, [np.ones((1, 4), np.float32)], executor)[0], 3)   # still runs


def test_a_batch_given_in_parts_is_joined_by_the_thread_as_numpy_joins_it():
    session = onnx_backend.load(affine_onnx(), NATIVE)
    executor = session.native.executor()
    parts = [np.arange(i * 4, (i + rows) * 4, dtype=np.float32).reshape(rows, 4)
             for i, rows in ((0, 1), (1, 3), (4, 2))]
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(run_native(session, [parts], executor)[0], joined * 2 + 1)
    # a part the thread cannot read as it is (not C-contiguous): numpy joins them on the loop
    strided = np.arange(16, dtype=np.float32).reshape(2, 8)[:, ::2]
    np.testing.assert_array_equal(run_native(session, [[parts[0], strided]], executor)[0],
                                  np.concatenate([parts[0], strided]) * 2 + 1)
    np.testing.assert_array_equal(run_native(session, [[parts[1]]], executor)[0], parts[1] * 2 + 1)   # one part


def test_what_the_thread_does_not_take_is_left_to_the_loop():
    session = onnx_backend.load(affine_onnx(), NATIVE)
    executor = session.native.executor()
    assert session.native.start(executor, [np.ones((1, 4), ">f4")]) is None        # not a native type: no run
    assert not executor.busy
    with pytest.raises(CommandError, match="Number of keys given as INPUTS"):
        session.native.start(executor, [np.ones((1, 4), np.float32)] * 2)
    assert onnx_backend.load(affine_onnx(), LoadOptions()).native is None          # onnx-run-thread no
    strings = _onnx_model([helper.make_node("Identity", ["x"], ["y"])],
                          [helper.make_tensor_value_info("x", TensorProto.STRING, ["N"])],
                          [helper.make_tensor_value_info("y", TensorProto.STRING, ["N"])])
    assert onnx_backend.load(strings, NATIVE).native is None                       # string tensors: the loop


def test_a_run_in_progress_can_be_stopped_and_close_waits_for_it():
    session = onnx_backend.load(spin_onnx(), NATIVE)
    executor = session.native.executor()
    run = session.native.start(executor, [np.full((1, 1), 1e9, np.float32)])
    assert session.native.finish(run) is None and executor.busy     # not done yet: nothing to collect
    executor.terminate()
    select.select([executor.fd], [], [], 30)
    with pytest.raises(CommandError, match="terminate flag"):
        session.native.finish(run)
    run = session.native.start(executor, [np.full((1, 1), 20_000, np.float32)])
    executor.close()                                                  # waits for the run, which stays collectable
    outputs, _ = session.native.finish(run)
    np.testing.assert_array_equal(outputs[0], [[40_000]])
    with pytest.raises(RuntimeError, match="closed"):
        executor.submit(session.native.native, [np.zeros((1, 1), np.float32)], [1])


def wait_done(native: Any, run: Any) -> Any:
    """The outcome of ``run``, the oldest in hand, waited for as the event loop would (its fd readable)."""
    for _ in range(300):
        select.select([run.executor.fd], [], [], 0.1)
        if run.executor.done:
            return native.finish(run)
    raise AssertionError("the run did not finish")


def test_the_next_run_is_staged_grows_until_the_thread_takes_it_and_runs_after_the_one_before():
    session = onnx_backend.load(spin_onnx(), NATIVE)
    native = session.native
    executor = native.executor()
    first = native.start(executor, [np.full((1, 1), 1e9, np.float32)])   # runs until stopped
    wait_until(lambda: not native.extend(first, [[np.ones((1, 1), np.float32)]]))   # the thread has taken it
    second = native.start(executor, [[np.full((1, 1), 1, np.float32)]])
    assert native.extend(second, [[np.full((2, 1), 2, np.float32), np.full((1, 1), 3, np.float32)]])
    assert not native.extend(second, [[np.zeros((1, 2), np.float32)]])     # other dims: not added
    assert not native.extend(second, [[np.zeros((1, 1), np.float64)]])     # another type: not added
    with pytest.raises(CommandError, match="Number of keys given as INPUTS"):
        native.extend(second, [[np.ones((1, 1), np.float32)]] * 2)
    with pytest.raises(RuntimeError, match="2 runs are in hand"):
        native.start(executor, [np.zeros((1, 1), np.float32)])
    assert not executor.done
    executor.terminate(first.id)
    with pytest.raises(CommandError, match="terminate flag"):
        wait_done(native, first)
    outputs, _ = wait_done(native, second)                                 # one run of the rows added: trips = 3
    np.testing.assert_array_equal(outputs[0], [[4], [5], [5], [6]])
    assert not executor.busy and not native.extend(second, [[np.ones((1, 1), np.float32)]])   # collected
    # a staged run stopped before it starts fails alone; close waits for the runs in hand
    running = native.start(executor, [np.full((1, 1), 20_000, np.float32)])
    staged = native.start(executor, [np.ones((1, 1), np.float32)])
    executor.terminate(staged.id)
    executor.close()
    np.testing.assert_array_equal(native.finish(running)[0][0], [[40_000]])
    with pytest.raises(CommandError, match="terminate flag"):
        native.finish(staged)


def test_a_staged_run_waits_for_the_rows_it_wants_unless_it_is_released():
    session = onnx_backend.load(spin_onnx(), NATIVE)
    native = session.native
    executor = native.executor()
    first = native.start(executor, [np.ones((1, 1), np.float32)])
    second = native.start(executor, [[np.full((1, 1), 1, np.float32)]], want=3)
    np.testing.assert_array_equal(wait_done(native, first)[0][0], [[2]])
    assert native.extend(second, [[np.full((1, 1), 2, np.float32)]])   # the thread is free, but 2 rows of 3: staged
    assert executor.busy and not executor.done
    assert native.extend(second, [[np.full((1, 1), 3, np.float32)]])   # 3 rows: the thread takes it
    np.testing.assert_array_equal(wait_done(native, second)[0][0], [[4], [5], [6]])
    third = native.start(executor, [np.full((2, 1), 1, np.float32)], want=8)
    assert native.extend(third, [[np.full((1, 1), 2, np.float32)]]) and not executor.done
    native.release(third)                                               # it goes with the rows it holds
    np.testing.assert_array_equal(wait_done(native, third)[0][0], [[3], [3], [4]])
    assert not executor.busy and not native.extend(third, [[np.ones((1, 1), np.float32)]])


def test_the_model_execution_timeout_stops_a_native_run():
    session = onnx_backend.load(spin_onnx(), LoadOptions(run_thread=True, light_load_max_bytes=1 << 30,
                                                         execution_timeout_ms=200))
    with pytest.raises(CommandError, match="terminate flag"):
        run_native(session, [np.full((1, 1), 1e9, np.float32)])


# ---- in a running server ------------------------------------------------------------------------------------------
def queue_stats(srv: Any) -> Any:
    return srv.call(lambda: schedulers(srv).queue("CPU").stats)


def submit_together(srv: Any, key: bytes, inputs: list[np.ndarray], results: list[Any]) -> None:
    """Queue one run per input in one loop turn (so they form one batch); outcomes land in ``results``."""
    def submit() -> None:
        model = srv.state.keyspace.dbs[0].get(key)
        for x in inputs:
            future = schedulers(srv).submit("CPU", model, [x])
            future.add_done_callback(lambda f: results.append(f.exception() or f.result()))
    srv.call(submit)


def test_batches_go_to_the_native_thread_once_the_queues_batches_are_large(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0)
    client = srv.client(protocol=2)
    assert client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", affine_onnx()) == b"OK"
    for i in range(3):   # the first run is measured on a worker, then lone requests under light load: the loop
        client.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", i, i, i, i)
        assert client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    assert (queue_stats(srv).inline, queue_stats(srv).native) == (2, 0)
    records = observe(srv)
    rounds = 0
    results: list[Any] = []
    while queue_stats(srv).native == 0:   # batches of 8 on the loop until recent batches average 6 rows (the default)
        rounds += 1
        assert rounds <= 20
        results.clear()
        submit_together(srv, b"m", [np.full((1, 4), i, np.float32) for i in range(8)], results)
        wait_until(lambda: len(results) == 8)
        for i, outputs in enumerate(results):
            np.testing.assert_array_equal(outputs[0], np.full((1, 4), i * 2 + 1, np.float32))
    assert rounds > 1 and [(r.requests, r.rows) for r in records] == [(8, 8)] * rounds
    assert (queue_stats(srv).inline, queue_stats(srv).native) == (2 + rounds - 1, 1)
    assert client.info("ai")["ai_queue_CPU"]["native"] == 1
    info = dict(zip(*[iter(client.execute_command("AI.INFO", "m"))] * 2, strict=True))
    assert info[b"calls"] == 3 + 8 * rounds and info[b"errors"] == 0


def test_beside_a_batch_on_a_worker_the_loop_runs_its_batch_itself(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0,
                       onnx_run_thread_min_rows=0)
    client = srv.client(protocol=2)
    assert client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", affine_onnx()) == b"OK"
    client.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 1, 1, 1)
    assert client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    blocker, held = hold(srv)   # the queue's worker runs a batch
    results: list[Any] = []
    submit_together(srv, b"m", [np.full((1, 4), i, np.float32) for i in range(2)], results)
    wait_until(lambda: len(results) == 2)
    assert (queue_stats(srv).inline, queue_stats(srv).native) == (1, 0)
    blocker.release.set()
    held.result(10)
    results.clear()
    submit_together(srv, b"m", [np.full((1, 4), i, np.float32) for i in range(2)], results)
    wait_until(lambda: len(results) == 2)
    assert (queue_stats(srv).inline, queue_stats(srv).native) == (1, 1)
    np.testing.assert_array_equal(results[1][0], [[3, 3, 3, 3]])


def store_slow(client: redis.Redis) -> None:
    """Store spin_onnx() as ``slow`` (BATCHSIZE 8) and run it once (its first run, measured on a worker)."""
    assert client.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB",
                                   spin_onnx()) == b"OK"
    client.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 1, "VALUES", 1)
    assert client.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"


def test_the_loop_answers_while_the_native_thread_runs_and_the_watchdog_stops_the_run(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0,
                       onnx_run_thread_min_rows=0, **{"model-execution-timeout": 1000})
    client = srv.client(protocol=2, socket_timeout=30)
    store_slow(client)
    results: list[Any] = []
    submit_together(srv, b"slow", [np.full((1, 1), 1e9, np.float32), np.ones((1, 1), np.float32)], results)
    wait_until(lambda: srv.call(lambda: schedulers(srv).queue("CPU").depth) == 0)
    assert client.ping() is True and client.get("nothing") is None
    assert results == []                                   # answered while the batch still runs
    wait_until(lambda: len(results) == 2, timeout=30)
    assert all(isinstance(r, CommandError) and "terminate flag" in r.text for r in results)
    assert queue_stats(srv).native == 1
    client.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 1, "VALUES", 2)
    assert client.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    assert client.execute_command("AI.TENSORGET", "y", "VALUES") == [b"4"]


def test_a_server_stopping_answers_the_batch_on_the_native_thread(start_server):
    # the run takes seconds: a busy machine must not make it pass the default model-execution-timeout (5 s)
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0,
                       onnx_run_thread_min_rows=0, **{"model-execution-timeout": 120_000})
    client = srv.client(protocol=2)
    store_slow(client)
    results: list[Any] = []
    submit_together(srv, b"slow", [np.full((1, 1), 3e6, np.float32), np.ones((1, 1), np.float32)], results)
    wait_until(lambda: srv.call(lambda: schedulers(srv).queue("CPU").depth) == 0)
    srv.stop()
    assert len(results) == 2
    np.testing.assert_array_equal(results[0][0], [[3e6 + 3e6]])
    np.testing.assert_array_equal(results[1][0], [[1 + 3e6]])


def test_requests_that_come_while_the_native_thread_runs_join_the_batch_staged_behind_it(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0,
                       onnx_run_thread_min_rows=0, **{"model-execution-timeout": 120_000})
    client = srv.client(protocol=2)
    store_slow(client)
    records = observe(srv)
    results: list[Any] = []
    submit_together(srv, b"slow", [np.full((1, 1), 3e6, np.float32)], results)   # takes seconds
    wait_until(lambda: srv.call(lambda: schedulers(srv).queue("CPU").depth) == 0)
    for i in range(1, 10):   # one request per loop turn: the first is staged, the next 7 join it (BATCHSIZE 8)
        submit_together(srv, b"slow", [np.full((1, 1), i, np.float32)], results)
    assert srv.call(lambda: schedulers(srv).queue("CPU").depth) == 1   # the 9th waits for a batch to finish
    wait_until(lambda: len(results) == 10, timeout=60)
    assert [(r.requests, r.rows) for r in records] == [(1, 1), (8, 8), (1, 1)]
    np.testing.assert_array_equal(results[0][0], [[6e6]])
    for i in range(1, 9):   # y = x + the batch's largest x
        np.testing.assert_array_equal(results[i][0], [[i + 8]])
    np.testing.assert_array_equal(results[9][0], [[18]])
    assert queue_stats(srv).native == 3


def test_onnx_run_thread_is_read_when_a_model_is_stored(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT, lone_client_run_max_us=0,
                       onnx_run_thread_min_rows=0)
    client = srv.client(protocol=2)
    assert client.config_set("onnx-run-thread", "no")
    assert client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", affine_onnx()) == b"OK"
    client.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 1, 1, 1)
    assert client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    results: list[Any] = []
    submit_together(srv, b"m", [np.ones((1, 4), np.float32)] * 2, results)
    wait_until(lambda: len(results) == 2)
    assert (queue_stats(srv).inline, queue_stats(srv).native) == (1, 0)
    assert client.config_set("onnx-run-thread", "yes")   # a model stored now gets the thread's session, and holds
    assert client.execute_command("AI.MODELSTORE", "n", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", affine_onnx()) == b"OK"
    assert client.memory_usage("n") - client.memory_usage("m") == len(affine_onnx())   # its weights
    with pytest.raises(redis.ResponseError, match="argument"):
        client.config_set("onnx-run-thread", "maybe")
    assert client.config_get("onnx-run-thread-spin-us") == {"onnx-run-thread-spin-us": "100"}


def test_onnxruntime_and_the_c_api_agree_on_the_model_the_tests_use():
    """The Python session the loop runs and the native one give the same outputs on the scoring-like model."""
    session = onnx_backend.load(affine_onnx(), NATIVE)
    x = np.random.default_rng(1).standard_normal((7, 4)).astype(np.float32)
    plain = ort.InferenceSession(affine_onnx(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(run_native(session, [x])[0], plain)
