"""TFLite backend: the TFLite interpreter over the model bytes (``ai_edge_litert`` when installed, else TF's).

An interpreter holds mutable input/output buffers, so each model serialises its calls with a lock.
"""
from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from inferd import errors
from inferd.backends.base import LoadOptions, check_inputs, one_line
from inferd.errors import CommandError

try:  # the maintained LiteRT package, when present
    from ai_edge_litert.interpreter import Interpreter as _Interpreter
    _VERSION_MODULE = "ai_edge_litert"
except ImportError:
    import tensorflow as tf
    _Interpreter = tf.lite.Interpreter
    _VERSION_MODULE = "tensorflow"


def version() -> str:
    """The interpreter package's version."""
    import importlib.metadata
    for dist in (_VERSION_MODULE, "tensorflow-cpu", "ai-edge-litert"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


class TFLiteSession:
    """One interpreter; a lock per model because set_tensor/invoke/get_tensor share its buffers."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.lock = threading.Lock()
        self._inputs = interpreter.get_input_details()
        self._outputs = interpreter.get_output_details()
        self.inputs = [d["name"] for d in self._inputs]
        self.outputs: list[str] | None = [d["name"] for d in self._outputs]

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Resize inputs when their shapes change, invoke, copy the outputs out."""
        check_inputs(self, inputs)
        for detail, array in zip(self._inputs, inputs, strict=True):
            if np.dtype(detail["dtype"]) != array.dtype:
                raise CommandError(errors.AI_TFLITE_INPUT_TYPE)
        with self.lock:
            try:
                return self._invoke(inputs)
            except CommandError:
                raise
            except Exception as exc:
                raise CommandError(one_line(str(exc)) or type(exc).__name__) from None

    def _invoke(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        interp = self.interpreter
        resized = False
        for detail, array in zip(self._inputs, inputs, strict=True):
            current = interp.get_input_details()[self._inputs.index(detail)]["shape"]
            if tuple(current) != array.shape:
                interp.resize_tensor_input(detail["index"], list(array.shape))
                resized = True
        if resized:
            interp.allocate_tensors()
        for detail, array in zip(self._inputs, inputs, strict=True):
            interp.set_tensor(detail["index"], array)
        interp.invoke()
        return [np.array(interp.get_tensor(d["index"])) for d in self._outputs]


def load(blob: bytes, options: LoadOptions) -> TFLiteSession:
    """Build and allocate an interpreter from the model bytes."""
    if options.gpu_index is not None:
        raise CommandError(errors.AI_DEVICE_UNAVAILABLE.format(options.device, "TFLITE"))
    threads = options.intra_op_parallelism or None
    try:
        with warnings.catch_warnings():
            # TF's own interpreter warns that it moved to ai_edge_litert; loading is rare and the text is noise
            warnings.simplefilter("ignore", UserWarning)
            interpreter = _Interpreter(model_content=bytes(blob), num_threads=threads)
        interpreter.allocate_tensors()
    except Exception:
        raise CommandError(errors.AI_TFLITE_LOAD) from None
    return TFLiteSession(interpreter)
