"""What SRANDMEMBER, HRANDFIELD and ZRANDMEMBER share: the count argument and the random pick."""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from inferd import errors
from inferd.commands.args import parse_int
from inferd.errors import CommandError

T = TypeVar("T")
_LONG_MAX = (1 << 63) - 1


def random_count(argv: list[bytes], word: bytes | None) -> tuple[int, bool]:
    """``key count [WORD]``: the count (negative: members may repeat) and whether WORD (WITHVALUES...) was given."""
    count = parse_int(argv[2])
    if count < -_LONG_MAX:
        raise CommandError(errors.RANGE_OUT_OF_RANGE)
    with_word = len(argv) == 4
    if len(argv) > 4 or (with_word and (word is None or argv[3].upper() != word)):
        raise CommandError(errors.SYNTAX)
    if with_word and not -_LONG_MAX // 2 <= count <= _LONG_MAX // 2:
        raise CommandError(errors.VALUE_OUT_OF_RANGE)
    return count, with_word


def pick(pool: Sequence[T], count: int) -> list[T]:
    """``count`` distinct items of ``pool`` at random (all of them if fewer), or ``-count`` items with repeats."""
    if count < 0:
        return random.choices(pool, k=-count)
    if count >= len(pool):
        return list(pool)
    return random.sample(pool, count)
