"""Preloading from the config file: models (with warm-up) and data answer right after readiness; bad entries fail
start-up with a clear message and exit status 1. The server runs as ``python -m inferd --config FILE``."""
from __future__ import annotations

import os

import httpx
import numpy as np
import pytest
import redis

from tests.conftest import free_port
from tests.ops.helpers import InferdProcess, onnx_doubler, scrape, value, wait_for
from tests.ops.test_persistence import _pings

DATA_FILE = b"""# reference data for the tests
SET merchant:1 "Corner Shop"
HSET profile:7 risk 0.25 country "FR"
RPUSH recent 1 2 3
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "doubler.onnx").write_bytes(onnx_doubler())
    np.save(tmp_path / "reference.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (tmp_path / "merchants.redis").write_bytes(DATA_FILE)
    return tmp_path


def write_config(folder, body: str) -> str:
    path = os.path.join(folder, "inferd.toml")
    with open(path, "w") as fh:
        fh.write(body)
    return path


GOOD = """
loglevel = "notice"
[[model]]
key = "doubler"
backend = "onnx"
file = "doubler.onnx"
tag = "v1"
batchsize = 8
warmup = { runs = 2, dtype = "FLOAT", shape = [1, 4] }

[[data]]
key = "reference"
file = "reference.npy"

