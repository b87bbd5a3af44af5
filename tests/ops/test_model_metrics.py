"""Per-model metrics from real model runs: a batched run counts one execution and its rows as inferences."""
from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import redis

from tests.conftest import free_port
from tests.ops.helpers import onnx_doubler, scrape, value, wait_for


@pytest.fixture
def metered(start_server):
    return start_server(metrics_port=free_port())


def port_of(srv) -> int:
    return srv.state.extensions["metrics"].bound_port


def put_row(r: redis.Redis, key: str, fill: float) -> None:
    r.execute_command("AI.TENSORSET", key, "FLOAT", 1, 4, "BLOB", np.full((1, 4), fill, np.float32).tobytes())


def test_batched_run_counts_one_execution_and_its_rows(metered):
    port = port_of(metered)
    admin = metered.client(protocol=2)
    # MINBATCHSIZE 4 without a timeout: the four requests wait for each other and run as one batch
    admin.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 4, "MINBATCHSIZE", 4,
                          "BLOB", onnx_doubler())
    for i in range(4):
        put_row(admin, f"in{i}", float(i))
    before = scrape(port)
    clients = [metered.client(protocol=2) for _ in range(4)]
    replies: list[object] = [None] * 4

    def run(i: int) -> None:
        replies[i] = clients[i].execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, f"in{i}", "OUTPUTS", 1,
                                                f"out{i}")
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r in (b"OK", "OK", True) for r in replies), replies
    after = scrape(port)
    labels = {"model": "m", "device": "CPU"}

    def delta(name: str, **extra: str) -> float:
        return value(after, name, **labels, **extra) - value(before, name, **labels, **extra)
    assert delta("inferd_model_execution_count_total") == 1
    assert delta("inferd_model_inference_count_total") == 4
    assert delta("inferd_model_request_success_total") == 4
    assert delta("inferd_model_batch_size_count") == 1 and delta("inferd_model_batch_size_sum") == 4
    assert delta("inferd_model_queue_duration_seconds_count") == 4
    assert delta("inferd_model_request_duration_seconds_count") == 4
    assert delta("inferd_model_compute_duration_seconds_count") == 1
    assert delta("inferd_model_compute_duration_seconds_sum") > 0
    out = np.frombuffer(admin.execute_command("AI.TENSORGET", "out3", "BLOB"), np.float32)
    assert out.tolist() == [6.0] * 4
    ai = admin.info("ai")
    assert ai["ai_models"] == 1 and ai["ai_tensors"] == 8
    assert ai["ai_queue_CPU"]["batches"] >= 1 and ai["ai_queue_CPU"]["rows"] >= 4


def test_failures_are_counted_with_a_bounded_reason(metered):
    port = port_of(metered)
    r = metered.client(protocol=2)
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_doubler())
    r.execute_command("AI.TENSORSET", "bad", "FLOAT", 1, 3, "VALUES", 1, 2, 3)   # wrong width: the backend refuses
    with pytest.raises(redis.ResponseError):
        r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "out")
    samples = scrape(port)
    assert value(samples, "inferd_model_load_duration_seconds_count", model="m", backend="ONNX", device="CPU") == 1
    assert value(samples, "inferd_model_load_duration_seconds_sum", model="m", backend="ONNX", device="CPU") > 0
    assert value(samples, "inferd_model_request_failure_total", model="m", device="CPU", reason="backend_error") == 1
    assert value(samples, "inferd_model_request_success_total", model="m", device="CPU") == 0


def test_queue_depth_gauge_follows_waiting_requests(metered):
    port = port_of(metered)
    r = metered.client(protocol=2)
    # requests wait for a batch of 8 that never fills: they sit in the CPU queue
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 8, "MINBATCHSIZE", 8, "BLOB", onnx_doubler())
    put_row(r, "x", 1.0)
    waiting = [socket.create_connection(("127.0.0.1", metered.port), timeout=10) for _ in range(3)]
    for sock in waiting:
        sock.sendall(b"AI.MODELEXECUTE m INPUTS 1 x OUTPUTS 1 y TIMEOUT 60000\r\n")
    wait_for(lambda: value(scrape(port), "inferd_queue_depth", device="CPU") == 3, "queue depth 3")
    assert r.info("ai")["ai_queue_CPU"]["depth"] == 3
    assert r.info("clients")["blocked_clients"] == 3
    for sock in waiting:
        sock.close()   # the requests are dropped when their clients go away
    wait_for(lambda: value(scrape(port), "inferd_queue_depth", device="CPU") == 0, "queue depth 0")
    samples = scrape(port)
    assert value(samples, "inferd_queue_dropped_requests_total", device="CPU", reason="cancelled") == 3


def test_inline_runs_are_counted_per_device(start_server):
    srv = start_server(metrics_port=free_port(), inline_run_max_us=100_000)
    port = port_of(srv)
    admin = srv.client(protocol=2)
    admin.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_doubler())
    put_row(admin, "in", 1.0)
    for _ in range(3):   # the first run measures the model on a worker; the next two find the queue idle
        assert admin.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "in", "OUTPUTS", 1, "out") == b"OK"
    samples = scrape(port)
    assert value(samples, "inferd_queue_inline_runs_total", device="CPU") == 2
    assert value(samples, "inferd_model_execution_count_total", model="m", device="CPU") == 3
