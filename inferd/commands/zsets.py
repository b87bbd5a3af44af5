"""Sorted-set commands over :class:`~inferd.store.zset.ZSet`; scores are replied as Redis 7.0 doubles."""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from inferd import errors
from inferd.commands import blocking
from inferd.commands.args import c_float, parse_int, parse_nonneg, underflowed
from inferd.commands.context import Client
from inferd.commands.multipop import multi_pop_args, pop_first
from inferd.commands.sampling import pick, random_count
from inferd.commands.scanning import SMALL_COLLECTION, parse_cursor, parse_scan_options, scan_collection
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError
from inferd.resp.encoder import RedisDouble
from inferd.store.zset import ZSet

_C_SPACE = b" \t\n\v\f\r"
_ZADD_FLAGS = (b"NX", b"XX", b"CH", b"INCR", b"GT", b"LT")


def _zset(c: Client, key: bytes) -> ZSet | None:
    return c.db.get_typed(key, ZSet)


def parse_score(raw: bytes, message: str = errors.NOT_FLOAT) -> float:
    """A double as Redis's getDoubleFromObject reads it (strtod; no spaces, no NaN, no overflow, no underflow to 0)."""
    text = raw.decode("ascii", "replace")
    if not text or text[0] in " \t\n\v\f\r" or text != text.rstrip() or "_" in text:
        raise CommandError(message)
    try:
        value = c_float(text)
    except ValueError:
        raise CommandError(message) from None
    if math.isnan(value) or (math.isinf(value) and "inf" not in text.lower()) or underflowed(text, value):
        raise CommandError(message)
    return value


def score_reply(entries: list[tuple[float, bytes]], withscores: bool, resp3: bool) -> list[Any]:
    if not withscores:
        return [member for _, member in entries]
    if resp3:
        return [[member, RedisDouble(score)] for score, member in entries]
    return [x for score, member in entries for x in (member, RedisDouble(score))]


# ---- ZADD and friends -----------------------------------------------------------------------------------
def _zadd_options(argv: list[bytes]) -> tuple[set[bytes], int]:
    flags: set[bytes] = set()
    i = 2
    while i < len(argv) and argv[i].upper() in _ZADD_FLAGS:
        flags.add(argv[i].upper())
        i += 1
    pairs = len(argv) - i
    if pairs == 0 or pairs % 2:
        raise CommandError(errors.SYNTAX)
    if b"NX" in flags and b"XX" in flags:
        raise CommandError(errors.ZADD_XX_NX)
    if len(flags & {b"GT", b"LT", b"NX"}) > 1:
        raise CommandError(errors.ZADD_GT_LT_NX)
    if b"INCR" in flags and pairs > 2:
        raise CommandError(errors.ZADD_INCR_PAIR)
    return flags, i


def _zadd_one(zs: ZSet, member: bytes, score: float, flags: set[bytes]) -> tuple[str, float]:
    """Redis's zsetAdd: ('added'|'updated'|'same'|'nop', resulting score)."""
    current = zs.score(member)
    if current is None:
        if b"XX" in flags:
            return "nop", score
        zs.add(member, score)
        return "added", score
    if b"NX" in flags:
        return "nop", current
    if b"INCR" in flags:
        score += current
        if math.isnan(score):
            raise CommandError(errors.SCORE_NAN)
    if (b"LT" in flags and score >= current) or (b"GT" in flags and score <= current):
        return "nop", current
    if score != current:
        zs.add(member, score)
        return "updated", score
    return "same", score


def _zadd_generic(c: Client, argv: list[bytes], flags: set[bytes], first: int) -> Any:
    scores = [parse_score(raw) for raw in argv[first::2]]
    members = argv[first + 1::2]
    zs = _zset(c, argv[1])
    if zs is None:
        if b"XX" in flags:
            c.unchanged = bool(c.db.watched)
            return None if b"INCR" in flags else 0
        zs = ZSet()
        c.db.set(argv[1], zs)
    added = changed = 0
    result: float | None = None
    try:
        for score, member in zip(scores, members, strict=True):
            outcome, result = _zadd_one(zs, member, score, flags)
            added += outcome == "added"
            changed += outcome in ("added", "updated")
            if outcome == "nop":
                result = None
    finally:
        if not zs:
            c.db.delete(argv[1])
    if not changed:   # every member at its own score, or refused by NX/XX/GT/LT: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
    if b"INCR" in flags:
        return None if result is None else RedisDouble(result)
    return changed if b"CH" in flags else added


