"""Argument grammar of the model commands, checked strictly in RedisAI's order with its error texts.

MODELSTORE / MODELSET say what to load, MODELEXECUTE / MODELRUN what to run.

``parse_modelexecute``, ``parse_modelrun``, ``fetch_model`` and :class:`ModelRun` are shared with DAG ops; their
signatures are stable.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from inferd import errors
from inferd.backends.base import BACKENDS
from inferd.commands.args import parse_float, parse_int
from inferd.commands.tensors import fetch_typed
from inferd.errors import CommandError
from inferd.store.keyspace import Database
from inferd.store.model import Model

_DEVICE = re.compile(rb"(?i)(CPU|GPU)(:\d+)?")
_MODELSET_KEYWORDS = {b"INPUTS", b"OUTPUTS", b"TAG", b"BATCHSIZE", b"MINBATCHSIZE", b"MINBATCHTIMEOUT", b"BLOB"}


@dataclass(slots=True)
class ModelSpec:
    """A parsed MODELSTORE/MODELSET: everything needed to load and describe the model."""

    key: bytes
    backend: str
    device: str
    tag: bytes = b""
    batchsize: int = 0
    minbatchsize: int = 0
    minbatchtimeout: int = 0
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def blob(self) -> bytes:
        """The model bytes (the chunks concatenated; no copy for a single chunk)."""
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


class ModelRun:
    """A parsed MODELEXECUTE/MODELRUN: the model object (resolved now), its input and output names, the TIMEOUT.

    ``timeout_ms`` is 0 when no TIMEOUT was given.
    """

    # a plain class with its own __init__, one made per request: a dataclass's __init__ is interpreted Python even
    # where mypyc compiles the class
    __slots__ = ("model", "input_keys", "output_keys", "timeout_ms")

    def __init__(self, model: Model, input_keys: list[bytes], output_keys: list[bytes], timeout_ms: int = 0) -> None:
        self.model = model
        self.input_keys = input_keys
        self.output_keys = output_keys
        self.timeout_ms = timeout_ms


def fetch_model(db: Database, key: bytes) -> Model:
    """The model at ``key``: ``ERR model key is empty`` if missing, WRONGTYPE if the key holds something else."""
    return fetch_typed(db, key, Model, errors.AI_MODEL_EMPTY)


def parse_backend(raw: bytes) -> str:
    """TF, TFLITE, TORCH or ONNX (case-insensitive); ``ERR unsupported backend`` otherwise."""
    name = raw.decode("latin-1").upper()
    if name not in BACKENDS:
        raise CommandError(errors.AI_UNSUPPORTED_BACKEND)
    return name


def parse_device(raw: bytes) -> str:
    """``CPU``, ``GPU``, ``CPU:n`` or ``GPU:n`` (case-insensitive, shorter than 10 characters), kept as typed."""
    if len(raw) >= 10 or _DEVICE.fullmatch(raw) is None:
        raise CommandError(errors.AI_INVALID_DEVICE)
    return raw.decode("ascii")


def _count_option(raw: bytes, message: str) -> int:
    """A non-negative integer as RedisAI's ArgsCursor reads it (``2.0`` is accepted)."""
    try:
        value = parse_int(raw, message)
    except CommandError:
        number = parse_float(raw, message)
        if not number.is_integer() or math.isinf(number):
            raise
        value = int(number)
    if value < 0:
        raise CommandError(message)
    return value


