"""Differential testing helpers: run the same command on inferd and redis-server and compare replies.

:func:`compare` records each command name whose replies were identical, so the suite can report how many
commands are proven identical to redis-server's (see ``tests/test_zz_oracle_report.py``).
"""
from __future__ import annotations

from typing import Any

import redis

IDENTICAL: set[str] = set()
DIFFERENT: dict[str, str] = {}


def outcome(client: redis.Redis, *args: Any) -> Any:
    """A reply, or ('error', type, text) for an error reply, from a raw command."""
    try:
        return ("ok", client.execute_command(*args))
    except redis.ResponseError as exc:
        return ("error", type(exc).__name__, str(exc))


def compare(ours: redis.Redis, theirs: redis.Redis, *args: Any, sort: bool = False) -> Any:
    """Send ``args`` to both servers; assert the replies (or error texts) are identical; return ours."""
    a = outcome(ours, *args)
    b = outcome(theirs, *args)
    if sort and a[0] == "ok" and isinstance(a[1], (list, set)):
        a = ("ok", sorted(a[1], key=repr))
        b = ("ok", sorted(b[1], key=repr)) if isinstance(b[1], (list, set)) else b
    name = str(args[0]).lower()
    if a != b:
        DIFFERENT[name] = f"{args!r}: inferd {a!r} != redis {b!r}"
    assert a == b, f"{args!r}: inferd replied {a!r}, redis-server replied {b!r}"
    IDENTICAL.add(name)
    return a[1] if a[0] == "ok" else a
