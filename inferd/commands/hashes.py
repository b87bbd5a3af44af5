"""Hash commands; a hash is a ``dict[bytes, bytes]``, deleted from the keyspace when it becomes empty."""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.sampling import pick, random_count
from inferd.commands.scanning import SMALL_COLLECTION, parse_cursor, parse_scan_options, scan_collection
from inferd.commands.strings import parse_long_double, sum_long_double
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError
from inferd.resp.encoder import OK

_LLONG_MAX = (1 << 63) - 1
_LLONG_MIN = -(1 << 63)


def _hash(c: Client, key: bytes) -> dict[bytes, bytes] | None:
    return c.db.get_typed(key, dict)


def _hash_for_write(c: Client, key: bytes) -> dict[bytes, bytes]:
    value = c.db.get_typed(key, dict)
    if value is None:
        value = {}
        c.db.set(key, value)
    return value


def _field_pairs(argv: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(argv) % 2 != 0:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace").lower())
    return list(zip(argv[2::2], argv[3::2], strict=True))


def hset(c: Client, argv: list[bytes]) -> int:
    """HSET key field value [field value ...]: the number of new fields."""
    if len(argv) == 4:   # the common single-field form, without building pairs
        h = _hash_for_write(c, argv[1])
        new = argv[2] not in h
        h[argv[2]] = argv[3]
        return 1 if new else 0
    pairs = _field_pairs(argv)
    h = _hash_for_write(c, argv[1])
    before = len(h)
    h.update(pairs)
    return len(h) - before


def hmset(c: Client, argv: list[bytes]) -> Any:
    """HMSET key field value [field value ...] (deprecated form of HSET)."""
    hset(c, argv)
    return OK


def hsetnx(c: Client, argv: list[bytes]) -> int:
    """HSETNX key field value: 1 if the field was new."""
    h = _hash_for_write(c, argv[1])
    if argv[2] in h:
        return 0
    h[argv[2]] = argv[3]
    return 1


def hget(c: Client, argv: list[bytes]) -> bytes | None:
    """HGET key field."""
    h = _hash(c, argv[1])
    return None if h is None else h.get(argv[2])


def hmget(c: Client, argv: list[bytes]) -> list[bytes | None]:
    """HMGET key field [field ...]."""
    h = _hash(c, argv[1]) or {}
    return [h.get(f) for f in argv[2:]]


def hgetall(c: Client, argv: list[bytes]) -> dict[bytes, bytes]:
    """HGETALL key: a map in RESP3."""
    h = _hash(c, argv[1])
    return {} if h is None else dict(h)


def hdel(c: Client, argv: list[bytes]) -> int:
    """HDEL key field [field ...]: the number of fields removed."""
    h = _hash(c, argv[1])
    if h is None:
        return 0
    removed = sum(1 for f in argv[2:] if h.pop(f, None) is not None)
    if not h:
        c.db.delete(argv[1])
    return removed


def hexists(c: Client, argv: list[bytes]) -> int:
    """HEXISTS key field."""
    h = _hash(c, argv[1])
    return int(h is not None and argv[2] in h)


def hkeys(c: Client, argv: list[bytes]) -> list[bytes]:
    """HKEYS key."""
    return list(_hash(c, argv[1]) or ())


def hvals(c: Client, argv: list[bytes]) -> list[bytes]:
    """HVALS key."""
    return list((_hash(c, argv[1]) or {}).values())


def hlen(c: Client, argv: list[bytes]) -> int:
    """HLEN key."""
    return len(_hash(c, argv[1]) or ())


def hstrlen(c: Client, argv: list[bytes]) -> int:
    """HSTRLEN key field."""
    return len((_hash(c, argv[1]) or {}).get(argv[2], b""))


def hincrby(c: Client, argv: list[bytes]) -> int:
    """HINCRBY key field increment."""
    delta = parse_int(argv[3])
    h = _hash_for_write(c, argv[1])
    current = h.get(argv[2])
    value = (parse_int(current, errors.HASH_NOT_INTEGER) if current is not None else 0) + delta
    if value > _LLONG_MAX or value < _LLONG_MIN:
        _drop_if_empty(c, argv[1], h)
        raise CommandError(errors.OVERFLOW)
    h[argv[2]] = b"%d" % value
    return value


def hincrbyfloat(c: Client, argv: list[bytes]) -> bytes:
    """HINCRBYFLOAT key field increment."""
    delta = parse_long_double(argv[3], errors.NOT_FLOAT)
    if not np.isfinite(delta):
        raise CommandError(errors.INCR_NOT_FINITE)
    h = _hash_for_write(c, argv[1])
    current = h.get(argv[2])
    base = parse_long_double(current, errors.HASH_NOT_FLOAT) if current is not None else np.longdouble(0)
    try:
        text = sum_long_double(base, delta)
    except CommandError:
        _drop_if_empty(c, argv[1], h)
        raise
    h[argv[2]] = text
    return text


def _drop_if_empty(c: Client, key: bytes, h: dict[bytes, bytes]) -> None:
    if not h:
        c.db.delete(key)


def hrandfield(c: Client, argv: list[bytes]) -> Any:
    """HRANDFIELD key [count [WITHVALUES]]: a negative count may repeat fields."""
    if len(argv) == 2:
        h = _hash(c, argv[1])
        return random.choice(list(h)) if h else None
    count, withvalues = random_count(argv, b"WITHVALUES")
    h = _hash(c, argv[1])
    if not h or count == 0:
        return []
    chosen = pick(list(h), count)
    if not withvalues:
        return chosen
    if c.resp3:
        return [[f, h[f]] for f in chosen]
    return [x for f in chosen for x in (f, h[f])]


def hscan(c: Client, argv: list[bytes]) -> list[Any]:
    """HSCAN key cursor [MATCH pattern] [COUNT count]."""
    cursor = parse_cursor(argv[2])
    h = _hash(c, argv[1])
    if h is None:
        return [b"0", []]
    match, count, _ = parse_scan_options(argv, 3, allow_type=False)
    next_cursor, fields = scan_collection(h, len(h) <= SMALL_COLLECTION, cursor, count)
    return [b"%d" % next_cursor, [x for f in fields if match(f) for x in (f, h[f])]]


_h = keyed_commands("hash", since="2.0.0")


COMMANDS = [
    _h("hset", hset, -4, "write denyoom fast", "Creates or modifies the value of a field in a hash.", "key data..."),
    _h("hmset", hmset, -4, "write denyoom fast", "Sets the values of multiple fields.", "key data..."),
    _h("hsetnx", hsetnx, 4, "write denyoom fast", "Sets the value of a field in a hash only when the field doesn't "
       "exist.", "key field value"),
    _h("hget", hget, 3, "readonly fast", "Returns the value of a field in a hash.", "key field"),
    _h("hmget", hmget, -3, "readonly fast", "Returns the values of all fields in a hash.", "key field..."),
    _h("hgetall", hgetall, 2, "readonly", "Returns all fields and values in a hash.", "key"),
    _h("hdel", hdel, -3, "write fast", "Deletes one or more fields and their values from a hash. Deletes the hash if "
       "no fields remain.", "key field..."),
    _h("hexists", hexists, 3, "readonly fast", "Determines whether a field exists in a hash.", "key field"),
    _h("hkeys", hkeys, 2, "readonly", "Returns all fields in a hash.", "key"),
    _h("hvals", hvals, 2, "readonly", "Returns all values in a hash.", "key"),
    _h("hlen", hlen, 2, "readonly fast", "Returns the number of fields in a hash.", "key"),
    _h("hstrlen", hstrlen, 3, "readonly fast", "Returns the length of the value of a field.", "key field", "3.2.0"),
    _h("hincrby", hincrby, 4, "write denyoom fast", "Increments the integer value of a field in a hash by a number. "
       "Uses 0 as initial value if the field doesn't exist.", "key field increment"),
    _h("hincrbyfloat", hincrbyfloat, 4, "write denyoom fast", "Increments the floating point value of a field by a "
       "number. Uses 0 as initial value if the field doesn't exist.", "key field increment", "2.6.0"),
    _h("hrandfield", hrandfield, -2, "readonly", "Returns one or more random fields from a hash.",
       "key [options]", "6.2.0"),
    _h("hscan", hscan, -3, "readonly", "Iterates over fields and values of a hash.",
       "key cursor [pattern] [count]", "2.8.0"),
]
