"""Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP), compared with redis-server reply by reply."""
from __future__ import annotations

import random

import pytest

from tests.commands.helpers import run_both

pytestmark = pytest.mark.oracle


def test_setbit_getbit(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SETBIT", "b", "7", "1"), ("SETBIT", "b", "7", "1"), ("GET", "b"), ("SETBIT", "b", "100", "0"),
             ("STRLEN", "b"), ("GETBIT", "b", "7"), ("GETBIT", "b", "6"), ("GETBIT", "b", "100000"),
             ("GETBIT", "nokey", "3"), ("SETBIT", "new", "0", "0"), ("GET", "new"),
             ("SETBIT", "b", "-1", "1"), ("SETBIT", "b", "x", "1"), ("SETBIT", "b", "1", "2"),
             ("SETBIT", "b", "1", "-1"), ("SETBIT", "b", "1", "01"), ("SETBIT", "b", "4294967296", "1"),
             ("SETBIT", "b", "4294967295", "x"),
             ("GETBIT", "b", "-1"), ("GETBIT", "b", "x"), ("SET", "t", "a", "EX", "100"), ("SETBIT", "t", "100", "1"),
             ("TTL", "t"), ("GET", "t"), ("RPUSH", "l", "x"), ("SETBIT", "l", "0", "1"), ("GETBIT", "l", "0"),
             ("SETBIT", "b", "1"), ("GETBIT", "b"))


def test_bitcount_bitpos_bitop_errors(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "b", "\x0f\xf0"), ("SET", "e", ""), ("RPUSH", "l", "x"),
             ("BITCOUNT", "nokey", "x", "y"), ("BITCOUNT", "b", "x", "1"), ("BITCOUNT", "b", "0"),
             ("BITCOUNT", "b", "0", "1", "FOO"), ("BITCOUNT", "b", "0", "1", "bit", "x"), ("BITCOUNT", "l"),
             ("BITCOUNT", "e"), ("BITCOUNT", "e", "0", "-1"), ("BITCOUNT", "e", "0", "-1", "BIT"),
             ("BITPOS", "b", "2"), ("BITPOS", "b", "x"), ("BITPOS", "nokey", "1", "x"), ("BITPOS", "nokey", "0"),
             ("BITPOS", "b", "1", "x"), ("BITPOS", "b", "1", "0", "x"), ("BITPOS", "b", "1", "0", "1", "FOO"),
             ("BITPOS", "b", "1", "0", "1", "BIT", "x"), ("BITPOS", "l", "1"), ("BITPOS", "e", "0"),
             ("BITPOS", "e", "1"), ("BITPOS", "e", "0", "0", "-1"),
             ("BITOP", "FOO", "d", "b"), ("BITOP", "NOT", "d", "b", "b"), ("BITOP", "AND", "d", "b", "l"),
             ("BITOP", "XOR", "d", "nokey", "e"), ("EXISTS", "d"), ("SET", "d", "x", "EX", "100"),
             ("BITOP", "not", "d", "b"), ("TTL", "d"), ("GET", "d"), ("LPUSH", "d2", "x"), ("BITOP", "OR", "d2", "b"),
             ("TYPE", "d2"), ("BITOP", "AND", "d"))


@pytest.mark.parametrize("seed", range(30))
def test_random_bitmaps(both, seed):
    """Random strings and ranges (bytes and bits, negative and past either end) for every bitmap command."""
    ours, theirs = both
    rng = random.Random(seed)
    keys = ["a", "b", "c", "zero", "ones"]
    commands: list[tuple[str, ...]] = [("SET", "zero", "\x00\x00\x00"), ("SET", "ones", "\xff\xff")]
    for key in keys[:3]:
        commands.append(("SET", key, "".join(chr(rng.choice([0, 255, rng.randrange(256)]))
                                             for _ in range(rng.randrange(6)))))
    numbers = ["0", "1", "2", "3", "7", "8", "9", "15", "16", "23", "100", "-1", "-2", "-8", "-9", "-100"]
    for _ in range(150):
        key, roll = rng.choice(keys), rng.random()
        span = [rng.choice(numbers) for _ in range(rng.choice([0, 1, 2, 2]))]
        unit = [rng.choice(["BIT", "BYTE", "bit"])] if len(span) == 2 and rng.random() < 0.6 else []
        if roll < 0.3:
            commands.append(("BITCOUNT", key, *span, *unit) if len(span) != 1 else ("BITCOUNT", key))
        elif roll < 0.6:
            commands.append(("BITPOS", key, rng.choice(["0", "1"]), *span, *unit))
        elif roll < 0.75:
            commands.append(("SETBIT", key, str(rng.randrange(40)), rng.choice(["0", "1"])))
        elif roll < 0.85:
            commands.append(("GETBIT", key, str(rng.randrange(50))))
        else:
            op = rng.choice(["AND", "OR", "XOR", "NOT"])
            sources = [rng.choice(keys + ["nokey"]) for _ in range(1 if op == "NOT" else rng.randint(1, 3))]
            commands.append(("BITOP", op, rng.choice(keys), *sources))
    run_both(ours, theirs, *commands, *[("GET", key) for key in keys])
