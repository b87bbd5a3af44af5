"""String commands."""
from __future__ import annotations

from typing import Any

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import command
from inferd.errors import CommandError
from inferd.resp.encoder import OK


def _get_string(c: Client, key: bytes) -> bytes | None:
    value = c.db.get(key)
    if value is None or value.__class__ is bytes:
        return value
    raise CommandError(errors.WRONGTYPE)


def get(c: Client, argv: list[bytes]) -> bytes | None:
    """GET key."""
    return _get_string(c, argv[1])


def set_(c: Client, argv: list[bytes]) -> Any:
    """SET key value (options come with the strings group)."""
    if len(argv) == 3:
        c.db.set(argv[1], argv[2])
        return OK
    raise CommandError(errors.SYNTAX)


def incr(c: Client, argv: list[bytes]) -> int:
    """INCR key."""
    current = _get_string(c, argv[1])
    value = (parse_int(current) if current is not None else 0) + 1
    c.db.set(argv[1], b"%d" % value, keep_ttl=True)
    return value


COMMANDS = [
    command("get", get, 2, "readonly fast", keys=(1, 1, 1), group="string", summary="Returns the string value of a "
            "key.", arguments="key"),
    command("set", set_, -3, "write denyoom", keys=(1, 1, 1), group="string", summary="Sets the string value of a "
            "key, ignoring its type. The key is created if it doesn't exist.", arguments="key value"),
    command("incr", incr, 2, "write denyoom fast", keys=(1, 1, 1), group="string", summary="Increments the integer "
            "value of a key by one. Uses 0 as initial value if the key doesn't exist.", arguments="key"),
]