def zadd(c: Client, argv: list[bytes]) -> Any:
    """ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]."""
    flags, first = _zadd_options(argv)
    return _zadd_generic(c, argv, flags, first)


def zincrby(c: Client, argv: list[bytes]) -> Any:
    """ZINCRBY key increment member (Redis reads ZADD's flags here too: a flag as the increment is a syntax error)."""
    flags, first = _zadd_options(argv)
    return _zadd_generic(c, argv, flags | {b"INCR"}, first)


def zscore(c: Client, argv: list[bytes]) -> RedisDouble | None:
    """ZSCORE key member."""
    zs = _zset(c, argv[1])
    score = None if zs is None else zs.score(argv[2])
    return None if score is None else RedisDouble(score)


def zmscore(c: Client, argv: list[bytes]) -> list[RedisDouble | None]:
    """ZMSCORE key member [member ...]."""
    zs = _zset(c, argv[1]) or ZSet()
    scores = [zs.score(m) for m in argv[2:]]
    return [None if s is None else RedisDouble(s) for s in scores]


def zrem(c: Client, argv: list[bytes]) -> int:
    """ZREM key member [member ...]: the number removed."""
    zs = _zset(c, argv[1])
    if zs is None:
        return 0
    removed = sum(1 for m in argv[2:] if zs.remove(m))
    if not zs:
        c.db.delete(argv[1])
    return removed


def zcard(c: Client, argv: list[bytes]) -> int:
    """ZCARD key."""
    return len(_zset(c, argv[1]) or ())


def _rank(c: Client, argv: list[bytes], reverse: bool) -> int | None:
    zs = _zset(c, argv[1])
    rank = None if zs is None else zs.rank(argv[2])
    if rank is None or zs is None:
        return None
    return len(zs) - 1 - rank if reverse else rank


def zrank(c: Client, argv: list[bytes]) -> int | None:
    """ZRANK key member."""
    return _rank(c, argv, False)


def zrevrank(c: Client, argv: list[bytes]) -> int | None:
    """ZREVRANK key member."""
    return _rank(c, argv, True)


# ---- ranges ---------------------------------------------------------------------------------------------
def _range_float(raw: bytes) -> tuple[float, bool]:
    """A score bound as zslParseRange reads it: '(' makes it exclusive; strtod rules otherwise."""
    exclusive = raw[:1] == b"("
    body = raw[1:] if exclusive else raw
    text = body.lstrip(_C_SPACE).decode("ascii", "replace")
    if not body:
        return 0.0, exclusive
    try:
        if not text or text != text.rstrip() or "_" in text:
            raise ValueError
        value = c_float(text)
    except ValueError:
        raise CommandError(errors.MIN_MAX_NOT_FLOAT) from None
    if math.isnan(value):
        raise CommandError(errors.MIN_MAX_NOT_FLOAT)
    return value, exclusive


def _lex_item(raw: bytes) -> tuple[int, bytes, bool]:
    """A lex bound: (-1 for '-', 1 for '+', 0 for a value; value; exclusive)."""
    if raw == b"-":
        return -1, b"", False
    if raw == b"+":
        return 1, b"", False
    if raw[:1] == b"(":
        return 0, raw[1:], True
    if raw[:1] == b"[":
        return 0, raw[1:], False
    raise CommandError(errors.MIN_MAX_NOT_STRING)


def _lex_span(zs: ZSet, low_raw: bytes, high_raw: bytes, from_end: bool = False) -> tuple[int, int]:
    low, high = _lex_item(low_raw), _lex_item(high_raw)
    if low[0] == 1 or high[0] == -1:
        return 0, 0
    return zs.lex_bounds(low[1] if low[0] == 0 else None, low[2], high[1] if high[0] == 0 else None, high[2],
                         from_end)