def parse_modelstore(argv: list[bytes]) -> ModelSpec:
    """Parse AI.MODELSTORE in RedisAI's order.

    ``key backend device [TAG t] [BATCHSIZE n [MINBATCHSIZE m [MINBATCHTIMEOUT ms]]] [INPUTS n name... OUTPUTS n
    name...] BLOB chunk...``
    """
    spec = ModelSpec(argv[1], parse_backend(argv[2]), parse_device(argv[3]))
    n = len(argv)
    i = _parse_batching(argv, 4, spec)
    if i >= n:
        raise CommandError(errors.AI_MISSING_BLOB)
    if spec.backend == "TF":
        spec.inputs, i = _counted_names(argv, i, b"INPUTS", errors.AI_TF_INPUTS_MISSING, errors.AI_BAD_INPUT_COUNT,
                                        errors.AI_MODEL_INPUT_NAMES)
        spec.outputs, i = _counted_names(argv, i, b"OUTPUTS", errors.AI_TF_OUTPUTS_MISSING,
                                         errors.AI_BAD_OUTPUT_COUNT, errors.AI_MODEL_OUTPUT_NAMES)
    elif argv[i].upper() == b"INPUTS":
        raise CommandError(errors.AI_INPUTS_NOT_FOR_BACKEND)
    if i >= n or argv[i].upper() != b"BLOB":
        raise CommandError(errors.AI_EXPECTED_BLOB if i < n else errors.AI_MISSING_BLOB)
    spec.chunks = argv[i + 1:]
    if not spec.chunks:
        raise CommandError(errors.AI_MISSING_BLOB)
    return spec


def _parse_batching(argv: list[bytes], i: int, spec: ModelSpec) -> int:
    """TAG, then BATCHSIZE [MINBATCHSIZE [MINBATCHTIMEOUT]] (nested, strictly ordered); returns the next index."""
    n = len(argv)
    if i + 1 < n and argv[i].upper() == b"TAG":
        spec.tag, i = argv[i + 1], i + 2
    if i + 1 < n and argv[i].upper() == b"BATCHSIZE":
        spec.batchsize, i = _count_option(argv[i + 1], errors.AI_BAD_BATCHSIZE), i + 2
        if i + 1 < n and argv[i].upper() == b"MINBATCHSIZE":
            spec.minbatchsize, i = _count_option(argv[i + 1], errors.AI_BAD_MINBATCHSIZE), i + 2
            if spec.minbatchsize and not spec.batchsize:
                raise CommandError(errors.AI_MINBATCHSIZE_WITHOUT_BATCHSIZE)
            if i + 1 < n and argv[i].upper() == b"MINBATCHTIMEOUT":
                spec.minbatchtimeout, i = _count_option(argv[i + 1], errors.AI_BAD_MINBATCHTIMEOUT), i + 2
                if spec.minbatchtimeout and not spec.minbatchsize:
                    raise CommandError(errors.AI_MINBATCHTIMEOUT_WITHOUT_MINBATCHSIZE)
    return i


def _counted_names(argv: list[bytes], i: int, keyword: bytes, missing: str, bad_count: str,
                   too_few: str) -> tuple[list[str], int]:
    """``KEYWORD n name...`` for TF's INPUTS/OUTPUTS."""
    n = len(argv)
    if i >= n or argv[i].upper() != keyword:
        raise CommandError(missing)
    if i + 1 >= n:
        raise CommandError(bad_count)
    count = parse_int(argv[i + 1], bad_count)
    if count <= 0:
        raise CommandError(bad_count)
    start = i + 2
    if start + count > n:
        raise CommandError(too_few)
    return [a.decode("utf-8", "replace") for a in argv[start:start + count]], start + count


def parse_modelset(argv: list[bytes]) -> ModelSpec:
    """Parse the deprecated AI.MODELSET (names without counts; a looser device check).

    ``key backend device [TAG t] [BATCHSIZE n [MINBATCHSIZE m [MINBATCHTIMEOUT t]]] [INPUTS name... OUTPUTS
    name...] BLOB chunk...``
    """
    backend = parse_backend(argv[2])
    device = argv[3]
    if len(device) > 10 or device.upper() in _MODELSET_KEYWORDS:
        raise CommandError(errors.AI_INVALID_DEVICE)
    spec = ModelSpec(argv[1], backend, device.decode("utf-8", "replace"))
    i = _parse_modelset_options(argv, 4, spec)
    n = len(argv)
    if backend == "TF":
        i = _modelset_names(argv, i, spec)
    elif i < n and argv[i].upper() == b"INPUTS":
        raise CommandError(errors.AI_INPUTS_NOT_FOR_BACKEND)
    if i >= n or argv[i].upper() != b"BLOB" or i + 1 >= n:
        raise CommandError(errors.AI_MISSING_BLOB)
    spec.chunks = argv[i + 1:]
    return spec


