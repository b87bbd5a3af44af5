"""List commands; a list is a ``collections.deque``, deleted from the keyspace when it becomes empty."""
from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from inferd import errors
from inferd.commands import blocking
from inferd.commands.args import parse_int, parse_nonneg
from inferd.commands.context import Client
from inferd.commands.multipop import multi_pop_args, pop_first
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError
from inferd.resp.encoder import NULL_ARRAY, OK

_LONG_MAX = (1 << 63) - 1


def _list(c: Client, key: bytes) -> deque[bytes] | None:
    return c.db.get_typed(key, deque)


def _push(c: Client, argv: list[bytes], left: bool, only_existing: bool) -> int:
    items = _list(c, argv[1])
    if items is None:
        if only_existing:
            return 0
        items = deque()
        c.db.set(argv[1], items)
    if left:
        items.extendleft(argv[2:])
    else:
        items.extend(argv[2:])
    return len(items)


def lpush(c: Client, argv: list[bytes]) -> int:
    """LPUSH key element [element ...]: the new length."""
    return _push(c, argv, True, False)


def rpush(c: Client, argv: list[bytes]) -> int:
    """RPUSH key element [element ...]: the new length."""
    return _push(c, argv, False, False)


def lpushx(c: Client, argv: list[bytes]) -> int:
    """LPUSHX key element [element ...]: only when the list exists."""
    return _push(c, argv, True, True)


def rpushx(c: Client, argv: list[bytes]) -> int:
    """RPUSHX key element [element ...]: only when the list exists."""
    return _push(c, argv, False, True)


def _pop(c: Client, argv: list[bytes], left: bool) -> Any:
    if len(argv) > 3:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace").lower())
    count = parse_nonneg(argv[2], errors.NOT_POSITIVE) if len(argv) == 3 else None
    items = _list(c, argv[1])
    if items is None:
        return None if count is None else NULL_ARRAY
    take = items.popleft if left else items.pop
    value: Any
    if count is None:
        value = take()
    else:
        value = [take() for _ in range(min(count, len(items)))]
    if not items:
        c.db.delete(argv[1])
    return value


def lpop(c: Client, argv: list[bytes]) -> Any:
    """LPOP key [count]."""
    return _pop(c, argv, True)


def rpop(c: Client, argv: list[bytes]) -> Any:
    """RPOP key [count]."""
    return _pop(c, argv, False)


def _end(raw: bytes) -> bool:
    """LEFT (True) or RIGHT (False), any case; a syntax error otherwise."""
    word = raw.upper()
    if word not in (b"LEFT", b"RIGHT"):
        raise CommandError(errors.SYNTAX)
    return word == b"LEFT"


def _move(c: Client, source: bytes, destination: bytes, from_left: bool, to_left: bool) -> bytes | None:
    """Pop an element from one end of ``source`` and push it onto one end of ``destination`` (Redis's lmove)."""
    items = _list(c, source)
    if items is None:
        return None
    target = _list(c, destination)   # WRONGTYPE before anything moves
    value = items.popleft() if from_left else items.pop()
    if target is None:
        target = deque()
        c.db.set(destination, target)
    if to_left:
        target.appendleft(value)
    else:
        target.append(value)
    if not items:   # (not when it was the destination too: the element went back)
        c.db.delete(source)
    return value


def lmove(c: Client, argv: list[bytes]) -> bytes | None:
    """LMOVE source destination LEFT|RIGHT LEFT|RIGHT: the element moved, nil when the source is empty."""
    from_left, to_left = _end(argv[3]), _end(argv[4])
    return _move(c, argv[1], argv[2], from_left, to_left)


def rpoplpush(c: Client, argv: list[bytes]) -> bytes | None:
    """RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT."""
    return _move(c, argv[1], argv[2], False, True)


def lmpop(c: Client, argv: list[bytes]) -> Any:
    """LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: [key, elements] from the first non-empty list."""
    keys, left, count = multi_pop_args(argv, (b"LEFT", b"RIGHT"))
    return pop_first(c, keys, deque, _take, left, count)


# ---- one pop for LMPOP/ZMPOP and the blocking forms: it signals WATCH itself ---------------------------------
def _take(c: Client, key: bytes, left: bool, count: int | None) -> list[Any] | None:   # (multipop.Take)
    """``[key, element]`` (``[key, [elements]]`` with a count) popped from the list at ``key``; None if it has none."""
    items = c.db.get(key)
    if items.__class__ is not deque:   # missing, or another type by the time a blocked client tries
        return None
    take = items.popleft if left else items.pop
    value: Any = take() if count is None else [take() for _ in range(min(count, len(items)))]
    if not items:
        c.db.delete(key)
    if c.db.watched:
        c.db.touch(key)
    return [key, value]


def blpop(c: Client, argv: list[bytes]) -> Any:
    """BLPOP key [key ...] timeout: [key, element] from the first list with one, waiting up to ``timeout`` s."""
    return blocking.pop_command(c, argv, deque, _take, True)


