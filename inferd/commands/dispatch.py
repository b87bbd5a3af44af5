"""The dispatcher: every generic check (unknown command, arity, auth, MULTI queueing, WATCH signalling) lives here.

Handlers only do what their command means. A handler may return an :class:`asyncio.Future` when it must wait
(model runs); the connection then holds the client's later requests until it resolves.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from inferd import errors
from inferd.commands import blocking, connection, hashes, lists, sets, strings, zsets
from inferd.commands.context import REPLY_ON, Client, ServerState, SlowlogEntry
from inferd.commands.table import Command, unique_commands
from inferd.errors import CommandError
from inferd.resp.encoder import QUEUED
from inferd.store.keyspace import Database
from inferd.store.zset import ZSet

_Future = asyncio.Future

try:
    from inferd.commands import _fastpath
except ImportError:   # pragma: no cover - built at install when a C compiler is there; Python does the same
    _fastpath = None  # type: ignore[assignment]

log = logging.getLogger("inferd.commands")
_perf_ns = time.perf_counter_ns
# The handlers the C fast path can stand in for, by its kind numbers (see _fastpath.c).
_FAST_KINDS = {strings.get: 1, strings.set_: 2, hashes.hget: 3, hashes.hset: 4, lists.lpush: 5, lists.rpush: 6,
               strings.mget: 7, strings.incr: 8, strings.decr: 9, strings.incrby: 10, strings.decrby: 11,
               strings.mset: 12, zsets.zadd: 13, connection.ping: 14, lists.lpop: 15, lists.rpop: 16, sets.sadd: 17,
               sets.spop: 18, zsets.zpopmin: 19, zsets.zpopmax: 20}
# Writes whose reply says they changed nothing, which then signal no WATCHer (Redis signals only real changes): a
# count of 0 (nothing set, deleted, added, removed, moved, pushed; no TTL set or removed), or nil / an empty array
# or set (nothing popped or taken). Where the reply cannot tell (ZADD's count of added members is 0 for a score update
# too), or where only some of the keys changed (DEL of a missing key and one that exists), the handler sets
# ``Client.unchanged`` instead (having signalled what did change).
_UNCHANGED_AT_ZERO = frozenset({"setnx", "msetnx", "del", "unlink", "expire", "pexpire", "expireat", "pexpireat",
                                "persist", "hsetnx", "hdel", "sadd", "srem", "smove", "zrem", "zremrangebyscore",
                                "zremrangebyrank", "zremrangebylex", "lrem", "lpushx", "rpushx", "move"})
_UNCHANGED_AT_NIL = frozenset({"getdel", "lpop", "rpop", "spop", "lmove", "rpoplpush"})


def changed_nothing(cmd: Command, argv: list[bytes], reply: Any) -> bool:
    """Whether a write command's reply (and arguments) show that it modified no key.

    Also SET whose NX or XX condition failed (nil without GET; with GET, the old value under NX or nil under XX)
    and GETEX without options (a plain read).
    """
    name = cmd.name
    if reply.__class__ is int:
        return reply == 0 and name in _UNCHANGED_AT_ZERO
    if name == "set":
        options = {arg.upper() for arg in argv[3:]}
        if b"GET" not in options:
            return reply is None
        return (reply is not None) if b"NX" in options else (reply is None and b"XX" in options)
    if name == "getex":
        return len(argv) == 2
    return (reply is None or ((reply.__class__ is list or reply.__class__ is set) and not reply)) \
        and name in _UNCHANGED_AT_NIL


FastRun = Callable[[Client, list[list[bytes]], int, list[bytes]], int]


class Dispatcher:
    """Looks commands up in the merged table and calls them with every generic check applied."""

    def __init__(self, server: ServerState, table: dict[bytes, Command]) -> None:
        self.server = server
        self.table = table
        self.slowlog_threshold = server.config.slowlog_log_slower_than
        # Every command and subcommand once (the table is fixed after start-up); INFO samples it 10 times a second.
        self._all_commands = [c for cmd in unique_commands(table) for c in (cmd, *cmd.subcommands.values())]
        server.extensions.setdefault("config_hooks", []).append(self._config_changed)
        self._fast_kinds: dict[bytes, int] = {}     # what the C fast path runs (its Runner reads this dict)
        self.fast_run = self._fast_runner() if server.config.fastpath == "yes" else None
        self._ready: list[tuple[Database, list[bytes]]] = []   # keys written inside EXEC, for blocked clients

    def _fast_runner(self) -> FastRun | None:
        """``run(client, requests, start, out)`` of the C fast path, or None where it was not built.

        It runs plain PING/GET/SET/HGET/HSET/LPUSH/RPUSH/LPOP/RPOP/SADD/SPOP/MGET/MSET/INCR/DECR/INCRBY/DECRBY/ZADD/
        ZPOPMIN/ZPOPMAX requests from ``start`` with this dispatcher's bookkeeping (its writes journaled, as
        :meth:`call` journals them, while the append-only file is on), appends their encoded replies to ``out`` and
        returns the index of the first request left to :meth:`call`.
        """
        if _fastpath is None:   # pragma: no cover - depends on the install
            return None
        kinds = self._fast_kinds
        kinds.update((name, _FAST_KINDS[cmd.handler]) for name, cmd in self.table.items()
                     if cmd.handler in _FAST_KINDS)
        cmds: list[Command | None] = [None] * (len(_FAST_KINDS) + 1)
        for name, kind in kinds.items():
            cmds[kind] = self.table[name]
        runner = _fastpath.Runner(kinds, tuple(cmds), self.server.stats, self, REPLY_ON, deque, ZSet)
        return runner.run

    def commands_processed(self) -> int:
        """Total calls of every command (INFO's total_commands_processed), derived from the per-command counters."""
        return sum(c.stats.calls for c in self._all_commands)

    def _config_changed(self, config: Any) -> None:
        self.slowlog_threshold = config.slowlog_log_slower_than

    def lookup(self, argv: list[bytes]) -> Command | CommandError:
        """Resolve the command (and subcommand) of ``argv`` and check its arity."""
        cmd = self.table.get(argv[0]) or self.table.get(argv[0].lower())
        if cmd is None:
            return errors.unknown_command(argv)
        n = len(argv)
        if cmd.subcommands and (n > 1 or cmd.handler is None):
            if n < 2:
                return errors.wrong_arity(cmd.name)
            sub = cmd.subcommands.get(argv[1].lower())
            if sub is None:
                return errors.unknown_subcommand(argv[1], cmd.name)
            cmd = sub
        arity = cmd.arity
        if (arity > 0 and n != arity) or n < -arity:
            return errors.wrong_arity(cmd.arity_name(argv[0]))
        return cmd

    def call(self, client: Client, argv: list[bytes]) -> Any:
        """Run one request for ``client`` and return its reply value (or a Future, or a CommandError).

        The common case (a known command without subcommands, right arity, authenticated, outside MULTI) runs
        straight through; everything else goes through :meth:`lookup` and the gates.
        """
        cmd: Any = self.table.get(argv[0])
        if cmd is None or cmd.subcommands or (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < -cmd.arity:
            cmd = self.lookup(argv)
            if cmd.__class__ is CommandError:
                if client.multi is not None:
                    client.multi_dirty = True
                self.server.record_error("ERR")
                return _refused_exec(client, cmd) if argv[0].lower() == b"exec" else cmd
        if client.multi is not None or not client.authenticated:
            gated = self._gate(client, cmd, argv)
            if gated is not None:
                return gated
        client.last_command = cmd
        journal = client.db.journal
        if journal is not None and journal.error is not None and cmd.is_write:
            self.server.record_error("MISCONF")
            return CommandError(errors.AOF_MISCONF)
        start = _perf_ns()
        try:
            reply = cmd.handler(client, argv)
        except CommandError as exc:
            reply = exc
        except Exception:  # a bug in a handler must never reach the client as a traceback or kill the server
            log.exception("command %s failed", cmd.name)
            reply = CommandError(f"ERR internal error while running '{cmd.name}'")
        elapsed_us = (_perf_ns() - start) // 1000
        stats = cmd.stats
        stats.calls += 1
        stats.usec += elapsed_us
        if reply.__class__ is CommandError:
            stats.failed_calls += 1
            self.server.record_error(reply.prefix)
            if cmd.counts_hits and reply.prefix == "WRONGTYPE" and cmd.first_key == cmd.last_key:
                self.server.stats.keyspace_hits += 1   # Redis found the one key before refusing its type
        elif cmd.counts_hits:
            self._count_lookups(client, cmd, argv)
        elif cmd.is_write:
            self.server.stats.dirty += 1
            db = client.db
            if journal is not None and reply.__class__ is not _Future:   # a future: its write is journaled later
                journal.command(client, db, cmd.name, argv, reply)
            if db.watched:
                if client.unchanged:
                    client.unchanged = False
                elif not changed_nothing(cmd, argv, reply):
                    for key in cmd.keys(argv):
                        db.touch(key)
            if db.blocked:
                self.wake(client, db, [key for key in cmd.keys(argv) if key in db.blocked])
            if self._ready and not client.in_exec:   # MOVE, COPY ... DB, SWAPDB's other databases (see wake_later)
                self.serve_ready()
        if elapsed_us >= self.slowlog_threshold >= 0:
            self._slowlog(client, argv, elapsed_us)
        return reply

    def wake(self, client: Client, db: Database, keys: list[bytes]) -> None:
        """Clients blocked on ``keys`` a write of ``client`` changed try again: now, or after its transaction or script.

        The dispatcher calls it for the keys a write names; MOVE, COPY ... DB and SWAPDB for the others.
        """
        if not keys:
            return
        if client.in_exec:
            self._ready.append((db, keys))
        else:
            blocking.serve(db, keys)

    def wake_later(self, db: Database, keys: list[bytes]) -> None:
        """Let clients blocked on ``keys`` of ``db`` try again once the running command is done.

        For a database the command wrote besides its client's (MOVE, COPY ... DB, SWAPDB): after the command's own
        write is journaled, so that the append-only file has it before the pops it allows.
        """
        if keys:
            self._ready.append((db, keys))

    def serve_ready(self) -> None:
        """After a transaction or a script: the blocked clients its writes may answer try again, in write order."""
        while self._ready:
            db, keys = self._ready.pop(0)
            blocking.serve(db, keys)

    def _count_lookups(self, client: Client, cmd: Command, argv: list[bytes]) -> None:
        """INFO keyspace_hits/misses: each key a read-only command looked up, found or not (as Redis's read lookups)."""
        data = client.db.data
        stats = self.server.stats
        if cmd.first_key == cmd.last_key:   # one key: GET, HGET, LRANGE...
            if argv[cmd.first_key] in data:
                stats.keyspace_hits += 1
            else:
                stats.keyspace_misses += 1
            return
        for key in cmd.keys(argv):
            if key in data:
                stats.keyspace_hits += 1
            else:
                stats.keyspace_misses += 1

    def _gate(self, client: Client, cmd: Command, argv: list[bytes]) -> Any:
        """Authentication and MULTI queueing; None when the command may run now."""
        if not client.authenticated and not cmd.no_auth:
            cmd.stats.rejected_calls += 1
            self.server.record_error("NOAUTH")
            refused = CommandError(errors.NOAUTH)
            return _refused_exec(client, refused) if cmd.name == "exec" else refused
        if client.multi is not None and not cmd.no_multi:
            if cmd.deny_multi:
                client.multi_dirty = True
                cmd.stats.rejected_calls += 1
                self.server.record_error("ERR")
                return CommandError(errors.DENIED_IN_MULTI)
            client.multi.append(argv)
            return QUEUED
        return None

    def execute(self, client: Client, cmd: Command, argv: list[bytes]) -> Any:
        """Run an already resolved command with statistics and WATCH signalling (EXEC's queued commands)."""
        saved, client.multi = client.multi, None
        try:
            return self.call(client, argv)
        finally:
            client.multi = saved

    def exec_queued(self, client: Client) -> list[Any]:
        """Run a MULTI block's queued commands in order (EXEC), refusing those that would have to wait."""
        replies: list[Any] = []
        client.in_exec = True
        try:
            for argv in client.multi or []:
                cmd = self.lookup(argv)
                if isinstance(cmd, CommandError):
                    replies.append(cmd)
                elif cmd.waits:
                    replies.append(CommandError(errors.AI_IN_TRANSACTION))
                else:
                    replies.append(self.execute(client, cmd, argv))
        finally:
            client.in_exec = False
            self.serve_ready()
        return replies

    def _slowlog(self, client: Client, argv: list[bytes], elapsed_us: int) -> None:
        server = self.server
        max_len = server.config.slowlog_max_len
        if max_len <= 0:
            return
        shown = [a if len(a) <= 128 else a[:128] + b"... (%d more bytes)" % (len(a) - 128) for a in argv[:32]]
        if len(argv) > 32:
            shown[-1] = b"... (%d more arguments)" % (len(argv) - 31)
        server.slowlog.appendleft(SlowlogEntry(server.slowlog_next_id, int(time.time()), elapsed_us, shown,
                                               client.addr, client.name.decode("utf-8", "replace")))
        server.slowlog_next_id += 1
        while len(server.slowlog) > max_len:
            server.slowlog.pop()


def _refused_exec(client: Client, error: CommandError) -> CommandError:
    """An EXEC refused before it runs (arity, authentication) discards the transaction, as Redis's rejectCommand."""
    client.reset_transaction()
    return CommandError(errors.EXECABORT_BECAUSE.format(error.text.removeprefix("ERR ")))
