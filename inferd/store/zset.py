"""The sorted-set value: a dict member -> score plus the (score, member) entries kept sorted in chunks.

Order is Redis's: by score, then by member bytes. Lookups by member are O(1). The entries (:class:`Entries`) are
sorted lists of at most ``2 * CHUNK`` entries each, found by bisecting the chunks' last entries: an insertion or a
removal is two O(log N) searches and a memmove within one chunk, whatever the set's size (a single sorted list moved
half the set on each: 13 µs per ZADD at 50,000 members against 1 µs at 1,000). Each chunk's scores are also kept in an
array of doubles beside it, which the C fast path's ZADD bisects: a probe there reads a double next to the others
rather than an entry tuple and its float, a cache miss apiece in a large set. Rank, range and pop are O(log N) plus
the size of the answer; the chunks' start indexes are summed again on the first positional lookup after a change
(O(N / CHUNK)).
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain
from sys import getsizeof
from typing import Any

CHUNK = 512   # entries per chunk after a split; a chunk splits past twice as many, merges below a quarter


class _Top:
    """Sorts after every member: ``(score, TOP)`` comes after every entry of that score."""

    __slots__ = ()

    def __lt__(self, other: Any) -> bool:
        return False

    def __le__(self, other: Any) -> bool:
        return self is other

    def __gt__(self, other: Any) -> bool:
        return self is not other

    def __ge__(self, other: Any) -> bool:
        return True


TOP = _Top()


def _scores(chunk: list[tuple[float, bytes]]) -> array[float]:
    """A chunk's scores, in its order, as doubles (Entries.chunk_scores)."""
    return array("d", [entry[0] for entry in chunk])


