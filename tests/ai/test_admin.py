"""AI.INFO (stats charged per request, RESETSTAT), AI.CONFIG (every subcommand and error), and a model store of
>= 100 MB in several BLOB chunks while another client keeps getting PING answers."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.ai import models
from tests.ai.conftest import error_of

X = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)


def test_ai_info_counts_calls_samples_errors(r, onnx_linear):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "cpu", "TAG", "v1", "BLOB", onnx_linear)
    info = r.execute_command("AI.INFO", "m")
    assert info == [b"key", b"m", b"type", b"MODEL", b"backend", b"ONNX", b"device", b"cpu", b"tag", b"v1",
                    b"duration", 0, b"samples", 0, b"calls", 0, b"errors", 0]
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 2, 2, "BLOB", X.tobytes())
    r.execute_command("AI.TENSORSET", "bad", "FLOAT", 2, 3, "BLOB", np.ones((2, 3), np.float32).tobytes())
    for _ in range(3):
        r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "y")
    info = dict(zip(r.execute_command("AI.INFO", "m")[::2], r.execute_command("AI.INFO", "m")[1::2], strict=True))
    assert (info[b"calls"], info[b"samples"], info[b"errors"]) == (4, 6, 1)
    assert info[b"duration"] > 0
    assert r.execute_command("AI.INFO", "m", "RESETSTAT") == b"OK"
    assert r.execute_command("AI.INFO", "m")[10:] == [b"duration", 0, b"samples", 0, b"calls", 0, b"errors", 0]
    assert r.execute_command("AI.INFO", "m", "other")[:2] == [b"key", b"m"]   # another 3rd word is ignored


def test_ai_info_errors(r):
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1)
    assert error_of(r, "AI.INFO", "t") == "cannot find run info for key"
    assert error_of(r, "AI.INFO", "missing") == "cannot find run info for key"
    assert error_of(r, "AI.INFO") == "wrong number of arguments for 'AI.INFO' command"
    assert error_of(r, "AI.INFO", "a", "b", "c") == "wrong number of arguments for 'AI.INFO' command"


def test_ai_config(r):
    assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 511 * 1024 * 1024
    assert r.execute_command("AI.CONFIG", "BACKENDSPATH", "/opt/backends") == b"OK"
    assert r.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == b"/opt/backends"
    assert r.execute_command("AI.CONFIG", "get", "nothing") is None
    try:
        assert r.execute_command("AI.CONFIG", "model_chunk_size", 1024) == b"OK"
        assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 1024
    finally:
        r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 511 * 1024 * 1024)
    assert r.execute_command("AI.CONFIG", "LOADBACKEND", "ONNX", "redisai_onnxruntime.so") == b"OK"
    assert r.execute_command("AI.CONFIG", "LOADBACKEND", "torch", "anything") == b"OK"


CONFIG_ERRORS = [
    (("AI.CONFIG",), "wrong number of arguments for 'AI.CONFIG' command"),
    (("AI.CONFIG", "BACKENDSPATH"), "BACKENDSPATH: missing path argument"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE"), "MODEL_CHUNK_SIZE: missing chunk size"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE", 0), "MODEL_CHUNK_SIZE: invalid chunk size"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE", "big"), "MODEL_CHUNK_SIZE: invalid chunk size"),
    (("AI.CONFIG", "LOADBACKEND", "ONNX"), "wrong number of arguments for 'AI.CONFIG' command"),
    (("AI.CONFIG", "LOADBACKEND", "SKLEARN", "x"), "unsupported backend"),
    (("AI.CONFIG", "GET"), "wrong number of arguments for 'AI.CONFIG' command"),
    (("AI.CONFIG", "SOMETHING", "x"), "unsupported subcommand"),
]


@pytest.mark.parametrize(("args", "text"), CONFIG_ERRORS)
def test_ai_config_errors(r, args, text):
    assert error_of(r, *args) == text
    assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 511 * 1024 * 1024


def test_redis_py_user_flow(r, onnx_two_inputs):
    """What a RedisAI user does with redis-py 8 and raw commands, pipelined (RESP2 and RESP3 alike)."""
    pipe = r.pipeline(transaction=False)
    pipe.execute_command("AI.MODELSTORE", "m{1}", "ONNX", "CPU", "TAG", "prod", "BLOB", onnx_two_inputs)
    pipe.execute_command("AI.TENSORSET", "a{1}", "FLOAT", 1, 2, "VALUES", 1, 2)
    pipe.execute_command("AI.TENSORSET", "b{1}", "FLOAT", 1, 2, "VALUES", 3, 4)
    pipe.execute_command("AI.MODELEXECUTE", "m{1}", "INPUTS", 2, "a{1}", "b{1}", "OUTPUTS", 2, "s{1}", "p{1}")
    pipe.execute_command("AI.TENSORGET", "s{1}", "VALUES")
    pipe.execute_command("AI.TENSORGET", "p{1}", "META", "BLOB")
    results = pipe.execute()
    assert results[:4] == [b"OK"] * 4
    assert [float(v) for v in results[4]] == [4.0, 6.0]
    assert results[5][:4] == [b"dtype", b"FLOAT", b"shape", [1, 2]]
    assert np.frombuffer(results[5][5], np.float32).tolist() == [3.0, 8.0]
    assert r.execute_command("AI._MODELSCAN") == [[b"m{1}", b"prod"]]


@pytest.mark.slow
def test_large_model_store_keeps_the_server_responsive(server, onnx_linear):
    """A >= 100 MB ONNX model sent as 4 BLOB chunks: another client's PINGs are answered while it loads."""
    blob = models.onnx_big(27_000_000)          # 108 MB of weights
    assert len(blob) >= 100 * 1024 * 1024
    quarter = len(blob) // 4
    chunks = [blob[i * quarter:(i + 1) * quarter] for i in range(3)] + [blob[3 * quarter:]]
    state = server.state
    storing = threading.Event()
    done = threading.Event()
    pings_during_load: list[int] = [0]

    def loading() -> bool:   # runs on the loop: a client waits on a deferred reply (the model is loading)
        return any(c.in_flight for c in state.clients.values())

    def pinger() -> None:
        client = server.client(protocol=2)
        storing.wait(60)
        while not done.is_set():
            before = server.call(loading)
            assert client.ping() is True
            if before and server.call(loading):
                pings_during_load[0] += 1
        client.close()

    thread = threading.Thread(target=pinger)
    thread.start()
    storer = server.client(protocol=2)
    try:
        storing.set()
        assert storer.execute_command("AI.MODELSTORE", "big", "ONNX", "CPU", "BLOB", *chunks) == b"OK"
    finally:
        done.set()
        thread.join(60)
    assert pings_during_load[0] > 0
    storer.execute_command("AI.TENSORSET", "x", "FLOAT", 27_000_000, "BLOB",
                           np.ones(27_000_000, np.float32).tobytes())
    storer.execute_command("AI.MODELEXECUTE", "big", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    y = np.frombuffer(storer.execute_command("AI.TENSORGET", "y", "BLOB"), np.float32)
    np.testing.assert_array_equal(y, np.arange(27_000_000, dtype=np.float32) + np.float32(1))
    assert storer.execute_command("AI.MODELGET", "big", "BLOB") == blob
    storer.execute_command("AI.MODELDEL", "big")
    storer.close()
