"""Reply encoding for RESP2 and RESP3: one function turns a handler's Python value into bytes.

Handlers return ``bytes`` (bulk), :class:`Status` (simple string), ``int``, ``float`` (double), ``None`` (null),
``bool``, ``list``/``tuple`` (array), ``dict`` (map), ``set``/``frozenset`` (set), :class:`Verbatim`,
:data:`NULL_ARRAY`, or a :class:`~inferd.errors.CommandError` (an error reply, also inside arrays).
"""
from __future__ import annotations

import math
from typing import Any

from inferd.errors import CommandError


class Status(bytes):
    """A simple-string reply (``+OK``)."""


class Verbatim(bytes):
    """A verbatim text reply (RESP3 ``=``, a bulk string in RESP2); INFO and CLIENT LIST use it."""


class RedisDouble(float):
    """A double written as Redis 7.0's ``addReplyDouble`` writes it (``%.17g``): sorted-set scores."""


class NullArray:
    """The null array (``*-1`` in RESP2): EXEC of an aborted transaction, timed-out blocking pops."""


class Push(list):  # type: ignore[type-arg]
    """An out-of-band push message (RESP3 ``>``, an array in RESP2)."""


OK = Status(b"OK")
PONG = Status(b"PONG")
QUEUED = Status(b"QUEUED")
NULL_ARRAY = NullArray()

_OK_BYTES = b"+OK\r\n"
_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"
_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]


def format_double(value: float) -> bytes:
    """Redis 7's text for a double: shortest round-trip, ``inf``/``-inf``/``nan``, integers without ``.0``."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    if value == int(value) and abs(value) < 1e17:
        return b"%d" % int(value)
    return repr(value).encode()


def encode(value: Any, resp3: bool, out: list[bytes]) -> None:
    """Append the encoding of ``value`` to ``out`` (a list joined into one write by the connection)."""
    t = value.__class__
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif value is OK:
        out.append(_OK_BYTES)
    elif t is int:
        out.append(_SMALL_INTS[value + 1] if -1 <= value < 1023 else b":%d\r\n" % value)
    elif value is None:
        out.append(_NULL3 if resp3 else _NULL2)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            encode(item, resp3, out)
    elif t is Status:
        out.append(b"+%s\r\n" % value)
    elif t is str:
        raw = value.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    else:
        _encode_rare(value, resp3, out)


def _encode_rare(value: Any, resp3: bool, out: list[bytes]) -> None:
    t = value.__class__
    if isinstance(value, CommandError):
        out.append(b"-%s\r\n" % value.text.replace("\r", " ").replace("\n", " ").encode())
    elif t is float:
        text = format_double(value)
        out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is RedisDouble:
        text = b"%.17g" % value
        out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is bool:
        out.append((b"#t\r\n" if value else b"#f\r\n") if resp3 else (b":1\r\n" if value else b":0\r\n"))
    elif t is dict:
        out.append(b"%%%d\r\n" % len(value) if resp3 else b"*%d\r\n" % (2 * len(value)))
        for key, item in value.items():
            encode(key, resp3, out)
            encode(item, resp3, out)
    elif t is set or t is frozenset:
        out.append(b"~%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            encode(item, resp3, out)
    elif t is Verbatim:
        out.append(b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, value) if resp3 else b"$%d\r\n%s\r\n" % (len(value), value))
    elif value is NULL_ARRAY:
        out.append(_NULL3 if resp3 else b"*-1\r\n")
    elif t is Push:
        out.append(b">%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            encode(item, resp3, out)
    elif isinstance(value, (bytearray, memoryview)):
        # Zero-copy tensor blobs: the header and the buffer are written as separate pieces.
        out.append(b"$%d\r\n" % value.nbytes if isinstance(value, memoryview) else b"$%d\r\n" % len(value))
        out.append(value)  # type: ignore[arg-type]
        out.append(b"\r\n")
    elif isinstance(value, int):  # numpy integers and IntEnum
        encode(int(value), resp3, out)
    elif isinstance(value, float):
        encode(float(value), resp3, out)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


def encode_one(value: Any, resp3: bool = False) -> bytes:
    """Encode a single reply to bytes (tests and rare paths)."""
    out: list[bytes] = []
    encode(value, resp3, out)
    return b"".join(out)