def brpop(c: Client, argv: list[bytes]) -> Any:
    """BRPOP key [key ...] timeout."""
    return blocking.pop_command(c, argv, deque, _take, False)


def _blocking_move(c: Client, argv: list[bytes], from_left: bool, to_left: bool, timeout: float) -> Any:
    source, destination = argv[1], argv[2]

    def attempt(key: bytes) -> bytes | None:
        value = _move(c, source, destination, from_left, to_left)
        if value is not None and c.db.watched:
            c.db.touch(source)
            c.db.touch(destination)
        return value
    return blocking.pop_or_block(c, [source], timeout, attempt, lambda key: bool(_list(c, key)), None, argv)


def blmove(c: Client, argv: list[bytes]) -> Any:
    """BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout."""
    from_left, to_left = _end(argv[3]), _end(argv[4])
    return _blocking_move(c, argv, from_left, to_left, blocking.parse_timeout(argv[5]))


def brpoplpush(c: Client, argv: list[bytes]) -> Any:
    """BRPOPLPUSH source destination timeout: BLMOVE source destination RIGHT LEFT timeout."""
    return _blocking_move(c, argv, False, True, blocking.parse_timeout(argv[3]))


def blmpop(c: Client, argv: list[bytes]) -> Any:
    """BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]."""
    return blocking.multi_pop_command(c, argv, deque, _take, (b"LEFT", b"RIGHT"))


def _span(start: int, end: int, n: int) -> tuple[int, int]:
    """Redis's inclusive index range normalised to [start, stop) (empty when start >= stop)."""
    if start < 0:
        start = max(0, n + start)
    if end < 0:
        end = n + end
    if start > end or start >= n:
        return 0, 0
    return start, min(end, n - 1) + 1


def lrange(c: Client, argv: list[bytes]) -> list[bytes]:
    """LRANGE key start stop."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    items = _list(c, argv[1])
    if items is None:
        return []
    lo, hi = _span(start, end, len(items))
    if hi - lo == len(items):
        return list(items)
    if lo > len(items) // 2:
        tail = list(islice(reversed(items), len(items) - hi, len(items) - lo))
        tail.reverse()
        return tail
    return list(islice(items, lo, hi))


def llen(c: Client, argv: list[bytes]) -> int:
    """LLEN key."""
    items = _list(c, argv[1])
    return 0 if items is None else len(items)


def lindex(c: Client, argv: list[bytes]) -> bytes | None:
    """LINDEX key index."""
    items = _list(c, argv[1])
    if items is None:
        return None
    index = parse_int(argv[2])
    return items[index] if -len(items) <= index < len(items) else None


def lset(c: Client, argv: list[bytes]) -> Any:
    """LSET key index element."""
    items = _list(c, argv[1])
    if items is None:
        raise CommandError(errors.NO_SUCH_KEY)
    index = parse_int(argv[2])
    if not -len(items) <= index < len(items):
        raise CommandError(errors.INDEX_OUT_OF_RANGE)
    items[index] = argv[3]
    return OK


def lrem(c: Client, argv: list[bytes]) -> int:
    """LREM key count element: 0 removes all, >0 from the head, <0 from the tail."""
    count = parse_int(argv[2])
    items = _list(c, argv[1])
    if items is None:
        return 0
    target = argv[3]
    limit = abs(count) or len(items)
    source = list(reversed(items)) if count < 0 else list(items)
    kept: list[bytes] = []
    removed = 0
    for item in source:
        if removed < limit and item == target:
            removed += 1
        else:
            kept.append(item)
    if removed:
        if count < 0:
            kept.reverse()
        items.clear()
        items.extend(kept)
        if not items:
            c.db.delete(argv[1])
    return removed


def ltrim(c: Client, argv: list[bytes]) -> Any:
    """LTRIM key start stop: keep only the given range."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    items = _list(c, argv[1])
    if items is None:
        return OK
    lo, hi = _span(start, end, len(items))
    for _ in range(len(items) - hi):
        items.pop()
    for _ in range(lo):
        items.popleft()
    if not items or hi == lo:
        c.db.delete(argv[1])
    return OK


def linsert(c: Client, argv: list[bytes]) -> int:
    """LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without the key."""
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(errors.SYNTAX)
    items = _list(c, argv[1])
    if items is None:
        return 0
    try:
        index = items.index(argv[3])
    except ValueError:
        return -1
    items.insert(index + (where == b"AFTER"), argv[4])
    return len(items)


