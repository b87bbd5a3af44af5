"""The script extensions: ``redis.execute`` / ``redis.asList`` and ``redisAI.model_execute`` inside TorchScript scripts,
run by AI.SCRIPTEXECUTE and by DAG script ops against the real keyspace."""
from __future__ import annotations

import numpy as np
import pytest
import redis

from tests.ai import models
from tests.ai.conftest import error_of

SOURCE = '''
def redis_int_to_tensor(value: Any):
    return torch.tensor(int(str(value)))

def set_get(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])
    return redis_int_to_tensor(redis.execute("GET", keys[0]))

def replies(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("DEL", keys)
    redis.execute("RPUSH", keys[0], "3", 4, 5.5)
    items = redis.asList(redis.execute("LRANGE", keys[0], 0, -1))
    pushed = int(str(redis.execute("RPUSH", keys[0], "x")))
    missing = isinstance(redis.execute("GET", keys[1]), str)    # nil is None, not a str
    found = isinstance(redis.execute("GET", keys[0] + ":s"), str)
    return (torch.tensor(len(items)), torch.tensor(float(str(items[2]))), torch.tensor(pushed),
            torch.tensor(missing), torch.tensor(found))

def features(tensors: List[Tensor], keys: List[str], args: List[str]):
    fields = redis.asList(redis.execute("HMGET", keys[0], "age", "score"))
    values: List[float] = []
    for f in fields:
        values.append(float(str(f)))
    return torch.tensor(values).reshape([1, 2])

def incr_twice(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("INCR", keys[0])
    return tensors[0]

def run(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute(args[0], args[1:])
    return tensors[0]

def bad_argument(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], tensors[0])
    return tensors[0]

def score(tensors: List[Tensor], keys: List[str], args: List[str]):
    out = redisAI.model_execute(keys[0], [tensors[0] * 2], 1)
    return out[0] + 1
'''
ENTRY_POINTS = ["set_get", "replies", "features", "incr_twice", "run", "bad_argument", "score"]


@pytest.fixture
def s(r):
    assert r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", len(ENTRY_POINTS), *ENTRY_POINTS,
                             "SOURCE", SOURCE) == b"OK"
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 2, "VALUES", 1, 2)
    return r


def test_set_then_get_an_int_gives_a_0d_int64_tensor(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "set_get", "KEYS", 1, "counter", "ARGS", 1, "41",
                             "OUTPUTS", 1, "t") == b"OK"
    assert s.execute_command("AI.TENSORGET", "t", "META", "VALUES") == [b"dtype", b"INT64", b"shape", [],
                                                                        b"values", [41]]
    assert s.get("counter") == b"41"      # the script's write is in the keyspace


def test_reply_types_lists_ints_and_nil(s):
    s.set("gone", "v")
    s.set("l:s", "v")
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "replies", "KEYS", 2, "l", "gone",
                             "OUTPUTS", 5, "n", "third", "pushed", "missing", "found") == b"OK"
    assert s.execute_command("AI.TENSORGET", "n", "VALUES") == [3]
    assert float(s.execute_command("AI.TENSORGET", "third", "VALUES")[0]) == 5.5
    assert s.execute_command("AI.TENSORGET", "pushed", "VALUES") == [4]
    assert s.execute_command("AI.TENSORGET", "missing", "VALUES") == [0]   # DEL took both keys (a List[str])
    assert s.execute_command("AI.TENSORGET", "found", "VALUES") == [1]
    assert s.lrange("l", 0, -1) == [b"3", b"4", b"5.5", b"x"]


def test_error_reply_raises_and_the_server_lives_on(s):
    s.set("counter", "not a number")
    text = error_of(s, "AI.SCRIPTEXECUTE", "s", "incr_twice", "KEYS", 1, "counter", "INPUTS", 1, "x")
    assert "Redis command returned an error: ERR value is not an integer or out of range" in text
    assert "At:" not in text and ".py" not in text     # no Python frames reach the client
    assert s.ping() is True and s.get("counter") == b"not a number"