class RangeQuery:
    """A parsed ZRANGE-family request (Redis's zrangeGenericCommand)."""

    def __init__(self, argv: list[bytes], first: int, by: str, reverse: bool | None, store: bool) -> None:
        self.by, self.reverse, self.withscores = by, reverse, False
        self.offset, self.limit = 0, -1
        self._parse_options(argv, first + 3, store)
        if self.limit != -1 and self.by == "rank":
            raise CommandError(errors.LIMIT_WITH_COUNT)
        if self.withscores and self.by == "lex":
            raise CommandError(errors.WITHSCORES_WITH_BYLEX)
        low, high = argv[first + 1], argv[first + 2]
        if self.reverse and self.by != "rank":
            low, high = high, low
        self.low, self.high = low, high
        if self.by == "rank":
            self.start, self.stop = parse_int(low), parse_int(high)
        elif self.by == "score":
            self.score_low, self.score_high = _range_float(low), _range_float(high)
        else:
            _lex_item(low)
            _lex_item(high)

    def _parse_options(self, argv: list[bytes], i: int, store: bool) -> None:
        while i < len(argv):
            word = argv[i].upper()
            if word == b"WITHSCORES" and not store:
                self.withscores = True
            elif word == b"LIMIT" and len(argv) - i - 1 >= 2:
                self.offset, self.limit = parse_int(argv[i + 1]), parse_int(argv[i + 2])
                i += 2
            elif word == b"REV" and self.reverse is None:
                self.reverse = True
            elif word in (b"BYLEX", b"BYSCORE") and self.by == "auto":
                self.by = "lex" if word == b"BYLEX" else "score"
            else:
                raise CommandError(errors.SYNTAX)
            i += 1
        self.reverse = bool(self.reverse)
        if self.by == "auto":
            self.by = "rank"

    def run(self, zs: ZSet) -> list[tuple[float, bytes]]:
        """The selected entries, in reply order."""
        items = zs.items
        n = len(items)
        if self.by == "rank":
            start, stop = _rank_span(zs, self.start, self.stop)
            if self.reverse:
                return items[n - stop:n - start][::-1]
            return items[start:stop]
        if self.by == "score":
            (low, low_ex), (high, high_ex) = self.score_low, self.score_high
            lo, hi = zs.score_bounds(low, low_ex, high, high_ex)
        else:
            lo, hi = _lex_span(zs, self.low, self.high, bool(self.reverse))
        selected = items[lo:hi][::-1] if self.reverse else items[lo:hi]
        if self.offset < 0:
            return []
        end = None if self.limit < 0 else self.offset + self.limit
        return selected[self.offset:end]


def _range_reply(c: Client, argv: list[bytes], by: str, reverse: bool | None) -> list[Any]:
    query = RangeQuery(argv, 1, by, reverse, store=False)
    zs = _zset(c, argv[1])
    if zs is None:
        return []
    return score_reply(query.run(zs), query.withscores, c.resp3)


def zrange(c: Client, argv: list[bytes]) -> list[Any]:
    """ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]."""
    return _range_reply(c, argv, "auto", None)


def zrevrange(c: Client, argv: list[bytes]) -> list[Any]:
    """ZREVRANGE key start stop [WITHSCORES]."""
    return _range_reply(c, argv, "rank", True)


def zrangebyscore(c: Client, argv: list[bytes]) -> list[Any]:
    """ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]."""
    return _range_reply(c, argv, "score", False)


def zrevrangebyscore(c: Client, argv: list[bytes]) -> list[Any]:
    """ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]."""
    return _range_reply(c, argv, "score", True)


def zrangebylex(c: Client, argv: list[bytes]) -> list[Any]:
    """ZRANGEBYLEX key min max [LIMIT offset count]."""
    return _range_reply(c, argv, "lex", False)


def zrevrangebylex(c: Client, argv: list[bytes]) -> list[Any]:
    """ZREVRANGEBYLEX key max min [LIMIT offset count]."""
    return _range_reply(c, argv, "lex", True)


