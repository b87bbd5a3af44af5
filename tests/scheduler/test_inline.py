"""inline-run-max-us: a batch expected to take at most that long runs on the event loop, anything else on a worker.

The first run of a model always goes to a worker (its cost is unknown until measured); later batches run inline
when the measured cost for their size (by power-of-two count of input elements, never assumed to grow faster than
the elements) is within the limit. Requests reaching the queue in one loop turn (one ``srv.call``) are batched
together. These tests run with onnx-run-thread no (the ``start_server`` below): with it, the batches the loop would
run go to the queue's native thread instead (tests/scheduler/test_run_thread.py). A held worker (see
:func:`tests.scheduler.models.hold`) occupies the queue's only worker deterministically.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
from typing import Any

import numpy as np
import pytest
import redis

from inferd.commands.context import Client
from inferd.errors import CommandError
from inferd.resp.encoder import encode
from inferd.scheduler import queues
from inferd.store.model import RUN_BUCKETS, RunStats
from tests.ai.conftest import encode_command
from tests.scheduler.models import Blocker, OrtModel, affine_onnx, depth, hold, observe, schedulers, wait_until

BLOB = affine_onnx()
LIMIT = 100_000   # µs: far above what the 4-wide affine model takes, so qualifying never depends on the machine


@pytest.fixture
def start_server(start_server: Any) -> Any:
    """The conftest's server factory with onnx-run-thread no: the batches here run on the loop itself."""
    return lambda **options: start_server(**{"onnx_run_thread": "no", **options})


def store(client: redis.Redis, key: str = "m", *options: Any) -> None:
    assert client.execute_command("AI.MODELSTORE", key, "ONNX", "CPU", *options, "BLOB", BLOB) == b"OK"


def execute(client: redis.Redis, x: np.ndarray, key: str = "m") -> np.ndarray:
    client.execute_command("AI.TENSORSET", "x", "FLOAT", *x.shape, "BLOB", x.tobytes())
    assert client.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    return np.frombuffer(client.execute_command("AI.TENSORGET", "y", "BLOB"), np.float32).reshape(x.shape)


def inline_runs(srv: Any) -> int:
    return int(srv.call(lambda: schedulers(srv).queue("CPU").stats.inline))


def test_lone_runs_after_the_first_run_inline_and_are_counted(start_server):
    srv = start_server(inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    records = observe(srv)
    for i in range(4):
        x = np.full((1, 4), i, np.float32)
        np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 3                      # the first run measured the model on a worker
    assert [r.requests for r in records if r.model_key == b"m"] == [1, 1, 1, 1]
    info = dict(zip(*[iter(client.execute_command("AI.INFO", "m"))] * 2, strict=True))
    assert info[b"calls"] == 4 and info[b"samples"] == 4 and info[b"errors"] == 0
    assert client.info("ai")["ai_queue_CPU"]["inline"] == 3


def test_zero_limit_turns_inline_runs_off_at_runtime(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=0)   # the one client's runs too
    client = srv.client(protocol=2)
    store(client)
    for _ in range(3):
        execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 0
    assert client.config_set("inline-run-max-us", str(LIMIT))
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 1


def test_a_model_slower_than_the_limit_never_runs_inline(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=0)   # the one client's runs too
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))
    run_us = int(srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").stats.estimate_us(4)))   # 1 x 4 elements
    assert run_us > 0
    assert client.config_set("inline-run-max-us", str(run_us - 1))
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 0


def clients(srv: Any) -> int:
    return int(srv.call(lambda: len(srv.state.clients)))


def test_a_lone_client_runs_past_the_inline_limit_on_the_loop_while_it_is_the_only_one(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client)
    for i in range(3):
        x = np.full((1, 4), i, np.float32)
        np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 2                      # the first run measured the model on a worker
    other = srv.client(protocol=2)
    assert other.ping() and clients(srv) == 2         # a second client: it could be kept waiting
    execute(client, np.ones((1, 4), np.float32))
    other.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y2")
    assert inline_runs(srv) == 2
    other.close()
    wait_until(lambda: clients(srv) == 1)
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 3
    reply = client.execute_command("AI.DAGEXECUTE", "ROUTING", "t", "|>",             # a DAG's model op as well
                                   "AI.TENSORSET", "a", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4, "|>",
                                   "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "b", "|>",
                                   "AI.TENSORGET", "b", "VALUES")
    assert reply == [b"OK", b"OK", [b"3", b"5", b"7", b"9"]] and inline_runs(srv) == 4
    assert client.config_set("lone-client-run-max-us", "0")
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 4
    assert client.info("ai")["ai_lone_client_run_max_us"] == 0


def test_idle_connections_do_not_count_against_the_lone_client(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=LIMIT)
    idle_s = 0.5

    def configure() -> None:   # a shorter idle time than the second of the default, counted at every request
        schedulers(srv).lone_idle_s, schedulers(srv).lone_recount_s = idle_s, 0.0
    srv.call(configure)
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))               # measured on a worker
    pool = [srv.client(protocol=2) for _ in range(3)]          # a pool's other connections: open, then quiet
    assert all(c.ping() for c in pool) and clients(srv) == 4
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 0                               # they spoke just now: they may speak again
    time.sleep(idle_s * 1.5)
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 1                               # idle now: the lone client's run is on the loop
    assert pool[1].get("k") is None                            # one of them speaks again
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 1
    time.sleep(idle_s * 1.5)
    for i in range(2):
        x = np.full((1, 4), i, np.float32)
        np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 3


