"""TorchScript scripts (AI.SCRIPTSTORE / AI.SCRIPTEXECUTE): source compiled with ``torch.jit.CompilationUnit``.

An entry point must have the signature ``def f(tensors: List[Tensor], keys: List[str], args: List[str])`` and is
called that way. Any other function of the script (every function of a script stored with the deprecated
AI.SCRIPTSET) is called "best effort": its ``Tensor`` parameters take the input tensors in order and a trailing
``List[Tensor]`` parameter takes the rest. A function returns a Tensor, a list or a tuple of tensors; outputs come
back as C-contiguous numpy arrays on the CPU.

RedisAI's script extensions (``redis.execute``, ``redisAI.model_execute``) are not provided: TorchScript reports
their names as undefined values when the script is compiled.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from inferd import errors
from inferd.backends.base import LoadOptions
from inferd.backends.torch import to_numpy, to_torch, torch_device, torch_error
from inferd.errors import CommandError

ENTRY_POINT_ARITY = 3


def _entry_point_types() -> list[Any]:
    return [torch.ListType.ofTensors(), torch.ListType.ofStrings(), torch.ListType.ofStrings()]


class ScriptProgram:
    """A compiled script on its device; its functions may be called from several worker threads at once."""

    def __init__(self, unit: Any, device: torch.device) -> None:
        self.unit = unit
        self.device = device

    def check_entry_point(self, name: str) -> None:
        """AI.SCRIPTSTORE's check of one entry point: it exists and takes ``(tensors, keys, args)``."""
        function = self.unit.find_function(name)
        if function is None:
            raise CommandError(errors.AI_SCRIPT_NO_FUNCTION.format(name))
        arguments = function.schema.arguments
        if len(arguments) != ENTRY_POINT_ARITY:
            raise CommandError(errors.AI_SCRIPT_ENTRY_ARITY.format(name, len(arguments)))
        if [a.type for a in arguments] != _entry_point_types():
            raise CommandError(errors.AI_SCRIPT_ENTRY_TYPES.format(name, name))

    def call(self, name: str, entry_point: bool, inputs: list[np.ndarray[Any, Any]], keys: list[str],
             args: list[str], n_outputs: int) -> tuple[list[np.ndarray[Any, Any]], int]:
        """Run function ``name``; returns its outputs (none when ``n_outputs`` is 0) and the call's time in µs.

        Inputs are copied, so a script that changes its tensors in place never changes the stored ones.
        """
        function = self.unit.find_function(name)
        if function is None:
            raise CommandError(errors.AI_SCRIPT_FUNCTION_MISSING.format(name))
        tensors = [to_torch(array, self.device, copy=True) for array in inputs]
        arguments = (tensors, keys, args) if entry_point else _bind_positional(name, function, tensors)
        started = time.perf_counter_ns()
        try:
            with torch.inference_mode():
                result = function(*arguments)
        except Exception as exc:
            raise torch_error(exc) from None
        duration_us = (time.perf_counter_ns() - started) // 1000
        if n_outputs == 0:
            return [], duration_us   # no OUTPUTS: whatever the function returns is dropped
        return _outputs(name, result, n_outputs), duration_us


def _bind_positional(name: str, function: Any, tensors: list[torch.Tensor]) -> list[Any]:
    """The arguments of a function that is not an entry point: Tensor parameters, then an optional List[Tensor]."""
    arguments = function.schema.arguments
    tensor_type, list_type = torch.TensorType.get(), torch.ListType.ofTensors()
    bound: list[Any] = []
    for position, argument in enumerate(arguments):
        if argument.type == tensor_type:
            if len(bound) >= len(tensors):
                raise CommandError(errors.AI_SCRIPT_POSITIONAL_COUNT.format(name))
            bound.append(tensors[len(bound)])
        elif argument.type == list_type and position == len(arguments) - 1:
            bound.append(tensors[len(bound):])
            return bound
        else:
            raise CommandError(errors.AI_SCRIPT_POSITIONAL_TYPE.format(name))
    if len(bound) != len(tensors):
        raise CommandError(errors.AI_SCRIPT_POSITIONAL_COUNT.format(name))
    return bound


def _outputs(name: str, result: Any, n_outputs: int) -> list[np.ndarray[Any, Any]]:
    """A Tensor, or a list or tuple of tensors, flattened; the count must be what OUTPUTS named."""
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    if not all(isinstance(item, torch.Tensor) for item in items):
        raise CommandError(errors.AI_SCRIPT_NON_TENSOR.format(name))
    if len(items) != n_outputs:
        raise CommandError(errors.AI_SCRIPT_OUTPUT_COUNT.format(name))
    try:
        return [to_numpy(item) for item in items]
    except Exception as exc:  # a dtype numpy cannot hold (bfloat16)
        raise torch_error(exc) from None


def compile_script(source: str, entry_points: list[str], options: LoadOptions) -> ScriptProgram:
    """Compile ``source`` for ``options.device`` and check every entry point's signature (torch's text on errors)."""
    device = torch_device(options)
    try:
        unit = torch.jit.CompilationUnit(source)
    except Exception as exc:
        raise torch_error(exc) from None
    program = ScriptProgram(unit, device)
    for name in entry_points:
        program.check_entry_point(name)
    return program


def version() -> str:
    """Torch's version."""
    return str(torch.__version__)
