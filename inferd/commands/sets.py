"""Set commands; a set is a Python ``set`` of bytes, deleted from the keyspace when it becomes empty."""
from __future__ import annotations

import random
from typing import Any

from inferd import errors
from inferd.commands.args import parse_int, parse_nonneg
from inferd.commands.context import Client
from inferd.commands.sampling import pick, random_count
from inferd.commands.scanning import SMALL_COLLECTION, parse_cursor, parse_scan_options, scan_collection
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError

try:
    from inferd.commands._fastpath import random_member
except ImportError:   # pragma: no cover - built at install when a C compiler is there
    random_member = None  # type: ignore[assignment]

DRAW_FROM_TUPLE = 64   # a set smaller than this is drawn from as a tuple (as cheap as the table, and exact)


def _set(c: Client, key: bytes) -> set[bytes] | None:
    return c.db.get_typed(key, set)


def sadd(c: Client, argv: list[bytes]) -> int:
    """SADD key member [member ...]: the number of new members."""
    members = _set(c, argv[1])
    if members is None:
        members = set()
        c.db.set(argv[1], members)
    before = len(members)
    members.update(argv[2:])
    return len(members) - before


def srem(c: Client, argv: list[bytes]) -> int:
    """SREM key member [member ...]: the number removed."""
    members = _set(c, argv[1])
    if members is None:
        return 0
    before = len(members)
    members.difference_update(argv[2:])
    if not members:
        c.db.delete(argv[1])
    return before - len(members)


def smembers(c: Client, argv: list[bytes]) -> set[bytes]:
    """SMEMBERS key: a set in RESP3."""
    return set(_set(c, argv[1]) or ())


def sismember(c: Client, argv: list[bytes]) -> int:
    """SISMEMBER key member."""
    members = _set(c, argv[1])
    return int(members is not None and argv[2] in members)


def smismember(c: Client, argv: list[bytes]) -> list[int]:
    """SMISMEMBER key member [member ...]."""
    members = _set(c, argv[1]) or set()
    return [int(m in members) for m in argv[2:]]


def scard(c: Client, argv: list[bytes]) -> int:
    """SCARD key."""
    return len(_set(c, argv[1]) or ())


def spop(c: Client, argv: list[bytes]) -> Any:
    """SPOP key [count]: a random member, or a set of up to count members."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        members = _set(c, argv[1])
        if members is None:
            return None
        chosen = _draw(members)
        if chosen is None:   # a table that pops have left mostly empty: a copy's is sized to its members
            members = set(members)
            c.db.set(argv[1], members, keep_ttl=True)
            chosen = _draw(members)
            if chosen is None:   # (not expected: the copy's table is at least a quarter full)
                chosen = _any(members)
        members.discard(chosen)
        if not members:
            c.db.delete(argv[1])
        return chosen
    count = parse_nonneg(argv[2], errors.NOT_POSITIVE)
    members = _set(c, argv[1])
    if members is None or count == 0:
        return set()
    if count >= len(members):
        c.db.delete(argv[1])
        return set(members)
    popped = set(random.sample(tuple(members), count))
    members.difference_update(popped)
    return popped


def _draw(members: set[bytes]) -> bytes | None:
    """A member (of a non-empty set) drawn uniformly at random; None where its table is too sparse to draw from.

    A large set is drawn from in place by the compiled ``random_member`` (random slots of its hash table; O(1) while
    the table is not mostly empty). Without it, :func:`_any`.
    """
    if len(members) < DRAW_FROM_TUPLE:
        return random.choice(tuple(members))
    if random_member is None:   # pragma: no cover - depends on the install
        return _any(members)
    return random_member(members)


def _any(members: set[bytes]) -> bytes:
    """A member of a large set without copying it: a random step into its iteration order.

    Not uniform, and slow on a set popped many times (the walk passes every slot emptied before): the draw where
    ``random_member`` was not built.
    """
    skip = random.randrange(min(len(members), 64))
    for i, member in enumerate(members):
        if i == skip:
            return member
    raise AssertionError("unreachable")


def srandmember(c: Client, argv: list[bytes]) -> Any:
    """SRANDMEMBER key [count]: a negative count may repeat members."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        members = _set(c, argv[1])
        if not members:
            return None
        chosen = _draw(members)
        return chosen if chosen is not None else random.choice(tuple(members))
    count, _ = random_count(argv, None)
    members = _set(c, argv[1])
    if not members or count == 0:
        return []
    return pick(tuple(members), count)


def sscan(c: Client, argv: list[bytes]) -> list[Any]:
    """SSCAN key cursor [MATCH pattern] [COUNT count]."""
    cursor = parse_cursor(argv[2])
    members = _set(c, argv[1])
    if members is None:
        return [b"0", []]
    match, count, _ = parse_scan_options(argv, 3, allow_type=False)
    order = _intset_order(members)
    if order is not None:
        next_cursor, found = 0, order
    else:
        next_cursor, found = scan_collection(members, len(members) <= SMALL_COLLECTION, cursor, count)
    return [b"%d" % next_cursor, [m for m in found if match(m)]]


def _intset_order(members: set[bytes]) -> list[bytes] | None:
    """The members in numeric order when Redis would keep the set as an intset (at most 512 integers)."""
    if len(members) > 512:
        return None
    try:
        numbers = sorted((parse_int(m), m) for m in members)
    except CommandError:
        return None
    return [m for _, m in numbers]


def smove(c: Client, argv: list[bytes]) -> int:
    """SMOVE source destination member: 1 if moved."""
    src = c.db.get(argv[1])
    if src is None:
        return 0
    src = _set(c, argv[1])
    dst = _set(c, argv[2])
    if src is None or argv[3] not in src:
        return 0
    if src is dst:
        return 1
    src.discard(argv[3])
    if not src:
        c.db.delete(argv[1])
    if dst is None:
        dst = set()
        c.db.set(argv[2], dst)
    dst.add(argv[3])
    return 1


