"""Databases: a dict of values per database, lazy plus active expiry, type checks and WATCH signalling.

Values are plain Python objects: ``bytes`` (string), ``dict`` (hash), ``deque`` (list), ``set`` (set),
:class:`~inferd.store.zset.ZSet` (sorted set), and AI objects that carry a ``redis_type`` class attribute.
The event loop thread owns the keyspace, so nothing here locks.
"""
from __future__ import annotations

import itertools
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TypeVar

from inferd import errors
from inferd.errors import CommandError

if TYPE_CHECKING:
    from inferd.commands.context import Client

T = TypeVar("T")

_BUILTIN_TYPES: dict[type, str] = {bytes: "string", dict: "hash", deque: "list", set: "set"}


_stopped: list[int] = []   # [ms] while the clock is stopped (an append-only file loading)


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of TTLs (Redis keeps absolute Unix times)."""
    return _stopped[0] if _stopped else time.time_ns() // 1_000_000


def stop_clock() -> None:
    """Until :func:`start_clock`, now is the Unix epoch: no key expires (replaying an append-only file)."""
    _stopped[:] = [0]


def start_clock() -> None:
    """Wall-clock time again."""
    _stopped.clear()


def type_name(value: Any) -> str:
    """The name TYPE reports for a value."""
    name = _BUILTIN_TYPES.get(value.__class__)
    return name if name is not None else str(value.redis_type)


class Database:
    """One logical database (SELECT n)."""

    __slots__ = ("index", "data", "expires", "watched", "blocked", "stats", "journal")

    def __init__(self, index: int, stats: Any = None) -> None:
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.watched: dict[bytes, set[Client]] = {}
        self.blocked: dict[bytes, deque[Any]] = {}   # key -> clients blocked on it (inferd.commands.blocking)
        self.stats = stats
        self.journal: Any = None   # the append-only file's Journal (inferd.appendonly) when it is on

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The live value at ``key`` or None, deleting it first if it has expired."""
        if self.expires and key in self.expires and self.expires[key] <= now_ms():
            self._expire(key)
            return None
        return self.data.get(key)

    def get_typed(self, key: bytes, kind: type[T]) -> T | None:
        """The value at ``key`` if it is a ``kind``; None if missing; WRONGTYPE otherwise."""
        value = self.get(key)
        if value is None or value.__class__ is kind:
            return value
        raise CommandError(errors.WRONGTYPE)

    def contains(self, key: bytes) -> bool:
        """Whether ``key`` exists (and has not expired)."""
        return self.get(key) is not None

    def ttl_ms(self, key: bytes) -> int:
        """Milliseconds left: -2 if missing, -1 if the key has no expiry."""
        if self.get(key) is None:
            return -2
        deadline = self.expires.get(key)
        return -1 if deadline is None else max(0, deadline - now_ms())

    def random_key(self) -> bytes | None:
        """A random live key or None (uniform; O(n) in the number of keys, like a dict must be walked)."""
        for _ in range(100):
            if not self.data:
                return None
            key = next(itertools.islice(iter(self.data), random.randrange(len(self.data)), None))
            if self.get(key) is not None:
                return key
        return None

    # ---- writes ------------------------------------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value``; the key's TTL is cleared unless ``keep_ttl``."""
        self.data[key] = value
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; True if it existed (and had not expired)."""
        if self.get(key) is None:
            return False
        del self.data[key]
        if self.expires:
            self.expires.pop(key, None)
        return True

    def set_expiry(self, key: bytes, deadline_ms: int) -> None:
        """Give an existing key an absolute deadline; a deadline in the past deletes it now."""
        if deadline_ms <= now_ms():
            self.delete(key)
            self.touch(key)
        else:
            self.expires[key] = deadline_ms

    def persist(self, key: bytes) -> bool:
        """Remove the key's TTL; True if it had one."""
        return self.expires.pop(key, None) is not None if self.get(key) is not None else False

    def flush(self) -> None:
        """Delete everything, signalling every watcher."""
        for key in list(self.watched):
            if key in self.data:
                self.touch(key)
        self.data.clear()
        self.expires.clear()

    # ---- expiry ------------------------------------------------------------------------------------
    def _expire(self, key: bytes) -> None:
        self.data.pop(key, None)
        self.expires.pop(key, None)
        if self.stats is not None:
            self.stats.expired_keys += 1
        if key in self.watched:
            self.touch(key)

    def active_expire(self, samples: int = 20) -> int:
        """One active-expiry round as Redis does: sample keys with a TTL, delete the expired; repeat while >25%."""
        removed = 0
        while self.expires:
            now = now_ms()
            keys = random.sample(list(self.expires), min(samples, len(self.expires))) \
                if len(self.expires) > samples else list(self.expires)
            expired = [k for k in keys if self.expires[k] <= now]
            for key in expired:
                self._expire(key)
            removed += len(expired)
            if len(expired) * 4 <= len(keys):
                break
        return removed

    # ---- WATCH -------------------------------------------------------------------------------------
    def watch(self, key: bytes, client: Client) -> None:
        """Register ``client`` as watching ``key``."""
        self.watched.setdefault(key, set()).add(client)

    def unwatch(self, key: bytes, client: Client) -> None:
        """Forget that ``client`` watches ``key``."""
        clients = self.watched.get(key)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self.watched[key]

    def touch(self, key: bytes) -> None:
        """Signal a modification of ``key``: every client watching it will have its EXEC aborted."""
        for client in self.watched.get(key, ()):
            client.dirty_cas = True


class Keyspace:
    """All databases of the server."""

    def __init__(self, databases: int = 16, stats: Any = None) -> None:
        self.dbs = [Database(i, stats) for i in range(databases)]

    def active_expire(self) -> int:
        """One active-expiry pass over every database that has keys with a TTL."""
        return sum(db.active_expire() for db in self.dbs if db.expires)

    def flush_all(self) -> None:
        """FLUSHALL."""
        for db in self.dbs:
            db.flush()
