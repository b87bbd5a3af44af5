"""Glob patterns and SCAN-family cursors shared by KEYS, SCAN, HSCAN, SSCAN and ZSCAN.

Cursor design (stateless, like Redis's): every element has a *position*, a 62-bit value derived from Python's
hash of its bytes (stable for the life of the process) plus one, so 0 stays "start/end". A call returns the
elements whose position is >= the cursor, in position order, and the next cursor is the position of the first
element not returned. Hence:

* every element present from the start to the end of a full iteration is returned at least once, whatever is
  inserted or deleted meanwhile (positions never move, unlike indexes into a changing container);
* elements added or removed during the iteration may or may not be returned; an element may be returned twice
  only if several elements share one position (practically never);
* a cursor from another server process is meaningless (as in Redis after a restart) but never an error.

The keyspace SCAN walks a per-database snapshot sorted by position, rebuilt at each cursor 0: any snapshot taken
during an iteration holds every key present throughout it, so sharing the latest one between clients is correct.
Collections with at most :data:`SMALL_COLLECTION` elements (512 integers for a set) are returned whole in one call
with cursor 0, in Redis's order for its compact encodings (insertion order for hashes, score order for sorted sets,
numeric order for integer sets); larger ones select the next ``COUNT`` positions with a heap.
"""
from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from inferd import errors
from inferd.commands.args import parse_int
from inferd.errors import CommandError

_MASK = (1 << 62) - 1
_U64 = 1 << 64
SMALL_COLLECTION = 128
Matcher = Callable[[bytes], Any]


def position(item: bytes) -> int:
    """The scan position of an element (never 0)."""
    return (hash(item) & _MASK) + 1


def _match_all(item: bytes) -> bool:
    return True


def compile_glob(pattern: bytes) -> Matcher:
    """A matcher for a Redis glob pattern (star, question mark, classes, backslash escapes), as stringmatchlen."""
    if pattern == b"*":
        return _match_all
    return re.compile(_glob_regex(pattern), re.DOTALL).fullmatch


def _glob_regex(p: bytes) -> bytes:
    out: list[bytes] = []
    i, n = 0, len(p)
    while i < n:
        ch = p[i:i + 1]
        if ch == b"*":
            while i + 1 < n and p[i + 1] == 42:
                i += 1
            out.append(b".*")
        elif ch == b"?":
            out.append(b".")
        elif ch == b"[":
            part, i = _glob_class(p, i + 1)
            out.append(part)
        elif ch == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(p[i:i + 1]))
        else:
            out.append(re.escape(ch))
        i += 1
    return b"".join(out)


def _glob_class(p: bytes, i: int) -> tuple[bytes, int]:
    """Translate a ``[...]`` class starting after '['; returns the regex and the index of its closing ']'."""
    n = len(p)
    negate = i < n and p[i] == 94
    if negate:
        i += 1
    parts: list[bytes] = []
    while i < n and p[i] != 93:
        if p[i] == 92 and i + 1 < n:
            i += 1
            parts.append(re.escape(p[i:i + 1]))
        elif i + 2 < n and p[i + 1] == 45:
            low, high = sorted((p[i], p[i + 2]))
            parts.append(b"%s-%s" % (re.escape(bytes([low])), re.escape(bytes([high]))))
            i += 2
        else:
            parts.append(re.escape(p[i:i + 1]))
        i += 1
    if not parts:
        return (b"." if negate else b"(?!)"), i
    return b"[%s%s]" % (b"^" if negate else b"", b"".join(parts)), i


def parse_cursor(raw: bytes) -> int:
    """A cursor as Redis's strtoul reads it (sign allowed, negatives wrap); ERR invalid cursor otherwise."""
    body = raw[1:] if raw[:1] in (b"+", b"-") else raw
    if body and not body.isdigit() or (not body and raw):
        raise CommandError(errors.INVALID_CURSOR)
    value = int(body) if body else 0
    if value >= _U64:
        raise CommandError(errors.INVALID_CURSOR)
    return (-value) % _U64 if raw[:1] == b"-" else value


def parse_scan_options(argv: list[bytes], start: int, allow_type: bool) -> tuple[Matcher, int, bytes | None]:
    """The MATCH, COUNT (and for SCAN, TYPE) options from ``argv[start:]``."""
    match: Matcher = _match_all
    count = 10
    kind: bytes | None = None
    i = start
    while i < len(argv):
        word = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        if word == b"count":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif word == b"match":
            match = compile_glob(argv[i + 1])
        elif word == b"type" and allow_type:
            kind = argv[i + 1].lower()
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return match, count, kind


def scan_collection(items: Iterable[bytes], whole: bool, cursor: int, count: int) -> tuple[int, list[bytes]]:
    """One step over a collection's elements: (next cursor, elements) as described in the module docstring.

    ``whole`` returns every element at once (what Redis does for its compact encodings).
    """
    if whole:
        return 0, list(items)
    candidates = ((p, item) for item in items if (p := position(item)) >= cursor)
    chosen = heapq.nsmallest(count + 1, candidates)
    if len(chosen) <= count:
        return 0, [item for _, item in chosen]
    next_cursor = chosen[count][0]
    taken = [item for p, item in chosen if p < next_cursor]
    if not taken:     # every chosen element shares one position: take them all and step past it
        return next_cursor + 1, [item for _, item in chosen]
    return next_cursor, taken


class KeySnapshot:
    """The keys of one database sorted by scan position (see the module docstring)."""

    __slots__ = ("positions", "keys")

    def __init__(self, keys: Iterable[bytes]) -> None:
        listed = list(keys)
        positions = np.fromiter(map(position, listed), dtype=np.int64, count=len(listed))
        order = np.argsort(positions, kind="stable")
        self.positions: list[int] = positions[order].tolist()
        self.keys = [listed[i] for i in order.tolist()]

    def step(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Up to about ``count`` keys from ``cursor`` on, and the next cursor (0 at the end)."""
        positions = self.positions
        i = bisect_left(positions, cursor)
        stop = min(i + count, len(positions))
        while 0 < stop < len(positions) and positions[stop] == positions[stop - 1]:
            stop += 1
        return (positions[stop] if stop < len(positions) else 0), self.keys[i:stop]