def zrangestore(c: Client, argv: list[bytes]) -> int:
    """ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: the size of the stored range."""
    query = RangeQuery(argv, 2, "auto", None, store=True)
    src = _zset(c, argv[2])
    entries = query.run(src) if src is not None else []
    existed = c.db.delete(argv[1])
    if entries:
        result = ZSet()
        for score, member in entries:
            result.add(member, score)
        c.db.set(argv[1], result)
    elif not existed:   # an empty range over no key changed nothing: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
    return len(entries)


def zcount(c: Client, argv: list[bytes]) -> int:
    """ZCOUNT key min max."""
    (low, low_ex), (high, high_ex) = _range_float(argv[2]), _range_float(argv[3])
    zs = _zset(c, argv[1])
    if zs is None:
        return 0
    lo, hi = zs.score_bounds(low, low_ex, high, high_ex)
    return hi - lo


def zlexcount(c: Client, argv: list[bytes]) -> int:
    """ZLEXCOUNT key min max."""
    _lex_item(argv[2])
    _lex_item(argv[3])
    zs = _zset(c, argv[1])
    if zs is None:
        return 0
    lo, hi = _lex_span(zs, argv[2], argv[3])
    return hi - lo


def _remove_span(c: Client, key: bytes, span: Callable[[ZSet], tuple[int, int]]) -> int:
    """Remove the entries ``span(zs)`` selects ([start, stop) indexes) from the sorted set at ``key``; the count."""
    zs = _zset(c, key)
    if zs is None:
        return 0
    removed = len(zs.remove_span(*span(zs)))
    if not zs:
        c.db.delete(key)
    return removed


def zremrangebyscore(c: Client, argv: list[bytes]) -> int:
    """ZREMRANGEBYSCORE key min max: the number of members removed."""
    (low, low_ex), (high, high_ex) = _range_float(argv[2]), _range_float(argv[3])
    return _remove_span(c, argv[1], lambda zs: zs.score_bounds(low, low_ex, high, high_ex))


def zremrangebylex(c: Client, argv: list[bytes]) -> int:
    """ZREMRANGEBYLEX key min max: the number of members removed."""
    _lex_item(argv[2])
    _lex_item(argv[3])
    return _remove_span(c, argv[1], lambda zs: _lex_span(zs, argv[2], argv[3]))


def _rank_span(zs: ZSet, start: int, stop: int) -> tuple[int, int]:
    """Redis's rank range (negative counts from the end, clamped): as [start, stop) indexes, empty when none."""
    n = len(zs)
    start = max(0, start + n if start < 0 else start)
    stop = stop + n if stop < 0 else stop
    if start > stop or start >= n:
        return 0, 0
    return start, min(stop, n - 1) + 1


def zremrangebyrank(c: Client, argv: list[bytes]) -> int:
    """ZREMRANGEBYRANK key start stop: the number of members removed."""
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    return _remove_span(c, argv[1], lambda zs: _rank_span(zs, start, stop))


# ---- pops and scans -------------------------------------------------------------------------------------
def _pop(c: Client, argv: list[bytes], highest: bool) -> list[Any]:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = parse_nonneg(argv[2], errors.NOT_POSITIVE) if len(argv) == 3 else None
    zs = _zset(c, argv[1])
    if zs is None or count == 0:
        return []
    entries = zs.pop(1 if count is None else count, highest)
    if not zs:
        c.db.delete(argv[1])
    return score_reply(entries, True, c.resp3 and count is not None)


def zpopmin(c: Client, argv: list[bytes]) -> list[Any]:
    """ZPOPMIN key [count]."""
    return _pop(c, argv, False)


def zpopmax(c: Client, argv: list[bytes]) -> list[Any]:
    """ZPOPMAX key [count]."""
    return _pop(c, argv, True)


def zmpop(c: Client, argv: list[bytes]) -> Any:
    """ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: [key, [[member, score], ...]] from the first non-empty set."""
    keys, lowest, count = multi_pop_args(argv, (b"MIN", b"MAX"))
    return pop_first(c, keys, ZSet, _take, lowest, count)


