"""PyTorch backend: TorchScript archives loaded from bytes with ``torch.jit.load`` (never pickle).

Inputs are ``forward``'s arguments; the output count comes from its return type (a tuple's size, else 1) and is
unknown (None) for a ``List[Tensor]`` return. The device, thread and tensor conversion helpers here are shared with
TorchScript scripts (:mod:`inferd.backends.torchscript`).
"""
from __future__ import annotations

import io
import threading
import warnings
from typing import Any

import numpy as np
import torch

from inferd import errors
from inferd.backends.base import LoadOptions, check_inputs, one_line
from inferd.errors import CommandError

_threads_lock = threading.Lock()
_threads_set = False


def version() -> str:
    """Torch's version."""
    return str(torch.__version__)


class TorchSession:
    """A TorchScript module; ``forward`` of a scripted module may be called from several threads."""

    def __init__(self, module: Any, device: torch.device) -> None:
        self.module = module
        self.device = device
        arguments = module.forward.schema.arguments[1:]   # skip self
        self.inputs = [a.name for a in arguments]
        self.outputs = _output_names(module.forward.schema.returns)

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Call ``forward``; outputs (a tensor, a tuple or a list of tensors) come back as numpy arrays."""
        check_inputs(self, inputs)
        try:
            with torch.inference_mode():
                result = self.module(*(to_torch(a, self.device) for a in inputs))
        except Exception as exc:
            raise torch_error(exc) from None
        items = list(result) if isinstance(result, (tuple, list)) else [result]
        if self.outputs is not None and len(items) != len(self.outputs):
            raise CommandError(errors.AI_OUTPUT_COUNT_FROM_MODEL)
        if not all(isinstance(t, torch.Tensor) for t in items):
            raise CommandError(errors.AI_OUTPUT_COUNT_FROM_MODEL)
        return [to_numpy(t) for t in items]


def _output_names(returns: Any) -> list[str] | None:
    if not returns:
        return []
    kind = returns[0].type
    if isinstance(kind, torch.TupleType):
        return [""] * len(kind.elements())
    if isinstance(kind, torch.ListType):
        return None
    return [""]


def to_torch(array: np.ndarray[Any, Any], device: torch.device, copy: bool = False) -> torch.Tensor:
    """A stored tensor's array as a torch tensor on ``device`` (a copy when ``copy``, or when it is read-only)."""
    if array.dtype.kind == "S":
        raise CommandError(errors.AI_STRING_INPUT_UNSUPPORTED.format("TORCH"))
    if copy or not array.flags.writeable:
        array = array.copy()   # torch.from_numpy warns on read-only buffers (tensors over received bytes)
    tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.to(device)


def to_numpy(tensor: torch.Tensor) -> np.ndarray[Any, Any]:
    """An output tensor as a C-contiguous numpy array on the CPU."""
    return tensor.detach().cpu().contiguous().numpy()


def torch_error(exc: Exception) -> CommandError:
    """A torch exception as an error reply: its text on one line (RedisAI passes torch's text through).

    The Python frames TorchScript appends after an error raised in Python code (``At:`` and file paths) are cut.
    """
    text = str(exc)
    frames = text.find("\n\nAt:\n")
    return CommandError(one_line(text if frames < 0 else text[:frames]) or type(exc).__name__)


def torch_device(options: LoadOptions) -> torch.device:
    """The torch device of ``options.device`` (``GPU:n`` -> ``cuda:n``); a GPU this machine lacks is an error.

    Also applies the thread options, once per process.
    """
    set_threads(options)
    gpu = options.gpu_index
    if gpu is not None and not (torch.cuda.is_available() and gpu < torch.cuda.device_count()):
        raise CommandError(errors.AI_DEVICE_UNAVAILABLE.format(options.device, "TORCH"))
    return torch.device("cpu") if gpu is None else torch.device("cuda", gpu)


def set_threads(options: LoadOptions) -> None:
    """Torch's thread pools are process-wide: apply the options once."""
    global _threads_set
    with _threads_lock:
        if _threads_set:
            return
        _threads_set = True
        if options.intra_op_parallelism > 0:
            torch.set_num_threads(options.intra_op_parallelism)
        if options.inter_op_parallelism > 0:
            try:
                torch.set_num_interop_threads(options.inter_op_parallelism)
            except RuntimeError:
                pass   # only settable before torch's first parallel work


def load(blob: bytes, options: LoadOptions) -> TorchSession:
    """Load a TorchScript archive onto the model's device."""
    device = torch_device(options)
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript in favour of torch.export; RedisAI clients send TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(io.BytesIO(blob), map_location=device)
        module.eval()
    except Exception as exc:
        raise torch_error(exc) from None
    return TorchSession(module, device)
