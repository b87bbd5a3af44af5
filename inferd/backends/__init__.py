"""Inference backends (ONNX Runtime, TorchScript, TensorFlow, TFLite) behind one interface, imported lazily by name.

See :mod:`inferd.backends.base` for the interface and the registry; ``import inferd`` never imports torch or
tensorflow.
"""
from __future__ import annotations

from inferd.backends.base import BACKENDS, Backend, LoadOptions, Session, backend_module, load_session

__all__ = ["BACKENDS", "Backend", "LoadOptions", "Session", "backend_module", "load_session"]
