"""Sorted-set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD (Redis's zunionInterDiffGenericCommand).

Sources may be sorted sets or sets (members of a set score 1); a missing key is empty.
"""
from __future__ import annotations

import math
from typing import Any

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import keyed_commands
from inferd.commands.zsets import parse_score, score_reply
from inferd.errors import CommandError
from inferd.store.zset import ZSet


class SetAlgebra:
    """A parsed ZUNION-family request (Redis's zunionInterDiffGenericCommand): sources, weights, aggregate, options.

    Sources may be sorted sets or sets (members of a set score 1); a missing key is empty. Types are checked as the
    keys are read, before the options.
    """

    def __init__(self, c: Client, argv: list[bytes], numkeys_at: int, op: str, store: bool,
                 cardinality: bool = False) -> None:
        count = parse_int(argv[numkeys_at])
        if count < 1:
            raise CommandError(errors.ZSET_OP_NO_KEYS.format(argv[0].decode("utf-8", "replace").lower()))
        if count > len(argv) - numkeys_at - 1:
            raise CommandError(errors.SYNTAX)
        first = numkeys_at + 1
        self.sources = [_scores_of(c, key) for key in argv[first:first + count]]
        self.weights = [1.0] * count
        self.aggregate, self.withscores, self.limit = b"SUM", False, 0
        i = first + count
        while i < len(argv):
            word, left = argv[i].upper(), len(argv) - i
            if op != "diff" and not cardinality and word == b"WEIGHTS" and left >= count + 1:
                self.weights = [parse_score(raw, errors.WEIGHT_NOT_FLOAT) for raw in argv[i + 1:i + 1 + count]]
                i += 1 + count
            elif op != "diff" and not cardinality and word == b"AGGREGATE" and left >= 2:
                self.aggregate = argv[i + 1].upper()
                if self.aggregate not in (b"SUM", b"MIN", b"MAX"):
                    raise CommandError(errors.SYNTAX)
                i += 2
            elif not store and not cardinality and word == b"WITHSCORES":
                self.withscores = True
                i += 1
            elif cardinality and word == b"LIMIT" and left >= 2:
                self.limit = parse_int(argv[i + 1], errors.LIMIT_NEGATIVE)
                if self.limit < 0:
                    raise CommandError(errors.LIMIT_NEGATIVE)
                i += 2
            else:
                raise CommandError(errors.SYNTAX)
        self.op = op

    def _combine(self, score: float, value: float) -> float:
        if self.aggregate == b"SUM":
            total = score + value
            return 0.0 if math.isnan(total) else total
        return min(score, value) if self.aggregate == b"MIN" else max(score, value)

    def result(self) -> dict[bytes, float]:
        """Member -> score of the union, intersection or difference."""
        weighted = list(zip(self.sources, self.weights, strict=True))
        if self.op == "diff":
            base, others = self.sources[0], self.sources[1:]
            return {m: s for m, s in base.items() if not any(m in other for other in others)}
        weighted.sort(key=lambda pair: len(pair[0]))   # smallest first, as Redis (a stable sort, as glibc's)
        out: dict[bytes, float] = {}
        if self.op == "inter":
            (smallest, weight), rest = weighted[0], weighted[1:]
            for member, score in smallest.items():
                total = _weighted(score, weight)
                for other, other_weight in rest:
                    value = other.get(member)
                    if value is None:
                        break
                    total = self._combine(total, value * other_weight)   # (as Redis: not zeroed if NaN here)
                else:
                    out[member] = total
            return out
        for source, weight in weighted:
            for member, score in source.items():
                value = _weighted(score, weight)
                out[member] = self._combine(out[member], value) if member in out else value
        return out

    def intersection_size(self) -> int:
        """ZINTERCARD: the intersection's size, counted up to LIMIT (0: no limit)."""
        smallest, *rest = sorted(self.sources, key=len)
        found = 0
        for member in smallest:
            if all(member in other for other in rest):
                found += 1
                if found == self.limit:
                    break
        return found


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    return 0.0 if math.isnan(value) else value