def _parse_modelset_options(argv: list[bytes], i: int, spec: ModelSpec) -> int:
    n = len(argv)
    words = {b"TAG", b"BATCHSIZE", b"MINBATCHSIZE", b"MINBATCHTIMEOUT"}
    while i + 1 < n and argv[i].upper() in words:
        word, raw = argv[i].upper(), argv[i + 1]
        if word == b"TAG":
            spec.tag = raw
        elif word == b"BATCHSIZE":
            spec.batchsize = _count_option(raw, errors.AI_BAD_BATCHSIZE)
        elif word == b"MINBATCHSIZE":
            spec.minbatchsize = _count_option(raw, errors.AI_BAD_MINBATCHSIZE)
        else:
            spec.minbatchtimeout = _count_option(raw, errors.AI_BAD_MINBATCHTIMEOUT)
        i += 2
    if spec.backend == "TFLITE" and spec.batchsize:
        raise CommandError(errors.AI_TFLITE_NO_BATCHING)
    if spec.minbatchsize and not spec.batchsize:
        raise CommandError(errors.AI_MINBATCHSIZE_WITHOUT_BATCHSIZE)
    if spec.minbatchtimeout and not spec.batchsize:
        raise CommandError(errors.AI_MINBATCHTIMEOUT_WITHOUT_BATCHSIZE)
    if spec.minbatchtimeout and not spec.minbatchsize:
        raise CommandError(errors.AI_MINBATCHTIMEOUT_WITHOUT_MINBATCHSIZE)
    return i


def _modelset_names(argv: list[bytes], i: int, spec: ModelSpec) -> int:
    """MODELSET's TF ``INPUTS name... OUTPUTS name...`` (no counts), ending at BLOB."""
    n = len(argv)
    upper = [a.upper() for a in argv[i:]]
    if b"INPUTS" not in upper and b"OUTPUTS" not in upper:
        raise CommandError(errors.AI_TF_NO_INPUTS_OUTPUTS)
    if i >= n or argv[i].upper() != b"INPUTS":
        raise CommandError(errors.AI_INPUTS_NOT_SPECIFIED)
    i += 1
    while i < n and argv[i].upper() not in (b"OUTPUTS", b"BLOB"):
        spec.inputs.append(argv[i].decode("utf-8", "replace"))
        i += 1
    if i >= n or argv[i].upper() != b"OUTPUTS":
        raise CommandError(errors.AI_OUTPUTS_NOT_SPECIFIED)
    i += 1
    while i < n and argv[i].upper() != b"BLOB":
        spec.outputs.append(argv[i].decode("utf-8", "replace"))
        i += 1
    return i


# ---- MODELEXECUTE / MODELRUN --------------------------------------------------------------------------------
def _positive_count(raw: bytes, bad: str, not_positive: str) -> int:
    count = parse_int(raw, bad)
    if count <= 0:
        raise CommandError(not_positive)
    return count


