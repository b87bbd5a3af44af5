"""Sorted-set commands, compared with redis-server reply by reply (scores as doubles in RESP3)."""
from __future__ import annotations

import itertools
import random
import socket

import hiredis
import pytest

from tests.commands.helpers import compare_scan, run_both


def test_zadd_options(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "1.5", "a", "3", "c"),
             ("ZADD", "z", "CH", "9", "a", "4", "d"),
             ("ZADD", "z", "NX", "100", "a", "5", "e"), ("ZADD", "z", "XX", "100", "a", "5", "f"),
             ("ZADD", "z", "XX", "CH", "100", "a", "5", "f"), ("ZADD", "z", "GT", "CH", "50", "a", "200", "b"),
             ("ZADD", "z", "LT", "CH", "1", "a", "300", "b"), ("ZADD", "z", "GT", "XX", "CH", "1000", "a"),
             ("ZADD", "z", "INCR", "5", "a"), ("ZADD", "z", "INCR", "NX", "5", "a"),
             ("ZADD", "z", "INCR", "XX", "5", "zz"),
             ("ZADD", "z", "INCR", "GT", "-5", "a"), ("ZADD", "z", "INCR", "LT", "-5", "a"),
             ("ZADD", "z", "NX", "XX", "1", "a"), ("ZADD", "z", "GT", "LT", "1", "a"),
             ("ZADD", "z", "NX", "GT", "1", "a"),
             ("ZADD", "z", "INCR", "1", "a", "2", "b"), ("ZADD", "z", "1"), ("ZADD", "z", "1", "a", "2"),
             ("ZADD", "z", "x", "a"), ("ZADD", "z", "nan", "a"), ("ZADD", "z", "1", "a", "x", "b"), ("ZADD", "z", "CH"),
             ("ZADD", "z", "inf", "pinf", "-inf", "ninf", "+inf", "p2", "1e400", "x"), ("ZADD", "z", "0x10", "h"),
             ("ZADD", "z", " 1", "sp"), ("ZADD", "z", "1.1", "f1", "-0.3", "f2", "1e-10", "f3", "123456789.123", "f4"),
             ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZADD", "xx", "XX", "1", "a"), ("EXISTS", "xx"),
             ("ZADD", "xx", "XX", "INCR", "1", "a"), ("EXISTS", "xx"), ("ZINCRBY", "z", "inf", "pinf"),
             ("ZINCRBY", "z", "-inf", "pinf"), ("ZSCORE", "z", "pinf"), ("ZCARD", "z"), ("ZCARD", "nokey"))


def test_zincrby_zscore_zmscore_zrem(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("ZINCRBY", "z", "1.1", "a"), ("ZINCRBY", "z", "0.1", "a"), ("ZINCRBY", "z", "x", "a"),
             ("ZINCRBY", "z", "inf", "b"), ("ZINCRBY", "z", "-inf", "b"), ("ZSCORE", "z", "a"), ("ZSCORE", "z", "x"),
             ("ZSCORE", "nokey", "a"), ("ZMSCORE", "z", "a", "x", "b"), ("ZMSCORE", "nokey", "a", "b"),
             ("ZREM", "z", "a", "x"), ("ZREM", "nokey", "a"), ("ZREM", "z", "b"), ("EXISTS", "z"),
             ("ZINCRBY", "z", "1"),
             ("ZMSCORE", "z"), ("ZSCORE", "z"),
             # ZADD's flags are read here too: one as the increment leaves an odd count (a syntax error)
             ("ZINCRBY", "z", "CH", "a"), ("ZINCRBY", "z", "nx", "2"), ("ZINCRBY", "z", "INCR", "INCR"),
             ("ZINCRBY", "z", "GT", "nan"), ("EXISTS", "z"))


