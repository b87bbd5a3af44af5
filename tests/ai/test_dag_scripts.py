"""Script ops in DAGs: AI.SCRIPTEXECUTE in AI.DAGEXECUTE, AI.SCRIPTRUN in the deprecated AI.DAGRUN (spec section 4)."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import redis

from tests.ai import models
from tests.ai.conftest import error_of

SOURCE = '''
def prepare(tensors: List[Tensor], keys: List[str], args: List[str]):
    shift = float(args[0])
    return (tensors[0] + shift).reshape([1, 2])

def split(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * 2, tensors[0] * 3

def fails(tensors: List[Tensor], keys: List[str], args: List[str]):
    raise ValueError("bad " + keys[0])

def pair(a, b):
    return a + b, a - b
'''
LINEAR = models.onnx_linear()


@pytest.fixture
def c(r: redis.Redis) -> redis.Redis:
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", LINEAR)
    r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 3, "prepare", "split", "fails", "SOURCE", SOURCE)
    r.execute_command("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 1, 2)
    r.set("str", "x")
    return r


def ex(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)


def vals(reply: Any) -> list[float]:
    return [float(v) for v in reply]


def info(client: redis.Redis, key: str) -> dict:
    reply = ex(client, "AI.INFO", key)
    return dict(zip(reply[::2], reply[1::2], strict=True))


def test_load_script_model_tensorget_and_persist(c):
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "y", "|>",
               "AI.SCRIPTEXECUTE", "s", "prepare", "INPUTS", 1, "a", "ARGS", 1, "0.5", "OUTPUTS", 1, "x", "|>",
               "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "|>",
               "AI.TENSORGET", "x", "VALUES", "|>", "AI.TENSORGET", "y", "VALUES")
    x = np.array([[1.5, 2.5]], np.float32)
    assert reply[:2] == [b"OK", b"OK"]
    assert vals(reply[2]) == [1.5, 2.5]
    np.testing.assert_allclose(vals(reply[3]), models.linear(x).ravel(), rtol=1e-6)
    np.testing.assert_allclose(vals(ex(c, "AI.TENSORGET", "y", "VALUES")), models.linear(x).ravel(), rtol=1e-6)
    assert c.exists("x") == 0                     # only PERSIST writes the keyspace
    assert (info(c, "s")[b"calls"], info(c, "m")[b"calls"]) == (1, 1)


def test_script_op_outputs_are_ssa_versioned(c):
    reply = ex(c, "AI.DAGEXECUTE", "ROUTING", "a", "|>", "AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2, "|>",
               "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "t", "OUTPUTS", 2, "t", "u", "|>",
               "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "t", "OUTPUTS", 2, "t", "v", "|>",
               "AI.TENSORGET", "t", "VALUES", "|>", "AI.TENSORGET", "u", "VALUES", "|>", "AI.TENSORGET", "v", "VALUES")
    assert reply[:3] == [b"OK", b"OK", b"OK"]
    assert vals(reply[3]) == [4.0, 8.0] and vals(reply[4]) == [3.0, 6.0] and vals(reply[5]) == [6.0, 12.0]


def test_script_op_without_first_scope_and_without_outputs(c):
    """Inside a DAG the first scope may be any; with no OUTPUTS the function's return is dropped."""
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "prepare", "ARGS", 1, "1",
               "INPUTS", 1, "a", "|>", "AI.TENSORGET", "a", "VALUES")
    assert reply[0] == b"OK" and vals(reply[1]) == [1.0, 2.0]


def test_failing_script_op_is_an_inline_error_and_skips_the_rest(c):
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "x", "|>",
               "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a", "OUTPUTS", 2, "x", "w", "|>",
               "AI.SCRIPTEXECUTE", "s", "fails", "KEYS", 1, "user:7", "INPUTS", 1, "x", "OUTPUTS", 1, "z", "|>",
               "AI.MODELEXECUTE", "m", "INPUTS", 1, "z", "OUTPUTS", 1, "y", "|>", "AI.TENSORGET", "z", "VALUES")
    assert reply[0] == b"OK"
    assert isinstance(reply[1], redis.ResponseError) and "bad user:7" in str(reply[1])
    assert reply[2:] == [b"NA", b"NA"]
    assert c.exists("x", "y", "z") == 0
    assert (info(c, "s")[b"calls"], info(c, "s")[b"errors"]) == (2, 1)
    assert c.ping() is True


def test_script_op_output_count_error(c):
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>",
               "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a", "OUTPUTS", 1, "x", "|>", "AI.TENSORGET", "x")
    assert str(reply[0]) == "Function returned unexpected number of outputs - split" and reply[1] == b"NA"


@pytest.mark.parametrize(("args", "text"), [
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a", "TIMEOUT", 5),
     "TIMEOUT not allowed within a DAG command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "b"),
     "INPUT key cannot be found in DAG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 2, "a"),
     "number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a", "FOO"),
     "Invalid AI.SCRIPTEXECUTE command. Unexpected argument: FOO"),
    (("AI.DAGEXECUTE_RO", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a"),
     "AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.SCRIPTRUN", "s", "split", "TIMEOUT", 5, "INPUTS", "a"),
     "TIMEOUT not allowed within a DAG command"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.SCRIPTRUN", "s", "split", "INPUTS", "a", "INPUTS", "a"),
     "Already encountered an INPUTS keyword in SCRIPTRUN"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.SCRIPTRUN", "nosuch", "split", "INPUTS", "a"), "script key is empty"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.SCRIPTRUN", "str", "split", "INPUTS", "a"),
     "WRONGTYPE Operation against a key holding the wrong kind of value"),
])
def test_parse_errors_run_nothing(c, args, text):
    assert error_of(c, *args) == text
    assert info(c, "s")[b"calls"] == 0


def test_deprecated_dagrun_with_scriptrun(c):
    c.execute_command("AI.SCRIPTSET", "old", "CPU", "SOURCE", SOURCE)
    c.execute_command("AI.TENSORSET", "b", "FLOAT", 2, "VALUES", 10, 20)
    reply = ex(c, "AI.DAGRUN", "LOAD", 2, "a", "b", "PERSIST", 1, "d", "|>",
               "AI.SCRIPTRUN", "old", "pair", "INPUTS", "a", "b", "OUTPUTS", "sum", "d", "|>",
               "AI.TENSORGET", "sum", "VALUES")
    assert reply[0] == b"OK" and vals(reply[1]) == [11.0, 22.0]
    assert vals(ex(c, "AI.TENSORGET", "d", "VALUES")) == [-9.0, -18.0]
    assert c.exists("sum") == 0
    assert info(c, "old")[b"calls"] == 1


def test_dag_timeout_with_a_queued_script_op(c, server):
    gate = threading.Event()
    schedulers = server.state.extensions["schedulers"]
    server.call(lambda: schedulers.call("CPU", lambda: gate.wait(30)))   # occupy the CPU worker
    replies: list = []
    client = server.client(protocol=2)
    runner = threading.Thread(target=lambda: replies.append(client.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 1, "x", "TIMEOUT", 1, "|>",
        "AI.SCRIPTEXECUTE", "s", "split", "INPUTS", 1, "a", "OUTPUTS", 2, "x", "w")))
    runner.start()
    runner.join(5)
    gate.set()
    runner.join(30)
    client.close()
    assert replies == [b"TIMEDOUT"]
    assert c.exists("x") == 0 and info(c, "s")[b"calls"] == 0