# ---- one pop for LMPOP/ZMPOP and the blocking forms: it signals WATCH itself ---------------------------------
def _take(c: Client, key: bytes, lowest: bool, count: int | None) -> list[Any] | None:   # (multipop.Take)
    """``[key, member, score]`` (``[key, [[member, score], ...]]`` with a count) popped at ``key``; None if empty."""
    zs = c.db.get(key)
    if zs.__class__ is not ZSet:   # missing, or another type by the time a blocked client tries
        return None
    popped = zs.pop(1 if count is None else count, not lowest)
    if not zs:
        c.db.delete(key)
    if c.db.watched:
        c.db.touch(key)
    if count is None:
        return [key, popped[0][1], RedisDouble(popped[0][0])]
    return [key, [[member, RedisDouble(score)] for score, member in popped]]


def bzpopmin(c: Client, argv: list[bytes]) -> Any:
    """BZPOPMIN key [key ...] timeout: [key, member, score] from the first sorted set with a member."""
    return blocking.pop_command(c, argv, ZSet, _take, True)


def bzpopmax(c: Client, argv: list[bytes]) -> Any:
    """BZPOPMAX key [key ...] timeout."""
    return blocking.pop_command(c, argv, ZSet, _take, False)


def bzmpop(c: Client, argv: list[bytes]) -> Any:
    """BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]."""
    return blocking.multi_pop_command(c, argv, ZSet, _take, (b"MIN", b"MAX"))


def zrandmember(c: Client, argv: list[bytes]) -> Any:
    """ZRANDMEMBER key [count [WITHSCORES]]: a negative count may repeat members."""
    if len(argv) == 2:
        zs = _zset(c, argv[1])
        return random.choice(zs.items)[1] if zs else None
    count, withscores = random_count(argv, b"WITHSCORES")
    zs = _zset(c, argv[1])
    if not zs or count == 0:
        return []
    chosen = [(score, member) for member, score in pick(list(zs.scores.items()), count)]
    return score_reply(chosen, withscores, c.resp3)


def zscan(c: Client, argv: list[bytes]) -> list[Any]:
    """ZSCAN key cursor [MATCH pattern] [COUNT count]: members and scores as bulk strings."""
    cursor = parse_cursor(argv[2])
    zs = _zset(c, argv[1])
    if zs is None:
        return [b"0", []]
    match, count, _ = parse_scan_options(argv, 3, allow_type=False)
    small = len(zs) <= SMALL_COLLECTION
    members = (m for _, m in zs.items) if small else zs.scores
    next_cursor, found = scan_collection(members, small, cursor, count)
    scores = zs.scores
    return [b"%d" % next_cursor, [x for m in found if match(m) for x in (m, b"%.17g" % scores[m])]]


_zc = keyed_commands("sorted-set", since="1.2.0")


