"""String commands. GET and plain ``SET k v`` are the benchmark hot path: they stay a lookup and a store."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError
from inferd.resp.encoder import OK
from inferd.store.keyspace import now_ms

_LLONG_MAX = (1 << 63) - 1
_LLONG_MIN = -(1 << 63)
# What strtold accepts (decimal only), checked before numpy parses the text as a C long double.
_LONG_DOUBLE = re.compile(rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)", re.IGNORECASE)
_HEX_DOUBLE = re.compile(rb"[+-]?0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?\d+)?", re.IGNORECASE)


def _get_string(c: Client, key: bytes) -> bytes | None:
    return c.db.get_typed(key, bytes)


def get(c: Client, argv: list[bytes]) -> bytes | None:
    """GET key."""
    return c.db.get_typed(argv[1], bytes)


def set_(c: Client, argv: list[bytes]) -> Any:
    """SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]."""
    if len(argv) == 3:
        c.db.set(argv[1], argv[2])
        return OK
    return _set_with_options(c, argv)


# ---- SET options ----------------------------------------------------------------------------------------
_EXPIRE_UNITS = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False), b"PXAT": (1, False)}


def _parse_set_options(argv: list[bytes], start: int, for_set: bool) -> tuple[set[bytes], bytes | None, bytes]:
    """Redis's parseExtendedStringArgumentsOrReply: (flags, expire argument, expire unit word)."""
    flags: set[bytes] = set()
    expire_arg: bytes | None = None
    unit = b""
    i = start
    while i < len(argv):
        word = argv[i].upper()
        has_next = i + 1 < len(argv)
        timed = bool(flags & {b"EX", b"PX", b"EXAT", b"PXAT"})
        if for_set and word == b"NX" and b"XX" not in flags or for_set and word == b"XX" and b"NX" not in flags:
            flags.add(word)
        elif for_set and word == b"GET":
            flags.add(word)
        elif word == b"KEEPTTL" and for_set and not timed:
            flags.add(word)
        elif word == b"PERSIST" and not for_set and not timed:
            flags.add(word)
        elif word in _EXPIRE_UNITS and has_next and not flags & {b"KEEPTTL", b"PERSIST"} and (
                not timed or word in flags):
            flags.add(word)
            expire_arg, unit = argv[i + 1], word
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return flags, expire_arg, unit


def _deadline(raw: bytes, unit: bytes, name: str) -> int:
    """The absolute expiry in ms for an EX/PX/EXAT/PXAT argument (Redis's getExpireMillisecondsOrReply)."""
    value = parse_int(raw)
    scale, relative = _EXPIRE_UNITS[unit]
    invalid = CommandError(errors.INVALID_EXPIRE.format(name))
    if value <= 0 or value * scale > _LLONG_MAX:
        raise invalid
    value *= scale
    if relative:
        value += now_ms()
        if value > _LLONG_MAX:
            raise invalid
    return value


def _set_with_options(c: Client, argv: list[bytes]) -> Any:
    flags, expire_arg, unit = _parse_set_options(argv, 3, for_set=True)
    deadline = _deadline(expire_arg, unit, "set") if expire_arg is not None else None
    return _set_generic(c, argv[1], argv[2], flags, deadline)


def _set_generic(c: Client, key: bytes, value: bytes, flags: set[bytes], deadline: int | None) -> Any:
    db = c.db
    old = _get_string(c, key) if b"GET" in flags else None
    found = db.get(key) is not None
    if (b"NX" in flags and found) or (b"XX" in flags and not found):
        return old if b"GET" in flags else None
    db.set(key, value, keep_ttl=b"KEEPTTL" in flags)
    if deadline is not None:
        db.set_expiry(key, deadline)
    return old if b"GET" in flags else OK


def setnx(c: Client, argv: list[bytes]) -> int:
    """SETNX key value: 1 if set, 0 if the key exists."""
    if c.db.get(argv[1]) is not None:
        return 0
    c.db.set(argv[1], argv[2])
    return 1


def setex(c: Client, argv: list[bytes]) -> Any:
    """SETEX key seconds value."""
    return _set_generic(c, argv[1], argv[3], set(), _deadline(argv[2], b"EX", "setex"))


def psetex(c: Client, argv: list[bytes]) -> Any:
    """PSETEX key milliseconds value."""
    return _set_generic(c, argv[1], argv[3], set(), _deadline(argv[2], b"PX", "psetex"))


def getset(c: Client, argv: list[bytes]) -> bytes | None:
    """GETSET key value: the old value; the TTL is cleared."""
    old = _get_string(c, argv[1])
    c.db.set(argv[1], argv[2])
    return old


def getdel(c: Client, argv: list[bytes]) -> bytes | None:
    """GETDEL key."""
    value = _get_string(c, argv[1])
    if value is not None:
        c.db.delete(argv[1])
    return value