@pytest.mark.parametrize("command", [
    ("MULTI",), ("EXEC",), ("WATCH", "k"), ("CONFIG", "GET", "port"), ("DEBUG", "SLEEP", "0"),
    ("AI.MODELEXECUTE", "m", "INPUTS", "1", "x", "OUTPUTS", "1", "y"),
    ("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", "1", "f", "SOURCE", "def f(x):\n    return x\n"),
    ("AI.DAGEXECUTE", "LOAD", "1", "x", "|>", "AI.TENSORGET", "x")])
def test_commands_that_wait_or_are_kept_out_of_scripts_are_refused(s, command):
    text = error_of(s, "AI.SCRIPTEXECUTE", "s", "run", "INPUTS", 1, "x", "ARGS", len(command), *command)
    assert "Redis command returned an error: ERR This Redis command is not allowed from script" in text
    assert s.exists("k", "y") == 0 and s.ping() is True


def test_unknown_command_and_bad_argument(s):
    text = error_of(s, "AI.SCRIPTEXECUTE", "s", "run", "INPUTS", 1, "x", "ARGS", 2, "NOSUCH", "k")
    assert "Redis command returned an error: ERR unknown command 'NOSUCH'" in text
    text = error_of(s, "AI.SCRIPTEXECUTE", "s", "bad_argument", "KEYS", 1, "k", "INPUTS", 1, "x")
    assert "redis.execute arguments must be str, int or float, not Tensor" in text
    assert s.exists("k") == 0


def test_commands_run_in_the_callers_database(s, server):
    with server.client(protocol=2, db=3) as other:
        other.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "set_get", "SOURCE", SOURCE)
        assert other.execute_command("AI.SCRIPTEXECUTE", "s", "set_get", "KEYS", 1, "here", "ARGS", 1, "7") == b"OK"
        assert other.get("here") == b"7"
        other.flushdb()
    assert s.exists("here") == 0


def test_model_execute_runs_a_stored_model(s):
    s.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_linear())
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "score", "KEYS", 1, "m", "INPUTS", 1, "x",
                             "OUTPUTS", 1, "y") == b"OK"
    x = np.array([[1, 2]], np.float32)
    expected = (x * 2) @ models.WEIGHTS + models.BIAS + 1
    np.testing.assert_allclose([float(v) for v in s.execute_command("AI.TENSORGET", "y", "VALUES")],
                               expected.ravel(), rtol=1e-6)
    assert "model key is empty" in error_of(s, "AI.SCRIPTEXECUTE", "s", "score", "KEYS", 1, "nomodel",
                                            "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    s.execute_command("AI.MODELSTORE", "two", "ONNX", "CPU", "BLOB", models.onnx_two_inputs())
    assert "Number of keys given as INPUTS here does not match model definition" in error_of(
        s, "AI.SCRIPTEXECUTE", "s", "score", "KEYS", 1, "two", "INPUTS", 1, "x", "OUTPUTS", 1, "y")


def test_dag_script_op_reads_reference_data_for_the_model(s):
    """The scoring pattern: a script turns a profile hash into the model's input tensor, all in one DAG."""
    s.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_linear())
    s.hset("user:42", mapping={"age": 33, "score": 0.25})
    reply = s.execute_command("AI.DAGEXECUTE", "ROUTING", "user:42", "|>",
                              "AI.SCRIPTEXECUTE", "s", "features", "KEYS", 1, "user:42", "OUTPUTS", 1, "f", "|>",
                              "AI.MODELEXECUTE", "m", "INPUTS", 1, "f", "OUTPUTS", 1, "y", "|>",
                              "AI.TENSORGET", "y", "VALUES")
    expected = np.array([[33.0, 0.25]], np.float32) @ models.WEIGHTS + models.BIAS
    assert reply[:2] == [b"OK", b"OK"]
    np.testing.assert_allclose([float(v) for v in reply[2]], expected.ravel(), rtol=1e-6)


def test_script_writes_signal_watchers(s, server):
    watcher = server.client(protocol=2)
    try:
        pipe = watcher.pipeline(transaction=True)
        pipe.watch("counter")
        s.execute_command("AI.SCRIPTEXECUTE", "s", "set_get", "KEYS", 1, "counter", "ARGS", 1, "5")
        pipe.multi()
        pipe.set("counter", "0")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    finally:
        watcher.close()
    assert s.get("counter") == b"5"
