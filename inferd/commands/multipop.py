"""What LMPOP and ZMPOP share: ``numkeys key [key ...] END [COUNT count]`` and the pop from the first non-empty key."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.errors import CommandError
from inferd.resp.encoder import NULL_ARRAY

# A pop from one key: (client, key, the first of the two ends?, count or None for one) -> the reply, or None if empty.
Take = Callable[[Client, bytes, bool, "int | None"], "list[Any] | None"]


def multi_pop_args(argv: list[bytes], ends: tuple[bytes, bytes]) -> tuple[list[bytes], bool, int]:
    """``numkeys key [key ...] END [COUNT count]`` (LMPOP, ZMPOP): keys, whether END is ``ends[0]``, count.

    The count is 1 by default; errors are Redis's, in its order.
    """
    numkeys = parse_int(argv[1], errors.NUMKEYS_NOT_POSITIVE)
    if numkeys <= 0:
        raise CommandError(errors.NUMKEYS_NOT_POSITIVE)
    where = 2 + numkeys
    if where >= len(argv) or argv[where].upper() not in ends:
        raise CommandError(errors.SYNTAX)
    count = -1
    i = where + 1
    while i < len(argv):
        if argv[i].upper() == b"COUNT" and i + 1 < len(argv) and count == -1:
            count = parse_int(argv[i + 1], errors.COUNT_NOT_POSITIVE)
            if count <= 0:
                raise CommandError(errors.COUNT_NOT_POSITIVE)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[2:where], argv[where].upper() == ends[0], max(count, 1)


def pop_first(c: Client, keys: list[bytes], kind: type, take: Take, first_end: bool, count: int) -> Any:
    """``take``'s answer for the first of ``keys`` holding a ``kind`` (WRONGTYPE for another type first), or nil.

    ``take`` deletes the key once empty and signals its watchers itself: the keys move with numkeys, so the dispatcher
    cannot name the one that changed (the blocking forms take with it too, inferd.commands.blocking).
    """
    for key in keys:
        if c.db.get_typed(key, kind) is not None:
            return take(c, key, first_end, count)
    return NULL_ARRAY
