"""The append-only file: every change to the keyspace, as the requests that make it, written before its reply.

With ``appendonly yes`` the server appends each change to one file in ``dir`` (``appendfilename``) and replays that
file at start-up instead of the snapshot, so a server killed at any moment comes back with every write it had
acknowledged (``appendfsync always``: even after a power loss; ``everysec``: at most the last second's writes are
lost to a power loss, none to a crash of the process; ``no``: the OS decides when).

The file is a stream of RESP requests, like the snapshot's body and Redis's AOF, so ``redis-cli --pipe`` can send
it anywhere. What is written for a change (:class:`Journal`):

* a write command that succeeded is written as it came (a ``SELECT n`` first when its database is not the file's
  current one), except where replaying it would not give the same result: a relative TTL (SET EX, EXPIRE, SETEX,
  GETEX...) is followed by ``PEXPIREAT key <absolute ms>``; SPOP becomes SREM of what it popped; a blocking pop
  (BLPOP, BLMOVE, BZPOPMIN, BLMPOP...) becomes the plain pop it made (LPOP, LMOVE, ZREM...), whether it was served
  at once or later;
* changes made after their command returned, or that depend on a model's run, are written as the values they left:
  a model's or script's store (AI.MODELSTORE, AI.SCRIPTSTORE once loaded), the outputs of AI.MODELEXECUTE,
  AI.SCRIPTEXECUTE and a DAG's PERSIST (``AI.TENSORSET key ... BLOB``). The commands that run models are never
  written themselves; what their scripts' ``redis.execute`` changes is, as any write.

Nothing reaches a client before the file has it: changes collect in memory while the loop runs commands and are
written (and with ``always`` fsynced) before any reply is sent. A write to the file that fails makes the server
refuse writes (``MISCONF``) until a retry succeeds, and the clients whose changes the file lacks (a client's
``aof_mark``: the number of its last change, against :attr:`Journal.flushed`) get no reply until it has them:
their connections hold their replies and wait in :attr:`Journal.waiting`. Nothing is acknowledged that the file may
not hold.

Replaying runs every request through the dispatcher on an internal client with the clock stopped (no key expires
while loading, as on Redis: TTLs are absolute in the file). A request cut short at the end of the file (a crash in
the middle of a write) is dropped and the file truncated to the last whole request, with a warning; damage before
the end stops start-up. With no file yet, the server starts from the snapshot (if any) and writes the file from it.

BGREWRITEAOF (and the automatic rewrite, ``auto-aof-rewrite-percentage`` and ``auto-aof-rewrite-min-size``) forks a
child that writes the fork-time keyspace, as a snapshot's body, to a temp file; the server keeps appending to the old
file and also keeps the changes made since the fork; once the child is done, those are appended to the temp file,
which is fsynced and renamed over the old one.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import hiredis

from inferd import config as config_module
from inferd.commands.context import Client
from inferd.errors import CommandError
from inferd.persistence import data_file, fork_child, fsync_folder, reap_child, request, value_requests, write_body
from inferd.store import keyspace as keyspace_module
from inferd.store.keyspace import Database

log = logging.getLogger("inferd.appendonly")
READ_BYTES = 1 << 20
RETRY_WRITE_S = 1.0
_changes = itertools.count()   # numbers every journal's changes (see Journal.emitted)

# commands whose effects are written instead of themselves (see the module's docstring)
_BY_EFFECT = frozenset(["ai.modelstore", "ai.modelset", "ai.scriptstore", "ai.scriptset", "ai.modelexecute",
                        "ai.modelrun", "ai.scriptexecute", "ai.scriptrun", "ai.dagexecute", "ai.dagrun"])
# commands that may set a TTL relative to now: each key they name that has a TTL afterwards gets a PEXPIREAT
_RELATIVE_TTL = frozenset(["set", "setex", "psetex", "getex", "expire", "pexpire"])


class AofError(Exception):
    """An append-only file that cannot be read; the text says why."""


def _encode(argv: list[bytes]) -> bytes:
    return b"".join(request(*argv))


def _select(index: int) -> bytes:
    return _encode([b"SELECT", b"%d" % index])


def effect_requests(argv: list[bytes], reply: Any) -> list[list[bytes]]:
    """The requests that a blocking pop or SPOP whose reply was ``reply`` is written as (none if it took nothing)."""
    name = argv[0].lower()
    if name == b"spop":
        members = [reply] if isinstance(reply, bytes) else list(reply or ())
        return [[b"SREM", argv[1], *members]] if members else []
    if name in (b"blmove", b"brpoplpush"):
        if not isinstance(reply, bytes):
            return []
        return [[b"LMOVE", *argv[1:5]]] if name == b"blmove" else [[b"RPOPLPUSH", argv[1], argv[2]]]
    if not isinstance(reply, list) or not reply:
        return []
    if name in (b"blpop", b"brpop"):
        return [[b"LPOP" if name == b"blpop" else b"RPOP", reply[0]]]
    if name in (b"bzpopmin", b"bzpopmax"):
        return [[b"ZREM", reply[0], reply[1]]]
    if name == b"blmpop":
        where = argv[3 + int(argv[2])].upper()
        return [[b"LPOP" if where == b"LEFT" else b"RPOP", reply[0], b"%d" % len(reply[1])]]
    if name == b"bzmpop":
        return [[b"ZREM", reply[0], *[pair[0] for pair in reply[1]]]]
    return [argv]


_TRANSLATED = frozenset(["spop", "blpop", "brpop", "bzpopmin", "bzpopmax", "blmove", "brpoplpush", "blmpop",
                         "bzmpop"])


class Journal:
    """The changes not yet in the file, the file itself, and the changes kept for a rewrite in progress."""

    def __init__(self, path: str, fsync: str, sink: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        # sink: the file at ``path`` is not written yet (CONFIG SET appendonly yes): appends go to /dev/null, and the
        # changes reach the file through the first rewrite's buffer (see AppendOnly.switch)
        self.sink = sink
        self.fd = os.open(os.devnull if sink else path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pending: list[bytes] = []
        self.selected = -1                       # the database the file's requests apply to now (-1: none yet)
        self.rewrite: list[bytes] | None = None  # the changes since a rewrite's fork
        self.rewrite_selected = -1
        self.size = os.fstat(self.fd).st_size
        self.base_size = self.size               # the size after the last rewrite (the automatic rewrite's base)
        self.unsynced = False
        self.syncing = False
        self.error: str | None = None            # the last write's failure; writes are refused while it stands
        self.last_write_status = "ok"
        # changes are numbered across journals (a client's aof_mark is one of these numbers): a client's mark from
        # a journal closed since is below every change of this one
        self.emitted = self.flushed = next(_changes)   # the last change emitted; the last one the file has
        self.waiting: dict[Any, None] = {}       # connections holding replies until the file has their changes

    # ---- feeding (loop thread) -------------------------------------------------------------------------
    def _emit(self, client: Any, index: int, data: bytes) -> None:
        """Queue ``data`` for the file; ``client`` (None: no client's) made it, so its replies wait for the file."""
        self.emitted = next(_changes)
        if client is not None:
            client.aof_mark = self.emitted
        if self.selected != index:
            self.pending.append(_select(index))
            self.selected = index
        self.pending.append(data)
        if self.rewrite is not None:
            if self.rewrite_selected != index:
                self.rewrite.append(_select(index))
                self.rewrite_selected = index
            self.rewrite.append(data)

    def command(self, client: Any, db: Database, name: str, argv: list[bytes], reply: Any) -> None:
        """A write command of ``client`` that succeeded (``name``: the table's lower-case name)."""
        if name in _BY_EFFECT:
            return
        if name in _TRANSLATED:
            for effect in effect_requests(argv, reply):
                self._emit(client, db.index, _encode(effect))
            return
        self._emit(client, db.index, _encode(argv))
        if name in _RELATIVE_TTL and db.expires:
            key = argv[1]
            deadline = db.expires.get(key)
            if deadline is not None:
                self._emit(client, db.index, _encode([b"PEXPIREAT", key, b"%d" % deadline]))

    def plain(self, client: Any, db: Database, request: bytes) -> None:
        """A plain write the C fast path ran (no TTL), as it came.

        SET, HSET, LPUSH, RPUSH, LPOP, RPOP, SADD, MSET, INCR, DECR, INCRBY, DECRBY, ZADD, ZPOPMIN or ZPOPMAX;
        SPOP, which is written as the SREM of what it took, is left to Python while the file is on.

        ``request`` is its argv, encoded as RESP by the fast path.
        """
        self._emit(client, db.index, request)

    def served(self, client: Any, db: Database, argv: list[bytes], reply: Any) -> None:
        """A blocked pop of ``client`` served after its command returned: the pop it made."""
        for effect in effect_requests(argv, reply):
            self._emit(client, db.index, _encode(effect))

    def value(self, client: Any, db: Database, key: bytes) -> None:
        """``key`` now holds a value written outside a plain command (a model's outputs, a loaded model or script)."""
        value = db.data.get(key)
        parts = [_encode([b"DEL", key])]
        if value is not None:
            parts += [b"".join(pieces) for pieces in value_requests(key, value)]
            deadline = db.expires.get(key)
            if deadline is not None:
                parts.append(_encode([b"PEXPIREAT", key, b"%d" % deadline]))
        self._emit(client, db.index, b"".join(parts))

    # ---- writing -----------------------------------------------------------------------------------------
    def holds(self, client: Any) -> bool:
        """Whether the file lacks a change ``client`` made (its replies must wait: they would acknowledge it)."""
        return client is not None and client.aof_mark > self.flushed

    def flush(self) -> bool:
        """Write what is pending (fsync with ``always``); False, keeping it pending, if the write failed."""
        if not self.pending:
            return self.error is None
        data = b"".join(self.pending) if len(self.pending) > 1 else self.pending[0]
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
                self.size += written
            if self.fsync == "always" and not self.sink:
                os.fsync(self.fd)
            else:
                self.unsynced = True
        except OSError as exc:
            self.pending = [bytes(view)]
            if self.error is None:
                log.error("cannot write the append-only file %s: %s (writes are refused until it works)",
                          self.path, exc)
            self.error = str(exc)
            self.last_write_status = "err"
            return False
        self.pending = []
        if self.error is not None:
            log.warning("the append-only file %s is written again", self.path)
        self.written()
        return True

    def written(self) -> None:
        """The file has every change emitted: writes are taken again; held replies go (see :meth:`release`)."""
        self.error = None
        self.last_write_status = "ok"
        self.flushed = self.emitted
        if self.waiting:
            self.release()

    def release(self) -> None:
        """Let the connections holding replies for the file write them (the file has their changes, or is off)."""
        waiting, self.waiting = self.waiting, {}
        for connection in waiting:
            connection.journaled()

    def sync(self) -> None:
        """Flush the file to disk (fsync, in a worker thread, for ``everysec``)."""
        if self.sink:
            return
        try:
            os.fsync(self.fd)
        except OSError as exc:
            log.warning("fsync of the append-only file failed: %s", exc)

    def reopen(self, path: str) -> None:
        """Append to the file now at ``path`` (after a rewrite renamed it there)."""
        old = self.fd
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.close(old)
        self.sink = False
        self.size = self.base_size = os.fstat(self.fd).st_size

    def close(self) -> None:
        self.flush()
        try:
            if not self.sink:
                os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)