# ---- algebra --------------------------------------------------------------------------------------------
def _operands(c: Client, keys: list[bytes]) -> list[set[bytes] | None]:
    return [_set(c, key) for key in keys]


def _inter(c: Client, keys: list[bytes]) -> set[bytes]:
    sets = _operands(c, keys)
    if any(s is None for s in sets):
        return set()
    ordered = sorted((s for s in sets if s is not None), key=len)
    return ordered[0].intersection(*ordered[1:])


def _union(c: Client, keys: list[bytes]) -> set[bytes]:
    return set().union(*(s for s in _operands(c, keys) if s is not None))


def _diff(c: Client, keys: list[bytes]) -> set[bytes]:
    sets = _operands(c, keys)
    if sets[0] is None:
        return set()
    return sets[0].difference(*(s for s in sets[1:] if s is not None))


def _store(c: Client, key: bytes, result: set[bytes]) -> int:
    existed = c.db.delete(key)
    if result:
        c.db.set(key, result)
    elif not existed:   # an empty result over no key changed nothing: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
    return len(result)


def sinter(c: Client, argv: list[bytes]) -> set[bytes]:
    """SINTER key [key ...]."""
    return _inter(c, argv[1:])


def sinterstore(c: Client, argv: list[bytes]) -> int:
    """SINTERSTORE destination key [key ...]."""
    return _store(c, argv[1], _inter(c, argv[2:]))


def sintercard(c: Client, argv: list[bytes]) -> int:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]."""
    numkeys = parse_int(argv[1], errors.NUMKEYS_NOT_POSITIVE)
    if numkeys <= 0:
        raise CommandError(errors.NUMKEYS_NOT_POSITIVE)
    if numkeys > len(argv) - 2:
        raise CommandError(errors.NUMKEYS_TOO_MANY)
    limit = 0
    rest = argv[2 + numkeys:]
    while rest:
        if rest[0].upper() != b"LIMIT" or len(rest) < 2:
            raise CommandError(errors.SYNTAX)
        limit = parse_int(rest[1], errors.LIMIT_NEGATIVE)
        if limit < 0:
            raise CommandError(errors.LIMIT_NEGATIVE)
        rest = rest[2:]
    size = len(_inter(c, argv[2:2 + numkeys]))
    return min(size, limit) if limit else size


def sunion(c: Client, argv: list[bytes]) -> set[bytes]:
    """SUNION key [key ...]."""
    return _union(c, argv[1:])


def sunionstore(c: Client, argv: list[bytes]) -> int:
    """SUNIONSTORE destination key [key ...]."""
    return _store(c, argv[1], _union(c, argv[2:]))


def sdiff(c: Client, argv: list[bytes]) -> set[bytes]:
    """SDIFF key [key ...]."""
    return _diff(c, argv[1:])


def sdiffstore(c: Client, argv: list[bytes]) -> int:
    """SDIFFSTORE destination key [key ...]."""
    return _store(c, argv[1], _diff(c, argv[2:]))


_sc = keyed_commands("set")


COMMANDS = [
    _sc("sadd", sadd, -3, "write denyoom fast", "Adds one or more members to a set. Creates the key if it doesn't "
        "exist.", "key member..."),
    _sc("srem", srem, -3, "write fast", "Removes one or more members from a set. Deletes the set if the last member "
        "was removed.", "key member..."),
    _sc("smembers", smembers, 2, "readonly", "Returns all members of a set.", "key"),
    _sc("sismember", sismember, 3, "readonly fast", "Determines whether a member belongs to a set.", "key member"),
    _sc("smismember", smismember, -3, "readonly fast", "Determines whether multiple members belong to a set.",
        "key member...", "6.2.0"),
    _sc("scard", scard, 2, "readonly fast", "Returns the number of members in a set.", "key"),
    _sc("spop", spop, -2, "write fast", "Returns one or more random members from a set after removing them. Deletes "
        "the set if the last member was popped.", "key [count]"),
    _sc("srandmember", srandmember, -2, "readonly", "Get one or multiple random members from a set",
        "key [count]"),
    _sc("sscan", sscan, -3, "readonly", "Iterates over members of a set.", "key cursor [pattern] [count]", "2.8.0"),
    _sc("smove", smove, 4, "write fast", "Moves a member from one set to another.", "source destination member",
        keys=(1, 2, 1)),
    _sc("sinter", sinter, -2, "readonly", "Returns the intersect of multiple sets.", "key...", keys=(1, -1, 1)),
    _sc("sinterstore", sinterstore, -3, "write denyoom", "Stores the intersect of multiple sets in a key.",
        "destination key...", keys=(1, -1, 1)),
    _sc("sintercard", sintercard, -3, "readonly", "Returns the number of members of the intersect of multiple sets.",
        "numkeys key... [limit]", "7.0.0", keys=(0, 0, 0)),
    _sc("sunion", sunion, -2, "readonly", "Returns the union of multiple sets.", "key...", keys=(1, -1, 1)),
    _sc("sunionstore", sunionstore, -3, "write denyoom", "Stores the union of multiple sets in a key.",
        "destination key...", keys=(1, -1, 1)),
    _sc("sdiff", sdiff, -2, "readonly", "Returns the difference of multiple sets.", "key...", keys=(1, -1, 1)),
    _sc("sdiffstore", sdiffstore, -3, "write denyoom", "Stores the difference of multiple sets in a key.",
        "destination key...", keys=(1, -1, 1)),
]
