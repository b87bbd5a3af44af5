"""Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP): a client waits for a key.

A blocking command first tries what its non-blocking form does, key by key in order; when every key is empty it
returns a future and queues a :class:`Waiter` on each of its keys (``Database.blocked``; the C fast path leaves
writes to those keys to Python). After a write command names such a key (after the whole transaction for EXEC),
the dispatcher calls :func:`serve`: the waiters on that key, oldest first, try again on it, and the first try that
finds something answers that waiter and takes it off all its keys. A timeout answers a null array; a
client that goes away cancels its future, which takes its waiter away. Inside MULTI (and from a script) the
commands do not block: they answer null at once, as on Redis.
"""
from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Any

from inferd import errors
from inferd.commands.args import c_float, underflowed
from inferd.commands.context import Client
from inferd.commands.multipop import Take, multi_pop_args
from inferd.errors import CommandError
from inferd.resp.encoder import NULL_ARRAY
from inferd.store.keyspace import Database

Attempt = Callable[[bytes], Any]   # a try on one key: the reply, or None when it holds nothing for this waiter


def parse_timeout(raw: bytes) -> float:
    """A timeout in seconds as Redis reads it: whole milliseconds rounded up; 0 waits for ever.

    Anything above -1 ms counts as 0; past the range of a long long, Redis's conversion makes the value negative.
    """
    text = raw.decode("ascii", "replace")
    if not text or text[0].isspace() or text != text.rstrip() or "_" in text:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    try:
        value = c_float(text)
    except ValueError:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT) from None
    if math.isnan(value):
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    ms = value * 1000.0
    if math.isinf(ms) or abs(ms) >= 2.0 ** 63 or math.ceil(ms) < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    if underflowed(text, value) and not text.startswith("-"):   # a long double holds it: rounded up, 1 ms
        return 0.001
    return math.ceil(ms) / 1000.0


FOREVER = 1e8   # seconds past which a timeout is not armed at all (three years)


class Waiter:
    """One blocked client: its keys, its try, its future and its timer."""

    __slots__ = ("client", "db", "keys", "attempt", "future", "timer", "argv")

    def __init__(self, client: Client, keys: list[bytes], attempt: Attempt, future: asyncio.Future[Any],
                 argv: list[bytes] | None = None) -> None:
        self.client = client
        self.argv = argv   # the blocking command (the append-only file writes the pop it makes once served)
        self.db = client.db
        self.keys = list(dict.fromkeys(keys))
        self.attempt = attempt
        self.future = future
        self.timer: asyncio.TimerHandle | None = None

    def finish(self, reply: Any) -> None:
        """Answer the client and take the waiter off its keys."""
        self.leave()
        if not self.future.done():
            self.future.set_result(reply)

    def leave(self, _future: Any = None) -> None:
        """Off every key (also the future's done callback: a cancelled client leaves)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        blocked = self.db.blocked
        for key in self.keys:
            queue = blocked.get(key)
            if queue is not None and self in queue:
                queue.remove(self)
                if not queue:
                    del blocked[key]


def pop_or_block(c: Client, keys: list[bytes], timeout: float, attempt: Attempt, ready: Callable[[bytes], bool],
                 null: Any, argv: list[bytes] | None = None) -> Any:
    """The reply of the first of ``keys`` that ``ready`` finds something in, else a future that waits for one.

    ``ready`` looks a key up with its type check (WRONGTYPE stops the command, as on Redis); ``attempt`` takes from it;
    ``null`` is the reply when it may not wait (in MULTI).
    """
    for key in keys:
        if ready(key):
            reply = attempt(key)
            c.unchanged = bool(c.db.watched)   # the try signalled what it changed: the dispatcher must not
            return reply
    c.unchanged = bool(c.db.watched)
    if c.in_exec or c.multi is not None:
        return null
    loop = asyncio.get_running_loop()
    waiter = Waiter(c, keys, attempt, loop.create_future(), argv)
    for key in waiter.keys:
        c.db.blocked.setdefault(key, deque()).append(waiter)
    waiter.future.add_done_callback(waiter.leave)
    if 0 < timeout < FOREVER:   # (a timeout answers a null array, whatever the command: as Redis)
        waiter.timer = loop.call_later(timeout, waiter.finish, NULL_ARRAY)
    return waiter.future


def release(db: Database) -> None:
    """Server shutdown: every client blocked in ``db`` is answered an error at once (it holds no work to finish)."""
    for queue in list(db.blocked.values()):
        for waiter in list(queue):
            waiter.leave()
            if not waiter.future.done():
                waiter.future.set_exception(CommandError(errors.SHUTTING_DOWN_BLOCKED))


def unblock(dbs: list[Database], client_id: int, error: bool) -> bool:
    """CLIENT UNBLOCK: answer the client's blocked command as if it timed out, or with UNBLOCKED; False if none."""
    for db in dbs:
        for queue in db.blocked.values():
            for waiter in queue:
                if waiter.client.id == client_id:
                    if error:
                        waiter.leave()
                        waiter.future.set_exception(CommandError(errors.UNBLOCKED))
                    else:
                        waiter.finish(NULL_ARRAY)
                    return True
    return False


def serve(db: Database, keys: list[bytes]) -> None:
    """Let the clients blocked on ``keys`` try again, oldest first, each on the key that was written."""
    for key in keys:
        queue = db.blocked.get(key)
        while queue:
            for waiter in list(queue):
                if waiter.client.closing:   # gone (its connection_lost still queued): nothing must be popped for it
                    continue
                try:
                    reply = waiter.attempt(key)
                except CommandError:   # the key now holds another type (or BLMOVE's destination does): keep waiting
                    reply = None
                if reply is not None:
                    if db.journal is not None and waiter.argv is not None:
                        db.journal.served(waiter.client, db, waiter.argv, reply)
                    waiter.finish(reply)
                    break
            else:
                break   # nobody found anything: the rest keep waiting
            queue = db.blocked.get(key)


def pop_command(c: Client, argv: list[bytes], kind: type, take: Take, first_end: bool) -> Any:
    """``key [key ...] timeout`` (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX): one element from the first key that has one."""
    timeout = parse_timeout(argv[-1])
    return pop_or_block(c, argv[1:-1], timeout, lambda key: take(c, key, first_end, None),
                        lambda key: bool(c.db.get_typed(key, kind)), NULL_ARRAY, argv)


def multi_pop_command(c: Client, argv: list[bytes], kind: type, take: Take, ends: tuple[bytes, bytes]) -> Any:
    """``timeout numkeys key [key ...] END [COUNT count]`` (BLMPOP, BZMPOP): up to count from the first key."""
    timeout = parse_timeout(argv[1])
    keys, first_end, count = multi_pop_args(argv[1:], ends)
    return pop_or_block(c, keys, timeout, lambda key: take(c, key, first_end, count),
                        lambda key: bool(c.db.get_typed(key, kind)), NULL_ARRAY, argv)
