"""Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, TIME, SLOWLOG, DEBUG, and persistence's.

Persistence: SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, SHUTDOWN.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from inferd import config as config_module
from inferd import errors
from inferd.commands import info
from inferd.commands.args import parse_float, parse_int
from inferd.commands.context import REPLY_OFF, Client
from inferd.commands.table import Command, command, unique_commands
from inferd.errors import CommandError
from inferd.persistence import SnapshotError
from inferd.resp.encoder import OK, Status, Verbatim

log = logging.getLogger("inferd")


def info_(c: Client, argv: list[bytes]) -> Verbatim:
    """INFO [section ...]."""
    return Verbatim(info.render(c.server, [a.decode("utf-8", "replace") for a in argv[1:]]).encode())


def config_get(c: Client, argv: list[bytes]) -> dict[bytes, bytes]:
    """CONFIG GET parameter [parameter ...]."""
    out: dict[bytes, bytes] = {}
    for pattern in argv[2:]:
        for name, value in config_module.get_matching(c.server.config, pattern.decode("utf-8", "replace")).items():
            out[name.encode()] = value.encode()
    return out


def config_set(c: Client, argv: list[bytes]) -> Any:
    """CONFIG SET parameter value [parameter value ...] (all or nothing)."""
    if len(argv) % 2 != 0:
        raise errors.wrong_arity("config|set")
    changes: dict[str, bytes] = {}
    for i in range(2, len(argv), 2):
        name = argv[i].decode("utf-8", "replace").lower()
        if name in changes:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter")
        changes[name] = argv[i + 1]
    for name in changes:
        option = config_module.OPTIONS_BY_NAME.get(name)
        if option is None or not option.runtime:
            raise CommandError(errors.CONFIG_UNKNOWN_OPTION.format(name))
    try:
        new = config_module.with_values(c.server.config, changes)
    except config_module.ConfigError as exc:
        name = next(n for n in changes if _fails(c, n, changes[n]))
        raise CommandError(errors.CONFIG_SET_FAILED.format(name, exc)) from None
    if new.appendonly != c.server.config.appendonly:   # switched before anything changes: it may fail
        try:
            c.server.extensions["appendonly"].switch(new)
        except OSError as exc:
            raise CommandError(errors.CONFIG_SET_FAILED.format("appendonly", exc)) from None
    c.server.config = new
    for hook in c.server.extensions.get("config_hooks", []):
        hook(new)
    return OK


def _fails(c: Client, name: str, value: bytes) -> bool:
    try:
        config_module.with_values(c.server.config, {name: value})
    except config_module.ConfigError:
        return True
    return False


def config_resetstat(c: Client, argv: list[bytes]) -> Any:
    """CONFIG RESETSTAT: zero INFO's stats, commandstats and errorstats."""
    server = c.server
    stats = server.stats
    for name in ("connections_received", "rejected_connections", "net_input_bytes",
                 "net_output_bytes", "expired_keys", "keyspace_hits", "keyspace_misses", "total_error_replies"):
        setattr(stats, name, 0)
    stats.error_replies.clear()
    assert server.dispatcher is not None
    reset_command_stats(server.dispatcher.table)
    return OK


def reset_command_stats(table: dict[bytes, Command]) -> None:
    """Zero every command's (and subcommand's) commandstats."""
    for cmd in unique_commands(table):
        for sub in [cmd, *cmd.subcommands.values()]:
            sub.stats.calls = sub.stats.usec = sub.stats.rejected_calls = sub.stats.failed_calls = 0


def config_rewrite(c: Client, argv: list[bytes]) -> Any:
    """CONFIG REWRITE: inferd's config file is the operator's; runtime changes are not written back."""
    raise CommandError("ERR The server is running without a config file")


def dbsize(c: Client, argv: list[bytes]) -> int:
    """DBSIZE."""
    return len(c.db.data)


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(errors.SYNTAX)


def flushdb(c: Client, argv: list[bytes]) -> Any:
    """FLUSHDB [ASYNC|SYNC]."""
    _flush_mode(argv)
    c.db.flush()
    return OK


def flushall(c: Client, argv: list[bytes]) -> Any:
    """FLUSHALL [ASYNC|SYNC]."""
    _flush_mode(argv)
    c.server.keyspace.flush_all()
    return OK


def time_(c: Client, argv: list[bytes]) -> list[bytes]:
    """TIME: [unix seconds, microseconds]."""
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


def lastsave(c: Client, argv: list[bytes]) -> int:
    """LASTSAVE: the Unix time of the last successful snapshot (start-up counts as one)."""
    return int(c.server.extensions["snapshots"].last_save)


def save(c: Client, argv: list[bytes]) -> Any:
    """SAVE: write the snapshot now; the server waits until it is on disk."""
    try:
        c.server.extensions["snapshots"].save()
    except (OSError, SnapshotError) as exc:
        raise CommandError(f"ERR snapshot not saved: {exc}") from None
    return OK


def bgsave(c: Client, argv: list[bytes]) -> Any:
    """BGSAVE [SCHEDULE]: a child process writes the snapshot while the server goes on."""
    schedule = len(argv) == 2
    if schedule and argv[1].upper() != b"SCHEDULE":
        raise CommandError(errors.SYNTAX)
    snapshots = c.server.extensions["snapshots"]
    if (snapshots.child is not None or snapshots.other_child_running()) and schedule:
        snapshots.scheduled = True
        return Status(b"Background saving scheduled")
    try:
        snapshots.bgsave()
    except OSError as exc:   # fork failed
        raise CommandError(f"ERR background save not started: {exc}") from None
    return Status(b"Background saving started")