def _scores_of(c: Client, key: bytes) -> dict[bytes, float]:
    """A source's member -> score: a sorted set's own, a set's members at 1, nothing for a missing key."""
    value = c.db.get(key)
    if value is None:
        return {}
    if value.__class__ is ZSet:
        return value.scores   # type: ignore[no-any-return]
    if value.__class__ is set:
        return dict.fromkeys(value, 1.0)
    raise CommandError(errors.WRONGTYPE)


def _as_zset(scores: dict[bytes, float]) -> ZSet:
    zs = ZSet()
    for member, score in scores.items():
        zs.add(member, score)
    return zs


def _algebra_reply(c: Client, argv: list[bytes], op: str) -> list[Any]:
    query = SetAlgebra(c, argv, 1, op, store=False)
    entries = sorted((score, member) for member, score in query.result().items())   # (-0.0 kept, unlike a stored set)
    return score_reply(entries, query.withscores, c.resp3)


def _algebra_store(c: Client, argv: list[bytes], op: str) -> int:
    scores = SetAlgebra(c, argv, 2, op, store=True).result()
    existed = c.db.delete(argv[1])
    if scores:
        c.db.set(argv[1], _as_zset(scores))
    elif not existed:   # an empty result over no key changed nothing: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
    return len(scores)


def zunion(c: Client, argv: list[bytes]) -> list[Any]:
    """ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]."""
    return _algebra_reply(c, argv, "union")


def zinter(c: Client, argv: list[bytes]) -> list[Any]:
    """ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]."""
    return _algebra_reply(c, argv, "inter")


def zdiff(c: Client, argv: list[bytes]) -> list[Any]:
    """ZDIFF numkeys key [key ...] [WITHSCORES]: the first set's members in none of the others."""
    return _algebra_reply(c, argv, "diff")


def zunionstore(c: Client, argv: list[bytes]) -> int:
    """ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]."""
    return _algebra_store(c, argv, "union")


def zinterstore(c: Client, argv: list[bytes]) -> int:
    """ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]."""
    return _algebra_store(c, argv, "inter")


def zdiffstore(c: Client, argv: list[bytes]) -> int:
    """ZDIFFSTORE destination numkeys key [key ...]."""
    return _algebra_store(c, argv, "diff")


def zintercard(c: Client, argv: list[bytes]) -> int:
    """ZINTERCARD numkeys key [key ...] [LIMIT limit]."""
    return SetAlgebra(c, argv, 1, "inter", store=False, cardinality=True).intersection_size()


_za = keyed_commands("sorted-set", since="1.2.0")

COMMANDS = [
    _za("zunion", zunion, -3, "readonly movablekeys", "Returns the union of multiple sorted sets.",
        "numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]", "6.2.0", keys=(0, 0, 0)),
    _za("zinter", zinter, -3, "readonly movablekeys", "Returns the intersect of multiple sorted sets.",
        "numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]", "6.2.0", keys=(0, 0, 0)),
    _za("zdiff", zdiff, -3, "readonly movablekeys", "Returns the difference between multiple sorted sets.",
        "numkeys key... [WITHSCORES]", "6.2.0", keys=(0, 0, 0)),
    _za("zunionstore", zunionstore, -4, "write denyoom movablekeys",
        "Stores the union of multiple sorted sets in a key.",
        "destination numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX]", "2.0.0"),
    _za("zinterstore", zinterstore, -4, "write denyoom movablekeys",
        "Stores the intersect of multiple sorted sets in a key.",
        "destination numkeys key... [WEIGHTS weight...] [AGGREGATE SUM|MIN|MAX]", "2.0.0"),
    _za("zdiffstore", zdiffstore, -4, "write denyoom movablekeys",
        "Stores the difference of multiple sorted sets in a key.",
        "destination numkeys key...", "6.2.0"),
    _za("zintercard", zintercard, -3, "readonly movablekeys",
        "Returns the number of members of the intersect of multiple sorted "
        "sets.", "numkeys key... [LIMIT limit]", "7.0.0", keys=(0, 0, 0)),
]
