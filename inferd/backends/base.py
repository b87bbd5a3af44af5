"""The backend interface and the registry mapping RedisAI backend names to the modules that implement them.

A backend module exposes ``load(blob, options) -> Session`` and ``version() -> str``. Modules are imported on first
use (``backend_module``), so a missing framework only disables its own backend, with a clear error.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from inferd import errors
from inferd.errors import CommandError

# RedisAI backend name -> (module implementing it, the framework package it needs)
BACKENDS: dict[str, tuple[str, str]] = {
    "TF": ("inferd.backends.tensorflow", "tensorflow"),
    "TFLITE": ("inferd.backends.tflite", "tensorflow"),
    "TORCH": ("inferd.backends.torch", "torch"),
    "ONNX": ("inferd.backends.onnx", "onnxruntime"),
}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What a backend needs besides the blob: device as typed, TF's node names, thread options."""

    device: str = "CPU"
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0
    intra_op_spin_us: int = 0         # ONNX only: how long idle intra-op pool threads spin before sleeping
    light_load_spin_us: int = 0       # ONNX only: the same for the second session of light-load runs (0: none)
    light_load_max_bytes: int = 0     # ONNX only: the largest blob that gets that second session
    light_load_intra_op_parallelism: int = 0   # ONNX only: that session's intra-op threads (0: intra_op_parallelism)
    execution_timeout_ms: int = 0     # ONNX only: runs longer than this are stopped (0: no limit)
    run_thread: bool = False          # ONNX only: a session for the queue's native thread (onnx-run-thread)

    @property
    def gpu_index(self) -> int | None:
        """The GPU ordinal for ``GPU``/``GPU:n`` devices, None for CPU devices."""
        name = self.device.upper()
        if not name.startswith("GPU"):
            return None
        _, _, index = name.partition(":")
        return int(index) if index.isdigit() else 0


class Session(Protocol):
    """A loaded model: its input/output names and a thread-safe ``run``.

    ``outputs`` may be None when the backend cannot know the count before running (a TorchScript ``List[Tensor]``).
    """

    inputs: list[str]
    outputs: list[str] | None

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Run the model on ``inputs`` (in ``inputs`` order); return the outputs in order."""
        ...

    # A session may also define ``run_light(inputs)``, used for a lightly loaded queue's runs (see the ONNX backend).


class Backend(Protocol):
    """What every backend module provides."""

    def load(self, blob: bytes, options: LoadOptions) -> Session:
        """Build a session from the model bytes; raise CommandError with the backend's text on failure."""
        ...

    def version(self) -> str:
        """The framework's version."""
        ...


def backend_module(name: str) -> Backend:
    """The module for backend ``name`` (already upper-case), imported now if needed."""
    module_name, package = BACKENDS[name]
    return import_framework_module(name, module_name, package)  # type: ignore[return-value]


def import_framework_module(name: str, module_name: str, package: str) -> ModuleType:
    """Import ``module_name`` (which needs the framework ``package``); a missing framework is a clear error.

    ``name`` is the backend the error names (``TORCH`` for models and for TorchScript scripts alike).
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        detail = f"{package} is not installed" if exc.name in (package, None) or package in str(exc) else str(exc)
        raise CommandError(errors.AI_COULD_NOT_LOAD_BACKEND.format(name, detail)) from None


def load_session(backend: str, blob: bytes, options: LoadOptions) -> Session:
    """Load ``blob`` with ``backend``; every backend exception becomes a one-line CommandError."""
    module = backend_module(backend)
    try:
        return module.load(blob, options)
    except CommandError:
        raise
    except Exception as exc:  # a framework error that the backend did not translate
        raise CommandError(one_line(str(exc)) or type(exc).__name__) from None


def one_line(text: str) -> str:
    """A backend message fit for an error reply: newlines become spaces, as RedisAI does (``RAI_Chomp``)."""
    return text.replace("\r", " ").replace("\n", " ").strip()


def check_inputs(session: Session, inputs: list[np.ndarray[Any, Any]]) -> None:
    """Defensive count check before a backend call (MODELEXECUTE already checked it against the model)."""
    if len(inputs) != len(session.inputs):
        raise CommandError(errors.AI_INPUTS_VS_MODEL)
