"""Helpers for the differential command tests."""
from __future__ import annotations

from typing import Any

import redis

from tests.oracle import IDENTICAL, compare


def run_both(ours: redis.Redis, theirs: redis.Redis, *commands: tuple[Any, ...]) -> None:
    """Compare a sequence of commands on both servers, in order."""
    for args in commands:
        compare(ours, theirs, *args)


def full_scan(client: redis.Redis, *args: Any) -> list[Any]:
    """Iterate a SCAN-family command to completion; returns every element seen (sorted by repr)."""
    cursor: Any = 0
    seen: list[Any] = []
    is_keyspace = str(args[0]).upper() == "SCAN"
    for _ in range(100000):
        call = [args[0], cursor, *args[1:]] if is_keyspace else [args[0], args[1], cursor, *args[2:]]
        reply = client.execute_command(*call)
        cursor, items = reply[0], reply[1]
        if isinstance(items, dict):
            items = list(items.items())
        seen.extend(items)
        if int(cursor) == 0:
            return sorted(seen, key=repr)
    raise AssertionError("scan did not finish")


def compare_scan(ours: redis.Redis, theirs: redis.Redis, *args: Any) -> list[Any]:
    """Full iterations on both servers return the same elements (duplicates removed)."""
    a = sorted(set(map(_hashable, full_scan(ours, *args))), key=repr)
    b = sorted(set(map(_hashable, full_scan(theirs, *args))), key=repr)
    assert a == b, f"{args!r}: inferd {a!r} != redis {b!r}"
    IDENTICAL.add(str(args[0]).lower())
    return a


def _hashable(item: Any) -> Any:
    return tuple(item) if isinstance(item, list) else item
