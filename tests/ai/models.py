"""Builders for the test models: small, deterministic, built here (nothing downloaded).

Each builder returns the model's bytes as the backend expects them in AI.MODELSTORE. Frameworks are imported inside
the builders so that a test module only pays for what it uses.
"""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
import warnings
from typing import Any

import numpy as np

WEIGHTS = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
BIAS = np.array([0.5, -0.5], dtype=np.float32)


# ---- ONNX --------------------------------------------------------------------------------------------------
def _onnx_model(nodes: list[Any], inputs: list[Any], outputs: list[Any], initializers: list[Any] = ()) -> bytes:
    from onnx import helper
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def linear(x: np.ndarray) -> np.ndarray:
    """What :func:`onnx_linear` computes, in numpy."""
    return x @ WEIGHTS + BIAS


def onnx_linear() -> bytes:
    """y = x @ WEIGHTS + BIAS, x: float[N, 2] named ``x``, output ``y``."""
    from onnx import TensorProto, helper, numpy_helper
    return _onnx_model(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(WEIGHTS, "w"), numpy_helper.from_array(BIAS, "b")])


def onnx_two_inputs() -> bytes:
    """sum = a + b, prod = a * b (float[N, 2] each): two inputs, two outputs."""
    from onnx import TensorProto, helper
    spec = [None, 2]
    return _onnx_model(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, spec),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, spec)],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, spec),
         helper.make_tensor_value_info("prod", TensorProto.FLOAT, spec)])


def onnx_identity(elem_type: str = "INT64") -> bytes:
    """An identity over a tensor of any shape of ``elem_type`` (an onnx TensorProto type name)."""
    from onnx import TensorProto, helper
    kind = getattr(TensorProto, elem_type)
    return _onnx_model([helper.make_node("Identity", ["x"], ["y"])],
                       [helper.make_tensor_value_info("x", kind, None)],
                       [helper.make_tensor_value_info("y", kind, None)])


def onnx_big(n_floats: int) -> bytes:
    """y = x + w with a float[n] initializer (n_floats * 4 bytes of weights): the large-model test."""
    from onnx import TensorProto, helper, numpy_helper
    w = np.arange(n_floats, dtype=np.float32)
    return _onnx_model([helper.make_node("Add", ["x", "w"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n_floats])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n_floats])],
                       [numpy_helper.from_array(w, "w")])


def onnx_external_data() -> bytes:
    """A model whose initializer points at an external file (must be refused)."""
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(WEIGHTS, "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    return _onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], [w])


def sklearn_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed regression/classification data set: X float32[40, 4], y_reg, y_cls."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y_reg = x @ np.array([1.5, -2.0, 0.5, 3.0], dtype=np.float32) + 1.0
    y_cls = (y_reg > 1.0).astype(np.int64)
    return x, y_reg, y_cls


def sklearn_linear_regression() -> tuple[bytes, Any]:
    """A fitted LinearRegression converted with skl2onnx (input ``float_input``, output ``variable``)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression
    x, y_reg, _ = sklearn_data()
    model = LinearRegression().fit(x, y_reg)
    return bytes(to_onnx(model, x[:1], target_opset=13).SerializeToString()), model


def sklearn_random_forest() -> tuple[bytes, Any]:
    """A fitted RandomForestClassifier (ONNX-ML TreeEnsembleClassifier), probabilities as a plain tensor."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    x, _, y_cls = sklearn_data()
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, y_cls)
    onx = to_onnx(model, x[:1], target_opset={"": 13, "ai.onnx.ml": 3}, options={"zipmap": False})
    return bytes(onx.SerializeToString()), model


# ---- TorchScript -------------------------------------------------------------------------------------------
def torch_two_inputs() -> bytes:
    """forward(a, b) -> a @ b + 1 (scripted)."""
    import torch

    class AddMul(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a @ b + 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript is deprecated in torch 2.13
        return _save_script(torch.jit.script(AddMul()))


def torch_tuple_outputs() -> bytes:
    """forward(x) -> (x * 2, x.sum(dim=1)) (traced): one input, two outputs."""
    import torch

    class Pair(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x * 2, x.sum(dim=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _save_script(torch.jit.trace(Pair(), torch.ones(2, 3)))


def torch_load(blob: bytes) -> Any:
    """Load a TorchScript archive in the test process (the reference for results)."""
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(io.BytesIO(blob))


def _save_script(module: Any) -> bytes:
    import torch
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    return buffer.getvalue()


# ---- TensorFlow / TFLite -----------------------------------------------------------------------------------
def _tf_function() -> Any:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"),
                                  tf.TensorSpec([None, 2], tf.float32, name="b")])
    def fn(a: Any, b: Any) -> Any:
        return {"c": tf.identity(tf.matmul(a, b) + 1.0, name="c")}

    return fn


def tf_graphdef() -> bytes:
    """A frozen GraphDef: inputs ``a``, ``b`` (float[N, 2]); output node ``c`` = a @ b + 1."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    frozen = convert_variables_to_constants_v2(_tf_function().get_concrete_function())
    return bytes(frozen.graph.as_graph_def().SerializeToString())


def tf_savedmodel_tar() -> bytes:
    """The same function saved as a SavedModel (signature inputs ``a``, ``b``; output ``c``), packed as a tar."""
    import tensorflow as tf
    module = tf.Module()
    module.fn = _tf_function()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model")
        tf.saved_model.save(module, path, signatures={"serving_default": module.fn})
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(path, arcname="model")
        return buffer.getvalue()


def tflite_model() -> bytes:
    """The same function converted to TFLite (inputs ``a``, ``b``)."""
    import tensorflow as tf
    fn = _tf_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    return bytes(converter.convert())


def add_one_body() -> Any:
    """A Loop body adding 1 to a float[N, 1] carried value per trip (the slow models' loop)."""
    from onnx import TensorProto, helper, numpy_helper
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")])


def onnx_slow(trips: int = 200_000_000) -> bytes:
    """y = x + trips, one Add per Loop iteration: takes far longer than a second on purpose (kill-switch tests)."""
    from onnx import TensorProto, helper, numpy_helper
    body = add_one_body()
    return _onnx_model(
        [helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(np.array(trips, dtype=np.int64), "trips"),
         numpy_helper.from_array(np.array(True), "cond")])