def test_rank_count(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d"), ("ZRANK", "z", "a"), ("ZRANK", "z", "c"),
             ("ZREVRANK", "z", "a"), ("ZREVRANK", "z", "d"), ("ZRANK", "z", "x"), ("ZRANK", "nokey", "a"),
             ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "2", "2"), ("ZCOUNT", "z", "(1", "(3"),
             ("ZCOUNT", "z", "(2", "3"), ("ZCOUNT", "z", "3", "1"), ("ZCOUNT", "z", "x", "1"),
             ("ZCOUNT", "z", "(", "5"),
             ("ZCOUNT", "nokey", "0", "1"), ("ZCOUNT", "nokey", "x", "1"), ("ZCOUNT", "z", "nan", "1"),
             ("ZLEXCOUNT", "z", "-", "+"), ("ZLEXCOUNT", "z", "[b", "(d"), ("ZLEXCOUNT", "z", "x", "+"),
             ("ZRANK", "z"))


@pytest.mark.parametrize("args", [
    ("0", "-1"), ("0", "-1", "WITHSCORES"), ("1", "2"), ("-2", "-1", "WITHSCORES"), ("5", "1"), ("0", "100"),
    ("0", "-1", "REV"), ("0", "1", "REV", "WITHSCORES"), ("x", "1"), ("0", "1", "LIMIT", "0", "1"),
    ("-inf", "+inf", "BYSCORE"), ("(1", "3", "BYSCORE", "WITHSCORES"), ("3", "1", "BYSCORE", "REV"),
    ("+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"), ("-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"),
    ("-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"), ("-inf", "+inf", "BYSCORE", "LIMIT", "10", "2"),
    ("x", "1", "BYSCORE"), ("1", "(x", "BYSCORE"), ("-", "+", "BYLEX"), ("[b", "(d", "BYLEX"),
    ("+", "-", "BYLEX", "REV"),
    ("-", "+", "BYLEX", "LIMIT", "1", "2"), ("(b", "+", "BYLEX", "REV"), ("a", "+", "BYLEX"),
    ("-", "+", "BYLEX", "WITHSCORES"), ("0", "1", "BYSCORE", "BYLEX"), ("0", "1", "REV", "REV"),
    ("0", "1", "LIMIT", "0"), ("0", "1", "LIMIT", "x", "1"), ("0", "1", "FOO"), ("+", "-", "BYLEX"), ("0",),
])
def test_zrange(both, args):
    ours, theirs = both
    run_both(ours, theirs, ("ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "4.5", "e"), ("ZRANGE", "z", *args),
             ("ZRANGE", "nokey", *args))


def test_range_variants(both):
    ours, theirs = both
    run_both(ours, theirs, ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "lex", "0", "a", "0", "b", "0", "c"))
    for args in (("ZREVRANGE", "z", "0", "-1"), ("ZREVRANGE", "z", "0", "0", "WITHSCORES"),
                 ("ZREVRANGE", "z", "0", "1", "REV"),
                 ("ZRANGEBYSCORE", "z", "1", "2"),
                 ("ZRANGEBYSCORE", "z", "-inf", "inf", "WITHSCORES", "LIMIT", "1", "1"),
                 ("ZRANGEBYSCORE", "z", "0", "1", "REV"), ("ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "0"),
                 ("ZRANGEBYSCORE", "z", "0", "1", "BYLEX"), ("ZREVRANGEBYSCORE", "z", "3", "(1"),
                 ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES"), ("ZREVRANGEBYSCORE", "z", "1", "3"),
                 ("ZRANGEBYLEX", "lex", "[a", "(c"), ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "5"),
                 ("ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"), ("ZREVRANGEBYLEX", "lex", "+", "-"),
                 ("ZREVRANGEBYLEX", "lex", "(c", "[a"), ("ZRANGEBYLEX", "lex", "a", "c"),
                 ("ZRANGEBYLEX", "z", "-", "+"),
                 ("ZRANGESTORE", "dst", "z", "0", "1"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
                 ("ZRANGESTORE", "dst", "z", "(1", "+inf", "BYSCORE", "LIMIT", "0", "1"), ("ZRANGE", "dst", "0", "-1"),
                 ("ZRANGESTORE", "dst", "lex", "[b", "+", "BYLEX", "REV"),
                 ("ZRANGESTORE", "dst", "lex", "+", "[b", "BYLEX", "REV"),
                 ("ZRANGE", "dst", "0", "-1"), ("ZRANGESTORE", "dst", "nokey", "0", "-1"), ("EXISTS", "dst"),
                 ("ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"), ("ZRANGESTORE", "dst", "z", "0")):
        run_both(ours, theirs, args)


def test_remove_ranges(both):
    ours, theirs = both
    fill = ("ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "4.5", "e", "+inf", "f")
    lex = ("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e")
    run_both(ours, theirs, fill, ("ZREMRANGEBYSCORE", "z", "(1", "2"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
             ("ZREMRANGEBYSCORE", "z", "5", "1"), ("ZREMRANGEBYSCORE", "z", "(4.5", "+inf"),
             ("ZREMRANGEBYSCORE", "z", "x", "1"), ("ZREMRANGEBYSCORE", "z", "1", "(x"),
             ("ZREMRANGEBYSCORE", "z", "nan", "1"), ("ZREMRANGEBYSCORE", "nokey", "x", "1"),
             ("ZREMRANGEBYSCORE", "nokey", "0", "1"), ("ZREMRANGEBYSCORE", "z", "-inf", "+inf"), ("EXISTS", "z"),
             fill, ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZREMRANGEBYRANK", "z", "-2", "-1"),
             ("ZRANGE", "z", "0", "-1"), ("ZREMRANGEBYRANK", "z", "3", "1"), ("ZREMRANGEBYRANK", "z", "10", "20"),
             ("ZREMRANGEBYRANK", "z", "-100", "0"), ("ZREMRANGEBYRANK", "z", "x", "1"),
             ("ZREMRANGEBYRANK", "z", "1", "1.5"), ("ZREMRANGEBYRANK", "nokey", "x", "1"),
             ("ZREMRANGEBYRANK", "z", "0", "100"), ("EXISTS", "z"),
             lex, ("ZREMRANGEBYLEX", "lex", "[b", "(d"), ("ZRANGE", "lex", "0", "-1"),
             ("ZREMRANGEBYLEX", "lex", "+", "-"), ("ZREMRANGEBYLEX", "lex", "(d", "+"),
             ("ZREMRANGEBYLEX", "lex", "a", "+"),
             ("ZREMRANGEBYLEX", "nokey", "a", "+"), ("ZREMRANGEBYLEX", "lex", "-", "+"), ("EXISTS", "lex"),
             ("SET", "s", "v"), ("ZREMRANGEBYSCORE", "s", "0", "1"), ("ZREMRANGEBYSCORE", "s", "x", "1"),
             ("ZREMRANGEBYRANK", "s", "0", "1"), ("ZREMRANGEBYLEX", "s", "-", "+"), ("ZREMRANGEBYLEX", "s", "x", "+"),
             ("ZREMRANGEBYSCORE", "z", "0"), ("ZREMRANGEBYRANK", "z", "0", "1", "2"))


def test_pops(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("ZADD", "z", "1.1", "a", "2", "b", "3", "c", "4", "d"), ("ZPOPMIN", "z"), ("ZPOPMAX", "z"),
             ("ZADD", "z", "1", "a", "4", "d"), ("ZPOPMIN", "z", "2"), ("ZPOPMAX", "z", "1"), ("ZPOPMIN", "z", "0"),
             ("ZPOPMIN", "z", "-1"), ("ZPOPMIN", "z", "x"), ("ZPOPMIN", "z", "1", "2"), ("ZPOPMAX", "z", "10"),
             ("EXISTS", "z"), ("ZPOPMIN", "nokey"), ("ZPOPMAX", "nokey", "2"), ("ZPOPMIN",))


def test_a_large_set_moved_around_by_plain_zadds(both):
    """Thousands of plain ZADDs (the compiled insertion): new members, moved members, chunks split and joined."""
    rng = random.Random(11)
    for client in both:
        pipe = client.pipeline(transaction=False)
        rng.seed(11)
        for _ in range(6000):
            member = f"m{rng.randrange(3000)}"
            pipe.execute_command("ZADD", "big", rng.choice(["0", "-0", "1.5", "-2", "1e10"]) if rng.random() < 0.2
                                 else str(rng.randrange(400)), member)
            if rng.random() < 0.1:
                pipe.execute_command("ZREM", "big", f"m{rng.randrange(3000)}")
            if rng.random() < 0.05:
                pipe.execute_command("ZPOPMIN" if rng.random() < 0.5 else "ZPOPMAX", "big")
        pipe.execute_command("ZREMRANGEBYRANK", "big", "500", "1700")   # a span of whole chunks
        for _ in range(3000):
            pipe.execute_command("ZADD", "big", str(rng.randrange(400)), f"m{rng.randrange(3000)}")
        pipe.execute()
    ours, theirs = both
    assert ours.zrange("big", 0, -1, withscores=True) == theirs.zrange("big", 0, -1, withscores=True)
    run_both(ours, theirs, *(("ZRANK", "big", f"m{i}") for i in range(0, 3000, 37)),
             ("ZRANGEBYSCORE", "big", "100", "(102", "WITHSCORES"), ("ZCARD", "big"))


def test_wrong_type(both):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "s", "v"))
    for args in (("ZADD", "s", "1", "a"), ("ZINCRBY", "s", "1", "a"), ("ZSCORE", "s", "a"), ("ZMSCORE", "s", "a"),
                 ("ZREM", "s", "a"), ("ZCARD", "s"), ("ZRANGE", "s", "0", "1"), ("ZRANGEBYSCORE", "s", "0", "1"),
                 ("ZREVRANGE", "s", "0", "1"), ("ZRANK", "s", "a"), ("ZREVRANK", "s", "a"), ("ZPOPMIN", "s"),
                 ("ZPOPMAX", "s", "2"), ("ZCOUNT", "s", "0", "1"), ("ZSCAN", "s", "0"), ("ZLEXCOUNT", "s", "-", "+")):
        run_both(ours, theirs, args)


def test_zscan(both):
    ours, theirs = both
    for client in both:
        client.zadd("small", {"a": 1.1, "b": 2, "c": float("inf")})
        client.zadd("big", {f"m{i}": i / 3 for i in range(500)})
    run_both(ours, theirs, ("ZSCAN", "small", "0"), ("ZSCAN", "small", "0", "MATCH", "a*"), ("ZSCAN", "nokey", "0"),
             ("ZSCAN", "small", "x"), ("ZSCAN", "small", "0", "COUNT", "0"), ("ZSCAN", "small"))
    compare_scan(ours, theirs, "ZSCAN", "big")
    compare_scan(ours, theirs, "ZSCAN", "big", "MATCH", "m4*", "COUNT", "20")


class RawConnection:
    """A plain socket speaking RESP, returning each reply's exact bytes (redis-py would hide double formatting)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def call(self, *args: str) -> bytes:
        self.sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args))
        reader = hiredis.Reader()
        data = b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            data += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return data

    def close(self) -> None:
        self.sock.close()


WIRE_COMMANDS = [("ZADD", "z", "1.1", "a", "2", "b", "1e-7", "c", "inf", "d"), ("ZSCORE", "z", "a"),
                 ("ZSCORE", "z", "d"), ("ZMSCORE", "z", "a", "x"), ("ZINCRBY", "z", "0.1", "b"),
                 ("ZADD", "z", "INCR", "0.2", "b"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
                 ("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "1", "2"), ("ZSCAN", "z", "0"),
                 ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "2"), ("ZPOPMIN", "nokey"), ("ZPOPMIN", "z", "0"),
                 ("ZADD", "z", "XX", "INCR", "1", "nomember"), ("HGETALL", "nokey"), ("SMEMBERS", "nokey"),
                 ("SPOP", "nokey", "2"), ("LPOP", "nokey", "2"), ("HSET", "h", "f", "v"),
                 ("HRANDFIELD", "h", "1", "WITHVALUES"), ("SET", "f", "1.5"), ("INCRBYFLOAT", "f", "0.1"),
                 ("TYPE", "h"), ("SCAN", "0", "TYPE", "hash"), ("OBJECT", "ENCODING", "f"), ("DEL", "z", "h", "f")]


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_replies_are_byte_identical_on_the_wire(server, oracle, protocol):
    ours, theirs = RawConnection(server.port), RawConnection(oracle.port)
    try:
        for conn in (ours, theirs):
            conn.call("HELLO", protocol)   # the HELLO replies differ (server name, version, id)
            conn.call("FLUSHALL")
        for args in WIRE_COMMANDS:
            assert ours.call(*args) == theirs.call(*args), args
    finally:
        ours.close()
        theirs.close()


_LEX = ["-", "+", "[a", "(a", "[b", "(b", "[aa", "[z", "(", "["]
_MIXED = ("ZADD", "m", "1", "b", "0", "z", "2", "a", "1", "aa", "3", "c", "0", "ab", "2", "")


def test_lex_ranges_over_mixed_scores(both):
    """Redis defines lex ranges over equal scores only; over mixed scores a small sorted set answers what the scan of
    its compact encoding finds (from the head, or from the tail for REV), and so does inferd."""
    ours, theirs = both
    pairs = list(itertools.product(_LEX, _LEX))
    run_both(ours, theirs, _MIXED,
             *[("ZRANGEBYLEX", "m", low, high) for low, high in pairs],
             *[("ZLEXCOUNT", "m", low, high) for low, high in pairs],
             *[("ZREVRANGEBYLEX", "m", high, low) for low, high in pairs],
             *[("ZRANGE", "m", high, low, "BYLEX", "REV", "LIMIT", "1", "2") for low, high in pairs[::7]])
    for low, high in pairs[::3]:
        run_both(ours, theirs, ("DEL", "m"), _MIXED, ("ZREMRANGEBYLEX", "m", low, high), ("ZRANGE", "m", "0", "-1"))


def test_zmpop(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("ZADD", "z", "1", "a", "2.5", "b", "3", "c"), ("ZADD", "y", "-1", "m"), ("ZMPOP", "2", "z", "y", "MIN"),
             ("ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "5"), ("EXISTS", "z"), ("ZMPOP", "2", "z", "y", "max"),
             ("ZMPOP", "1", "y", "MIN"), ("ZADD", "z", "1", "a"), ("SET", "s", "x"), ("ZMPOP", "2", "s", "z", "MIN"),
             ("ZMPOP", "0", "z", "MIN"), ("ZMPOP", "x", "z", "MIN"), ("ZMPOP", "3", "z", "y", "MIN"),
             ("ZMPOP", "1", "z", "LEFT"), ("ZMPOP", "1", "z", "MIN", "COUNT", "0"),
             ("ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"), ("ZMPOP", "1", "z"), ("ZCARD", "z"))


def test_scores_at_the_edges_of_a_double(both):
    """strtod's range errors refuse a score (overflow, and underflow to zero); -0.0 is stored as 0 (the compact
    encoding of a small sorted set keeps no sign on zero), though the INCR reply shows the sum it computed."""
    ours, theirs = both
    run_both(ours, theirs,
             ("ZADD", "z", "1e400", "a"), ("ZADD", "z", "1e-400", "a"), ("ZADD", "z", "0x1p-2000", "a"),
             ("ZADD", "z", "0e5", "a"), ("ZADD", "z", "0.000e-999", "b"), ("ZADD", "z", "5e-324", "c"),
             ("ZADD", "z", "-0.0", "d"), ("ZADD", "z", "-0", "e"), ("ZINCRBY", "z", "-0.0", "f"),
             ("ZADD", "z", "INCR", "-0.0", "g"), ("ZINCRBY", "z", "1e-400", "a"), ("ZSCORE", "z", "d"),
             ("ZSCORE", "z", "f"), ("ZMSCORE", "z", "e", "g"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
             ("ZRANGEBYSCORE", "z", "-0.0", "0", "WITHSCORES"), ("ZADD", "z", "CH", "-0.0", "a"))


@pytest.mark.parametrize("seed", range(20))
def test_union_inter_diff(both, seed):
    """ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD over random sorted sets, sets, missing keys and wrong
    types, with weights, aggregates and option errors."""
    ours, theirs = both
    rng = random.Random(seed)
    members = ["a", "b", "c", "d", "e"]
    commands: list[tuple[str, ...]] = [("RPUSH", "list", "x")]
    for key in ("z1", "z2", "z3"):
        for member in rng.sample(members, rng.randint(0, 4)):
            commands.append(("ZADD", key, rng.choice(["1", "2", "0.5", "-3", "10", "inf", "-inf"]), member))
    commands.append(("SADD", "s1", *rng.sample(members, 3)))
    sources = ["z1", "z2", "z3", "s1", "nokey"]
    for _ in range(40):
        keys = [rng.choice(sources + ["list"] if rng.random() < 0.05 else sources) for _ in range(rng.randint(1, 3))]
        name = rng.choice(["ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZINTERCARD"])
        options: list[str] = []
        rare = rng.random() < 0.05   # an option error (or an option where it does not belong)
        if name not in ("ZDIFF", "ZDIFFSTORE", "ZINTERCARD") or rare:
            if rng.random() < 0.5:
                options += ["WEIGHTS", *[rng.choice(["1", "2", "0.5", "-1", "0"] + ["x"] * rare) for _ in keys]]
            if rng.random() < 0.5:
                options += ["AGGREGATE", rng.choice(["SUM", "MIN", "MAX", "sum"] + ["AVG"] * rare)]
        if name in ("ZUNION", "ZINTER", "ZDIFF") and rng.random() < 0.6:
            options.append("WITHSCORES")
        if name == "ZINTERCARD" and rng.random() < 0.5:
            options += ["LIMIT", rng.choice(["0", "1", "2", "-1"])]
        count = str(len(keys)) if rng.random() < 0.95 else rng.choice(["0", "-1", "9", "x"])
        store = ["dest" if rng.random() < 0.7 else rng.choice(sources)] if name.endswith("STORE") else []
        commands.append((name, *store, count, *keys, *options))
        if store:
            commands.append(("ZRANGE", store[0], "0", "-1", "WITHSCORES"))
    run_both(ours, theirs, *commands)


def test_zrandmember(both):
    """Deterministic answers side by side (one member, errors, missing keys); random ones by their properties."""
    ours, theirs = both
    run_both(ours, theirs,
             ("ZRANDMEMBER", "nokey"), ("ZRANDMEMBER", "nokey", "3"), ("ZRANDMEMBER", "nokey", "-3", "WITHSCORES"),
             ("ZADD", "z", "1.5", "only"), ("ZRANDMEMBER", "z"), ("ZRANDMEMBER", "z", "1"), ("ZRANDMEMBER", "z", "5"),
             ("ZRANDMEMBER", "z", "-3"), ("ZRANDMEMBER", "z", "-3", "WITHSCORES"), ("ZRANDMEMBER", "z", "0"),
             ("ZRANDMEMBER", "z", "2", "WITHSCORES"), ("ZRANDMEMBER", "z", "x"), ("ZRANDMEMBER", "z", "1", "FOO"),
             ("ZRANDMEMBER", "z", "1", "WITHSCORES", "x"), ("ZRANDMEMBER", "z", "-9223372036854775808"),
             ("ZRANDMEMBER", "z", "9223372036854775807", "WITHSCORES"), ("RPUSH", "l", "x"), ("ZRANDMEMBER", "l"),
             ("ZRANDMEMBER", "l", "1"), ("ZRANDMEMBER",))
    members = {f"m{i}".encode(): float(i) for i in range(20)}
    ours.zadd("big", members)
    picked = ours.zrandmember("big", 10)
    assert len(picked) == 10 == len(set(picked)) and set(picked) <= set(members)
    assert len(ours.zrandmember("big", -50)) == 50
    assert set(ours.zrandmember("big", 100)) == set(members)
    assert ours.zrandmember("big") in members
    reply = ours.zrandmember("big", -30, withscores=True)
    pairs = reply if isinstance(reply[0], list) else list(zip(reply[::2], reply[1::2], strict=True))   # RESP3 / 2
    assert len(pairs) == 30 and all(members[m] == float(s) for m, s in pairs)
