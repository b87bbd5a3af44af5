"""TorchScript scripts (AI.SCRIPTSTORE / AI.SCRIPTEXECUTE): source compiled with ``torch.jit.CompilationUnit``.

An entry point must have the signature ``def f(tensors: List[Tensor], keys: List[str], args: List[str])`` and is
called that way. Any other function of the script (every function of a script stored with the deprecated
AI.SCRIPTSET) is called "best effort": its ``Tensor`` parameters take the input tensors in order and a trailing
``List[Tensor]`` parameter takes the rest. A function returns a Tensor, a list or a tuple of tensors; outputs come
back as C-contiguous numpy arrays on the CPU.

Names in a script resolve to ``torch``, Python's builtins and RedisAI's script extensions:

* ``redis.execute(cmd, *args)`` (up to :data:`MAX_EXECUTE_ARGS` arguments, each a str, int, float or a list of
  them) runs a command on the keyspace and returns its reply as ``Any``: nil as None, strings as str, integers as
  int, arrays as a tuple that ``redis.asList(v)`` turns into ``List[Any]``; an error reply raises
  ``Redis command returned an error: <text>``.
* ``redisAI.model_execute(key, inputs, num_outputs)`` runs a stored model on ``inputs`` in the script's own worker
  thread (no batching) and returns ``List[Tensor]``.

Both reach the server through the :class:`ScriptHost` the caller passes to :meth:`ScriptProgram.call`.
"""
from __future__ import annotations

import builtins
import threading
import time
import types
import typing
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from inferd import errors
from inferd.backends.base import LoadOptions
from inferd.backends.torch import to_numpy, to_torch, torch_device, torch_error
from inferd.errors import CommandError

ENTRY_POINT_ARITY = 3
MAX_EXECUTE_ARGS = 16      # redis.execute's positional arguments after the command name
_running = threading.local()   # the host and device of the script call running on this thread


class ScriptHost(Protocol):
    """What a running script's extensions reach; called from the worker thread that runs the script."""

    def execute(self, argv: list[bytes]) -> Any:
        """Run one command; its reply as str / int / None / tuples of them; raise RuntimeError for an error reply."""
        ...

    def model_execute(self, key: str, inputs: list[np.ndarray[Any, Any]], num_outputs: int
                      ) -> list[np.ndarray[Any, Any]]:
        """Run the model at ``key`` now, in this thread; raise RuntimeError with the error text on failure."""
        ...


def _host() -> ScriptHost:
    host: ScriptHost | None = getattr(_running, "host", None)
    if host is None:
        raise RuntimeError("redis and redisAI calls are only available while inferd runs the script")
    return host


def _called_from_torchscript(function: Callable[..., Any]) -> Any:
    """A Python function that TorchScript code calls (``torch.jit.ignore``), its annotations evaluated.

    TorchScript cannot read this module's postponed (string) annotations.
    """
    function.__annotations__ = typing.get_type_hints(function)
    return torch.jit.ignore(function)


def _append_argument(argv: list[bytes], value: Any) -> None:
    if value is None:   # an argument not given (the helper passes every optional one)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _append_argument(argv, item)
    elif isinstance(value, str):
        argv.append(value.encode())
    elif isinstance(value, (bool, int, float)):
        argv.append(str(int(value) if isinstance(value, bool) else value).encode())
    else:
        raise RuntimeError(f"redis.execute arguments must be str, int or float, not {type(value).__name__}")


@_called_from_torchscript
def _redis_execute(cmd: str, args: list[Any]) -> Any:
    argv = [cmd.encode()]
    _append_argument(argv, args)
    return _host().execute(argv)


@_called_from_torchscript
def _redis_as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise RuntimeError("redis.asList expects an array reply")


@_called_from_torchscript
def _model_execute(key: str, inputs: list[torch.Tensor], num_outputs: int) -> list[torch.Tensor]:
    outputs = _host().model_execute(key, [to_numpy(t) for t in inputs], num_outputs)
    return [to_torch(array, _running.device) for array in outputs]


def _resolver(names: dict[str, Any]) -> Callable[[str], Any]:
    """A TorchScript resolution callback: ``names``, then Python's builtins (RuntimeError, ...)."""
    return lambda name: names[name] if name in names else getattr(builtins, name, None)


def _extensions() -> dict[str, Any]:
    """The ``torch``, ``redis`` and ``redisAI`` names a script sees.

    ``redis.execute`` is a TorchScript function of optional ``Any`` arguments, since TorchScript has no ``*args``.
    """
    optional = ", ".join(f"a{i}: Any = None" for i in range(MAX_EXECUTE_ARGS))
    passed = ", ".join(f"a{i}" for i in range(MAX_EXECUTE_ARGS))
    helper = torch.jit.CompilationUnit()
    helper.define(f"def execute(cmd: str, {optional}) -> Any:\n    return _redis_execute(cmd, [{passed}])\n",
                  _resolver({"_redis_execute": _redis_execute}))
    redis = types.ModuleType("redis")
    redis.execute = helper.find_function("execute")   # type: ignore[attr-defined]
    redis.asList = _redis_as_list                      # type: ignore[attr-defined]
    redis_ai = types.ModuleType("redisAI")
    redis_ai.model_execute = _model_execute            # type: ignore[attr-defined]
    return {"torch": torch, "redis": redis, "redisAI": redis_ai}


_NAMES = _extensions()


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
             args: list[str], n_outputs: int, host: ScriptHost | None = None) -> tuple[list[np.ndarray[Any, Any]], int]:
        """Run function ``name``; returns its outputs (none when ``n_outputs`` is 0) and the call's time in µs.

        Inputs are copied, so a script that changes its tensors in place never changes the stored ones. ``host``
        serves the script's ``redis`` and ``redisAI`` calls.
        """
        function = self.unit.find_function(name)
        if function is None:
            raise CommandError(errors.AI_SCRIPT_FUNCTION_MISSING.format(name))
        tensors = [to_torch(array, self.device, copy=True) for array in inputs]
        arguments = (tensors, keys, args) if entry_point else _bind_positional(name, function, tensors)
        started = time.perf_counter_ns()
        _running.host, _running.device = host, self.device
        try:
            with torch.inference_mode():
                result = function(*arguments)
        except Exception as exc:
            raise torch_error(exc) from None
        finally:
            _running.host = None
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
        unit = torch.jit.CompilationUnit()
        unit.define(source, _resolver(_NAMES))
    except Exception as exc:
        raise torch_error(exc) from None
    program = ScriptProgram(unit, device)
    for name in entry_points:
        program.check_entry_point(name)
    return program


def version() -> str:
    """Torch's version."""
    return str(torch.__version__)
