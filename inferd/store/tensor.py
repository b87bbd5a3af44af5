"""The tensor value type: a numpy array plus RedisAI's dtype table and the BLOB / VALUES codecs.

A pure data module (no server state), safe to use from worker threads. Arrays built from a BLOB are read-only views
over the received bytes (zero-copy); TENSORGET BLOB replies with a memoryview of the array's buffer.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferd import errors
from inferd.commands.args import parse_float, parse_int
from inferd.errors import CommandError

_INT64_MAX = (1 << 63) - 1
SMALL_BLOB = 4096   # bytes up to which a BLOB reply is a copy (bytes) rather than a zero-copy view


@dataclass(frozen=True, slots=True)
class DType:
    """One tensor element type: its RedisAI name and numpy dtype (little-endian, as RedisAI blobs are)."""

    name: str
    numpy: np.dtype[Any]
    kind: str          # "float", "int", "bool" or "string"
    extension: bool = False


def _dt(name: str, np_type: str, kind: str, extension: bool = False) -> DType:
    return DType(name, np.dtype(np_type), kind, extension)


# RedisAI's dtypes, then inferd's documented extensions (FLOAT16, UINT32, UINT64).
DTYPES: dict[str, DType] = {d.name: d for d in (
    _dt("FLOAT", "<f4", "float"), _dt("DOUBLE", "<f8", "float"),
    _dt("INT8", "i1", "int"), _dt("INT16", "<i2", "int"), _dt("INT32", "<i4", "int"), _dt("INT64", "<i8", "int"),
    _dt("UINT8", "u1", "int"), _dt("UINT16", "<u2", "int"), _dt("BOOL", "?", "bool"), _dt("STRING", "S", "string"),
    _dt("FLOAT16", "<f2", "float", True), _dt("UINT32", "<u4", "int", True), _dt("UINT64", "<u8", "int", True),
)}
DTYPES_BY_NAME: dict[bytes, DType] = {}
for _d in DTYPES.values():
    DTYPES_BY_NAME[_d.name.encode()] = DTYPES_BY_NAME[_d.name.lower().encode()] = _d
_EXACT: dict[np.dtype[Any], DType] = {d.numpy: d for d in DTYPES.values() if d.kind != "string"}
_BY_NUMPY: dict[tuple[str, int], DType] = {(d.numpy.kind, d.numpy.itemsize): d for d in DTYPES.values()
                                           if d.kind != "string"}


def dtype_of(raw: bytes) -> DType:
    """The dtype named ``raw`` (case-insensitive); ``ERR invalid data type`` otherwise."""
    found = DTYPES_BY_NAME.get(raw) or DTYPES_BY_NAME.get(raw.upper())
    if found is None:
        raise CommandError(errors.AI_INVALID_DTYPE)
    return found


def dtype_for_array(array: np.ndarray[Any, Any]) -> DType:
    """The tensor dtype of a numpy array (backend outputs); an error for types RedisAI tensors cannot hold."""
    kind = array.dtype.kind
    if kind in "SUO":
        return DTYPES["STRING"]
    found = _BY_NUMPY.get((kind, array.dtype.itemsize))
    if found is None:
        raise CommandError(errors.AI_UNSUPPORTED_OUTPUT_TYPE.format(array.dtype))
    return found


class Tensor:
    """A tensor value (``TYPE`` reports ``AI_TENSOR``); immutable once stored."""

    redis_type = "AI_TENSOR"
    __slots__ = ("array", "dtype")

    def __init__(self, array: np.ndarray[Any, Any], dtype: DType) -> None:
        self.array = array
        self.dtype = dtype

    @classmethod
    def from_array(cls, array: np.ndarray[Any, Any]) -> Tensor:
        """Wrap a backend output (made C-contiguous, little-endian, strings as NUL-free bytes)."""
        dtype = _EXACT.get(array.dtype)   # the commonest case: a backend's float32 or int64 output, kept as it is
        if dtype is not None and array.flags.c_contiguous:
            return cls(array, dtype)
        dtype = dtype_for_array(array)
        if dtype.kind == "string":
            array = _as_bytes_array(array)
        elif array.dtype != dtype.numpy:
            array = array.astype(dtype.numpy)
        # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
        return cls(array if array.flags.c_contiguous else array.copy(order="C"), dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's dims."""
        return tuple(self.array.shape)

    def blob(self) -> bytes | memoryview:
        """The BLOB encoding: the element buffer (zero-copy), or NUL-terminated elements for STRING."""
        if self.dtype.kind == "string":
            return b"".join(bytes(s) + b"\0" for s in self.array.ravel().tolist())
        array = self.array
        if array.nbytes <= SMALL_BLOB:
            return array.tobytes()   # a small copy is cheaper to make and to encode than a view
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        return memoryview(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]

    def values(self) -> list[Any]:
        """The VALUES encoding: Python floats for float types, ints for integers and BOOL, bytes for STRING."""
        array = self.array
        if self.dtype.kind == "float":
            return array.astype(np.float64).ravel().tolist()  # type: ignore[no-any-return]
        if self.dtype.kind == "bool":
            return array.astype(np.uint8).ravel().tolist()  # type: ignore[no-any-return]
        values: list[Any] = array.ravel().tolist()
        if self.dtype.name == "UINT64":  # RESP integers are signed 64-bit: larger values go as decimal text
            values = [v if v <= _INT64_MAX else b"%d" % v for v in values]
        return values

    def meta(self) -> list[Any]:
        """The META part of a TENSORGET reply."""
        return [b"dtype", self.dtype.name.encode(), b"shape", [int(d) for d in self.array.shape]]


