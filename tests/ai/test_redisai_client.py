"""redisai-py 1.3 (redis-py 4.x, RESP2), as RedisAI users run it, works against inferd unchanged.

The client lives in its own environment (`.venv-redisai`, made by `make test`) because it pins redis-py < 5.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / ".venv-redisai" / "bin" / "python"
SESSION = Path(__file__).with_name("clients") / "redisai_session.py"


@pytest.fixture(scope="module")
def session(server, tmp_path_factory) -> dict:
    """What redisai-py got back from one session against the module's server (see clients/redisai_session.py)."""
    if not CLIENT_PYTHON.exists():
        pytest.fail("redisai-py is not installed: `make test` creates .venv-redisai with redisai==1.3.0")
    w = numpy_helper.from_array(np.array([[2, 0], [0, 3]], dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "scale",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model_file = tmp_path_factory.mktemp("redisai") / "scale.onnx"
    model_file.write_bytes(model.SerializeToString())
    server.client().flushall()
    done = subprocess.run([str(CLIENT_PYTHON), "-W", "ignore", str(SESSION), str(server.port), str(model_file)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_redisai_py_session(session):
    got = session
    assert got["tensorget"] == [[1.0, 2.0], [3.0, 4.0]]
    assert got["tensorget_meta"] == {"dtype": "FLOAT", "shape": [2, 2]}
    assert got["modelstore"] == "OK" and got["modelexecute"] == "OK"
    assert got["y"] == [[2.0, 6.0], [6.0, 12.0]]
    assert got["modelget"] == {"backend": "ONNX", "device": "CPU", "tag": "v1", "batchsize": 0, "minbatchsize": 0,
                               "inputs": ["x"], "outputs": ["y"], "minbatchtimeout": 0}
    info = got["info"]
    assert {k: info[k] for k in ("key", "type", "backend", "device", "tag", "samples", "calls", "errors")} == {
        "key": "m", "type": "MODEL", "backend": "ONNX", "device": "CPU", "tag": "v1", "samples": 2, "calls": 1,
        "errors": 0}
    assert got["scan"] == [["m", "v1"]]
    assert got["dag"] == ["OK", [[2.0, 6.0], [6.0, 12.0]]]
    assert got["z"] == [[2.0, 6.0], [6.0, 12.0]]     # PERSIST wrote it
    assert got["pipeline"][1] == [5.0]
    assert got["modeldel"] == "OK"


def test_redisai_py_scripts(session):
    """scriptstore / scriptexecute / scriptget / infoget / scriptscan / a DAG's scriptexecute / scriptdel."""
    got = session
    assert got["scriptstore"] == "OK" and got["scriptexecute"] == "OK"
    assert got["sx"] == [[10.0, 20.0], [30.0, 40.0]] and got["nk"] == 1
    meta = {"device": "CPU", "tag": "v2", "entry points": ["scale"]}
    assert got["scriptget_meta"] == meta
    assert got["scriptget"] == {**meta, "source": got["scriptget"]["source"]}
    assert got["scriptget"]["source"].startswith("def scale(tensors: List[Tensor]")
    info = got["script_info"]
    assert {k: info[k] for k in ("key", "type", "backend", "device", "tag", "samples", "calls", "errors")} == {
        "key": "s", "type": "SCRIPT", "backend": "TORCH", "device": "CPU", "tag": "v2", "samples": -1, "calls": 1,
        "errors": 0}
    assert got["scriptscan"] == [["s", "v2"]]
    assert got["script_dag"] == ["OK", [[2.0, 4.0], [6.0, 8.0]]]
    assert got["scriptdel"] == "OK"
