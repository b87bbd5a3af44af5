"""Typed argument parsing for handlers; each helper raises the standard Redis message on bad input."""
from __future__ import annotations

import math

from inferd import errors
from inferd.errors import CommandError

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# The canonical spelling of every small integer: dims, counts, indexes and timeouts take one dict lookup.
_SMALL_INTS = {b"%d" % i: i for i in range(-1024, 10_000)}


def parse_int(raw: bytes, message: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer written the way Redis's ``string2ll`` accepts it (no spaces, no '+', no '0x')."""
    small = _SMALL_INTS.get(raw)
    if small is not None:
        return small
    if not raw or len(raw) > 20 or not (raw.isdigit() or (raw[0] == 45 and raw[1:].isdigit())) or (
            raw[0] == 48 and len(raw) > 1) or raw.startswith(b"-0"):
        raise CommandError(message)
    value = int(raw)
    if value < _INT64_MIN or value > _INT64_MAX:
        raise CommandError(message)
    return value


def parse_int32(raw: bytes, message: str | None = None) -> int:
    """An integer in C ``int`` range, as Redis's ``getIntFromObjectOrReply`` reads it (``message`` for both errors)."""
    value = parse_int(raw, message or errors.NOT_INTEGER)
    if not -(1 << 31) <= value < 1 << 31:
        raise CommandError(message or errors.NOT_INT32)
    return value


def parse_nonneg(raw: bytes, message: str = errors.NOT_INTEGER) -> int:
    """An integer ≥ 0."""
    value = parse_int(raw, message)
    if value < 0:
        raise CommandError(message if message != errors.NOT_INTEGER else errors.NOT_POSITIVE)
    return value


def parse_float(raw: bytes, message: str = errors.NOT_FLOAT, allow_nan: bool = False) -> float:
    """A double as Redis's ``strtold`` reads it: ``inf``/``-inf`` allowed, NaN and spaces refused."""
    text = raw.decode("ascii", "replace")
    if not text or text != text.strip() or "_" in text:
        raise CommandError(message)
    try:
        value = float(text)
    except ValueError:
        raise CommandError(message) from None
    if math.isnan(value) and not allow_nan:
        raise CommandError(message)
    return value


def c_float(text: str) -> float:
    """``float`` plus the hexadecimal forms C's strtod also reads (``0x10``, ``0x1p-3``); ValueError otherwise."""
    try:
        return float(text)
    except ValueError:
        if "x" not in text.lower():
            raise
        return float.fromhex(text)


def underflowed(text: str, value: float) -> bool:
    """Whether strtod reports a range error for a zero result: a mantissa with a non-zero digit rounded to 0."""
    if value != 0.0:
        return False
    lower = text.lower()
    if "x" in lower:
        return any(ch in "123456789abcdef" for ch in lower.split("x", 1)[1].split("p")[0])
    return any(ch in "123456789" for ch in lower.split("e")[0])
