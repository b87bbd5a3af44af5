"""The benchmark's ONNX models, built here with onnx.helper from fixed random weights (nothing is downloaded).

* fraud: the transaction-scoring model, shaped like RedisAI's aibench fraud benchmark: a 1x30 transaction and a
  1x256 reference (user profile) tensor, concatenated -> Dense 512 + ReLU -> Dense 512 + ReLU -> Dense 2 -> Softmax.
* dense: a compute-bound model for the batching benchmark: N x 512 -> DENSE_LAYERS x (Dense 512 + ReLU).

Both have a symbolic batch dimension, so inferd's scheduler can batch them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

TX_FLOATS = 30
REF_FLOATS = 256
HIDDEN = 512
DENSE_WIDTH = 512
DENSE_LAYERS = 4
OPSET = 13


def _dense(name: str, source: str, n_in: int, n_out: int, rng: np.random.Generator, relu: bool) -> tuple[list[Any],
                                                                                                          list[Any]]:
    from onnx import helper, numpy_helper
    weight = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
    bias = (rng.standard_normal(n_out) * 0.01).astype(np.float32)
    inits = [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
    nodes = [helper.make_node("Gemm", [source, f"{name}_w", f"{name}_b"], [f"{name}_out" if relu else name])]
    if relu:
        nodes.append(helper.make_node("Relu", [f"{name}_out"], [name]))
    return nodes, inits


def _serialize(nodes: list[Any], inits: list[Any], inputs: list[Any], outputs: list[Any], name: str) -> bytes:
    from onnx import checker, helper
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="inferd-bench")
    model.ir_version = 8  # readable by every onnxruntime this project supports
    checker.check_model(model)
    return bytes(model.SerializeToString())


def fraud_model(seed: int = 7, hidden: int = HIDDEN) -> bytes:
    """The transaction-scoring model (inputs ``transaction`` [N,30] and ``reference`` [N,256], output ``score``).

    ``hidden``: the width of its two hidden layers (smaller only for bench/scoring_cost.py's view of inferd's own cost).
    """
    from onnx import TensorProto, helper
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Concat", ["transaction", "reference"], ["features"], axis=1)]
    inits: list[Any] = []
    for name, source, n_in, n_out, relu in (("h1", "features", TX_FLOATS + REF_FLOATS, hidden, True),
                                            ("h2", "h1", hidden, hidden, True),
                                            ("logits", "h2", hidden, 2, False)):
        more_nodes, more_inits = _dense(name, source, n_in, n_out, rng, relu)
        nodes += more_nodes
        inits += more_inits
    nodes.append(helper.make_node("Softmax", ["logits"], ["score"], axis=1))
    inputs = [helper.make_tensor_value_info("transaction", TensorProto.FLOAT, ["N", TX_FLOATS]),
              helper.make_tensor_value_info("reference", TensorProto.FLOAT, ["N", REF_FLOATS])]
    outputs = [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 2])]
    return _serialize(nodes, inits, inputs, outputs, "fraud")


def dense_model(layers: int = DENSE_LAYERS, width: int = DENSE_WIDTH, seed: int = 11) -> bytes:
    """A compute-bound stack of ``layers`` dense ``width``x``width`` layers (input ``x``, output ``y``)."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    inits: list[Any] = []
    source = "x"
    for i in range(layers):
        name = "y" if i == layers - 1 else f"d{i}"
        more_nodes, more_inits = _dense(name, source, width, width, rng, relu=True)
        nodes += more_nodes
        inits += more_inits
        source = name
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])]
    return _serialize(nodes, inits, inputs, outputs, "dense")


def reference_blobs(users: int, seed: int = 3) -> np.ndarray:
    """``users`` x 256 float32 reference tensors (one user profile per row)."""
    return np.random.default_rng(seed).standard_normal((users, REF_FLOATS)).astype(np.float32)