def bgrewriteaof(c: Client, argv: list[bytes]) -> Any:
    """BGREWRITEAOF: a child process rewrites the append-only file from the keyspace while the server goes on."""
    try:
        return Status(c.server.extensions["appendonly"].bgrewrite().encode())
    except OSError as exc:   # fork failed
        raise CommandError(f"ERR append-only file rewrite not started: {exc}") from None


def slowlog_get(c: Client, argv: list[bytes]) -> list[Any]:
    """SLOWLOG GET [count]."""
    count = 10
    if len(argv) == 3:
        count = parse_int(argv[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise CommandError(errors.SLOWLOG_COUNT)
    entries = list(c.server.slowlog) if count == -1 else list(c.server.slowlog)[:count]
    return [[e.id, e.timestamp, e.duration_us, e.argv, e.addr.encode(), e.name.encode()] for e in entries]


def slowlog_len(c: Client, argv: list[bytes]) -> int:
    """SLOWLOG LEN."""
    return len(c.server.slowlog)


def slowlog_reset(c: Client, argv: list[bytes]) -> Any:
    """SLOWLOG RESET."""
    c.server.slowlog.clear()
    return OK


def shutdown(c: Client, argv: list[bytes]) -> Any:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: stop accepting, finish in-flight commands, exit 0."""
    for word in argv[1:]:
        if word.upper() not in (b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"):
            raise CommandError(errors.SYNTAX)
    words = {w.upper() for w in argv[1:]}
    if b"ABORT" in words:
        raise CommandError("ERR No shutdown in progress.")
    if c.server.shutdown_requested is None:
        raise CommandError(errors.SHUTDOWN_FAILED)
    snapshots = c.server.extensions.get("snapshots")
    if snapshots is not None:
        snapshots.at_shutdown = True if b"SAVE" in words else False if b"NOSAVE" in words else None
        if snapshots.wants_shutdown_save():   # the save itself comes once the last command has run
            try:
                snapshots.check_writable()
            except OSError as exc:
                snapshots.at_shutdown = None
                log.warning("SHUTDOWN refused: the snapshot cannot be written: %s", exc)
                raise CommandError(errors.SHUTDOWN_FAILED) from None
    c.server.shutdown_requested()
    c.reply_mode = REPLY_OFF      # like Redis, the connection closes without a reply
    c.close_callback()
    return None


def debug_sleep(c: Client, argv: list[bytes]) -> Any:
    """DEBUG SLEEP seconds: block the server, as Redis does (a test helper)."""
    time.sleep(max(0.0, parse_float(argv[2])))
    return OK


def debug_error(c: Client, argv: list[bytes]) -> CommandError:
    """DEBUG ERROR message: reply with the given error (a test helper)."""
    return CommandError(argv[2].decode("utf-8", "replace"))


def _sub(parent: str, name: str, handler: Any, arity: int, summary: str, flags: str = "admin noscript loading stale",
         arguments: str = "") -> Command:
    return command(f"{parent}|{name}", handler, arity, flags, group="server", summary=summary, arguments=arguments)


COMMANDS = [
    command("info", info_, -1, "loading stale", group="server", summary="Returns information and statistics about "
            "the server.", arguments="[section...]"),
    command("config", None, -2, "", group="server", since="2.0.0", summary="A container for server configuration "
            "commands.", subcommands=[
                _sub("config", "get", config_get, -3, "Returns the effective values of configuration parameters.",
                     arguments="parameter..."),
                _sub("config", "set", config_set, -4, "Sets configuration parameters in-flight.",
                     arguments="parameter value"),
                _sub("config", "resetstat", config_resetstat, 2, "Resets the server's statistics."),
                _sub("config", "rewrite", config_rewrite, 2, "Persists the effective configuration to file."),
            ]),
    command("dbsize", dbsize, 1, "readonly fast", group="server",
            summary="Returns the number of keys in the database."),
    command("flushdb", flushdb, -1, "write", group="server", summary="Removes all keys from the current database.",
            arguments="[mode]"),
    command("flushall", flushall, -1, "write", group="server", summary="Removes all keys from all databases.",
            arguments="[mode]"),
    command("time", time_, 1, "loading stale fast", group="server", since="2.6.0",
            summary="Returns the server time."),
    command("lastsave", lastsave, 1, "loading stale fast", group="server",
            summary="Returns the Unix timestamp of the last successful save to disk."),
    command("save", save, 1, "admin noscript deny-multi", group="server",
            summary="Synchronously saves the database(s) to disk."),
    command("bgsave", bgsave, -1, "admin noscript", group="server",
            summary="Asynchronously saves the database(s) to disk.", arguments="[SCHEDULE]"),
    command("bgrewriteaof", bgrewriteaof, 1, "admin noscript", group="server",
            summary="Asynchronously rewrites the append-only file to disk."),
    command("slowlog", None, -2, "", group="server", since="2.2.12", summary="A container for slow log commands.",
            subcommands=[
                _sub("slowlog", "get", slowlog_get, -2, "Returns the slow log's entries.", arguments="[count]"),
                _sub("slowlog", "len", slowlog_len, 2, "Returns the number of entries in the slow log."),
                _sub("slowlog", "reset", slowlog_reset, 2, "Clears all entries from the slow log."),
            ]),
    command("shutdown", shutdown, -1, "admin noscript loading stale deny-multi", group="server",
            summary="Synchronously saves the database(s) to disk and shuts down the Redis server.",
            arguments="[mode]"),
    command("debug", None, -2, "admin noscript loading stale", group="server",
            summary="A container for debugging commands.", subcommands=[
                _sub("debug", "sleep", debug_sleep, 3, "Blocks the server for the given number of seconds.",
                     arguments="seconds"),
                _sub("debug", "error", debug_error, 3, "Replies with the given error.", arguments="message"),
            ]),
]