def test_a_lone_clients_batch_still_goes_to_a_worker(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=LIMIT)
    records = observe(srv)
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    execute(client, np.ones((1, 4), np.float32))            # measured on a worker
    model = srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m"))
    results: list[Any] = []

    def submit(count: int) -> None:   # one loop turn: all of them are pending before the queue decides
        for i in range(count):
            x = np.full((1, 4), i, np.float32)
            schedulers(srv).submit("CPU", model, [x]).add_done_callback(lambda f: results.append(f.result()))
    srv.call(lambda: submit(3))
    wait_until(lambda: len(results) == 3)
    assert inline_runs(srv) == 0                            # the lone-client limit is for a request alone
    srv.call(lambda: submit(1))
    wait_until(lambda: len(results) == 4)
    assert inline_runs(srv) == 1
    assert [r.requests for r in records if r.model_key == b"m"] == [1, 3, 1]


def test_a_cheap_model_runs_inline_while_the_worker_is_busy(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))            # measured: the model now qualifies
    client.execute_command("AI.TENSORSET", "x2", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4)
    blocker, held = hold(srv)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(encode_command("AI.MODELEXECUTE", "m", "INPUTS", "1", "x2", "OUTPUTS", "1", "y2"))
        assert sock.recv(64) == b"+OK\r\n"                 # not stuck behind the held worker
        assert not held.done()
    blocker.release.set()
    held.result(10)
    assert client.execute_command("AI.TENSORGET", "y2", "VALUES") == [b"3", b"5", b"7", b"9"]
    assert inline_runs(srv) == 1


def test_a_batch_behind_a_worker_bound_one_waits_for_a_worker(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))            # measured: the model qualifies
    blocker, held = hold(srv)
    results: list[Any] = []
    ahead = Blocker()
    ahead.release.set()

    def submit_slow_then_cheap() -> None:   # arrival order is kept: the queue's head needs the busy worker
        model = srv.state.keyspace.dbs[0].get(b"m")
        schedulers(srv).submit("CPU", ahead, [np.zeros((1, 1), np.float32)]).add_done_callback(results.append)
        schedulers(srv).submit("CPU", model, [np.ones((1, 4), np.float32)]).add_done_callback(results.append)
    srv.call(submit_slow_then_cheap)
    srv.call(lambda: None)
    assert depth(srv) == 2 and results == []
    blocker.release.set()
    held.result(10)
    wait_until(lambda: len(results) == 2)
    assert inline_runs(srv) == 1