[[data]]
file = "merchants.redis"
db = 1
"""


def test_preloaded_model_and_data_answer_right_after_readiness(workdir):
    metrics = free_port()
    proc = InferdProcess(write_config(workdir, GOOD), metrics_port=metrics)
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{metrics}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                assert proc.proc.poll() is None, proc.stderr()
                return False
        wait_for(ready, "/readyz to answer 200", timeout=60)
        r = redis.Redis(port=proc.port, protocol=2)
        meta = r.execute_command("AI.MODELGET", "doubler", "META")
        assert meta[meta.index(b"tag") + 1] == b"v1" and meta[meta.index(b"batchsize") + 1] == 8
        r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4)
        assert r.execute_command("AI.MODELEXECUTE", "doubler", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
        assert r.execute_command("AI.TENSORGET", "y", "VALUES") == [b"2", b"4", b"6", b"8"]
        assert r.execute_command("AI.TENSORGET", "reference", "META") == [b"dtype", b"FLOAT", b"shape", [2, 3]]
        assert np.frombuffer(r.execute_command("AI.TENSORGET", "reference", "BLOB"), np.float32).tolist() == \
            [0, 1, 2, 3, 4, 5]
        assert r.keys("__inferd_warmup__*") == []          # warm-up tensors are removed
        r.execute_command("SELECT", 1)
        assert r.get("merchant:1") == b"Corner Shop"
        assert r.hgetall("profile:7") == {b"risk": b"0.25", b"country": b"FR"}
        assert r.lrange("recent", 0, -1) == [b"1", b"2", b"3"]
        samples = scrape(metrics)
        labels = {"model": "doubler", "device": "CPU"}
        assert value(samples, "inferd_model_load_duration_seconds_count", backend="ONNX", **labels) == 1
        assert value(samples, "inferd_model_execution_count_total", **labels) == 3   # 2 warm-up runs + 1
        assert value(samples, "inferd_ready") == 1
        r.close()
    finally:
        proc.stop()
    assert proc.proc.returncode == 0
    log = proc.stderr()
    assert "preloaded model doubler" in log and "warmed up model doubler: 2 run(s)" in log
    assert log.count("\n") < 20   # one line per event, no line per request at the default level


def test_readiness_waits_for_preloads(workdir):
    (workdir / "slow.redis").write_bytes(b"SET before yes\nDEBUG SLEEP 2\nSET after yes\n")
    metrics = free_port()
    proc = InferdProcess(write_config(workdir, '[[data]]\nfile = "slow.redis"\n'), metrics_port=metrics)
    try:
        def first_answer() -> int:
            try:
                return httpx.get(f"http://127.0.0.1:{metrics}/readyz", timeout=5).status_code
            except httpx.TransportError:
                assert proc.proc.poll() is None, proc.stderr()
                return 0
        assert wait_for(first_answer, "the metrics endpoint", timeout=60) == 503   # still preloading
        assert httpx.get(f"http://127.0.0.1:{metrics}/healthz", timeout=5).status_code == 200
        wait_for(lambda: first_answer() == 200, "/readyz to turn 200", timeout=60)
        assert redis.Redis(port=proc.port, protocol=2).get("after") == b"yes"
    finally:
        proc.stop()


BAD_ENTRIES = {
    "missing file": ('[[model]]\nkey = "m"\nbackend = "ONNX"\nfile = "nope.onnx"\n',
                     "preload entry 1 ([[model]] key='m'): [Errno 2] No such file or directory"),
    "bad backend": ('[[model]]\nkey = "m"\nbackend = "CAFFE"\nfile = "doubler.onnx"\n',
                    "preload entry 1 ([[model]] key='m'): ERR unsupported backend"),
    "typo in a field": ('[[model]]\nkey = "m"\nbackend = "ONNX"\nfile = "doubler.onnx"\nbatch_size = 4\n',
                        "preload entry 1 ([[model]] key='m'): unknown field batch_size"),
    "not a model": ('[[data]]\nkey = "t"\nfile = "reference.npy"\n[[model]]\nkey = "m"\nbackend = "ONNX"\n'
                    'file = "merchants.redis"\n', "preload entry 1 ([[model]] key='m'): "),   # models load before data
    "bad warm-up shape": ('[[model]]\nkey = "m"\nbackend = "ONNX"\nfile = "doubler.onnx"\n'
                          'warmup = { runs = 1, shape = [1, 5] }\n', "preload entry 1 ([[model]] key='m'): "),
    "failing command": ('[[data]]\nfile = "broken.redis"\n',
                        "preload entry 1 ([[data]] file='broken.redis'): "),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_bad_preload_entry_fails_startup(workdir, case):
    (workdir / "broken.redis").write_bytes(b"SET a 1\nINCR a extra\n")
    body, message = BAD_ENTRIES[case]
    proc = InferdProcess(write_config(workdir, body))
    try:
        code = proc.wait(60)
    finally:
        proc.stop()
    log = proc.stderr()
    assert code == 1, log
    assert "cannot start: " + message in log, log
    assert "Traceback" not in log


def test_failing_data_command_names_its_line(workdir):
    (workdir / "broken.redis").write_bytes(b"# comment\nSET a 1\n\nINCR a extra\n")
    proc = InferdProcess(write_config(workdir, '[[data]]\nfile = "broken.redis"\n'))
    try:
        assert proc.wait(60) == 1
    finally:
        proc.stop()
    assert "broken.redis:line 4: ERR wrong number of arguments for 'incr' command" in proc.stderr()


MODEL_ONLY = """
[[model]]
key = "doubler"
backend = "onnx"
file = "doubler.onnx"
tag = "{tag}"
warmup = {{ runs = 1, dtype = "FLOAT", shape = [1, 4] }}
"""


def _start_and_use(config: str, folder) -> tuple[list[bytes], str]:
    """Start with appendonly on in ``folder``, run the preloaded model once, stop; (its tag and output, the log)."""
    proc = InferdProcess(config, dir=str(folder), appendonly="yes")
    try:
        r = redis.Redis(port=proc.port, protocol=2)
        wait_for(lambda: _pings(r) or proc.proc.poll() is not None, "inferd to answer", timeout=60)
        assert proc.proc.poll() is None, proc.stderr()
        r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4)
        assert r.execute_command("AI.MODELEXECUTE", "doubler", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
        meta = r.execute_command("AI.MODELGET", "doubler", "META")
        seen = [meta[meta.index(b"tag") + 1], *r.execute_command("AI.TENSORGET", "y", "VALUES")]
        r.close()
    finally:
        proc.stop()
    assert proc.proc.returncode == 0
    return seen, proc.stderr()


def test_a_model_replayed_from_the_append_only_file_is_not_stored_again(workdir):
    blob = (workdir / "doubler.onnx").read_bytes()
    aof = workdir / "appendonly.aof"
    seen, log = _start_and_use(write_config(workdir, MODEL_ONLY.format(tag="v1")), workdir)
    assert seen == [b"v1", b"2", b"4", b"6", b"8"] and "preloaded model doubler" in log
    assert aof.read_bytes().count(blob) == 1
    seen, log = _start_and_use(write_config(workdir, MODEL_ONLY.format(tag="v1")), workdir)   # a restart
    assert seen == [b"v1", b"2", b"4", b"6", b"8"]
    assert "model doubler: the key already holds this model" in log and "preloaded model" not in log
    assert "warmed up model doubler: 1 run(s)" in log                       # warm-up runs all the same
    assert aof.read_bytes().count(blob) == 1                                # not appended again
    seen, log = _start_and_use(write_config(workdir, MODEL_ONLY.format(tag="v2")), workdir)   # a changed entry
    assert seen == [b"v2", b"2", b"4", b"6", b"8"] and "preloaded model doubler" in log
    assert aof.read_bytes().count(blob) == 2
