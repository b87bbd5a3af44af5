"""The explicit context handlers receive: the server-wide state and one connection's :class:`Client` state."""
from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferd.commands.dispatch import Dispatcher
    from inferd.store.keyspace import Database, Keyspace

_client_ids = itertools.count(1)
REPLY_ON = b"on"
REPLY_OFF = b"off"
REPLY_SKIP = b"skip"        # set by CLIENT REPLY SKIP: that command itself gets no reply
_REPLY_SKIP_NEXT = b"skip-next"


@dataclass(slots=True)
class SlowlogEntry:
    """One SLOWLOG entry, as Redis reports it."""

    id: int
    timestamp: int
    duration_us: int
    argv: list[bytes]
    addr: str
    name: str


@dataclass(slots=True)   # slots: the compiled read and fast path update these counters at the slots' offsets
class ServerStats:
    """Server-wide counters for INFO stats and errorstats."""

    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    connections_received: int = 0
    rejected_connections: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    expired_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    error_replies: dict[str, int] = field(default_factory=dict)
    total_error_replies: int = 0
    dirty: int = 0   # writes since the last snapshot (INFO rdb_changes_since_last_save, the save points)


class ServerState:
    """Everything the server owns that handlers may touch: keyspace, config, clients, stats, schedulers."""

    def __init__(self, config: Any, keyspace: Keyspace) -> None:
        self.config = config
        self.keyspace = keyspace
        self.clients: dict[int, Client] = {}
        self.stats = ServerStats()
        self.slowlog: deque[SlowlogEntry] = deque()
        self.slowlog_next_id = 0
        self.dispatcher: Dispatcher | None = None
        self.journal: Any = None              # the append-only file's Journal while appendonly is yes
        self.run_id = os.urandom(20).hex()
        self.bound_port = 0
        self.shutdown_requested: Any = None   # callable set by the server lifecycle
        self.extensions: dict[str, Any] = {}  # subsystems attached by the lifecycle (scheduler, models, metrics)

    def record_error(self, prefix: str) -> None:
        """Count an error reply for INFO errorstats."""
        self.stats.total_error_replies += 1
        self.stats.error_replies[prefix] = self.stats.error_replies.get(prefix, 0) + 1


class Client:
    """One connection's state: database, protocol, authentication, MULTI/WATCH, name, and its transport hooks."""

    # slots: the compiled read and fast path read and write these at the slots' offsets (inferd/_slots.h)
    __slots__ = ("server", "id", "addr", "laddr", "name", "lib_name", "lib_ver", "db", "resp3", "authenticated",
                 "multi", "multi_dirty", "watching", "dirty_cas", "in_exec", "created", "last_interaction",
                 "last_command", "reply_mode", "closing", "in_flight", "close_callback", "reply_ready", "unchanged",
                 "aof_mark")

    def __init__(self, server: ServerState, addr: str = "", laddr: str = "") -> None:
        self.server = server
        self.id = next(_client_ids)
        self.addr = addr
        self.laddr = laddr
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.db: Database = server.keyspace.dbs[0]
        self.resp3 = False
        self.authenticated = not server.config.requirepass
        self.multi: list[list[bytes]] | None = None
        self.multi_dirty = False
        self.watching: set[tuple[int, bytes]] = set()
        self.dirty_cas = False
        self.in_exec = False
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_command: Any = None      # the Command last dispatched (CLIENT LIST's cmd=), set by the dispatcher
        self.reply_mode = REPLY_ON
        self.closing = False
        self.in_flight = 0                 # commands of this client waiting on a device queue
        self.aof_mark = 0                  # the number of this client's last change to the append-only file
        self.close_callback: Any = None   # set by the connection: closes the transport after pending replies
        # set by the connection: a handler that settles the future it returned calls this with it to have the
        # reply written now rather than on the loop's next turn (see settle_reply)
        self.reply_ready: Any = None
        # set by a write whose reply cannot show that it changed nothing (ZADD of a member at its own score), or
        # that signalled its changed keys itself (DEL of some keys that exist), only while its database has WATCHed
        # keys: the dispatcher then signals no watcher, and clears it
        self.unchanged = False

    def advance_reply_mode(self) -> None:
        """A reply was suppressed under CLIENT REPLY OFF/SKIP: SKIP suppresses itself and exactly one more."""
        if self.reply_mode == REPLY_SKIP:
            self.reply_mode = _REPLY_SKIP_NEXT
        elif self.reply_mode == _REPLY_SKIP_NEXT:
            self.reply_mode = REPLY_ON

    def select(self, index: int) -> None:
        """Switch to database ``index`` (already range-checked)."""
        self.db = self.server.keyspace.dbs[index]

    def unwatch(self) -> None:
        """Forget every watched key."""
        for index, key in self.watching:
            self.server.keyspace.dbs[index].unwatch(key, self)
        self.watching.clear()
        self.dirty_cas = False

    def reset_transaction(self) -> None:
        """Leave MULTI state and forget watched keys (after EXEC/DISCARD/RESET)."""
        self.multi = None
        self.multi_dirty = False
        self.unwatch()


def settle_reply(reply: Any, notify: Any, result: Any = None, error: BaseException | None = None) -> None:
    """Settle a reply future that a connection waits on, and have ``notify`` (its ``reply_ready``) write it now.

    ``notify`` is also the future's done callback (the connection's safety net for replies settled without it); it is
    taken off first, so that settling does not schedule a second call that would only find the reply written.
    """
    if notify is not None:
        reply.remove_done_callback(notify)
    if error is None:
        reply.set_result(result)
    else:
        reply.set_exception(error)
    if notify is not None:
        notify(reply)