# ---- reading -----------------------------------------------------------------------------------------------
def _encoded_length(argv: list[bytes]) -> int:
    size = len(b"*%d\r\n" % len(argv))
    for arg in argv:
        size += len(b"$%d\r\n" % len(arg)) + len(arg) + 2
    return size


def aof_requests(path: str, ends: list[int]) -> Iterator[list[bytes]]:
    """The requests of the file at ``path``; ``ends[0]`` is kept at the end offset of the last whole one.

    Raises :class:`AofError` for damage; a request cut short at the very end is left for the caller to drop.
    """
    reader = hiredis.Reader()
    offset = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_BYTES):
            reader.feed(chunk)
            while True:
                try:
                    argv = reader.gets()
                except hiredis.ProtocolError as exc:
                    raise AofError(f"damaged after byte {offset} ({exc})") from None
                if argv is False:
                    break
                if not isinstance(argv, list) or not argv or not all(isinstance(a, bytes) for a in argv):
                    raise AofError(f"damaged after byte {offset} (a request that is not an array of strings)")
                offset += _encoded_length(argv)
                ends[0] = offset
                yield argv


class AppendOnly:
    """Subsystem: replays the file at start-up, then keeps it (flushes, fsyncs, rewrites); BGREWRITEAOF."""

    def __init__(self) -> None:
        self.state: Any = None
        self.journal: Journal | None = None
        self.child: int | None = None
        self.child_started = 0.0
        self.child_errors: int | None = None
        self.scheduled = False
        self.rewrites = 0
        self.last_rewrite_status = "ok"
        self.last_rewrite_s = -1
        self.last_retry = 0.0
        self.last_sync = time.monotonic()

    def path(self, config: Any = None) -> str:
        """The file: ``dir`` (the working directory when empty) and ``appendfilename``."""
        config = config or self.state.config
        return data_file(config, config.appendfilename)

    def _temp(self, pid: int) -> str:
        """A rewrite's file, next to the file being written (``dir`` may have changed since it was opened)."""
        path = self.journal.path if self.journal is not None else self.path()
        return os.path.join(os.path.dirname(path), f"temp-rewriteaof-{pid}.aof")

    async def start(self, server: Any) -> None:
        """With ``appendonly yes``: replay the file (or write it from what the snapshot loaded), then journal."""
        from inferd.server import StartupError
        self.state = server.state
        self.state.extensions["appendonly"] = self
        self.state.extensions.setdefault("config_hooks", []).append(self._config_changed)
        config = self.state.config
        if config.appendonly != "yes":
            return
        path = self.path()
        try:
            if os.path.exists(path):
                started = time.monotonic()
                count = await self._replay(path)
                log.info("loaded the append-only file %s: %d requests in %.2fs", path, count,
                         time.monotonic() - started)
            else:
                _write_base(self.state.keyspace, path)
                log.info("wrote the append-only file %s from the keyspace", path)
            journal = Journal(path, config.appendfsync)
        except (AofError, OSError) as exc:
            raise StartupError(f"append-only file {path}: {exc}") from None
        except CommandError as exc:
            raise StartupError(f"append-only file {path}: a request failed: {exc.text}") from None
        self.state.stats.dirty = 0
        self._attach(journal)

    def switch(self, config: Any) -> None:
        """CONFIG SET appendonly: on, the file written from the keyspace by a background rewrite; or off.

        On, as on Redis: every change is journaled from now on, into the rewrite's buffer (the journal appends to
        /dev/null until then), and the file appears at its path once the child has written the keyspace and the
        buffer is appended (no file, empty or partial, is ever there before: a restart meanwhile loads the snapshot).
        The rewrite waits for a running BGSAVE. If it fails, the file is turned off again (CONFIG GET appendonly
        says no). Raises OSError, having changed nothing, when the file's folder cannot take a file.
        """
        if config.appendonly == "yes" and self.journal is None:
            path = self.path(config)
            _probe_folder(os.path.dirname(path))
            self._attach(Journal(path, config.appendfsync, sink=True))
            if self.busy():
                self.scheduled = True
            else:
                try:
                    self._fork()
                except OSError:   # no child (fork refused): nothing changes
                    self._detach()
                    raise
            log.info("append-only file on: %s is being written from the keyspace in the background", path)
        elif config.appendonly != "yes" and self.journal is not None:
            self._detach()
            log.info("append-only file off")

    def _attach(self, journal: Journal) -> None:
        """Journal every change from now on (the dispatcher's, its C fast path's, the models')."""
        self.journal = journal
        for db in self.state.keyspace.dbs:
            db.journal = journal
        self.state.journal = journal

    def _detach(self) -> None:
        """Stop a rewrite still running, write and fsync what is pending, close the file."""
        journal, self.journal = self.journal, None   # first: the rewrite stopped here is not the file failing
        if self.child is not None:
            os.kill(self.child, signal.SIGKILL)
            self._reap(0)
        if journal is None:
            return
        self.state.journal = None
        for db in self.state.keyspace.dbs:
            db.journal = None
        journal.close()
        journal.release()   # replies held for a file that failed: with the file off, nothing more is promised

    def _config_changed(self, config: Any) -> None:
        if self.journal is not None:
            self.journal.fsync = config.appendfsync

    async def _replay(self, path: str) -> int:
        client = Client(self.state, addr="aof")
        client.authenticated = True
        client.close_callback = lambda: None
        dispatcher = self.state.dispatcher
        ends = [0]
        count = 0
        keyspace_module.stop_clock()   # no key expires while loading: TTLs in the file are absolute
        try:
            for argv in aof_requests(path, ends):
                reply = dispatcher.call(client, argv)
                if isinstance(reply, asyncio.Future):
                    reply = await reply
                if isinstance(reply, CommandError):
                    raise CommandError(f"{reply.text} (request {count + 1}, {argv[0].decode('utf-8', 'replace')})")
                count += 1
        finally:
            keyspace_module.start_clock()
        size = os.path.getsize(path)
        if ends[0] < size:
            log.warning("the append-only file %s ends with %d bytes of a request cut short: dropped, file truncated",
                        path, size - ends[0])
            os.truncate(path, ends[0])
        from inferd.commands.server import reset_command_stats
        reset_command_stats(dispatcher.table)   # the load is not traffic
        return count

    async def stop(self) -> None:
        """Write and fsync what is pending; stop a rewrite still running."""
        self._detach()

    # ---- rewrite -----------------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether a child process (this rewrite's or a BGSAVE's) is running."""
        snapshots = self.state.extensions.get("snapshots")
        return self.child is not None or (snapshots is not None and snapshots.child is not None)

    def bgrewrite(self) -> str:
        """BGREWRITEAOF: start the rewrite, or schedule it after a running BGSAVE; the status text."""
        if self.journal is None:
            raise CommandError("ERR the append-only file is off (appendonly no)")
        if self.child is not None:
            raise CommandError("ERR Background append only file rewriting already in progress")
        if self.busy():
            self.scheduled = True
            return "Background append only file rewriting scheduled"
        self._fork()
        return "Background append only file rewriting started"

    def _fork(self) -> None:
        assert self.journal is not None
        self.journal.flush()
        keyspace = self.state.keyspace
        self.child, self.child_errors = fork_child(lambda: write_body(keyspace, self._temp(os.getpid())))
        pid = self.child
        self.child_started = time.monotonic()
        self.journal.rewrite = []
        self.journal.rewrite_selected = -1
        log.info("background append only file rewriting started by pid %d", pid)

    def _reap(self, options: int) -> None:
        assert self.child is not None and self.child_errors is not None
        outcome = reap_child(self.child, self.child_errors, options)
        if outcome is None:
            return
        child, self.child, self.child_errors = self.child, None, None
        temp = self._temp(child)
        ok, message = outcome
        journal = self.journal
        if ok and journal is not None:
            try:
                self._finish(journal, temp)
            except OSError as exc:
                ok, message = False, str(exc)
        if journal is not None:
            journal.rewrite = None
        if ok:
            self.rewrites += 1
            self.last_rewrite_status = "ok"
            self.last_rewrite_s = round(time.monotonic() - self.child_started)
            log.info("background append only file rewriting terminated with success")
            return
        try:
            os.unlink(temp)
        except OSError:
            pass
        self._rewrite_failed(message)

    def _rewrite_failed(self, message: str) -> None:
        """A rewrite that failed (or could not fork); a file still waiting for its first one is turned off again."""
        self.last_rewrite_status = "err"
        log.warning("background append only file rewriting failed: %s", message)
        journal = self.journal
        if journal is not None and journal.sink:   # the file was never written: off again
            log.error("the append-only file %s could not be written: appendonly is off again", journal.path)
            self._detach()
            self.state.config = config_module.with_values(self.state.config, {"appendonly": "no"})

    def _cron_fork(self) -> None:
        """A scheduled or automatic rewrite; a fork the system refuses counts as a failed rewrite."""
        try:
            self._fork()
        except OSError as exc:
            self._rewrite_failed(str(exc))

    def _finish(self, journal: Journal, temp: str) -> None:
        """The child's file, then the changes since the fork: fsynced, renamed over the file; appends go there."""
        journal.flush()
        with open(temp, "ab") as out:
            out.write(b"".join(journal.rewrite or []))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, journal.path)
        fsync_folder(os.path.dirname(journal.path))
        journal.reopen(journal.path)
        journal.selected = journal.rewrite_selected
        # what the old file could not take is in the new one (in the child's image, or kept since the fork)
        journal.pending = []
        journal.written()

    # ---- cron (loop thread, hz times a second) -------------------------------------------------------
    def cron(self) -> None:
        """Retry a failed write, fsync once a second (``everysec``), reap the rewrite, start an automatic one."""
        journal = self.journal
        if journal is None:
            return
        now = time.monotonic()
        if journal.error is not None:
            if now - self.last_retry >= RETRY_WRITE_S:
                self.last_retry = now
                journal.flush()
        elif journal.pending:   # changes no reply has flushed yet (a client that went away before its reply)
            journal.flush()
        if journal.fsync == "everysec" and journal.unsynced and not journal.syncing and now - self.last_sync >= 1:
            self.last_sync = now
            journal.unsynced = False
            journal.syncing = True
            future = asyncio.get_running_loop().run_in_executor(None, journal.sync)
            future.add_done_callback(lambda _f: setattr(journal, "syncing", False))
        if self.child is not None:
            self._reap(os.WNOHANG)
            return
        if self.busy():
            return
        if self.scheduled:
            self.scheduled = False
            self._cron_fork()
            return
        config = self.state.config
        percent = config.auto_aof_rewrite_percentage
        if percent > 0 and journal.size >= config.auto_aof_rewrite_min_size:
            base = max(journal.base_size, 1)
            if (journal.size - base) * 100 // base >= percent:
                log.info("the append-only file grew %d%% since its last rewrite: rewriting",
                         (journal.size - base) * 100 // base)
                self._cron_fork()

    def info(self) -> list[tuple[str, Any]]:
        """INFO persistence's aof_* fields."""
        journal = self.journal
        current = round(time.monotonic() - self.child_started) if self.child is not None else -1
        fields: list[tuple[str, Any]] = [
            ("aof_enabled", int(journal is not None)), ("aof_rewrite_in_progress", int(self.child is not None)),
            ("aof_rewrite_scheduled", int(self.scheduled)), ("aof_last_rewrite_time_sec", self.last_rewrite_s),
            ("aof_current_rewrite_time_sec", current), ("aof_last_bgrewrite_status", self.last_rewrite_status),
            ("aof_rewrites", self.rewrites),
            ("aof_last_write_status", journal.last_write_status if journal is not None else "ok")]
        if journal is not None:
            fields += [("aof_current_size", journal.size), ("aof_base_size", journal.base_size),
                       ("aof_buffer_length", sum(len(p) for p in journal.pending))]
        return fields


def _probe_folder(folder: str) -> None:
    """Raise OSError when ``folder`` cannot take a new file (CONFIG SET appendonly yes, before anything changes)."""
    probe = os.path.join(folder or ".", f"temp-probe-{os.getpid()}.aof")
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    os.unlink(probe)


def _write_base(keyspace: Any, path: str) -> None:
    """The file for ``keyspace`` as it is now (start-up with no file yet): temp file, fsync, rename."""
    temp = path + ".tmp"
    write_body(keyspace, temp)
    os.replace(temp, path)
    fsync_folder(os.path.dirname(path))
