"""Helpers for the differential command tests."""
from __future__ import annotations

import socket
from typing import Any

import hiredis
import redis

from tests.oracle import IDENTICAL, compare, outcome

# How far two remaining-time replies may drift apart: the two servers are asked one after the other, and a loaded
# machine may stall between them (TTL rounds to the nearest second).
_TTL_SLACK = {"ttl": 1, "pttl": 2000}


def run_both(ours: redis.Redis, theirs: redis.Redis, *commands: tuple[Any, ...]) -> None:
    """Compare a sequence of commands on both servers, in order (remaining times within a small slack)."""
    for args in commands:
        name = str(args[0]).lower()
        if name in _TTL_SLACK and len(args) == 2:
            compare_ttl(ours, theirs, name, args[1])
        else:
            compare(ours, theirs, *args)


def compare_ttl(ours: redis.Redis, theirs: redis.Redis, name: str, key: Any) -> None:
    """TTL/PTTL: the same -1/-2 answers, and positive times within the slack of each other."""
    a, b = outcome(ours, name, key), outcome(theirs, name, key)
    if a[0] == b[0] == "ok" and a[1] >= 0 and b[1] >= 0:
        assert abs(a[1] - b[1]) <= _TTL_SLACK[name], (name, key, a, b)
    else:
        assert a == b, (name, key, a, b)
    IDENTICAL.add(name)


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


# ---- raw connections: pipelines sent as bytes, replies compared byte for byte ----------------------------------
END = b"$10\r\nEND-MARKER\r\n"


def encode(*args: str | bytes) -> bytes:
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class Raw:
    """One raw connection: send a whole pipeline at once, read every reply up to the end marker."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def pipeline(self, *commands: tuple[str | bytes, ...], marker: bool = True) -> bytes:
        """The raw replies; ``marker``: read up to an ECHO sent last (replies may be suppressed), otherwise read
        one reply per command."""
        self.sock.sendall(b"".join(encode(*c) for c in commands) + (encode("ECHO", "END-MARKER") if marker else b""))
        data = b""
        reader = hiredis.Reader()
        replies = 0
        while not data.endswith(END) if marker else replies < len(commands):
            chunk = self.sock.recv(1 << 16)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
            reader.feed(chunk)
            while reader.gets() is not False:
                replies += 1
        return data[:-len(END)] if marker else data

    def close(self) -> None:
        self.sock.close()