def _as_bytes_array(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if array.dtype.kind == "S":
        return array
    items = [s.encode() if isinstance(s, str) else bytes(s) for s in array.ravel().tolist()]
    return np.array(items, dtype="S").reshape(array.shape) if items else np.zeros(array.shape, dtype="S1")


def element_count(shape: Sequence[int]) -> int:
    """prod(shape), 1 for a 0-d tensor."""
    return math.prod(shape)


def from_blob(dtype: DType, shape: tuple[int, ...], data: bytes) -> Tensor:
    """Decode a BLOB (zero-copy for numeric types), checking its length, BOOL bytes and STRING elements."""
    count = element_count(shape)
    if dtype.kind == "string":
        if not data.endswith(b"\0"):
            raise CommandError(errors.AI_STRING_COUNT)
        items = data[:-1].split(b"\0")
        if len(items) != count:
            raise CommandError(errors.AI_STRING_COUNT)
        return Tensor(_string_array(items, shape), dtype)
    if len(data) != count * dtype.numpy.itemsize:
        raise CommandError(errors.AI_BLOB_LENGTH)
    if dtype.kind == "bool":
        raw = np.frombuffer(data, dtype=np.uint8)
        if raw.size and int(raw.max()) > 1:
            raise CommandError(errors.AI_BOOL_VALUES)
    return Tensor(np.frombuffer(data, dtype=dtype.numpy).reshape(shape), dtype)


def from_values(dtype: DType, shape: tuple[int, ...], values: Sequence[bytes]) -> Tensor:
    """Decode VALUES: doubles for float types, range-checked integers (negatives accepted), 0/1 for BOOL."""
    if len(values) != element_count(shape):
        raise CommandError(errors.AI_VALUES_COUNT)
    if dtype.kind == "string":
        return Tensor(_string_array([_string_value(v) for v in values], shape), dtype)
    if dtype.kind == "float":
        parsed: list[Any] = _plain_floats(values) or [parse_float(v, errors.AI_INVALID_VALUE) for v in values]
    else:
        low, high = (0, 1) if dtype.kind == "bool" else _int_bounds(dtype.numpy)
        parsed = [_int_value(v, low, high) for v in values]
    with np.errstate(over="ignore"):
        return Tensor(np.array(parsed, dtype=dtype.numpy).reshape(shape), dtype)


_PLAIN_NUMBER_CHARS = b"0123456789eE.+-"


def _plain_floats(values: Sequence[bytes]) -> list[float] | None:
    """Fast path for VALUES: plain numbers (digits, sign, point, exponent) read in one pass.

    float() reads such values exactly as the careful parser would; None sends anything else (and every error) to it.
    """
    if not values or b"".join(values).translate(None, _PLAIN_NUMBER_CHARS):
        return None
    try:
        return list(map(float, values))
    except ValueError:
        return None


def zeros(dtype: DType, shape: tuple[int, ...]) -> Tensor:
    """A zero-filled tensor (STRING: every element empty)."""
    return Tensor(np.zeros(shape, dtype="S1" if dtype.kind == "string" else dtype.numpy), dtype)


def _int_bounds(np_dtype: np.dtype[Any]) -> tuple[int, int]:
    info = np.iinfo(np_dtype)
    return int(info.min), int(info.max)


def _int_value(raw: bytes, low: int, high: int) -> int:
    if high > (1 << 63) - 1 and raw.isdigit() and len(raw) <= 20 and not (raw[0] == 48 and len(raw) > 1):
        value = int(raw)   # UINT64 beyond the int64 range
    else:
        value = parse_int(raw, errors.AI_INVALID_VALUE)
    if value < low or value > high:
        raise CommandError(errors.AI_INVALID_VALUE)
    return value


def _string_value(raw: bytes) -> bytes:
    value = raw[:-1] if raw.endswith(b"\0") else raw
    if b"\0" in value:
        raise CommandError(errors.AI_STRING_NUL)
    return value


def _string_array(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    if not items:
        return np.zeros(shape, dtype="S1")
    return np.array(items, dtype="S").reshape(shape)