def test_minbatchsize_batches_still_wait_for_their_rows(start_server):
    srv = start_server(inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 60_000)
    records = observe(srv)
    results: list[Any] = []

    def submit(i: int) -> None:
        model = srv.state.keyspace.dbs[0].get(b"m")
        future = schedulers(srv).submit("CPU", model, [np.full((1, 4), i, np.float32)])
        future.add_done_callback(lambda f: results.append(f.result()))
    for first, second in ((0, 1), (2, 3)):                  # the second pair runs inline: the model is measured
        srv.call(lambda i=first: submit(i))
        srv.call(lambda: None)
        assert depth(srv) == 1 and len(results) == 2 * (first // 2)   # alone below MINBATCHSIZE: it waits
        srv.call(lambda i=second: submit(i))
        wait_until(lambda n=2 * (first // 2) + 2: len(results) == n)
    assert [(r.requests, r.rows) for r in records if r.model_key == b"m"] == [(2, 2), (2, 2)]
    assert inline_runs(srv) == 1


def test_inline_errors_and_dag_ops_behave_as_on_a_worker(start_server):
    srv = start_server(inline_run_max_us=LIMIT, lone_client_run_max_us=0)
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))
    client.execute_command("AI.TENSORSET", "bad", "FLOAT", 1, 3, "VALUES", 1, 2, 3)
    with pytest.raises(redis.ResponseError) as inline_error:
        client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "y")
    assert inline_runs(srv) == 1
    assert client.config_set("inline-run-max-us", "0")
    with pytest.raises(redis.ResponseError) as worker_error:
        client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "y")
    assert str(inline_error.value) == str(worker_error.value)
    assert client.config_set("inline-run-max-us", str(LIMIT))
    execute(client, np.ones((1, 4), np.float32))              # an error does not count as a measurement
    reply = client.execute_command("AI.DAGEXECUTE", "ROUTING", "t", "|>",
                                   "AI.TENSORSET", "a", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4, "|>",
                                   "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "b", "|>",
                                   "AI.TENSORGET", "b", "VALUES")
    assert reply == [b"OK", b"OK", [b"3", b"5", b"7", b"9"]]
    assert inline_runs(srv) == 3


