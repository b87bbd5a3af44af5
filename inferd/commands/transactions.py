"""Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (queueing itself is the dispatcher's job)."""
from __future__ import annotations

from typing import Any

from inferd import errors
from inferd.commands.context import Client
from inferd.commands.table import command
from inferd.errors import CommandError
from inferd.resp.encoder import NULL_ARRAY, OK


def multi(c: Client, argv: list[bytes]) -> Any:
    """MULTI."""
    if c.multi is not None:
        raise CommandError(errors.MULTI_NESTED)
    c.multi = []
    c.multi_dirty = False
    return OK


def exec_(c: Client, argv: list[bytes]) -> Any:
    """EXEC: run the queued commands, or abort if one was refused while queueing or a watched key changed."""
    if c.multi is None:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    if c.multi_dirty:
        c.reset_transaction()
        raise CommandError(errors.EXECABORT)
    if c.dirty_cas:
        c.reset_transaction()
        return NULL_ARRAY
    c.unwatch()   # watched keys are released before the commands run, as Redis does
    assert c.server.dispatcher is not None
    try:
        return c.server.dispatcher.exec_queued(c)
    finally:
        c.multi = None
        c.multi_dirty = False


def discard(c: Client, argv: list[bytes]) -> Any:
    """DISCARD."""
    if c.multi is None:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    c.reset_transaction()
    return OK


def watch(c: Client, argv: list[bytes]) -> Any:
    """WATCH key [key ...]."""
    if c.multi is not None:
        raise CommandError(errors.WATCH_IN_MULTI)
    for key in argv[1:]:
        entry = (c.db.index, key)
        if entry not in c.watching:
            c.watching.add(entry)
            c.db.watch(key, c)
    return OK


def unwatch(c: Client, argv: list[bytes]) -> Any:
    """UNWATCH."""
    c.unwatch()
    return OK


COMMANDS = [
    command("multi", multi, 1, "noscript loading stale fast no-multi", group="transactions", since="1.2.0",
            summary="Starts a transaction."),
    command("exec", exec_, 1, "noscript loading stale no-multi", group="transactions", since="1.2.0",
            summary="Executes all commands in a transaction."),
    command("discard", discard, 1, "noscript loading stale fast no-multi", group="transactions", since="2.0.0",
            summary="Discards a transaction."),
    command("watch", watch, -2, "noscript loading stale fast no-multi", keys=(1, -1, 1), group="transactions",
            since="2.2.0", summary="Monitors changes to keys to determine the execution of a transaction.",
            arguments="key..."),
    command("unwatch", unwatch, 1, "noscript loading stale fast", group="transactions", since="2.2.0",
            summary="Forgets about watched keys of a transaction."),
]