def parse_modelexecute(db: Database, argv: list[bytes]) -> ModelRun:
    """``AI.MODELEXECUTE key INPUTS n in... OUTPUTS m out... [TIMEOUT ms]`` (argv[0] is the command name).

    Checks everything in RedisAI's order and resolves the model; input tensors are not fetched here (DAG ops read
    them from the DAG's own tensors).
    """
    n = len(argv)
    if n < 8:
        raise errors.wrong_arity("AI.MODELEXECUTE")
    model = fetch_model(db, argv[1])
    if argv[2].upper() != b"INPUTS":
        raise CommandError(errors.AI_INPUTS_NOT_SPECIFIED)
    n_in = _positive_count(argv[3], errors.AI_BAD_INPUT_COUNT, errors.AI_INPUT_COUNT_NOT_POSITIVE)
    if n_in != len(model.inputs):
        raise CommandError(errors.AI_INPUTS_VS_MODEL)
    if 4 + n_in > n:
        raise CommandError(errors.AI_INPUT_KEYS_VS_ARGS)
    inputs = argv[4:4 + n_in]
    i = 4 + n_in
    if i >= n or argv[i].upper() != b"OUTPUTS":
        raise CommandError(errors.AI_OUTPUTS_NOT_SPECIFIED)
    if i + 1 >= n:
        raise CommandError(errors.AI_BAD_OUTPUT_COUNT)
    n_out = _positive_count(argv[i + 1], errors.AI_BAD_OUTPUT_COUNT, errors.AI_OUTPUT_COUNT_NOT_POSITIVE)
    if model.outputs is not None and n_out != len(model.outputs):
        raise CommandError(errors.AI_OUTPUTS_VS_MODEL)
    if i + 2 + n_out > n:
        raise CommandError(errors.AI_OUTPUT_KEYS_VS_ARGS)
    outputs = argv[i + 2:i + 2 + n_out]
    timeout = _parse_timeout_tail(argv, i + 2 + n_out)
    return ModelRun(model, inputs, outputs, timeout)


def parse_timeout(raw: bytes) -> int:
    """A TIMEOUT value in ms (MODELEXECUTE, SCRIPTEXECUTE, their deprecated forms, DAGs): a positive integer."""
    timeout = parse_int(raw, errors.AI_TIMEOUT_INVALID)
    if timeout <= 0:
        raise CommandError(errors.AI_TIMEOUT_INVALID)
    return timeout


def _parse_timeout_tail(argv: list[bytes], i: int) -> int:
    timeout = 0
    n = len(argv)
    while i < n:
        if argv[i].upper() != b"TIMEOUT":
            raise CommandError(errors.AI_INVALID_ARGUMENT.format(argv[i].decode("utf-8", "replace")))
        if i + 1 >= n:
            raise CommandError(errors.AI_TIMEOUT_NO_VALUE)
        timeout = parse_timeout(argv[i + 1])
        i += 2
    return timeout


def parse_modelrun(db: Database, argv: list[bytes]) -> ModelRun:
    """Deprecated ``AI.MODELRUN key [TIMEOUT t] INPUTS in... OUTPUTS out...`` (names without counts)."""
    n = len(argv)
    if n < 6:
        raise errors.wrong_arity("AI.MODELRUN")
    model = fetch_model(db, argv[1])
    i, timeout = 2, 0
    if argv[i].upper() == b"TIMEOUT":
        timeout = parse_timeout(argv[i + 1])
        i += 2
    if argv[i].upper() != b"INPUTS":
        raise CommandError(errors.AI_INPUTS_NOT_SPECIFIED)
    upper = [a.upper() for a in argv]
    try:
        j = upper.index(b"OUTPUTS", i + 1)
    except ValueError:
        raise CommandError(errors.AI_OUTPUTS_NOT_SPECIFIED) from None
    inputs, outputs = argv[i + 1:j], argv[j + 1:]
    if len(inputs) != len(model.inputs):
        raise CommandError(errors.AI_INPUTS_VS_MODEL)
    if model.outputs is not None and len(outputs) != len(model.outputs):
        raise CommandError(errors.AI_OUTPUTS_VS_MODEL)
    if not outputs:
        raise CommandError(errors.AI_OUTPUTS_VS_MODEL)
    return ModelRun(model, inputs, outputs, timeout)