def _lpos_options(argv: list[bytes]) -> tuple[int, int | None, int]:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(argv):
        word = argv[i].upper()
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        if word == b"RANK":
            rank = parse_int(argv[i + 1])
            if rank == -(1 << 63):   # Redis 7.0 negates it into itself: it acts as -1
                rank = -1
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif word == b"COUNT":
            count = parse_int(argv[i + 1], errors.LPOS_COUNT_NEGATIVE)
            if count < 0:
                raise CommandError(errors.LPOS_COUNT_NEGATIVE)
        elif word == b"MAXLEN":
            maxlen = parse_int(argv[i + 1], errors.LPOS_MAXLEN_NEGATIVE)
            if maxlen < 0:
                raise CommandError(errors.LPOS_MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return rank, count, maxlen


def lpos(c: Client, argv: list[bytes]) -> Any:
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]."""
    rank, count, maxlen = _lpos_options(argv)
    items = _list(c, argv[1])
    if items is None:
        return [] if count is not None else None
    n = len(items)
    indexes = range(n) if rank > 0 else range(n - 1, -1, -1)
    if maxlen:
        indexes = indexes[:maxlen]
    skip = abs(rank) - 1
    wanted = count if count else n
    found: list[int] = []
    target = argv[2]
    for i in indexes:
        if items[i] == target:
            if skip:
                skip -= 1
                continue
            found.append(i)
            if len(found) >= wanted:
                break
    if count is None:
        return found[0] if found else None
    return found


_l = keyed_commands("list")


COMMANDS = [
    _l("lpush", lpush, -3, "write denyoom fast", "Prepends one or more elements to a list. Creates the key if it "
       "doesn't exist.", "key element..."),
    _l("rpush", rpush, -3, "write denyoom fast", "Appends one or more elements to a list. Creates the key if it "
       "doesn't exist.", "key element..."),
    _l("lpushx", lpushx, -3, "write denyoom fast", "Prepends one or more elements to a list only when the list "
       "exists.", "key element...", "2.2.0"),
    _l("rpushx", rpushx, -3, "write denyoom fast", "Appends an element to a list only when the list exists.",
       "key element...", "2.2.0"),
    _l("lpop", lpop, -2, "write fast", "Returns the first elements in a list after removing it. Deletes the list if "
       "the last element was popped.", "key [count]"),
    _l("rpop", rpop, -2, "write fast", "Returns and removes the last elements of a list. Deletes the list if the "
       "last element was popped.", "key [count]"),
    _l("lrange", lrange, 4, "readonly", "Returns a range of elements from a list.", "key start stop"),
    _l("llen", llen, 2, "readonly fast", "Returns the length of a list.", "key"),
    _l("lindex", lindex, 3, "readonly", "Returns an element from a list by its index.", "key index"),
    _l("lset", lset, 4, "write denyoom", "Sets the value of an element in a list by its index.",
       "key index element"),
    _l("lrem", lrem, 4, "write", "Removes elements from a list. Deletes the list if the last element was removed.",
       "key count element"),
    _l("ltrim", ltrim, 4, "write", "Removes elements from both ends a list. Deletes the list if all elements were "
       "trimmed.", "key start stop"),
    _l("linsert", linsert, 5, "write denyoom", "Inserts an element before or after another element in a list.",
       "key where pivot element", "2.2.0"),
    _l("lpos", lpos, -3, "readonly", "Returns the index of matching elements in a list.",
       "key element [rank] [num-matches] [len]", "6.0.6"),
    _l("lmove", lmove, 5, "write denyoom", "Returns an element after popping it from one list and pushing it to "
       "another. Deletes the list if the last element was moved.", "source destination wherefrom whereto", "6.2.0",
       keys=(1, 2, 1)),
    _l("rpoplpush", rpoplpush, 3, "write denyoom", "Returns the last element of a list after removing and pushing "
       "it to another list. Deletes the list if the last element was popped.", "source destination", "1.2.0",
       keys=(1, 2, 1)),
    _l("lmpop", lmpop, -4, "write movablekeys",
       "Returns multiple elements from a list after removing them. Deletes the list if "
       "the last element was popped.", "numkeys key... LEFT|RIGHT [COUNT count]", "7.0.0", keys=(0, 0, 0)),
    _l("blpop", blpop, -3, "write noscript blocking", "Removes and returns the first element in a list. Blocks until "
       "an element is available otherwise. Deletes the list if the last element was popped.", "key... timeout",
       "2.0.0", keys=(1, -2, 1)),
    _l("brpop", brpop, -3, "write noscript blocking", "Removes and returns the last element in a list. Blocks until "
       "an element is available otherwise. Deletes the list if the last element was popped.", "key... timeout",
       "2.0.0", keys=(1, -2, 1)),
    _l("blmove", blmove, 6, "write denyoom noscript blocking", "Pops an element from a list, pushes it to another "
       "list and returns it. Blocks until an element is available otherwise.",
       "source destination wherefrom whereto timeout", "6.2.0", keys=(1, 2, 1)),
    _l("brpoplpush", brpoplpush, 4, "write denyoom noscript blocking", "Pops an element from a list, pushes it to "
       "another list and returns it. Block until an element is available otherwise.", "source destination timeout",
       "2.2.0", keys=(1, 2, 1)),
    _l("blmpop", blmpop, -5, "write blocking movablekeys",
       "Pops the first element from one of multiple lists. Blocks until an "
       "element is available otherwise.", "timeout numkeys key... LEFT|RIGHT [COUNT count]", "7.0.0",
       keys=(0, 0, 0)),
]
