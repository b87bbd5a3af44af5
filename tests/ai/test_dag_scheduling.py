"""DAGs and the device queues: TIMEOUT, disconnects, batching with other clients, devices in parallel."""
from __future__ import annotations

import concurrent.futures
import socket
from typing import Any

import numpy as np
import pytest

from inferd.commands.context import Client
from tests.ai import models
from tests.ai.conftest import encode_command
from tests.scheduler.models import depth, hold, observe, wait_until

LINEAR = models.onnx_linear()


@pytest.fixture
def srv(start_server: Any) -> Any:
    s = start_server(threads_per_queue=1)
    c = s.client(protocol=2)
    c.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 8, "BLOB", LINEAR)
    c.execute_command("AI.MODELSTORE", "m1", "ONNX", "CPU:1", "BLOB", LINEAR)
    c.execute_command("AI.TENSORSET", "a", "FLOAT", 1, 2, "VALUES", 1, 2)
    c.execute_command("AI.TENSORSET", "b", "FLOAT", 2, 2, "VALUES", 3, 4, 5, 6)
    c.close()
    return s


@pytest.fixture
def pool() -> Any:
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        yield executor


def call(srv: Any, *args: Any) -> Any:
    c = srv.client(protocol=2)
    try:
        return c.execute_command(*args)
    finally:
        c.close()


def test_dag_timeout_replies_timedout(srv, pool):
    records = observe(srv)
    blocker, held = hold(srv)
    reply = pool.submit(call, srv, "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "y", "TIMEOUT", 20, "|>",
                        "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "y")
    assert reply.result(10) == b"TIMEDOUT"      # while the worker is still held
    blocker.release.set()
    held.result(10)
    assert not [r for r in records if r.model_key == b"m"]
    assert call(srv, "EXISTS", "y") == 0


def test_dag_ops_batch_with_other_clients(srv, pool):
    records = observe(srv)
    blocker, held = hold(srv)
    plain = pool.submit(call, srv, "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "ya")
    wait_until(lambda: depth(srv) == 1)
    dag = pool.submit(call, srv, "AI.DAGEXECUTE_RO", "LOAD", 1, "b", "|>",
                      "AI.MODELEXECUTE", "m", "INPUTS", 1, "b", "OUTPUTS", 1, "yb", "|>", "AI.TENSORGET", "yb", "BLOB")
    wait_until(lambda: depth(srv) == 2)
    blocker.release.set()
    assert plain.result(10) == b"OK"
    ok, blob = dag.result(10)
    held.result(10)
    assert ok == b"OK"
    b = np.array([[3, 4], [5, 6]], np.float32)
    np.testing.assert_array_equal(np.frombuffer(blob, np.float32).reshape(2, 2), b @ models.WEIGHTS + models.BIAS)
    assert [(r.requests, r.rows) for r in records if r.model_key == b"m"] == [(2, 3)]


def test_ops_on_different_devices_run_in_parallel(srv, pool):
    records = observe(srv)
    blocker, held = hold(srv, "CPU")
    dag = pool.submit(call, srv, "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 2, "y", "z", "|>",
                      "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "y", "|>",
                      "AI.MODELEXECUTE", "m1", "INPUTS", 1, "a", "OUTPUTS", 1, "z")
    wait_until(lambda: any(r.model_key == b"m1" for r in records))   # CPU:1 ran while CPU is held
    assert not dag.done() and depth(srv, "CPU") == 1
    blocker.release.set()
    assert dag.result(10) == [b"OK", b"OK"]
    held.result(10)
    assert call(srv, "EXISTS", "y", "z") == 2


def test_dependent_ops_across_devices_wait_for_their_inputs(srv):
    reply = call(srv, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>",
                 "AI.MODELEXECUTE", "m1", "INPUTS", 1, "a", "OUTPUTS", 1, "t", "|>",
                 "AI.MODELEXECUTE", "m", "INPUTS", 1, "t", "OUTPUTS", 1, "u", "|>",
                 "AI.MODELEXECUTE", "m1", "INPUTS", 1, "u", "OUTPUTS", 1, "v", "|>", "AI.TENSORGET", "v", "BLOB")
    x = np.array([[1, 2]], np.float32)
    for _ in range(3):
        x = x @ models.WEIGHTS + models.BIAS
    assert reply[:3] == [b"OK"] * 3
    np.testing.assert_array_equal(np.frombuffer(reply[3], np.float32).reshape(1, 2), x)


def test_disconnected_dag_never_runs(srv):
    records = observe(srv)
    blocker, held = hold(srv)
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(encode_command("AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "gone", "|>",
                                "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "gone"))
    wait_until(lambda: depth(srv) == 1)
    sock.close()
    wait_until(lambda: depth(srv) == 0)
    blocker.release.set()
    held.result(10)
    assert call(srv, "PING") is True
    assert not [r for r in records if r.model_key == b"m"] and call(srv, "EXISTS", "gone") == 0


@pytest.mark.parametrize("argv", [
    [b"AI.DAGEXECUTE", b"LOAD", b"1", b"a", b"|>", b"AI.MODELEXECUTE", b"m", b"INPUTS", b"1", b"a", b"OUTPUTS", b"1",
     b"y", b"|>", b"AI.TENSORGET", b"y", b"VALUES"],
    [b"AI.MODELEXECUTE", b"m", b"INPUTS", b"1", b"a", b"OUTPUTS", b"1", b"y"],
])
def test_a_settled_reply_goes_to_the_clients_hook_before_the_next_loop_turn(srv, argv):
    """The connection writes a model command's reply as soon as it is settled (``Client.reply_ready``), not when the
    reply future's own callbacks run on a later loop turn; the hook, also the future's done callback as the
    connection adds it, is called once."""
    seen: list[Any] = []
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def go() -> None:
        client = Client(srv.state, "test", "test")
        client.reply_ready = seen.append
        future = srv.state.dispatcher.call(client, list(argv))
        future.add_done_callback(client.reply_ready)   # as Connection._wait_for adds its own
        future.add_done_callback(lambda f: done.set_result((f, list(seen))))
    srv.call(go)
    future, seen_by_then = done.result(10)
    assert future.exception() is None
    assert seen == [future] and seen_by_then == [future]
