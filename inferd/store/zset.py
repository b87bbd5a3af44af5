"""The sorted-set value: a dict member -> score plus a list of (score, member) kept sorted with :mod:`bisect`.

Order is Redis's: by score, then by member bytes. Lookups by member are O(1); rank, range and pop are
O(log N) plus the size of the answer; insertion and removal are O(log N) searches plus a memmove, which is fast
for the sizes redis-benchmark and typical reference data use.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

_NO_MEMBER = b""


class ZSet:
    """A Redis sorted set."""

    __slots__ = ("scores", "items")
    redis_type = "zset"

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.items: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return iter(self.items)

    def score(self, member: bytes) -> float | None:
        """The member's score, or None."""
        return self.scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Insert or move ``member`` to ``score``; True if it was new.

        A score of -0.0 is kept as 0.0, as in the compact encoding of Redis's small sorted sets.
        """
        score += 0.0
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return False
            del self.items[self._index(old, member)]
        self.scores[member] = score
        insort(self.items, (score, member))
        return old is None

    def remove(self, member: bytes) -> bool:
        """Remove ``member``; True if it was there."""
        old = self.scores.pop(member, None)
        if old is None:
            return False
        del self.items[self._index(old, member)]
        return True

    def _index(self, score: float, member: bytes) -> int:
        return bisect_left(self.items, (score, member))

    def rank(self, member: bytes) -> int | None:
        """The 0-based rank of ``member`` in ascending order, or None."""
        score = self.scores.get(member)
        return None if score is None else self._index(score, member)

    def pop(self, count: int, highest: bool) -> list[tuple[float, bytes]]:
        """Remove and return up to ``count`` lowest (or highest) entries, in pop order."""
        n = len(self.items)
        if highest:
            return self.remove_span(max(0, n - count), n)[::-1]
        return self.remove_span(0, min(count, n))

    def remove_span(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Remove and return the entries at indexes [start, stop) of the sorted order."""
        items = self.items
        taken = items[start:stop]
        for _, member in taken:
            del self.scores[member]
        del items[start:stop]
        return taken

    def score_bounds(self, low: float, low_excl: bool, high: float, high_excl: bool) -> tuple[int, int]:
        """The index range [start, stop) of entries whose score lies within the bounds."""
        items = self.items
        start = bisect_right(items, low, key=_score) if low_excl else bisect_left(items, low, key=_score)
        stop = bisect_left(items, high, key=_score) if high_excl else bisect_right(items, high, key=_score)
        return start, max(start, stop)

    def lex_bounds(self, low: bytes | None, low_excl: bool, high: bytes | None, high_excl: bool,
                   from_end: bool = False) -> tuple[int, int]:
        """The index range [start, stop) of members within lex bounds (None is ``-`` for low and ``+`` for high).

        Redis defines lex ranges only over equal scores; the members are then in lex order and both ends are found by
        bisection. Over mixed scores the span is what Redis's compact encoding of a small sorted set (up to 128
        members of up to 64 bytes) gives: the first entry in score order (``from_end``: the last) inside the bound
        it is sought by, if it is inside the other one too, and the entries next to it while they stay inside that one.
        """
        items = self.items
        if not items or items[0][0] == items[-1][0]:
            if low is None:
                start = 0
            else:
                start = bisect_right(items, low, key=_member) if low_excl else bisect_left(items, low, key=_member)
            if high is None:
                stop = len(items)
            else:
                stop = bisect_left(items, high, key=_member) if high_excl else bisect_right(items, high, key=_member)
            return start, max(start, stop)
        if low is not None and high is not None and (low > high or (low == high and (low_excl or high_excl))):
            return 0, 0

        def above(member: bytes) -> bool:
            return low is None or (member > low if low_excl else member >= low)

        def below(member: bytes) -> bool:
            return high is None or (member < high if high_excl else member <= high)

        n = len(items)
        if not above(items[-1][1]) or not below(items[0][1]):
            return 0, 0
        if from_end:
            last = next(i for i in range(n - 1, -1, -1) if below(items[i][1]))
            if not above(items[last][1]):
                return 0, 0
            first = last
            while first > 0 and above(items[first - 1][1]):
                first -= 1
            return first, last + 1
        first = next(i for i in range(n) if above(items[i][1]))
        if not below(items[first][1]):
            return 0, 0
        last = first
        while last + 1 < n and below(items[last + 1][1]):
            last += 1
        return first, last + 1

    def copy(self) -> ZSet:
        """An independent copy (COPY)."""
        other = ZSet()
        other.scores = dict(self.scores)
        other.items = list(self.items)
        return other


def _score(entry: tuple[float, bytes]) -> float:
    return entry[0]


def _member(entry: tuple[float, bytes]) -> bytes:
    return entry[1]
