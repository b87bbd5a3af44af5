"""The C load generator against a real redis-server: placeholders, error counting, percentiles, JSON report."""
from __future__ import annotations

import os
from typing import Any

import pytest

from bench import loadgen
from bench.procs import BenchError


def test_user_placeholder_is_one_value_per_request(oracle: Any) -> None:
    client = oracle.client(protocol=2)
    client.flushall()
    result = loadgen.run(oracle.port, clients=2, duration=0.3, warmup=0.05, keyspace=5,
                         command=["SET", "k:__user__", "v:__user__"])
    assert result["errors"] == 0 and result["requests"] > 0
    keys = sorted(k.decode() for k in client.keys("k:*"))
    assert keys and set(keys) <= {f"k:{i}" for i in range(5)}
    for key in keys:
        assert client.get(key) == b"v:" + key.split(":")[1].encode()


def test_random_float_and_blob_placeholders(oracle: Any) -> None:
    client = oracle.client(protocol=2)
    client.flushall()
    loadgen.run(oracle.port, clients=1, duration=0.2, warmup=0.0, command=["MSET", "f", "__rand_float__",
                                                                           "b", "__tx_blob__"])
    assert 0.0 <= float(client.get("f")) < 1.0
    assert len(client.get("b")) == 30 * 4


def test_error_replies_are_counted_and_the_first_is_reported(oracle: Any) -> None:
    result = loadgen.run(oracle.port, clients=3, duration=0.3, warmup=0.0, command=["NOSUCHCOMMAND", "x"])
    assert result["requests"] == 0
    assert result["errors"] > 0
    assert "unknown command" in result["first_error"]


def test_report_fields_and_ordered_percentiles(oracle: Any) -> None:
    result = loadgen.run(oracle.port, clients=4, duration=0.3, warmup=0.1, command=["PING"])
    assert result["clients"] == 4 and result["mode"] == "resp"
    lat = result["latency_us"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert result["rps"] == pytest.approx(result["requests"] / result["duration_s"], rel=0.01)
    # its own CPU: busy for 0.4 s, it used some, and at most the wall time of each of this machine's CPUs
    assert 0 < result["client_cpu_s"] <= 0.4 * (os.cpu_count() or 1) + 0.5
    done = result["requests"] + result["warmup_requests"]
    assert result["client_cpu_us_per_op"] == pytest.approx(result["client_cpu_s"] / done * 1e6, rel=0.01, abs=0.01)


def test_peer_mode_reports_a_missing_reference_key(oracle: Any) -> None:
    oracle.client(protocol=2).flushall()
    # GET finds no reference tensor, so the request fails before any POST (the HTTP hop is never used)
    result = loadgen.run(oracle.port, clients=1, duration=0.2, warmup=0.0, http_port=oracle.port)
    assert result["requests"] == 0 and result["errors"] > 0
    assert "GET returned no value" in result["first_error"]


def test_unreachable_server_is_a_bench_error() -> None:
    from bench.procs import free_port
    with pytest.raises(BenchError, match="connect"):
        loadgen.run(free_port(), clients=1, duration=0.1, warmup=0.0)