def test_requests_arriving_in_one_loop_turn_run_as_one_inline_batch(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    execute(client, np.ones((1, 4), np.float32))            # measured: the model now qualifies
    records = observe(srv)
    results: list[Any] = []

    def submit_two() -> None:   # one loop callback: both are queued before the loop decides anything
        model = srv.state.keyspace.dbs[0].get(b"m")
        for i in range(2):
            future = schedulers(srv).submit("CPU", model, [np.full((1, 4), i, np.float32)])
            future.add_done_callback(lambda f: results.append(f.result()))
    srv.call(submit_two)
    wait_until(lambda: len(results) == 2)
    assert [(r.requests, r.rows) for r in records if r.model_key == b"m"] == [(2, 2)]
    assert inline_runs(srv) == 1                            # one batch, on the loop
    for i, outputs in enumerate(results):
        np.testing.assert_array_equal(outputs[0], np.full((1, 4), i * 2 + 1, np.float32))


def test_a_request_of_many_rows_runs_on_a_worker(start_server):
    srv = start_server(inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client)
    execute(client, np.ones((1, 4), np.float32))            # measured: a 1-row run qualifies ...
    execute(client, np.ones((1, 4), np.float32))
    assert inline_runs(srv) == 1
    per_row = int(srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").stats.estimate_us(4)))
    rows = LIMIT // max(per_row, 1) + 1                       # ... but this many rows would hold the loop too long
    x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
    np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 1


def test_a_request_with_longer_rows_than_any_run_goes_to_a_worker(start_server):
    srv = start_server(inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    assert client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", affine_onnx("W")) == b"OK"
    for _ in range(2):
        execute(client, np.ones((1, 4), np.float32))       # measured at 1 x 4
    assert inline_runs(srv) == 1
    per_4 = int(srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").stats.estimate_us(4)))
    assert client.config_set("inline-run-max-us", str(16 * max(per_4, 1)))
    x = np.arange(8, dtype=np.float32).reshape(1, 8)      # twice the elements: estimated at twice the time
    np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 2
    x = np.arange(4096, dtype=np.float32).reshape(1, 4096)   # one row, like the others, but 1,024 times as long
    np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 2


def test_run_times_are_kept_by_power_of_two_input_size():
    stats = RunStats()
    assert stats.estimate_us(1) == -1                       # never run: unknown
    stats.note_run(800, size=8)
    assert stats.estimate_us(8) == stats.estimate_us(5) == 800
    assert stats.estimate_us(4) == -1                       # nothing known for smaller inputs
    assert stats.estimate_us(16) == 1600 and stats.estimate_us(9) == 1600   # at most linear in the elements
    assert stats.estimate_us(8192) == 800 * 1024
    stats.note_run(50, size=0)                              # no inputs count as one element
    assert stats.estimate_us(1) == 50
    assert stats.estimate_us(2) == 100 and stats.estimate_us(4) == 200     # doubled per size not measured yet
    assert stats.estimate_us(8) == 400                      # a measured 800 is capped by twice the size below
    stats.reset()
    assert stats.estimate_us(8) == -1


def test_size_within_a_limit_follows_the_estimates():
    stats = RunStats()
    assert stats.size_within(1000) == 0                     # never run
    stats.note_run(100, size=4)
    stats.note_run(150, size=16)
    assert [stats.estimate_us(n) for n in (2, 4, 8, 16, 32, 64)] == [-1, 100, 200, 150, 300, 600]
    assert stats.size_within(99) == 0
    assert stats.size_within(100) == 4                      # smaller sizes are unknown, passed over
    assert stats.size_within(200) == 16                     # 8 elements are estimated at 200, 16 measured at 150
    assert stats.size_within(599) == 32


def test_run_times_fall_at_once_and_rise_by_an_eighth():
    stats = RunStats()
    stats.note_run(100, size=1)
    assert stats.estimate_us(1) == 100
    stats.note_run(20, size=1)
    assert stats.estimate_us(1) == 20
    stats.note_run(820, size=1)               # one slow sample (a GIL wait after the run) moves it a little
    assert stats.estimate_us(1) == 120
    for _ in range(40):                       # a model that is really slow gets there
        stats.note_run(820, size=1)
    assert 800 <= stats.estimate_us(1) <= 820


class Counting:
    """Counts the runs of the real onnxruntime session it wraps."""

    def __init__(self, session: Any) -> None:
        self.session, self.runs = session, 0

    def run(self, *args: Any) -> Any:
        self.runs += 1
        return self.session.run(*args)


def _count_sessions(srv: Any, key: bytes = b"m") -> tuple[Counting, Counting]:
    onnx = srv.call(lambda: srv.state.keyspace.dbs[0].get(key).session)
    assert onnx.light is not None and onnx.light is not onnx.session
    main, light = Counting(onnx.session), Counting(onnx.light)
    srv.call(lambda: (setattr(onnx, "session", main), setattr(onnx, "light", light)))
    return main, light


def test_inline_runs_use_the_light_load_session(start_server):
    srv = start_server(inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client)
    main, light = _count_sessions(srv)
    for i in range(4):
        x = np.full((1, 4), i, np.float32)
        np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
    assert inline_runs(srv) == 3 and (main.runs, light.runs) == (0, 4)   # the measuring first run: a light worker


def test_worker_batches_use_the_light_session_only_while_recent_batches_are_small(start_server):
    srv = start_server(inline_run_max_us=0, lone_client_run_max_us=0)        # every run on the worker
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    main, light = _count_sessions(srv)
    recent = []
    for rows in (1, 8, 8, 8, 1, 1, 1):
        x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
        np.testing.assert_array_equal(execute(client, x), x * 2 + 1)
        recent.append(round(srv.call(lambda: schedulers(srv).queue("CPU").recent_rows), 3))
    # the moving average of rows per batch, read when each run is dispatched: 0, 0.125, 1.109, 1.971, then 2.724 and
    # 2.509 (past 2.5: loaded), then 2.32
    assert recent == [0.125, 1.109, 1.971, 2.724, 2.509, 2.32, 2.155]
    assert (light.runs, main.runs) == (5, 2)       # the two runs dispatched above 2.5 used the main session


class PinnedRunStats(RunStats):
    """Run-time estimates that the test sets and the runs do not change (so that no decision depends on timing)."""

    def note_run(self, duration_us: int, size: int) -> None:
        pass


def test_many_requests_at_once_run_on_the_loop_in_batches_it_may_run(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=5_000)
    records = observe(srv)
    model = OrtModel(BLOB, batchsize=16)
    # by input elements (4 per row): 1 row 1,000 µs, 2 rows 2,000, 4 rows 4,000, 8 rows 8,000 (past the limit)
    model.stats = PinnedRunStats(run_us=[-1, -1, 1_000, 2_000, 4_000] + [-1] * (RUN_BUCKETS - 5))
    results: list[Any] = []
    inputs = [np.full((1, 4), i, np.float32) for i in range(10)]

    def submit_all() -> None:   # one loop turn: all ten are pending before the queue decides
        for x in inputs:
            schedulers(srv).submit("CPU", model, [x]).add_done_callback(lambda f: results.append(f.result()))
    srv.call(submit_all)
    wait_until(lambda: len(results) == 10)
    assert [(r.requests, r.rows) for r in records if r.model is model] == [(4, 4), (4, 4), (2, 2)]
    assert inline_runs(srv) == 3 and model.ran == [4, 4, 2]
    for x, (y,) in zip(inputs, sorted(results, key=lambda out: float(out[0][0, 0])), strict=True):
        np.testing.assert_array_equal(y, x * 2 + 1)


def _submit_rows(srv: Any, model: OrtModel, count: int) -> list[Any]:
    """``count`` one-row requests in one loop turn (all pending before the queue decides); their outputs."""
    results: list[Any] = []

    def submit_all() -> None:
        for i in range(count):
            future = schedulers(srv).submit("CPU", model, [np.full((1, 4), i, np.float32)])
            future.add_done_callback(lambda f: results.append(f.result()))
    srv.call(submit_all)
    wait_until(lambda: len(results) == count)
    return results


# A compute-bound model: 1 row takes 1,000 µs, 2 rows 2,000, 4 rows 4,000; the loop allows 2,500, so a batch of 16
# rows (64 input elements, the 33-64 bucket) would be cut to 2 rows (1,000 µs a row), less than a quarter of it.
def _compute_bound(whole_us: int) -> OrtModel:
    model = OrtModel(BLOB, batchsize=16)
    model.stats = PinnedRunStats(run_us=[-1, -1, 1_000, 2_000, 4_000, -1, whole_us] + [-1] * (RUN_BUCKETS - 7))
    return model


@pytest.mark.parametrize("whole_us", [-1, 7_000], ids=["whole-size-never-run", "rows-cheaper-in-the-whole-batch"])
def test_a_batch_is_not_cut_for_the_loop_to_a_few_rows_that_would_cost_much_more(start_server, whole_us):
    # 16 rows never ran, or took 7,000 µs: 437.5 a row, against 1,000 a row in the 2-row cut (2.3x)
    srv = start_server(threads_per_queue=1, inline_run_max_us=2_500)
    records = observe(srv)
    model = _compute_bound(whole_us)
    results = _submit_rows(srv, model, 16)
    assert [(r.requests, r.rows) for r in records if r.model is model] == [(16, 16)]
    assert inline_runs(srv) == 0 and model.ran == [16]
    for i, (y,) in enumerate(sorted(results, key=lambda out: float(out[0][0, 0]))):
        np.testing.assert_array_equal(y, np.full((1, 4), 2 * i + 1, np.float32))


def test_a_batch_is_cut_to_a_few_rows_while_they_cost_at_most_twice_as_much(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=2_500)
    records = observe(srv)
    model = _compute_bound(9_000)   # 562.5 a row: the 2-row cut's 1,000 a row is 1.8x
    _submit_rows(srv, model, 16)
    assert [(r.requests, r.rows) for r in records if r.model is model] == [(2, 2)] * 8
    assert inline_runs(srv) == 8 and model.ran == [2] * 8


def test_one_small_cut_in_loop_cut_recheck_goes_to_a_worker_whole_to_measure_its_size_again(start_server,
                                                                                           monkeypatch):
    monkeypatch.setattr(queues, "LOOP_CUT_RECHECK", 4)
    srv = start_server(threads_per_queue=1, inline_run_max_us=2_500)
    records = observe(srv)
    model = _compute_bound(16_000)   # a row costs the same in any batch: 16 rows are cut to 2, batch after batch
    results = _submit_rows(srv, model, 24)
    shapes = [(r.requests, r.rows) for r in records if r.model is model]
    # 24, 22 and 20 pending: cut to 2; at 18 the fourth cut goes to the worker whole (16 rows); the last 2 fit the loop
    assert sorted(shapes) == [(2, 2)] * 4 + [(16, 16)]
    assert shapes[:3] == [(2, 2)] * 3
    assert inline_runs(srv) == 4 and model.ran.count(16) == 1
    for i, (y,) in enumerate(sorted(results, key=lambda out: float(out[0][0, 0]))):
        np.testing.assert_array_equal(y, np.full((1, 4), 2 * i + 1, np.float32))


def test_a_loop_sized_batch_below_minbatchsize_goes_to_a_worker_whole(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=5_000)
    records = observe(srv)
    model = OrtModel(BLOB, batchsize=16, minbatchsize=8)
    model.stats = PinnedRunStats(run_us=[-1, -1, 1_000, 2_000, 4_000] + [-1] * (RUN_BUCKETS - 5))
    _submit_rows(srv, model, 10)
    assert [(r.requests, r.rows) for r in records if r.model is model] == [(10, 10)]
    assert inline_runs(srv) == 0



# ---- run_now: a lone request on a lightly loaded queue runs inside its caller ----------------------------------
def _pinned(model: OrtModel) -> OrtModel:
    model.stats = PinnedRunStats(run_us=[-1, -1, 1_000, 2_000] + [-1] * (RUN_BUCKETS - 4))   # 1 row: 1,000 µs
    return model


def test_the_first_lone_request_of_a_loop_turn_runs_at_once_and_later_ones_queue(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=5_000)
    records = observe(srv)
    model = _pinned(OrtModel(BLOB, batchsize=8))
    queued: list[Any] = []

    def one_turn() -> tuple[Any, ...]:   # one loop callback: the requests of one loop turn
        q = schedulers(srv).queue("CPU")
        first = q.run_now(model, [np.full((1, 4), 1, np.float32)])
        second = q.run_now(model, [np.full((1, 4), 2, np.float32)])
        for i in (2, 3):   # what a caller does with None: queue it; the turn's queued requests batch together
            schedulers(srv).submit("CPU", model, [np.full((1, 4), i, np.float32)]).add_done_callback(queued.append)
        third = q.run_now(model, [np.full((1, 4), 4, np.float32)])
        return first, second, third
    first, second, third = srv.call(one_turn)
    np.testing.assert_array_equal(first[0], np.full((1, 4), 3, np.float32))   # 2x + 1, returned to the caller
    assert second is None and third is None
    wait_until(lambda: len(queued) == 2)
    later = srv.call(lambda: schedulers(srv).queue("CPU").run_now(model, [np.full((1, 4), 5, np.float32)]))
    np.testing.assert_array_equal(later[0], np.full((1, 4), 11, np.float32))   # a new turn: at once again
    assert [(r.requests, r.rows) for r in records if r.model is model] == [(1, 1), (2, 2), (1, 1)]
    assert model.ran == [1, 2, 1] and inline_runs(srv) == 3
    assert (model.stats.calls, model.stats.samples, model.stats.errors) == (4, 4, 0)


def test_run_now_leaves_to_the_queue_what_may_batch_wait_or_is_unmeasured(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=5_000)
    x = [np.ones((1, 4), np.float32)]
    measured = _pinned(OrtModel(BLOB, batchsize=8))
    waits = _pinned(OrtModel(BLOB, batchsize=8, minbatchsize=2))
    unmeasured = OrtModel(BLOB, batchsize=8)
    unmeasured.stats = RunStats()

    def attempts() -> list[Any]:   # one loop turn
        q = schedulers(srv).queue("CPU")
        seen = [q.run_now(waits, x), q.run_now(unmeasured, x)]
        q.turn_requests = 4.0                           # loop turns bring it 4 requests: they may batch
        seen.append(q.run_now(measured, x))
        q.turn_requests = 1.0
        queued = schedulers(srv).submit("CPU", measured, x)   # a request pending for this turn's step
        seen.append(q.run_now(measured, x))
        return [seen, queued]
    seen, queued = srv.call(attempts)
    assert seen == [None, None, None, None]
    wait_until(queued.done)
    assert waits.ran == [] and unmeasured.ran == [] and measured.ran == [1]   # only the queued request ran
    assert inline_runs(srv) == 1


def test_run_now_stops_while_loop_turns_bring_several_requests(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT)   # the 16 requests run as one batch
    records = observe(srv)
    model = _pinned(OrtModel(BLOB, batchsize=16))
    x = [np.ones((1, 4), np.float32)]
    srv.call(lambda: [schedulers(srv).submit("CPU", model, x) for _ in range(16)])   # one turn, 16 requests

    def lone_turn() -> bool:   # what a caller does: at once if it may, else queued
        if schedulers(srv).queue("CPU").run_now(model, x) is not None:
            return True
        schedulers(srv).submit("CPU", model, x)
        return False
    ran_at_once = [srv.call(lone_turn) for _ in range(14)]
    # requests per turn, an eighth per turn: 2.0 after the crowded turn, then 1.875, 1.766, ... 1.263, 1.230: at
    # most 1.25 from the twelfth lone turn on
    assert ran_at_once == [False] * 11 + [True] * 3
    wait_until(lambda: len([r for r in records if r.model is model]) == 15)
    assert [r.requests for r in records if r.model is model] == [16] + [1] * 14


class Failing(OrtModel):
    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise CommandError("ERR the backend failed")


def test_a_run_made_at_once_raises_its_error_and_counts_it(start_server):
    srv = start_server(threads_per_queue=1, inline_run_max_us=5_000)
    records = observe(srv)
    model = _pinned(Failing(BLOB, batchsize=8))

    def attempt() -> str:
        try:
            schedulers(srv).queue("CPU").run_now(model, [np.ones((1, 4), np.float32)])
        except CommandError as exc:
            return exc.text
        return "no error"
    assert srv.call(attempt) == "ERR the backend failed"
    assert [(r.requests, r.error) for r in records if r.model is model] == [(1, "ERR the backend failed")]
    assert (model.stats.calls, model.stats.errors) == (1, 1)


@pytest.mark.parametrize("argv, reply", [
    ([b"AI.MODELEXECUTE", b"m", b"INPUTS", b"1", b"x", b"OUTPUTS", b"1", b"y"], b"+OK\r\n"),
    ([b"AI.DAGEXECUTE_RO", b"LOAD", b"1", b"x", b"|>", b"AI.MODELEXECUTE", b"m", b"INPUTS", b"1", b"x", b"OUTPUTS",
      b"1", b"y", b"|>", b"AI.TENSORGET", b"y", b"BLOB"], b"*2\r\n+OK\r\n$16\r\n" + np.full(4, 3, np.float32).tobytes()
     + b"\r\n"),
])
def test_model_commands_on_a_light_queue_reply_without_waiting(start_server, argv, reply):
    """After its first (measuring) run, a lone MODELEXECUTE or DAG returns its reply from the handler itself; a second
    one in the same loop turn waits for the queue (and gets the same reply)."""
    srv = start_server(threads_per_queue=1, inline_run_max_us=LIMIT)
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    execute(client, np.ones((1, 4), np.float32))   # measured; leaves x = ones
    waited: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def one_turn() -> tuple[bytes, bool]:
        dispatch = srv.state.dispatcher.call
        first = dispatch(Client(srv.state, "test", "test"), list(argv))
        second = dispatch(Client(srv.state, "test", "test"), list(argv))
        second.add_done_callback(lambda f: waited.set_result(_wire(f.result())))
        return _wire(first), isinstance(second, asyncio.Future)
    first, second_waits = srv.call(one_turn)
    assert second_waits and first == reply and waited.result(10) == reply
    assert inline_runs(srv) == 2   # both on the loop (the first at once, the second in the turn's step)


def _wire(reply: Any) -> bytes:
    out: list[bytes] = []
    encode(reply, False, out)
    return b"".join(bytes(part) for part in out)