class Entries:
    """(score, member) entries in sorted order, kept in chunks.

    A sorted list's reads (len, iteration, an index, a slice) plus :meth:`add`, :meth:`remove`, :meth:`take` (from
    either end), ``del entries[start:stop]`` and bisection.
    """

    __slots__ = ("chunks", "chunk_scores", "lasts", "length", "starts")

    def __init__(self, entries: Iterable[tuple[float, bytes]] = ()) -> None:
        ordered = list(entries)   # already sorted
        self.chunks = [ordered[i:i + CHUNK] for i in range(0, len(ordered), CHUNK)]
        self.chunk_scores = [_scores(chunk) for chunk in self.chunks]   # each chunk's scores, in its order
        self.lasts = [chunk[-1] for chunk in self.chunks]   # each chunk's last entry, what bisection finds chunks by
        self.length = len(ordered)
        self.starts: list[int] | None = None   # each chunk's first index (and the length last), None after a change
        self._merge_small(len(self.chunks) - 1)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return chain.from_iterable(self.chunks)

    def __sizeof__(self) -> int:
        return (object.__sizeof__(self) + getsizeof(self.chunks) + getsizeof(self.lasts)
                + sum(map(getsizeof, self.chunks)) + getsizeof(self.chunk_scores)
                + sum(map(getsizeof, self.chunk_scores)))

    def _starts(self) -> list[int]:
        starts = self.starts
        if starts is None:
            starts = self.starts = list(accumulate(map(len, self.chunks), initial=0))
        return starts

    def _locate(self, index: int) -> tuple[int, int]:
        """The chunk holding entry ``index`` (0 <= index < len) and the entry's index within it."""
        starts = self._starts()
        k = bisect_right(starts, index) - 1
        return k, index - starts[k]

    def __getitem__(self, index: Any) -> Any:
        if index.__class__ is slice:
            start, stop, step = index.indices(self.length)
            if step != 1:
                raise ValueError("entries are sliced with a step of 1 only")
            return self._span(start, stop)
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError("entry index out of range")
        k, i = self._locate(index)
        return self.chunks[k][i]

    def _span(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        if start >= stop:
            return []
        chunks = self.chunks
        k, i = self._locate(start)
        if i + stop - start <= len(chunks[k]):
            return chunks[k][i:i + stop - start]
        out = chunks[k][i:]
        need = stop - start - len(out)
        while need > 0:
            k += 1
            part = chunks[k][:need]
            out += part
            need -= len(part)
        return out

    def __delitem__(self, index: slice) -> None:
        start, stop, step = index.indices(self.length)
        if step != 1:
            raise ValueError("entries are deleted with a step of 1 only")
        if start >= stop:
            return
        k, i = self._locate(start)
        first = k
        count = stop - start
        self.length -= count
        self.starts = None
        chunks, scores, lasts = self.chunks, self.chunk_scores, self.lasts
        while count > 0:
            chunk = chunks[k]
            taken = min(count, len(chunk) - i)
            del chunk[i:i + taken], scores[k][i:i + taken]
            count -= taken
            if chunk:
                lasts[k] = chunk[-1]
                k += 1
            else:
                del chunks[k], scores[k], lasts[k]
            i = 0
        for k in (first + 1, first):   # the chunks either side of the gap may have become small
            if k < len(chunks):
                self._merge_small(k)

    def take(self, count: int, last: bool) -> list[tuple[float, bytes]]:
        """Remove and return up to ``count`` first entries (``last``: last entries, the last first)."""
        chunks, scores, lasts = self.chunks, self.chunk_scores, self.lasts
        taken: list[tuple[float, bytes]] = []
        end = -1 if last else 0
        while count > 0 and chunks:
            chunk = chunks[end]
            if len(chunk) <= count:   # the whole chunk
                taken += reversed(chunk) if last else chunk
                count -= len(chunk)
                del chunks[end], scores[end], lasts[end]
            elif last:
                taken += chunk[:-count - 1:-1]
                del chunk[-count:], scores[end][-count:]
                lasts[end] = chunk[-1]
                count = 0
            else:
                taken += chunk[:count]
                del chunk[:count], scores[end][:count]
                count = 0
        self.length -= len(taken)
        self.starts = None
        if chunks:
            self._merge_small(len(chunks) - 1 if last else 0)
        return taken

    def add(self, entry: tuple[float, bytes]) -> None:
        """Insert ``entry`` (not already there) in order."""
        chunks, lasts = self.chunks, self.lasts
        self.length += 1
        self.starts = None
        if not chunks:
            chunks.append([entry])
            self.chunk_scores.append(_scores([entry]))
            lasts.append(entry)
            return
        k = bisect_left(lasts, entry)
        if k == len(chunks):   # after every entry: the last chunk's new last
            k -= 1
            chunk = chunks[k]
            chunk.append(entry)
            self.chunk_scores[k].append(entry[0])
            lasts[k] = entry
        else:
            chunk = chunks[k]
            i = bisect_right(chunk, entry)
            chunk.insert(i, entry)
            self.chunk_scores[k].insert(i, entry[0])
        if len(chunk) > 2 * CHUNK:
            self._split(k)

    def _split(self, k: int) -> None:
        """Chunk ``k`` cut in two halves (it holds more than ``2 * CHUNK`` entries)."""
        chunk, scores = self.chunks[k], self.chunk_scores[k]
        half = len(chunk) // 2
        self.chunks[k:k + 1] = [chunk[:half], chunk[half:]]
        self.chunk_scores[k:k + 1] = [scores[:half], scores[half:]]
        self.lasts[k:k + 1] = [chunk[half - 1], chunk[-1]]

    def remove(self, entry: tuple[float, bytes]) -> None:
        """Remove ``entry``, which is there."""
        chunks, scores, lasts = self.chunks, self.chunk_scores, self.lasts
        k = bisect_left(lasts, entry)
        chunk = chunks[k]
        i = bisect_left(chunk, entry)
        del chunk[i], scores[k][i]
        self.length -= 1
        self.starts = None
        if not chunk:
            del chunks[k], scores[k], lasts[k]
            return
        lasts[k] = chunk[-1]
        if len(chunk) < CHUNK // 4:
            self._merge_small(k)

    def _merge_small(self, k: int) -> None:
        """Chunk ``k``, if it has fallen below a quarter of CHUNK, joined with a neighbour (split again if long)."""
        chunks, scores, lasts = self.chunks, self.chunk_scores, self.lasts
        if len(chunks) < 2 or k < 0 or len(chunks[k]) >= CHUNK // 4:
            return
        k = k if k + 1 < len(chunks) else k - 1
        joined = chunks[k] + chunks[k + 1]
        chunks[k:k + 2] = [joined]
        scores[k:k + 2] = [scores[k] + scores[k + 1]]
        lasts[k:k + 2] = [joined[-1]]
        if len(joined) > 2 * CHUNK:
            self._split(k)
        self.starts = None

    def bisect_left(self, x: tuple[Any, ...]) -> int:
        """The index of the first entry >= ``x`` (len if none)."""
        k = bisect_left(self.lasts, x)
        if k == len(self.chunks):
            return self.length
        return self._starts()[k] + bisect_left(self.chunks[k], x)

    def bisect_right(self, x: tuple[Any, ...]) -> int:
        """The index of the first entry > ``x`` (len if none)."""
        k = bisect_right(self.lasts, x)
        if k == len(self.chunks):
            return self.length
        return self._starts()[k] + bisect_right(self.chunks[k], x)

    def copy(self) -> Entries:
        """An independent copy (the entries themselves are immutable tuples)."""
        other = Entries()
        other.chunks = [list(chunk) for chunk in self.chunks]
        other.chunk_scores = [scores[:] for scores in self.chunk_scores]
        other.lasts = list(self.lasts)
        other.length = self.length
        return other


class ZSet:
    """A Redis sorted set."""

    __slots__ = ("scores", "items")
    redis_type = "zset"

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.items = Entries()

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
            self.items.remove((old, member))
        self.scores[member] = score
        self.items.add((score, member))
        return old is None

    def remove(self, member: bytes) -> bool:
        """Remove ``member``; True if it was there."""
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.items.remove((old, member))
        return True

    def rank(self, member: bytes) -> int | None:
        """The 0-based rank of ``member`` in ascending order, or None."""
        score = self.scores.get(member)
        return None if score is None else self.items.bisect_left((score, member))

    def pop(self, count: int, highest: bool) -> list[tuple[float, bytes]]:
        """Remove and return up to ``count`` lowest (or highest) entries, in pop order."""
        taken = self.items.take(count, highest)
        scores = self.scores
        for _, member in taken:
            del scores[member]
        return taken

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
        start = items.bisect_left((low, TOP) if low_excl else (low,))
        stop = items.bisect_left((high,) if high_excl else (high, TOP))
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
        if not items:
            return 0, 0
        score = items[0][0]
        if score == items[-1][0]:   # one score: the entries are in member order
            if low is None:
                start = 0
            else:
                start = items.bisect_right((score, low)) if low_excl else items.bisect_left((score, low))
            if high is None:
                stop = len(items)
            else:
                stop = items.bisect_left((score, high)) if high_excl else items.bisect_right((score, high))
            return start, max(start, stop)
        if low is not None and high is not None and (low > high or (low == high and (low_excl or high_excl))):
            return 0, 0

        def above(member: bytes) -> bool:
            return low is None or (member > low if low_excl else member >= low)

        def below(member: bytes) -> bool:
            return high is None or (member < high if high_excl else member <= high)

        if not above(items[-1][1]) or not below(items[0][1]):
            return 0, 0
        entries = list(items)   # walked entry by entry below: a list indexes in O(1), the chunks in O(log chunks)
        n = len(entries)
        if from_end:
            last = next(i for i in range(n - 1, -1, -1) if below(entries[i][1]))
            if not above(entries[last][1]):
                return 0, 0
            first = last
            while first > 0 and above(entries[first - 1][1]):
                first -= 1
            return first, last + 1
        first = next(i for i in range(n) if above(entries[i][1]))
        if not below(entries[first][1]):
            return 0, 0
        last = first
        while last + 1 < n and below(entries[last + 1][1]):
            last += 1
        return first, last + 1

    def copy(self) -> ZSet:
        """An independent copy (COPY)."""
        other = ZSet()
        other.scores = dict(self.scores)
        other.items = self.items.copy()
        return other
