"""Each backend end to end: MODELSTORE, MODELGET META/BLOB, MODELEXECUTE results checked against numpy or the
framework itself, backend error texts; scikit-learn models through ONNX-ML operators; lazy imports."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from tests.ai import models
from tests.ai.conftest import error_of, get_tensor, set_tensor

A = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
B = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)


# ---- TORCH -------------------------------------------------------------------------------------------------
def test_torch_store_get_execute(r, torch_two_inputs):
    assert r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "BLOB", torch_two_inputs) == b"OK"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[:2] == [b"backend", b"TORCH"] and meta[11] == [b"a", b"b"] and meta[13] == [b""]
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == torch_two_inputs
    set_tensor(r, "a", A)
    set_tensor(r, "b", B)
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == b"OK"
    np.testing.assert_allclose(get_tensor(r, "c"), A @ B + 1, rtol=1e-6)


def test_torch_tuple_outputs_match_the_framework(r, torch_tuple_outputs):
    import torch
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "cpu", "BLOB", torch_tuple_outputs)
    assert r.execute_command("AI.MODELGET", "m", "META")[13] == [b"", b""]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    set_tensor(r, "x", x)
    r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2, "double", "sum")
    expected = models.torch_load(torch_tuple_outputs)(torch.from_numpy(x))
    np.testing.assert_array_equal(get_tensor(r, "double"), expected[0].numpy())
    np.testing.assert_array_equal(get_tensor(r, "sum"), expected[1].numpy())
    assert error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == \
        "Number of keys given as OUTPUTS here does not match model definition"


def test_torch_errors(r, torch_two_inputs):
    text = error_of(r, "AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"not a torchscript archive")
    assert text and "\n" not in text
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_two_inputs)
    set_tensor(r, "a", A)
    set_tensor(r, "bad", np.ones((3, 3), dtype=np.float32))
    text = error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "bad", "OUTPUTS", 1, "c")
    assert "\n" not in text and text
    info = r.execute_command("AI.INFO", "m")
    assert info[14:] == [b"calls", 1, b"errors", 1]


# ---- TF ----------------------------------------------------------------------------------------------------
def test_tf_graphdef_store_get_execute(r, tf_graphdef):
    assert r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c",
                             "BLOB", tf_graphdef) == b"OK"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[:2] == [b"backend", b"TF"] and meta[11] == [b"a", b"b"] and meta[13] == [b"c"]
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == tf_graphdef
    set_tensor(r, "a", A)
    set_tensor(r, "b", B)
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == b"OK"
    np.testing.assert_allclose(get_tensor(r, "c"), A @ B + 1, rtol=1e-6)


def test_tf_errors(r, tf_graphdef):
    assert error_of(r, "AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "c",
                    "BLOB", b"\xff\xff garbage") == "Invalid GraphDef"
    assert error_of(r, "AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "x", "OUTPUTS", 1, "c",
                    "BLOB", tf_graphdef) == 'Input node named "x" not found in TF graph.'
    assert error_of(r, "AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "y",
                    "BLOB", tf_graphdef) == 'Output node named "y" not found in TF graph'
    r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "BLOB", tf_graphdef)
    set_tensor(r, "a", A)
    set_tensor(r, "b3", np.ones((3, 3), dtype=np.float32))
    text = error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b3", "OUTPUTS", 1, "c")
    assert text and "\n" not in text
    assert r.exists("c") == 0


def test_tf_savedmodel_archive_extension(r):
    blob = models.tf_savedmodel_tar()
    assert r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 2, "b", "a", "OUTPUTS", 1, "c",
                             "BLOB", blob) == b"OK"
    set_tensor(r, "a", A)
    set_tensor(r, "b", B)
    r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "b", "a", "OUTPUTS", 1, "c")   # INPUTS order is ours
    np.testing.assert_allclose(get_tensor(r, "c"), A @ B + 1, rtol=1e-6)
    assert error_of(r, "AI.MODELSTORE", "m2", "TF", "CPU", "INPUTS", 1, "zz", "OUTPUTS", 1, "c", "BLOB", blob) == \
        'Input node named "zz" not found in TF graph.'


# ---- TFLITE ------------------------------------------------------------------------------------------------
def test_tflite_store_get_execute(r, tflite_model):
    assert r.execute_command("AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", tflite_model) == b"OK"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[:2] == [b"backend", b"TFLITE"] and meta[11] == [b"a", b"b"] and len(meta[13]) == 1
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == tflite_model
    for rows in (2, 3):   # a new batch size resizes the interpreter's inputs
        a = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
        set_tensor(r, "a", a)
        set_tensor(r, "b", B)
        assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == b"OK"
        np.testing.assert_allclose(get_tensor(r, "c"), a @ B + 1, rtol=1e-6)


def test_tflite_errors(r, tflite_model):
    assert error_of(r, "AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", b"garbage") == \
        "Failed to load model from buffer"
    r.execute_command("AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", tflite_model)
    set_tensor(r, "a", A.astype(np.float64), "DOUBLE")
    set_tensor(r, "b", B)
    assert error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == \
        "Input tensor type doesn't match the type expected by the model definition"


# ---- classic ML through ONNX-ML ----------------------------------------------------------------------------
def test_sklearn_linear_regression(r):
    blob, model = models.sklearn_linear_regression()
    r.execute_command("AI.MODELSTORE", "lr", "ONNX", "CPU", "BLOB", blob)
    meta = r.execute_command("AI.MODELGET", "lr", "META")
    assert meta[11] == [b"X"] or meta[11] == [b"float_input"]
    x, _, _ = models.sklearn_data()
    set_tensor(r, "x", x)
    r.execute_command("AI.MODELEXECUTE", "lr", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    np.testing.assert_allclose(get_tensor(r, "y").ravel(), model.predict(x), rtol=1e-4, atol=1e-4)


def test_sklearn_random_forest(r):
    blob, model = models.sklearn_random_forest()
    r.execute_command("AI.MODELSTORE", "rf", "ONNX", "CPU", "BLOB", blob)
    x, _, _ = models.sklearn_data()
    set_tensor(r, "x", x)
    r.execute_command("AI.MODELEXECUTE", "rf", "INPUTS", 1, "x", "OUTPUTS", 2, "label", "proba")
    np.testing.assert_array_equal(get_tensor(r, "label", np.int64), model.predict(x))
    np.testing.assert_allclose(get_tensor(r, "proba"), model.predict_proba(x), atol=1e-5)


# ---- lazy imports ------------------------------------------------------------------------------------------
def test_import_inferd_does_not_import_torch_or_tensorflow():
    code = ("import sys, inferd, inferd.server, inferd.commands, inferd.backends, inferd.commands.models; "
            "from inferd.commands import build_table; build_table(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_missing_framework_disables_only_its_backend(tmp_path):
    """With torch made unimportable, TORCH reports a clear error while ONNX still loads."""
    (tmp_path / "torch.py").write_text("raise ImportError('No module named torch', name='torch')\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "from inferd.backends.base import backend_module\n"
            "from inferd.errors import CommandError\n"
            "try:\n    backend_module('TORCH')\nexcept CommandError as e:\n    print(e.text)\n"
            "print(backend_module('ONNX').version() != '')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.splitlines() == ["ERR Could not load backend TORCH: torch is not installed", "True"]
