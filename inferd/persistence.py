"""Snapshots: the keyspace written to one file as the commands that rebuild it, and read back at start-up.

The file is a stream of RESP requests, as ``redis-cli --pipe`` sends them (RedisAI's AOF rewrite writes AI values
the same way, spec section 7): a header request ``INFERD-SNAPSHOT <version> <unix ms>``; for each database with
keys a ``SELECT n``; for each live key the commands that rebuild it (SET; HSET, RPUSH, SADD and ZADD in chunks;
``AI.TENSORSET ... BLOB``; ``AI.MODELSTORE`` with every option and the blob in chunks; ``AI.SCRIPTSTORE``, or
``AI.SCRIPTSET`` for a script without entry points) and PEXPIREAT for a TTL; then a trailer of fixed length,
``INFERD-END <requests> <crc32>``, the CRC-32 of every byte before it. Loading checks the header, the trailer and
the checksum before it runs anything, then runs every request through the dispatcher on an internal client: a
snapshot loads exactly as a client sending it would, and models and scripts are loaded by their backends again (as
RedisAI reloads them from its RDB).

Writing goes to ``temp-<pid>.inferd`` in the snapshot's folder, flushed and fsynced, then renamed over the snapshot
(and the folder fsynced): a crash or a full disk leaves the previous snapshot whole. SAVE writes from the loop (the
server waits, as for Redis's SAVE). BGSAVE and the ``save`` points fork a child that writes the fork-time image of
the keyspace (copy-on-write, as Redis does) while the server serves on; the cron reaps it. At shutdown the server
saves when ``save`` has points or SHUTDOWN SAVE asked for it, after the last command has run and before any
connection is closed, so nothing acknowledged is left out.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import hiredis

from inferd import config as config_module
from inferd.commands.context import Client
from inferd.errors import CommandError
from inferd.store.keyspace import Keyspace, now_ms
from inferd.store.model import Model
from inferd.store.script import Script
from inferd.store.tensor import Tensor
from inferd.store.zset import ZSet

log = logging.getLogger("inferd.persistence")
MAGIC = b"INFERD-SNAPSHOT"
VERSION = b"1"
END = b"INFERD-END"
CHUNK_ITEMS = 1000            # elements per HSET/RPUSH/SADD/ZADD request
MODEL_CHUNK_BYTES = 64 << 20  # bytes per MODELSTORE blob chunk (each bulk stays far below proto-max-bulk-len)
READ_BYTES = 1 << 20
RETRY_AFTER_FAILURE_S = 5.0   # a failed background save is retried by the save points after this long (as Redis)
Pieces = list[bytes | memoryview]


class SnapshotError(Exception):
    """A snapshot that cannot be read or written; the text says why."""


# ---- writing ---------------------------------------------------------------------------------------------
def request(*args: bytes | memoryview) -> Pieces:
    """One RESP request as the pieces to write (large arguments are not copied)."""
    pieces: Pieces = [b"*%d\r\n" % len(args)]
    for arg in args:
        pieces.append(b"$%d\r\n" % len(arg))
        pieces.append(arg)
        pieces.append(b"\r\n")
    return pieces


def _chunked(command: bytes, key: bytes, items: list[bytes]) -> Iterator[Pieces]:
    step = CHUNK_ITEMS * 2 if command in (b"HSET", b"ZADD") else CHUNK_ITEMS
    for start in range(0, len(items), step):
        yield request(command, key, *items[start:start + step])


def _score(score: float) -> bytes:
    return b"inf" if score == float("inf") else b"-inf" if score == float("-inf") else repr(score).encode()


def value_requests(key: bytes, value: Any) -> Iterator[Pieces]:
    """The requests that rebuild ``value`` at ``key`` (the key does not exist before them)."""
    cls = value.__class__
    if cls is bytes:
        yield request(b"SET", key, value)
    elif cls is dict:
        yield from _chunked(b"HSET", key, [part for pair in value.items() for part in pair])
    elif cls is deque:
        yield from _chunked(b"RPUSH", key, list(value))
    elif cls is set:
        yield from _chunked(b"SADD", key, list(value))
    elif cls is ZSet:
        yield from _chunked(b"ZADD", key, [part for score, member in value for part in (_score(score), member)])
    elif cls is Tensor:
        dims = [b"%d" % d for d in value.array.shape]
        yield request(b"AI.TENSORSET", key, value.dtype.name.encode(), *dims, b"BLOB", value.blob())
    elif cls is Model:
        yield _model_request(key, value)
    elif cls is Script:
        options = [value.device.encode(), b"TAG", value.tag]
        if value.entry_points:
            names = [name.encode() for name in value.entry_points]
            yield request(b"AI.SCRIPTSTORE", key, *options, b"ENTRY_POINTS", b"%d" % len(names), *names, b"SOURCE",
                          value.source)
        else:
            yield request(b"AI.SCRIPTSET", key, *options, b"SOURCE", value.source)
    else:
        raise SnapshotError(f"no snapshot form for a value of type {cls.__name__} (key {key!r})")


def _model_request(key: bytes, model: Model) -> Pieces:
    args: list[bytes | memoryview] = [b"AI.MODELSTORE", key, model.backend.encode(), model.device.encode(), b"TAG",
                                      model.tag, b"BATCHSIZE", b"%d" % model.batchsize, b"MINBATCHSIZE",
                                      b"%d" % model.minbatchsize, b"MINBATCHTIMEOUT", b"%d" % model.minbatchtimeout]
    if model.backend == "TF":
        outputs = model.outputs or []
        args += [b"INPUTS", b"%d" % len(model.inputs), *(n.encode() for n in model.inputs),
                 b"OUTPUTS", b"%d" % len(outputs), *(n.encode() for n in outputs)]
    blob = memoryview(model.blob)
    args.append(b"BLOB")
    args += [blob[i:i + MODEL_CHUNK_BYTES] for i in range(0, len(blob), MODEL_CHUNK_BYTES)] or [b""]
    return request(*args)


def keyspace_requests(keyspace: Keyspace) -> Iterator[Pieces]:
    """Every request of a snapshot's body: per database with keys, SELECT, then each live key's requests."""
    now = now_ms()
    for db in keyspace.dbs:
        if not db.data:
            continue
        yield request(b"SELECT", b"%d" % db.index)
        expires = db.expires
        for key, value in db.data.items():
            deadline = expires.get(key)
            if deadline is not None and deadline <= now:
                continue   # expired, not deleted yet
            yield from value_requests(key, value)
            if deadline is not None:
                yield request(b"PEXPIREAT", key, b"%d" % deadline)


def _trailer(count: int, crc: int) -> bytes:
    return b"".join(request(END, b"%020d" % count, b"%010d" % crc))   # fixed length: found from the file's end


TRAILER_BYTES = len(_trailer(0, 0))
HEADER_START = b"*3\r\n$%d\r\n%s\r\n" % (len(MAGIC), MAGIC)


def write_snapshot(keyspace: Keyspace, path: str) -> int:
    """Write the snapshot of ``keyspace`` to ``path`` atomically (temp file, fsync, rename); returns its bytes."""
    folder = os.path.dirname(path) or "."
    temp = os.path.join(folder, f"temp-{os.getpid()}.inferd")
    crc = count = size = 0
    try:
        with open(temp, "wb", buffering=READ_BYTES) as out:
            for pieces in _with_header(keyspace_requests(keyspace)):
                for piece in pieces:
                    crc = zlib.crc32(piece, crc)
                    size += out.write(piece)
                count += 1
            size += out.write(_trailer(count - 1, crc))   # the header is not counted
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        fsync_folder(folder)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    return size


def _with_header(body: Iterator[Pieces]) -> Iterator[Pieces]:
    yield request(MAGIC, VERSION, b"%d" % now_ms())
    yield from body


def data_file(config: Any, name: str) -> str:
    """Where the data file ``name`` is (the snapshot, the append-only file): ``dir``, or the working directory."""
    return os.path.join(config.dir or os.getcwd(), name)


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_body(keyspace: Keyspace, path: str) -> None:
    """The keyspace's requests (a snapshot's body, no header or trailer) to ``path``, fsynced (the AOF's base)."""
    with open(path, "wb", buffering=READ_BYTES) as out:
        for pieces in keyspace_requests(keyspace):
            for piece in pieces:
                out.write(piece)
        out.flush()
        os.fsync(out.fileno())


def fork_child(work: Callable[[], object]) -> tuple[int, int]:
    """Fork a child that runs ``work`` and exits (0, or 1 with the error's text on a pipe): (its pid, the pipe).

    The child runs no cleanup (``os._exit``) and no garbage collection (a collection would touch every object,
    copying the parent's memory page by page). Read the outcome with :func:`reap_child`.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():   # the child only walks the keyspace and writes one file
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:   # pragma: no cover - the child (coverage does not follow it)
        code = 1
        try:
            gc.disable()
            os.close(read_end)
            work()
            code = 0
        except BaseException as exc:
            try:
                os.write(write_end, str(exc).encode("utf-8", "replace")[:4000])
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(write_end)
    os.set_blocking(read_end, False)
    return pid, read_end


def reap_child(pid: int, errors: int, options: int) -> tuple[bool, str] | None:
    """A :func:`fork_child` child's outcome, (succeeded, why not), once it has exited (None before; the pipe closed)."""
    done, status = os.waitpid(pid, options)
    if done == 0:
        return None
    try:
        message = os.read(errors, 4096).decode("utf-8", "replace").strip()
    except OSError:
        message = ""
    os.close(errors)
    code = os.waitstatus_to_exitcode(status)
    return code == 0, message or f"the child exited with status {code}"


# ---- reading ---------------------------------------------------------------------------------------------
def check_snapshot(path: str) -> int:
    """Check the header, trailer and checksum of the snapshot at ``path``; returns its request count.

    Raises :class:`SnapshotError` saying what is wrong (nothing is loaded from such a file).
    """
    size = os.path.getsize(path)
    if size < TRAILER_BYTES:
        raise SnapshotError("not an inferd snapshot (too short)")
    crc = 0
    with open(path, "rb") as f:
        if not f.read(len(HEADER_START)) == HEADER_START:
            raise SnapshotError("not an inferd snapshot (no INFERD-SNAPSHOT header)")
        f.seek(0)
        left = size - TRAILER_BYTES
        while left:
            chunk = f.read(min(READ_BYTES, left))
            if not chunk:
                raise SnapshotError("truncated")
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
        trailer = f.read()
    reader = hiredis.Reader()
    reader.feed(trailer)
    try:
        parsed = reader.gets()
    except hiredis.ProtocolError:
        parsed = None
    if not isinstance(parsed, list) or len(parsed) != 3 or parsed[0] != END:
        raise SnapshotError("truncated or damaged (no INFERD-END trailer)")
    if int(parsed[2]) != crc:
        raise SnapshotError(f"checksum mismatch (file says {int(parsed[2])}, contents give {crc})")
    return int(parsed[1])


def snapshot_requests(path: str) -> Iterator[list[bytes]]:
    """The body's requests of a checked snapshot, in order (the header and trailer left out)."""
    size = os.path.getsize(path) - TRAILER_BYTES
    reader = hiredis.Reader()
    first = True
    with open(path, "rb") as f:
        left = size
        while left:
            chunk = f.read(min(READ_BYTES, left))
            left -= len(chunk)
            reader.feed(chunk)
            while (argv := _next(reader)) is not False:
                if first:
                    first = False
                    if not isinstance(argv, list) or argv[:2] != [MAGIC, VERSION]:
                        raise SnapshotError(f"unsupported snapshot header {argv!r:.80}")
                    continue
                if not isinstance(argv, list):
                    raise SnapshotError("damaged (a request that is not an array)")
                yield argv
    if _next(reader) is not False or first:
        raise SnapshotError("truncated")


def _next(reader: Any) -> Any:
    try:
        return reader.gets()
    except hiredis.ProtocolError as exc:
        raise SnapshotError(f"damaged ({exc})") from None


# ---- the subsystem ---------------------------------------------------------------------------------------
class Snapshots:
    """Subsystem: loads the snapshot at start-up; SAVE, BGSAVE, the save points and the shutdown save."""

    def __init__(self) -> None:
        self.state: Any = None
        self.last_save = time.time()          # LASTSAVE: start-up counts as a save, as on Redis
        self.saves = 0
        self.last_status = "ok"
        self.last_duration_s = -1
        self.child: int | None = None         # the BGSAVE child's pid
        self.child_started = 0.0
        self.child_dirty = 0                  # the changes the child's image holds
        self.child_errors: int | None = None  # the read end of the child's error pipe
        self.last_failure = 0.0
        self.at_shutdown: bool | None = None  # SHUTDOWN SAVE (True) / NOSAVE (False); None: as the save points say
        self.scheduled = False                # BGSAVE SCHEDULE while a child ran: start another once it ends

    async def start(self, server: Any) -> None:
        """Load the snapshot if its file exists; a snapshot that cannot be loaded stops start-up."""
        from inferd.server import StartupError
        self.state = server.state
        self.state.extensions["snapshots"] = self
        path = self.path()
        if not os.path.exists(path) or self._append_only_file():
            return
        started = time.monotonic()
        try:
            count = await asyncio.get_running_loop().run_in_executor(None, check_snapshot, path)
            keys = await self._replay(path)
        except (SnapshotError, OSError) as exc:
            raise StartupError(f"snapshot {path}: {exc}") from None
        except CommandError as exc:
            raise StartupError(f"snapshot {path}: a request failed: {exc.text}") from None
        self.state.stats.dirty = 0
        log.info("loaded snapshot %s: %d keys (%d requests) in %.2fs", path, keys, count, time.monotonic() - started)

    async def stop(self) -> None:
        """Nothing here: the server calls :meth:`save_at_shutdown` once no command can run any more."""

    def _append_only_file(self) -> bool:
        """Whether start-up loads the append-only file instead (appendonly yes and the file is there)."""
        config = self.state.config
        return config.appendonly == "yes" and os.path.exists(data_file(config, config.appendfilename))

    def other_child_running(self) -> bool:
        """Whether the append-only file's rewrite child runs (one child at a time, as on Redis)."""
        appendonly = self.state.extensions.get("appendonly")
        return appendonly is not None and appendonly.child is not None

    def path(self) -> str:
        """The snapshot file: ``dir`` (the working directory when empty) and ``dbfilename``."""
        config = self.state.config
        return data_file(config, config.dbfilename)

    async def _replay(self, path: str) -> int:
        client = Client(self.state, addr="snapshot")
        client.authenticated = True
        client.close_callback = lambda: None
        dispatcher = self.state.dispatcher
        for argv in snapshot_requests(path):
            reply = dispatcher.call(client, argv)
            if isinstance(reply, asyncio.Future):
                reply = await reply
            if isinstance(reply, CommandError):
                raise reply
        from inferd.commands.server import reset_command_stats
        reset_command_stats(dispatcher.table)   # the load is not traffic
        return sum(len(db.data) for db in self.state.keyspace.dbs)

    # ---- SAVE, BGSAVE --------------------------------------------------------------------------------
    def save(self) -> None:
        """SAVE: write the snapshot now (the loop waits); raises SnapshotError/OSError."""
        if self.child is not None:
            raise CommandError("ERR Background save already in progress")
        started = time.monotonic()
        dirty = self.state.stats.dirty
        try:
            size = write_snapshot(self.state.keyspace, self.path())
        except (OSError, SnapshotError) as exc:
            self.last_status = "err"
            log.warning("snapshot save failed: %s", exc)
            raise
        self._saved(dirty, time.monotonic() - started)
        log.info("snapshot saved to %s (%d bytes)", self.path(), size)

    def bgsave(self) -> None:
        """BGSAVE: fork a child that writes the snapshot; raises CommandError when one is already running."""
        if self.child is not None:
            raise CommandError("ERR Background save already in progress")
        if self.other_child_running():
            raise CommandError("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
                               "SCHEDULE in order to schedule a BGSAVE whenever possible.")
        keyspace, path = self.state.keyspace, self.path()
        self.child, self.child_errors = fork_child(lambda: write_snapshot(keyspace, path))
        pid = self.child
        self.child_started = time.monotonic()
        self.child_dirty = self.state.stats.dirty
        log.info("background saving started by pid %d", pid)

    def _saved(self, dirty: int, seconds: float) -> None:
        self.state.stats.dirty -= dirty
        self.last_save = time.time()
        self.last_status = "ok"
        self.last_duration_s = round(seconds)
        self.saves += 1

    # ---- cron ------------------------------------------------------------------------------------------
    def cron(self) -> None:
        """Reap a finished BGSAVE child; start one when a save point is reached (``hz`` times a second)."""
        if self.child is not None:
            self._reap(os.WNOHANG)
            return
        if self.other_child_running():
            return
        if self.scheduled:
            self.scheduled = False
            self._background()
            return
        dirty = self.state.stats.dirty
        if not dirty or time.monotonic() - self.last_failure < RETRY_AFTER_FAILURE_S:
            return
        since = time.time() - self.last_save
        for seconds, changes in config_module.save_points(self.state.config.save):
            if dirty >= changes and since >= seconds:
                log.info("%d changes in %d seconds: saving", changes, seconds)
                self._background()
                return

    def _background(self) -> None:
        try:
            self.bgsave()
        except OSError as exc:   # fork failed
            self._failed(str(exc))

    def _reap(self, options: int) -> None:
        assert self.child is not None and self.child_errors is not None
        outcome = reap_child(self.child, self.child_errors, options)
        if outcome is None:
            return
        self.child = self.child_errors = None
        if outcome[0]:
            self._saved(self.child_dirty, time.monotonic() - self.child_started)
            log.info("background saving terminated with success")
        else:
            self._failed(outcome[1])

    def _failed(self, why: str) -> None:
        self.last_status = "err"
        self.last_failure = time.monotonic()
        log.warning("background saving failed: %s", why)

    # ---- shutdown --------------------------------------------------------------------------------------
    def wants_shutdown_save(self) -> bool:
        """Whether shutting down saves: SHUTDOWN SAVE, or save points and no NOSAVE."""
        if self.at_shutdown is not None:
            return self.at_shutdown
        return bool(config_module.save_points(self.state.config.save))

    def check_writable(self) -> None:
        """Raise OSError if the snapshot's folder does not take a file (SHUTDOWN's check before it begins)."""
        temp = os.path.join(os.path.dirname(self.path()), f"temp-{os.getpid()}.inferd")
        with open(temp, "wb"):
            pass
        os.unlink(temp)

    def save_at_shutdown(self) -> bool:
        """The last save, when one is wanted (a running BGSAVE is stopped first); False if it failed."""
        if self.child is not None:
            child = self.child
            os.kill(child, signal.SIGKILL)
            self._reap(0)
            try:   # what the killed child had written
                os.unlink(os.path.join(os.path.dirname(self.path()), f"temp-{child}.inferd"))
            except OSError:
                pass
        if not self.wants_shutdown_save():
            return True
        try:
            self.save()
        except (OSError, SnapshotError) as exc:
            log.error("the shutdown save failed, the data since the last snapshot is lost: %s", exc)
            return False
        return True