COMMANDS = [
    _zc("zadd", zadd, -4, "write denyoom fast", "Adds one or more members to a sorted set, or updates their scores. "
        "Creates the key if it doesn't exist.", "key [condition] [comparison] [change] [increment] data..."),
    _zc("zincrby", zincrby, 4, "write denyoom fast", "Increments the score of a member in a sorted set.",
        "key increment member"),
    _zc("zscore", zscore, 3, "readonly fast", "Returns the score of a member in a sorted set.", "key member"),
    _zc("zmscore", zmscore, -3, "readonly fast", "Returns the score of one or more members in a sorted set.",
        "key member...", "6.2.0"),
    _zc("zrem", zrem, -3, "write fast", "Removes one or more members from a sorted set. Deletes the sorted set if "
        "all members were removed.", "key member..."),
    _zc("zcard", zcard, 2, "readonly fast", "Returns the number of members in a sorted set.", "key"),
    _zc("zrank", zrank, 3, "readonly fast", "Returns the index of a member in a sorted set ordered by ascending "
        "scores.", "key member", "2.0.0"),
    _zc("zrevrank", zrevrank, 3, "readonly fast", "Returns the index of a member in a sorted set ordered by "
        "descending scores.", "key member", "2.0.0"),
    _zc("zrange", zrange, -4, "readonly", "Returns members in a sorted set within a range of indexes.",
        "key start stop [sortby] [rev] [limit] [withscores]"),
    _zc("zrevrange", zrevrange, -4, "readonly", "Returns members in a sorted set within a range of indexes in "
        "reverse order.", "key start stop [withscores]"),
    _zc("zrangebyscore", zrangebyscore, -4, "readonly", "Returns members in a sorted set within a range of scores.",
        "key min max [withscores] [limit]", "1.0.5"),
    _zc("zrevrangebyscore", zrevrangebyscore, -4, "readonly", "Returns members in a sorted set within a range of "
        "scores in reverse order.", "key max min [withscores] [limit]", "2.2.0"),
    _zc("zrangebylex", zrangebylex, -4, "readonly", "Returns members in a sorted set within a lexicographical range.",
        "key min max [limit]", "2.8.9"),
    _zc("zrevrangebylex", zrevrangebylex, -4, "readonly", "Returns members in a sorted set within a "
        "lexicographical range in reverse order.", "key max min [limit]", "2.8.9"),
    _zc("zrangestore", zrangestore, -5, "write denyoom", "Stores a range of members from sorted set in a key.",
        "dst src min max [sortby] [rev] [limit]", "6.2.0", keys=(1, 2, 1)),
    _zc("zcount", zcount, 4, "readonly fast", "Returns the count of members in a sorted set that have scores within "
        "a range.", "key min max", "2.0.0"),
    _zc("zlexcount", zlexcount, 4, "readonly fast", "Returns the number of members in a sorted set within a "
        "lexicographical range.", "key min max", "2.8.9"),
    _zc("zremrangebyscore", zremrangebyscore, 4, "write", "Removes members in a sorted set within a range of "
        "scores. Deletes the sorted set if all members were removed.", "key min max", "1.2.0"),
    _zc("zremrangebyrank", zremrangebyrank, 4, "write", "Removes members in a sorted set within a range of indexes. "
        "Deletes the sorted set if all members were removed.", "key start stop", "2.0.0"),
    _zc("zremrangebylex", zremrangebylex, 4, "write", "Removes members in a sorted set within a lexicographical "
        "range. Deletes the sorted set if all members were removed.", "key min max", "2.8.9"),
    _zc("zpopmin", zpopmin, -2, "write fast", "Returns the lowest-scoring members from a sorted set after removing "
        "them. Deletes the sorted set if the last member was popped.", "key [count]", "5.0.0"),
    _zc("zpopmax", zpopmax, -2, "write fast", "Returns the highest-scoring members from a sorted set after removing "
        "them. Deletes the sorted set if the last member was popped.", "key [count]", "5.0.0"),
    _zc("zmpop", zmpop, -4, "write movablekeys",
        "Returns the highest- or lowest-scoring members from one or more sorted sets "
        "after removing them. Deletes the sorted set if the last member was popped.",
        "numkeys key... MIN|MAX [COUNT count]", "7.0.0", keys=(0, 0, 0)),
    _zc("bzpopmin", bzpopmin, -3, "write noscript blocking fast", "Removes and returns the member with the lowest "
        "score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if "
        "the last element was popped.", "key... timeout", "5.0.0", keys=(1, -2, 1)),
    _zc("bzpopmax", bzpopmax, -3, "write noscript blocking fast", "Removes and returns the member with the highest "
        "score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if "
        "the last element was popped.", "key... timeout", "5.0.0", keys=(1, -2, 1)),
    _zc("bzmpop", bzmpop, -5, "write blocking movablekeys",
        "Removes and returns a member by score from one or more sorted sets. "
        "Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "timeout numkeys key... MIN|MAX [COUNT count]", "7.0.0", keys=(0, 0, 0)),
    _zc("zrandmember", zrandmember, -2, "readonly", "Returns one or more random members from a sorted set.",
        "key [count [WITHSCORES]]", "6.2.0"),
    _zc("zscan", zscan, -3, "readonly", "Iterates over members and scores of a sorted set.",
        "key cursor [pattern] [count]", "2.8.0"),
]