def getex(c: Client, argv: list[bytes]) -> bytes | None:
    """GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]."""
    flags, expire_arg, unit = _parse_set_options(argv, 2, for_set=False)
    value = _get_string(c, argv[1])
    if value is None:   # as Redis: the time is checked only once the key is found (a missing key replies nil)
        return None
    if expire_arg is not None:
        c.db.set_expiry(argv[1], _deadline(expire_arg, unit, "getex"))
    elif b"PERSIST" in flags:
        c.db.persist(argv[1])
    return value


# ---- several keys ---------------------------------------------------------------------------------------
def mget(c: Client, argv: list[bytes]) -> list[bytes | None]:
    """MGET key [key ...]: nil for missing keys and for keys that are not strings."""
    get = c.db.get
    out: list[bytes | None] = []
    for key in argv[1:]:
        value = get(key)
        out.append(value if value.__class__ is bytes else None)
    return out


def _pairs(argv: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(argv) % 2 == 0:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace").lower())
    return list(zip(argv[1::2], argv[2::2], strict=True))


def mset(c: Client, argv: list[bytes]) -> Any:
    """MSET key value [key value ...]."""
    store = c.db.set
    for key, value in _pairs(argv):
        store(key, value)
    return OK


def msetnx(c: Client, argv: list[bytes]) -> int:
    """MSETNX key value [key value ...]: all or nothing; 1 if every key was set."""
    pairs = _pairs(argv)
    if any(c.db.get(key) is not None for key, _ in pairs):
        return 0
    for key, value in pairs:
        c.db.set(key, value)
    return 1


# ---- counters -------------------------------------------------------------------------------------------
def _incr_by(c: Client, key: bytes, delta: int) -> int:
    current = _get_string(c, key)
    value = (parse_int(current) if current is not None else 0) + delta
    if value > _LLONG_MAX or value < _LLONG_MIN:
        raise CommandError(errors.OVERFLOW)
    c.db.set(key, b"%d" % value, keep_ttl=True)
    return value


def incr(c: Client, argv: list[bytes]) -> int:
    """INCR key."""
    return _incr_by(c, argv[1], 1)


def decr(c: Client, argv: list[bytes]) -> int:
    """DECR key."""
    return _incr_by(c, argv[1], -1)


def incrby(c: Client, argv: list[bytes]) -> int:
    """INCRBY key increment."""
    return _incr_by(c, argv[1], parse_int(argv[2]))


def decrby(c: Client, argv: list[bytes]) -> int:
    """DECRBY key decrement."""
    delta = parse_int(argv[2])
    if delta == _LLONG_MIN:
        raise CommandError(errors.DECR_OVERFLOW)
    return _incr_by(c, argv[1], -delta)


def parse_long_double(raw: bytes, message: str) -> np.longdouble:
    """A C long double as Redis's string2ld reads it (no spaces, no NaN, no overflow)."""
    if _HEX_DOUBLE.fullmatch(raw):
        return np.longdouble(float.fromhex(raw.decode("ascii")))
    if not _LONG_DOUBLE.fullmatch(raw):
        raise CommandError(message)
    with np.errstate(all="ignore"):
        value = np.longdouble(raw.decode("ascii"))
    if np.isinf(value) and b"inf" not in raw.lower():
        raise CommandError(message)
    return value


def format_long_double(value: np.longdouble) -> bytes:
    """Redis's human-friendly long double text: ``%.17Lf`` without trailing zeros (``10.6``, ``3``)."""
    text = np.format_float_positional(value, precision=17, unique=False, fractional=True, trim="k")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return b"0" if text == "-0" else text.encode()


def sum_long_double(base: np.longdouble, delta: np.longdouble) -> bytes:
    """``base + delta`` as INCRBYFLOAT and HINCRBYFLOAT store it; NaN or infinity is an error."""
    with np.errstate(all="ignore"):
        total = base + delta
    if not np.isfinite(total):
        raise CommandError(errors.INCR_NAN)
    return format_long_double(total)


def incrbyfloat(c: Client, argv: list[bytes]) -> bytes:
    """INCRBYFLOAT key increment."""
    current = _get_string(c, argv[1])
    base = parse_long_double(current, errors.NOT_FLOAT) if current is not None else np.longdouble(0)
    text = sum_long_double(base, parse_long_double(argv[2], errors.NOT_FLOAT))
    c.db.set(argv[1], text, keep_ttl=True)
    return text


# ---- substrings ----------------------------------------------------------------------------------------
def _check_length(c: Client, length: int) -> None:
    if length > c.server.config.proto_max_bulk_len:
        raise CommandError(errors.STRING_TOO_LONG)


def append(c: Client, argv: list[bytes]) -> int:
    """APPEND key value: the new length."""
    current = _get_string(c, argv[1])
    if current is None:
        c.db.set(argv[1], argv[2])
        return len(argv[2])
    _check_length(c, len(current) + len(argv[2]))
    value = current + argv[2]
    c.db.set(argv[1], value, keep_ttl=True)
    return len(value)


def strlen(c: Client, argv: list[bytes]) -> int:
    """STRLEN key."""
    value = _get_string(c, argv[1])
    return 0 if value is None else len(value)


def getrange(c: Client, argv: list[bytes]) -> bytes:
    """GETRANGE key start end (inclusive, negative from the end)."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    value = _get_string(c, argv[1])
    if value is None:
        return b""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    start = max(0, n + start if start < 0 else start)
    end = max(0, n + end if end < 0 else end)
    end = min(end, n - 1)
    if start > end or n == 0:
        return b""
    return value[start:end + 1]


def setrange(c: Client, argv: list[bytes]) -> int:
    """SETRANGE key offset value: the new length (zero-padded when the offset is past the end)."""
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(errors.BIT_OFFSET)
    patch = argv[3]
    current = _get_string(c, argv[1])
    if not patch:   # nothing written: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
        return 0 if current is None else len(current)
    if current is None:
        current = b""
    _check_length(c, offset + len(patch))
    if offset > len(current):
        current += b"\x00" * (offset - len(current))
    value = current[:offset] + patch + current[offset + len(patch):]
    c.db.set(argv[1], value, keep_ttl=True)
    return len(value)


_s = keyed_commands("string")


COMMANDS = [
    _s("get", get, 2, "readonly fast", "Returns the string value of a key.", "key"),
    _s("set", set_, -3, "write denyoom", "Sets the string value of a key, ignoring its type. The key is created if "
       "it doesn't exist.", "key value [condition] [get] [expiration]"),
    _s("setnx", setnx, 3, "write denyoom fast", "Set the string value of a key only when the key doesn't exist.",
       "key value"),
    _s("setex", setex, 4, "write denyoom", "Sets the string value and expiration time of a key. Creates the key if "
       "it doesn't exist.", "key seconds value", "2.0.0"),
    _s("psetex", psetex, 4, "write denyoom", "Sets both string value and expiration time in milliseconds of a key. "
       "The key is created if it doesn't exist.", "key milliseconds value", "2.6.0"),
    _s("getset", getset, 3, "write denyoom fast", "Returns the previous string value of a key after setting it to a "
       "new value.", "key value"),
    _s("getdel", getdel, 2, "write fast", "Returns the string value of a key after deleting the key.", "key",
       "6.2.0"),
    _s("getex", getex, -2, "write fast", "Returns the string value of a key after setting its expiration time.",
       "key [expiration]", "6.2.0"),
    _s("mget", mget, -2, "readonly fast", "Atomically returns the string values of one or more keys.", "key...",
       keys=(1, -1, 1)),
    _s("mset", mset, -3, "write denyoom", "Atomically creates or modifies the string values of one or more keys.",
       "data...", "1.0.1", keys=(1, -1, 2)),
    _s("msetnx", msetnx, -3, "write denyoom", "Atomically modifies the string values of one or more keys only when "
       "all keys don't exist.", "data...", "1.0.1", keys=(1, -1, 2)),
    _s("incr", incr, 2, "write denyoom fast", "Increments the integer value of a key by one. Uses 0 as initial value "
       "if the key doesn't exist.", "key"),
    _s("decr", decr, 2, "write denyoom fast", "Decrements the integer value of a key by one. Uses 0 as initial value "
       "if the key doesn't exist.", "key"),
    _s("incrby", incrby, 3, "write denyoom fast", "Increments the integer value of a key by a number. Uses 0 as "
       "initial value if the key doesn't exist.", "key increment"),
    _s("decrby", decrby, 3, "write denyoom fast", "Decrements a number from the integer value of a key. Uses 0 as "
       "initial value if the key doesn't exist.", "key decrement"),
    _s("incrbyfloat", incrbyfloat, 3, "write denyoom fast", "Increment the floating point value of a key by a "
       "number. Uses 0 as initial value if the key doesn't exist.", "key increment", "2.6.0"),
    _s("append", append, 3, "write denyoom fast", "Appends a string to the value of a key. Creates the key if it "
       "doesn't exist.", "key value", "2.0.0"),
    _s("strlen", strlen, 2, "readonly fast", "Returns the length of a string value.", "key", "2.2.0"),
    _s("getrange", getrange, 4, "readonly", "Returns a substring of the string stored at a key.", "key start end",
       "2.4.0"),
    _s("substr", getrange, 4, "readonly", "Returns a substring from a string value (GETRANGE's old name).",
       "key start end"),
    _s("setrange", setrange, 4, "write denyoom", "Overwrites a part of a string value with another by an offset. "
       "Creates the key if it doesn't exist.", "key offset value", "2.2.0"),
]
