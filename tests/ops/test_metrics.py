"""/metrics, /healthz and /readyz on a real server, scraped with httpx after real traffic."""
from __future__ import annotations

import socket
import threading

import httpx
import pytest
import redis

from tests.conftest import free_port
from tests.ops.helpers import scrape, value, wait_for

ALLOWED_LABELS = {"db", "command", "device", "model", "reason", "prefix", "version", "backend"}


@pytest.fixture
def metered(start_server):
    """A server with its metrics endpoint on a free port."""
    return start_server(metrics_port=free_port())


def metrics_port(srv) -> int:
    return srv.state.extensions["metrics"].bound_port


def test_command_families_move_with_traffic(metered):
    port = metrics_port(metered)
    r = metered.client(protocol=2)
    before = scrape(port)
    for i in range(5):
        r.set(f"k{i}", "v")
    r.get("k0")
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "k0")   # not an integer: a failed call and an ERR reply
    after = scrape(port)
    assert value(after, "inferd_command_calls_total", command="set") - value(
        before, "inferd_command_calls_total", command="set") == 5
    assert value(after, "inferd_command_calls_total", command="get") - value(
        before, "inferd_command_calls_total", command="get") == 1
    assert value(after, "inferd_command_failed_calls_total", command="incr") - value(
        before, "inferd_command_failed_calls_total", command="incr") == 1
    assert value(after, "inferd_error_replies_total", prefix="ERR") - value(
        before, "inferd_error_replies_total", prefix="ERR") == 1
    assert value(after, "inferd_command_duration_seconds_total", command="set") > 0
    assert value(after, "inferd_commands_processed_total") - value(before, "inferd_commands_processed_total") >= 7


def test_keyspace_clients_and_memory(metered):
    port = metrics_port(metered)
    clients = [metered.client(protocol=2) for _ in range(3)]
    for c in clients:
        c.ping()
    r = clients[0]
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.execute_command("SELECT", "3")
    r.set("c", "3")
    samples = scrape(port)
    assert value(samples, "inferd_keyspace_keys", db="0") == 2
    assert value(samples, "inferd_keyspace_expires", db="0") == 1
    assert value(samples, "inferd_keyspace_keys", db="3") == 1
    assert value(samples, "inferd_connected_clients") == 3
    assert value(samples, "inferd_memory_rss_bytes") > 1024 * 1024
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "inferd_ready") == 1
    assert value(samples, "inferd_queue_threads", device="CPU") == 1
    assert ("inferd_queue_depth", frozenset({("device", "CPU")})) in samples
    clients[2].close()
    clients[1].close()
    assert value(scrape(port), "inferd_connected_clients") == 1


def test_labels_are_bounded(metered):
    """Keys never become label values: only the documented label names appear."""
    port = metrics_port(metered)
    r = metered.client(protocol=2)
    for i in range(50):
        r.set(f"user:{i}", "x")
    samples = scrape(port)
    names = {name for _sample, labels in samples for name, _v in labels}
    assert names <= ALLOWED_LABELS, names - ALLOWED_LABELS
    assert not any("user:" in v for _s, labels in samples for _n, v in labels)


def test_health_endpoints(metered):
    port = metrics_port(metered)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"
    assert httpx.get(f"{base}/nope").status_code == 404


def test_healthz_answers_while_the_loop_is_busy(metered):
    """Liveness does not go through the event loop: a long command does not make the server look dead."""
    port = metrics_port(metered)
    sleeper = metered.client(protocol=2)
    thread = threading.Thread(target=lambda: sleeper.execute_command("DEBUG", "SLEEP", "3"))
    thread.start()

    def loop_blocked() -> bool:
        with socket.create_connection(("127.0.0.1", metered.port), timeout=5) as probe:
            probe.settimeout(0.2)
            probe.sendall(b"PING\r\n")
            try:
                return probe.recv(16) == b""
            except TimeoutError:
                return True
    wait_for(loop_blocked, "the event loop to be busy with DEBUG SLEEP")
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    thread.join(10)


def test_readyz_is_503_once_shutdown_begins(metered):
    port = metrics_port(metered)
    endpoint = metered.state.extensions["metrics"]
    assert endpoint.ready()
    metered.call(metered.server.ready.clear)   # what Server.stop does first
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    metered.call(metered.server.ready.set)


def test_metrics_endpoint_off_by_default(start_server):
    srv = start_server()
    endpoint = srv.state.extensions["metrics"]
    assert endpoint.bound_port == 0
    assert srv.client(protocol=2).info("ai")["ai_queues"] == 1   # the INFO section is there without HTTP


def test_metrics_bind_chooses_the_address(start_server):
    srv = start_server(metrics_port=free_port(), metrics_bind="127.0.0.2")
    port = metrics_port(srv)
    assert httpx.get(f"http://127.0.0.2:{port}/healthz").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
