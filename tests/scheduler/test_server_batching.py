"""Batching seen from real clients: AI.MODELEXECUTE requests from several connections share backend calls.

The device's only worker is held busy (see :func:`tests.scheduler.models.hold`), so requests sent meanwhile must
queue; which requests then share a batch is decided by the queue, never by timing.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from inferd import errors
from tests.ai.conftest import encode_command
from tests.scheduler.models import affine_onnx, depth, hold, observe, schedulers, wait_until

BLOB = affine_onnx()


@pytest.fixture
def srv(start_server: Any) -> Any:
    return start_server(threads_per_queue=1)


def store(client: redis.Redis, key: str = "m", *options: Any) -> None:
    assert client.execute_command("AI.MODELSTORE", key, "ONNX", "CPU", *options, "BLOB", BLOB) == b"OK"


def values(n: int, start: float) -> np.ndarray:
    return np.arange(n * 4, dtype=np.float32).reshape(n, 4) + start


def run_clients(srv: Any, pool: concurrent.futures.ThreadPoolExecutor, inputs: list[np.ndarray],
                timeout_ms: int = 0) -> list[concurrent.futures.Future[Any]]:
    """One connection per input: TENSORSET in_i, then AI.MODELEXECUTE (which waits in the queue) in a thread."""
    def one(i: int, x: np.ndarray) -> Any:
        c = srv.client(protocol=2)
        c.execute_command("AI.TENSORSET", f"in{i}", "FLOAT", *x.shape, "BLOB", x.tobytes())
        extra = ["TIMEOUT", timeout_ms] if timeout_ms else []
        reply = c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, f"in{i}", "OUTPUTS", 1, f"out{i}", *extra)
        c.close()
        return reply
    futures = []
    for i, x in enumerate(inputs):
        before = depth(srv)
        futures.append(pool.submit(one, i, x))
        wait_until(lambda b=before: depth(srv) == b + 1)   # queued in this order
    return futures


def output(client: redis.Redis, i: int) -> np.ndarray:
    meta = client.execute_command("AI.TENSORGET", f"out{i}", "META", "BLOB")
    return np.frombuffer(meta[5], dtype=np.float32).reshape(meta[3])


@pytest.fixture
def pool() -> Any:
    with concurrent.futures.ThreadPoolExecutor(16) as executor:
        yield executor


def test_clients_share_a_batch_and_get_their_own_outputs(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    records = observe(srv)
    blocker, held = hold(srv)
    inputs = [values(n, 100 * i) for i, n in enumerate([1, 3, 2, 1])]
    futures = run_clients(srv, pool, inputs)
    blocker.release.set()
    assert [f.result(10) for f in futures] == [b"OK"] * 4
    held.result(10)
    for i, x in enumerate(inputs):
        np.testing.assert_array_equal(output(client, i), x * 2 + 1)
    mine = [r for r in records if r.model_key == b"m"]
    assert [(r.requests, r.rows) for r in mine] == [(4, 7)]
    info = dict(zip(*[iter(client.execute_command("AI.INFO", "m"))] * 2, strict=True))
    assert info[b"calls"] == 4 and info[b"samples"] == 7 and info[b"errors"] == 0


def test_batchsize_caps_client_batches(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 2)
    records = observe(srv)
    blocker, held = hold(srv)
    inputs = [values(1, i) for i in range(5)] + [values(3, 50)]
    futures = run_clients(srv, pool, inputs)
    blocker.release.set()
    assert [f.result(10) for f in futures] == [b"OK"] * 6
    held.result(10)
    # [0,1] [2,3] [4] [5]: the last two may finish in either order (the 1-row batch, a size not run yet, goes to the
    # worker while the 3-row one, estimated from the 2-row runs, runs on the loop)
    assert sorted(r.rows for r in records if r.model_key == b"m") == [1, 2, 2, 3]
    assert [r.rows for r in records if r.model_key == b"m"][:2] == [2, 2]
    for i, x in enumerate(inputs):
        np.testing.assert_array_equal(output(client, i), x * 2 + 1)


def test_minbatchsize_holds_clients_until_enough_rows(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8, "MINBATCHSIZE", 3)
    records = observe(srv)
    blocker, held = hold(srv)
    first = run_clients(srv, pool, [values(1, 0), values(1, 1)])
    blocker.release.set()
    held.result(10)
    assert depth(srv) == 2 and not any(f.done() for f in first)
    assert _execute(srv, 2, values(1, 2)) == b"OK"   # the third row completes the batch
    assert [f.result(10) for f in first] == [b"OK", b"OK"]
    assert [r.requests for r in records if r.model_key == b"m"] == [3]


def test_minbatchtimeout_releases_clients(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8, "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 20)
    records = observe(srv)
    futures = [pool.submit(lambda i=i: _execute(srv, i, values(1, i))) for i in range(2)]
    assert {f.result(10) for f in futures} == {b"OK"}
    assert sum(r.rows for r in records if r.model_key == b"m") == 2


def _execute(srv: Any, i: int, x: np.ndarray) -> Any:
    c = srv.client(protocol=2)
    c.execute_command("AI.TENSORSET", f"in{i}", "FLOAT", *x.shape, "BLOB", x.tobytes())
    reply = c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, f"in{i}", "OUTPUTS", 1, f"out{i}")
    c.close()
    return reply


def test_timeout_gives_timedout_and_never_runs(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8)
    records = observe(srv)
    blocker, held = hold(srv)
    (late,) = run_clients(srv, pool, [values(1, 0)], timeout_ms=20)
    assert late.result(10) == b"TIMEDOUT"
    blocker.release.set()
    held.result(10)
    assert not [r for r in records if r.model_key == b"m"] and client.exists("out0") == 0


def test_minbatchsize_wait_ended_by_timeout(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8, "MINBATCHSIZE", 4)
    (late,) = run_clients(srv, pool, [values(1, 0)], timeout_ms=20)
    assert late.result(10) == b"TIMEDOUT" and depth(srv) == 0


def test_disconnected_client_work_never_runs(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m", "BATCHSIZE", 8, "MINBATCHSIZE", 2)
    records = observe(srv)
    x = values(1, 0)
    client.execute_command("AI.TENSORSET", "in0", "FLOAT", *x.shape, "BLOB", x.tobytes())
    blocker, held = hold(srv)
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(encode_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "in0", "OUTPUTS", 1, "gone"))
    wait_until(lambda: depth(srv) == 1)
    sock.close()
    wait_until(lambda: depth(srv) == 0)        # dropped when the client went away, while the worker is held
    blocker.release.set()
    held.result(10)
    assert _execute(srv, 5, values(2, 0)) == b"OK"   # 2 rows: reaches MINBATCHSIZE alone
    assert [r.rows for r in records if r.model_key == b"m"] == [2]
    assert client.exists("gone") == 0
    assert srv.call(lambda: schedulers(srv).queue("CPU").stats.cancelled) == 1


def test_queue_max_depth_refuses_clients(srv, pool):
    client = srv.client(protocol=2)
    store(client, "m")
    client.config_set("queue-max-depth", 1)
    blocker, held = hold(srv)
    (queued,) = run_clients(srv, pool, [values(1, 0)])
    x = values(1, 1)
    client.execute_command("AI.TENSORSET", "in9", "FLOAT", *x.shape, "BLOB", x.tobytes())
    with pytest.raises(redis.ResponseError) as info:
        client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "in9", "OUTPUTS", 1, "out9")
    assert "ERR " + str(info.value) == errors.QUEUE_FULL.format("CPU", 1)
    blocker.release.set()
    assert queued.result(10) == b"OK"
    held.result(10)


async def test_64_concurrent_clients_each_get_their_own_answer(srv):
    setup = srv.client(protocol=2)
    store(setup, "m", "BATCHSIZE", 16)
    records = observe(srv)

    async def one_client(i: int) -> None:
        c = aioredis.Redis(host="127.0.0.1", port=srv.port, protocol=3 if i % 2 else 2)
        try:
            for round_ in range(5):
                x = values(1 + i % 3, 1000 * i + round_)
                await c.execute_command("AI.TENSORSET", f"x{i}", "FLOAT", *x.shape, "BLOB", x.tobytes())
                reply = await c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, f"x{i}", "OUTPUTS", 1, f"y{i}")
                assert reply in (b"OK", "OK")
                blob = await c.execute_command("AI.TENSORGET", f"y{i}", "BLOB")
                np.testing.assert_array_equal(np.frombuffer(blob, np.float32).reshape(x.shape), x * 2 + 1)
        finally:
            await c.aclose()

    await asyncio.gather(*(one_client(i) for i in range(64)))
    mine = [r for r in records if r.model_key == b"m"]
    assert sum(r.requests for r in mine) == 64 * 5
    assert sum(r.rows for r in mine) == 5 * sum(1 + i % 3 for i in range(64))
    assert all(r.rows <= 16 for r in mine)
