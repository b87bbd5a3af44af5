"""AI.DAGEXECUTE[_RO] and AI.DAGRUN[_RO]: grammar, every error of spec section 4, LOAD/PERSIST, per-op replies."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import redis

from tests.ai import models
from tests.ai.conftest import error_of, raw_reply_line

LINEAR = models.onnx_linear()


@pytest.fixture
def c(r: redis.Redis) -> redis.Redis:
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", LINEAR)
    r.execute_command("AI.TENSORSET", "a", "FLOAT", 1, 2, "VALUES", 1, 2)
    r.set("str", "x")
    return r


def ex(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)


def vals(reply: Any) -> list[float]:
    return [float(v) for v in reply]


MODEL_OP = ("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "y")


@pytest.mark.parametrize(("args", "text"), [
    (("AI.DAGEXECUTE", "LOAD", 1, "a"), "missing arguments for 'AI.DAGEXECUTE' command"),
    (("AI.DAGEXECUTE_RO", "LOAD", 1, "a", "|>"), "missing arguments for 'AI.DAGEXECUTE_RO' command"),
    (("AI.DAGEXECUTE", "TIMEOUT", 100, "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, PERSIST keywords"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "TIMEOUT", 100), "DAG is empty"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "|>"),
     "Invalid DAG command. Unexpected argument:  |>"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "|>", "AI.TENSORGET", "a"),
     "Invalid DAG command. Unexpected argument:  |>"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a"),
     "Invalid DAG command. Unexpected argument:  LOAD"),
    (("AI.DAGEXECUTE", "ROUTING", "a", "FOO", "|>", "AI.TENSORGET", "a"),
     "Invalid DAG command. Unexpected argument:  FOO"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "TIMEOUT", 5, "LOAD"), "missing arguments after LOAD keyword in DAG command"),
    (("AI.DAGEXECUTE", "LOAD", -1, "a", "|>", "AI.TENSORGET", "a"),
     "invalid or negative value found in number of keys to LOAD"),
    (("AI.DAGEXECUTE", "LOAD", "x", "a", "|>", "AI.TENSORGET", "a"),
     "invalid or negative value found in number of keys to LOAD"),
    (("AI.DAGEXECUTE", "LOAD", 2, "a", "|>", "AI.TENSORGET", "a"),
     "number of keys to LOAD into DAG does not match the number of given arguments"),
    (("AI.DAGEXECUTE", "LOAD", 1, "nosuch", "|>", "AI.TENSORGET", "a"), "tensor key is empty or in a different shard"),
    (("AI.DAGEXECUTE", "LOAD", 1, "str", "|>", "AI.TENSORGET", "str"),
     "WRONGTYPE Operation against a key holding the wrong kind of value"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "TIMEOUT", 5, "PERSIST"),
     "missing arguments after PERSIST keyword in DAG command"),
    (("AI.DAGEXECUTE", "PERSIST", 0, "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "invalid or negative value found in number of keys to PERSIST"),
    (("AI.DAGEXECUTE", "PERSIST", 2, "x", "x", "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "PERSIST keys must be unique"),
    (("AI.DAGEXECUTE", "PERSIST", 2, "x", "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "number of keys to PERSIST after DAG execution does not match the number of given arguments"),
    (("AI.DAGEXECUTE_RO", "PERSIST", 1, "x", "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "PERSIST cannot be specified in a read-only DAG"),
    (("AI.DAGEXECUTE", "PERSIST", 1, "zz", "|>", "AI.TENSORSET", "x", "FLOAT", 1),
     "PERSIST key cannot be found in DAG"),
    (("AI.DAGEXECUTE", "PERSIST", 1, "str", "|>", "AI.TENSORSET", "str", "FLOAT", 1),
     "WRONGTYPE Operation against a key holding the wrong kind of value"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "TIMEOUT", 5, "ROUTING"), "Missing ROUTING value"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "TIMEOUT", "|>", "AI.TENSORGET", "a"), "No value provided for TIMEOUT"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "TIMEOUT", 0, "|>", "AI.TENSORGET", "a"), "Invalid value for TIMEOUT"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "TIMEOUT", "x", "|>", "AI.TENSORGET", "a"), "Invalid value for TIMEOUT"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "b"), "INPUT key cannot be found in DAG"),
    (("AI.DAGEXECUTE", "ROUTING", "a", "|>", *MODEL_OP), "INPUT key cannot be found in DAG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", *MODEL_OP, "TIMEOUT", 5), "TIMEOUT not allowed within a DAG command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", *MODEL_OP, "TIMEOUT"), "TIMEOUT not allowed within a DAG command"),
    (("AI.DAGEXECUTE_RO", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "a"),
     "AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "a"), "script key is empty"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "str", "f", "INPUTS", 1, "a"),
     "WRONGTYPE Operation against a key holding the wrong kind of value"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s"),
     "wrong number of arguments for 'AI.SCRIPTEXECUTE' command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.MODELRUN", "m", "INPUTS", "a", "OUTPUTS", "y"),
     "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.SCRIPTRUN", "s", "f", "INPUTS", "a"),
     "Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", *MODEL_OP),
     "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.SCRIPTEXECUTE", "s", "f"),
     "AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "SET", "k", "v"), "Unsupported command within DAG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET"), "wrong number of arguments for 'AI.TENSORGET' command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORSET", "x", "FLOAT"),
     "wrong number of arguments for 'AI.TENSORSET' command"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORSET", "x", "FLT", 1), "invalid data type"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "FOO"), "unsupported data format"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "BLOB", "VALUES"), "both BLOB and VALUES specified"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.MODELEXECUTE", "nosuch", "INPUTS", 1, "a", "OUTPUTS", 1, "y"),
     "model key is empty"),
    (("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "y"),
     "Number of keys given as INPUTS here does not match model definition"),
    (("AI.DAGRUN", "|>"), "wrong number of arguments for 'AI.DAGRUN' command"),
    (("AI.DAGRUN", "LOAD", 1, "a", "|>", "AI.MODELRUN", "m", "TIMEOUT", 5, "INPUTS", "a", "OUTPUTS", "y"),
     "TIMEOUT not allowed within a DAG command"),
])
def test_errors(c, args, text):
    assert error_of(c, *args) == text
    assert c.exists("x", "y") == 0   # a parse error runs nothing and writes nothing


def test_exact_error_bytes(server, c):
    port = server.port
    assert raw_reply_line(port, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "|>") == \
        b"-ERR Invalid DAG command. Unexpected argument:  |>"
    assert raw_reply_line(port, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "SET", "k", "v") == \
        b"-Unsupported command within DAG"
    assert raw_reply_line(port, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET") == \
        b"-wrong number of arguments for 'AI.TENSORGET' command"
    assert raw_reply_line(port, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.MODELRUN", "m") == \
        b"-Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"


def test_keywords_are_case_insensitive_and_ops_reply_in_order(c):
    reply = ex(c, "ai.dagexecute", "load", 1, "a", "persist", 1, "y", "routing", "a", "timeout", 5000, "|>",
               "ai.modelexecute", "m", "inputs", 1, "a", "outputs", 1, "y", "|>", "ai.tensorget", "y", "values")
    assert reply[0] == b"OK"
    assert vals(reply[1]) == models.linear(np.array([[1, 2]], np.float32)).ravel().tolist()
    assert vals(ex(c, "AI.TENSORGET", "y", "VALUES")) == vals(reply[1])


def test_names_are_dag_local_and_ssa_versioned(c):
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "VALUES",
               "|>", "AI.TENSORSET", "a", "FLOAT", 1, 2, "VALUES", 3, 4,
               "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "a",
               "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "a",
               "|>", "AI.TENSORGET", "a", "VALUES")
    x = np.array([[3, 4]], np.float32)
    assert vals(reply[0]) == [1.0, 2.0] and reply[1:4] == [b"OK", b"OK", b"OK"]
    assert vals(reply[4]) == models.linear(models.linear(x)).ravel().tolist()
    assert vals(ex(c, "AI.TENSORGET", "a", "VALUES")) == [1.0, 2.0]   # nothing persisted: keyspace unchanged


def test_load_is_a_snapshot_and_only_persist_writes(c):
    reply = ex(c, "AI.DAGEXECUTE", "PERSIST", 1, "t", "|>", "AI.TENSORSET", "t", "INT32", 2, "VALUES", -1, 7,
               "|>", "AI.TENSORSET", "u", "INT32", 1, "VALUES", 1, "|>", "AI.TENSORGET", "t", "META")
    assert reply == [b"OK", b"OK", [b"dtype", b"INT32", b"shape", [2]]]
    assert ex(c, "AI.TENSORGET", "t", "VALUES") == [-1, 7] and c.exists("u") == 0


def test_persist_only_after_every_op_succeeds(c):
    ex(c, "AI.TENSORSET", "bad", "FLOAT", 1, 3, "VALUES", 1, 2, 3)
    reply = ex(c, "AI.DAGEXECUTE", "LOAD", 2, "a", "bad", "PERSIST", 1, "y1",
               "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "y1",
               "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "y2",
               "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "y1", "OUTPUTS", 1, "y3",
               "|>", "AI.TENSORGET", "y1", "VALUES", "|>", "AI.TENSORGET", "y3", "VALUES",
               "|>", "AI.TENSORGET", "a", "VALUES")
    assert reply[0] == b"OK"
    assert isinstance(reply[1], redis.ResponseError) and "Got invalid dimensions" in str(reply[1])
    assert reply[2] == b"NA" and reply[4] == b"NA"
    assert len(reply[3]) == 2 and vals(reply[5]) == [1.0, 2.0]
    assert c.exists("y1") == 0
    info = dict(zip(*[iter(ex(c, "AI.INFO", "m"))] * 2, strict=True))
    assert info[b"calls"] == 2 and info[b"errors"] == 1 and info[b"samples"] == 1


def test_readonly_and_deprecated_flavours(c):
    assert ex(c, "AI.DAGEXECUTE_RO", "LOAD", 1, "a", "|>", *MODEL_OP, "|>", "AI.TENSORGET", "y", "BLOB")[0] == b"OK"
    reply = ex(c, "AI.DAGRUN", "LOAD", 1, "a", "PERSIST", 1, "y", "|>", "AI.MODELRUN", "m", "INPUTS", "a", "OUTPUTS",
               "y", "|>", "AI.TENSORGET", "y", "VALUES")
    assert reply[0] == b"OK" and c.exists("y") == 1
    reply = ex(c, "AI.DAGRUN_RO", "|>", "AI.TENSORSET", "k", "FLOAT", 1, "VALUES", 2, "|>",
               "AI.TENSORGET", "k", "VALUES")
    assert reply[0] == b"OK" and vals(reply[1]) == [2.0] and c.exists("k") == 0
    assert error_of(c, "AI.DAGRUN_RO", "PERSIST", 1, "k", "|>", "AI.TENSORSET", "k", "FLOAT", 1) == \
        "PERSIST cannot be specified in a read-only DAG"


def test_refused_inside_multi(c):
    pipe = c.pipeline(transaction=True)
    pipe.execute_command("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a")
    with pytest.raises(redis.ResponseError) as info:
        pipe.execute()
    assert "Cannot run RedisAI command within a transaction or a LUA script" in str(info.value)


def fraud_model() -> bytes:
    """concat(transaction[1,30], reference[1,256]) -> dense 286x16 -> relu -> two heads: score[1,2], logits[1,2]."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    w1 = rng.normal(size=(286, 16)).astype(np.float32)
    w2 = rng.normal(size=(16, 2)).astype(np.float32)
    nodes = [helper.make_node("Concat", ["transaction", "reference"], ["features"], axis=1),
             helper.make_node("MatMul", ["features", "w1"], ["hidden"]), helper.make_node("Relu", ["hidden"], ["h"]),
             helper.make_node("MatMul", ["h", "w2"], ["logits"]), helper.make_node("Softmax", ["logits"], ["score"])]
    graph = helper.make_graph(nodes, "fraud", [
        helper.make_tensor_value_info("transaction", TensorProto.FLOAT, [None, 30]),
        helper.make_tensor_value_info("reference", TensorProto.FLOAT, [None, 256])], [
        helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 2]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_fraud_scoring_dag(r):
    from onnx import load_from_string, numpy_helper
    blob = fraud_model()
    weights = {t.name: numpy_helper.to_array(t) for t in load_from_string(blob).graph.initializer}
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(1, 256)).astype(np.float32)
    transaction = rng.normal(size=(1, 30)).astype(np.float32)
    r.execute_command("AI.MODELSTORE", "fraud", "ONNX", "CPU", "BATCHSIZE", 16, "BLOB", blob)
    r.execute_command("AI.TENSORSET", "ref:42", "FLOAT", 1, 256, "BLOB", reference.tobytes())
    reply = r.execute_command(
        "AI.DAGEXECUTE_RO", "LOAD", 1, "ref:42", "|>",
        "AI.TENSORSET", "tx", "FLOAT", 1, 30, "BLOB", transaction.tobytes(), "|>",
        "AI.MODELEXECUTE", "fraud", "INPUTS", 2, "tx", "ref:42", "OUTPUTS", 2, "score", "logits", "|>",
        "AI.TENSORGET", "score", "BLOB", "|>", "AI.TENSORGET", "logits", "META", "BLOB")
    logits = np.maximum(np.concatenate([transaction, reference], axis=1) @ weights["w1"], 0) @ weights["w2"]
    score = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert reply[:2] == [b"OK", b"OK"]
    np.testing.assert_allclose(np.frombuffer(reply[2], np.float32).reshape(1, 2), score, rtol=1e-4)
    assert reply[3][:4] == [b"dtype", b"FLOAT", b"shape", [1, 2]]
    np.testing.assert_allclose(np.frombuffer(reply[3][5], np.float32).reshape(1, 2), logits, rtol=1e-4, atol=1e-4)


def test_tensors_and_models_with_an_expiry_are_read_until_they_expire(c):
    # once a key of the database has an expiry, the DAG reads tensors and models through the expiry check
    dag = ("AI.DAGEXECUTE", "LOAD", 1, "a", "|>", *MODEL_OP, "|>", "AI.TENSORGET", "y", "VALUES")
    before = ex(c, *dag)
    assert c.pexpire("a", 60_000) and c.pexpire("m", 60_000)
    assert ex(c, *dag) == before
    ex(c, "AI.TENSORSET", "b", "FLOAT", 1, 2, "VALUES", 3, 4)
    assert c.pexpire("b", 1) and c.pexpire("m", 1)
    time.sleep(0.02)
    assert error_of(c, "AI.DAGEXECUTE", "LOAD", 1, "b", "|>", "AI.TENSORGET", "b", "VALUES") == \
        "tensor key is empty or in a different shard"
    assert error_of(c, *dag) == "model key is empty"
    assert c.exists("b", "m") == 0 and c.exists("a") == 1
    assert c.persist("a")
    assert vals(ex(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "|>", "AI.TENSORGET", "a", "VALUES")[0]) == [1.0, 2.0]
