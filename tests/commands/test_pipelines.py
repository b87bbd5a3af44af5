"""Long pipelines that mix the commands the dispatcher's C fast path runs (plain PING, GET, SET, HGET, HSET, LPUSH,
RPUSH, LPOP, RPOP, SADD, SPOP, MGET, MSET, INCR[BY], DECR[BY], ZADD, ZPOP[MIN|MAX]) with everything that must leave
them to Python (another database, MULTI, CLIENT REPLY, TTLs, WATCH, wrong types, bad arity, lower-case names,
RESP3), sent as raw bytes: the replies are compared byte for byte with redis-server's. The module's ``server`` runs
with the fast path and without it (tests/commands/conftest.py)."""
from __future__ import annotations

import random
import time

import pytest
import redis

from tests.commands.helpers import Raw

pytestmark = pytest.mark.oracle

@pytest.fixture
def conns(server, oracle):
    """(inferd, redis-server) raw connections, both servers flushed."""
    made = []

    def connect(port: int) -> Raw:
        made.append(Raw(port))
        return made[-1]

    ours, theirs = connect(server.port), connect(oracle.port)
    for c in (ours, theirs):
        c.pipeline(("FLUSHALL",))
    yield ours, theirs, connect
    for c in made:
        c.close()


def same(ours: Raw, theirs: Raw, *commands: tuple[str | bytes, ...]) -> bytes:
    a, b = ours.pipeline(*commands), theirs.pipeline(*commands)
    assert a == b
    return a


MIXED = (
    ("SET", "s", "1"), ("GET", "s"), ("GET", "missing"), ("HSET", "h", "f", "v", "g", "w"), ("HSET", "h", "f", "x"),
    ("HGET", "h", "f"), ("HGET", "h", "nofield"), ("HGET", "nohash", "f"), ("LPUSH", "l", "a", "b", "c"),
    ("RPUSH", "l", "d"), ("LRANGE", "l", "0", "-1"), ("HGETALL", "h"), ("MGET", "s", "missing", "h", "s"),
    ("MGET", "missing"), ("mget", "s", "l"),
    ("MSET", "m1", "a", "m2", "b", "m1", "c"), ("MGET", "m1", "m2"), ("MSET", "m2", ""), ("GET", "m2"),
    ("MSET", "m1"), ("MSET", "m1", "a", "m2"), ("MSET",), ("mset", "m3", "z"), ("MSET", "s", "over", "h", "any"),
    ("TYPE", "h"), ("HSET", "h", "f", "v"), ("GET", "s"),
    # ZADD: plain scores on the fast path; options, other spellings and errors left to Python
    ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "3", "a", "1.5e1", "c", "-0", "d"),
    ("ZADD", "z", "0", "d"), ("ZADD", "z", "1", "dup", "2", "dup"), ("ZADD", "z", "+2", "p", ".5", "q", "5.", "r"),
    ("ZADD", "z", "-1.25E-3", "n", "1e308", "big", "-1e308", "small", "0.1", "tenth"),
    ("ZADD", "z", "NX", "5", "e"), ("ZADD", "z", "inf", "f"), ("ZADD", "z", "-inf", "f"), ("ZADD", "z", "1e400", "g"),
    ("ZADD", "z", "1e-400", "g"), ("ZADD", "z", "1", "a", "x", "b"), ("ZADD", "z", "-", "t"), ("ZADD", "z", "1e", "u"),
    ("ZADD", "z", "0x10", "h"), ("ZADD", "z", "1 ", "v"), ("ZADD", "z", "1..2", "w"), ("ZADD", "z", "nan", "x"),
    ("ZADD", "s", "1", "a"), ("ZADD", "z", "1"), ("ZADD", "z", "1", "a", "2"), ("zadd", "z2", "1", "a"),
    ("ZADD", "z", "2", "a", "XX"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZCARD", "z"), ("TYPE", "z2"),
    ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZPOPMIN", "z", "2"), ("ZPOPMIN", "nokey"),
    ("ZPOPMAX", "s"), ("ZPOPMIN",), ("zpopmin", "z"), ("ZADD", "zz", "0.1", "t", "-inf", "u"), ("ZPOPMAX", "zz"),
    ("ZPOPMAX", "zz"), ("EXISTS", "zz"), ("ZPOPMAX", "zz"), ("ZADD", "zz", "1e-300", "v"), ("ZPOPMIN", "zz"),
    # PING; pops until the list is gone; SADD; SPOP where the outcome is certain (one member, no key, another type)
    ("PING",), ("PING", "hello"), ("PING", ""), ("ping",), ("PING", "a", "b"),
    ("RPUSH", "pl", "a", "b", "c"), ("LPOP", "pl"), ("RPOP", "pl"), ("LPOP", "pl"), ("EXISTS", "pl"), ("LPOP", "pl"),
    ("RPOP", "pl"), ("LPOP", "s"), ("RPOP", "h"), ("LPOP",), ("RPUSH", "pl", "x", "y"), ("LPOP", "pl", "1"),
    ("RPOP", "pl", "5"), ("lpop", "pl"),
    ("SADD", "st", "a", "b", "a"), ("SADD", "st", "b"), ("SADD", "st", "c", ""), ("SCARD", "st"), ("SADD", "st"),
    ("SADD", "s", "x"), ("SISMEMBER", "st", ""), ("SADD", "one", "only"), ("SPOP", "one"), ("EXISTS", "one"),
    ("SPOP", "one"), ("SPOP", "s"), ("SPOP", "st", "0"), ("SPOP",), ("sadd", "st", "d"), ("SCARD", "st"),
    # wrong types, bad arity, lower case: left to Python, replies identical
    ("GET", "h"), ("HSET", "s", "f", "v"), ("HGET", "l", "f"), ("LPUSH", "h", "x"), ("RPUSH", "s", "x"),
    ("HSET", "h", "f"), ("HSET", "h", "f", "v", "g"), ("GET",), ("SET", "s"), ("LPUSH", "l"), ("get", "s"), ("MGET",),
    ("set", "lower", "v"), ("Get", "lower"), ("SET", "s", "2", "XX"), ("GET", "s"),
    # another database in the middle of the pipeline, and back
    ("SELECT", "3"), ("SET", "s", "db3"), ("GET", "s"), ("SELECT", "0"), ("GET", "s"),
    # a transaction: the fast commands queue, then run in EXEC
    ("MULTI",), ("SET", "t", "1"), ("GET", "t"), ("HSET", "th", "f", "v"), ("MGET", "t", "s"), ("EXEC",), ("GET", "t"),
    # CLIENT REPLY SKIP suppresses itself and the next reply only
    ("CLIENT", "REPLY", "SKIP"), ("SET", "quiet", "1"), ("GET", "quiet"),
    ("INCR", "n"), ("GET", "n"), ("SET", "empty", ""), ("GET", "empty"), ("HSET", "h", "", ""), ("HGET", "h", ""),
    ("DEL", "l"), ("RPUSH", "l", "again"), ("LRANGE", "l", "0", "-1"), ("TYPE", "l"), ("TYPE", "h"),
    # INCR and DECR: the values string2ll reads, the ones it does not, and the 64-bit ends
    ("INCR", "n"), ("DECR", "n"), ("DECR", "new"), ("incr", "new2"), ("INCR", "h"), ("DECR", "l"), ("INCR",),
    ("INCR", "n", "x"),
    *[request for value in ("-1", "0", "-0", "01", " 1", "+1", "1a", "", "-", "12345678901234567890",
                            "9223372036854775807", "-9223372036854775808", "9223372036854775806",
                            "-9223372036854775807", "99999999999999999999", "18446744073709551616")
      for request in (("SET", "c", value), ("INCR", "c"), ("GET", "c"), ("SET", "c", value), ("DECR", "c"),
                      ("GET", "c"), ("SET", "c", value), ("INCRBY", "c", "-3"), ("DECRBY", "c", value),
                      ("INCRBY", "c", value), ("GET", "c"), ("INCRBY", "new3", value), ("DECRBY", "new4", value))],
    ("INCRBY", "c"), ("DECRBY", "c", "1", "2"), ("INCRBY", "h", "1"), ("DECRBY", "l", "1"), ("incrby", "c", "7"),
    ("SET", "d", "5"), ("DECRBY", "d", "-9223372036854775808"), ("DECRBY", "none", "-9223372036854775808"),
    ("GET", "d"), ("INCRBY", "d", "-9223372036854775808"), ("INCRBY", "d", "-1"),
    ("DECRBY", "d", "9223372036854775807"),
)


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_mixed_pipeline_replies_like_redis(conns, protocol):
    ours, theirs, _ = conns
    for c in (ours, theirs):
        c.pipeline(("HELLO", protocol, "SETNAME", "pipe"))
    same(ours, theirs, *MIXED)
    same(ours, theirs, *MIXED)   # again, over the values the first round left


def test_fast_commands_over_keys_with_a_ttl_like_redis(conns):
    ours, theirs, _ = conns
    setup = [("SET", "gone", "v"), ("HSET", "gone-h", "f", "v"), ("RPUSH", "gone-l", "x"),
             ("SET", "kept", "v"), ("SET", "other", "v"), ("SET", "kept2", "v")]
    setup += [("PEXPIRE", k, "1") for k in ("gone", "gone-h", "gone-l")] + [("EXPIRE", k, "100")
                                                                             for k in ("kept", "kept2")]
    same(ours, theirs, *setup)
    time.sleep(0.05)
    same(ours, theirs, ("MGET", "other", "gone"), ("MGET", "gone-l", "kept"),
         ("GET", "gone"), ("HGET", "gone-h", "f"), ("HSET", "gone-l", "f", "v"), ("LPUSH", "gone", "a"),
         ("GET", "kept"), ("GET", "other"), ("SET", "kept", "new"), ("TTL", "kept"), ("GET", "kept"),
         ("HGETALL", "gone-l"), ("LRANGE", "gone", "0", "-1"), ("DBSIZE",),
         ("MSET", "other", "x", "kept2", "y"), ("TTL", "kept2"), ("MGET", "other", "kept2"),
         ("DEL", "kept2"), ("ZADD", "kept2", "1", "a"), ("EXPIRE", "kept2", "100"), ("ZADD", "kept2", "2", "b"),
         ("TTL", "kept2"), ("ZRANGE", "kept2", "0", "-1", "WITHSCORES"))


@pytest.mark.parametrize("write", [("SET", "w", "2"), ("HSET", "w", "f", "v"), ("LPUSH", "w", "x"),
                                   ("RPUSH", "w", "x"), ("MSET", "w", "2"), ("MSET", "unwatched2", "1", "w", "2"),
                                   ("ZADD", "w", "1", "m"), ("SADD", "w", "m")])
def test_a_fast_write_to_a_watched_key_aborts_the_transaction(conns, server, oracle, write):
    ours, theirs, connect = conns
    for port, watcher in ((server.port, ours), (oracle.port, theirs)):
        if write[0] not in ("SET", "MSET"):   # (a string there would make the others' writes WRONGTYPE)
            watcher.pipeline(("DEL", "w"))
        watcher.pipeline(("WATCH", "w"))
        other = connect(port)
        other.pipeline(("SET", "unwatched", "1"), write, ("GET", "unwatched"))
    assert same(ours, theirs, ("MULTI",), ("GET", "w"), ("EXEC",)).endswith(b"*-1\r\n")
    # no longer watched: the same write leaves a later transaction alone
    same(ours, theirs, ("DEL", "w"), ("WATCH", "w"), write, ("UNWATCH",), ("MULTI",), ("EXISTS", "w"), ("EXEC",))


def test_fast_commands_need_authentication_too(start_server):
    srv = start_server(requirepass="secret")
    conn = Raw(srv.port)
    try:
        before = conn.pipeline(("SET", "k", "v"), ("GET", "k"), marker=False)
        assert before == b"-NOAUTH Authentication required.\r\n" * 2
        # an EXEC refused so replies as redis-server 7.0 does
        assert conn.pipeline(("EXEC",), marker=False) == (
            b"-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n")
        after = conn.pipeline(("AUTH", "secret"), ("SET", "k", "v"), ("GET", "k"))
        assert after == b"+OK\r\n+OK\r\n$1\r\nv\r\n"
    finally:
        conn.close()


def test_stats_of_a_pipeline_match_redis(conns, server, oracle):
    """Commandstats calls, keyspace hits and misses and CLIENT LIST's cmd= after a pipeline run, in part or in whole,
    by the fast path."""
    ours, theirs, _ = conns
    views = []
    for port, raw in ((server.port, ours), (oracle.port, theirs)):
        client = redis.Redis(port=port, protocol=2)
        client.config_resetstat()
        raw.pipeline(*MIXED)
        cmd = client.info("commandstats")
        stats = client.info("stats")
        views.append(({k: v["calls"] for k, v in cmd.items() if k.split("_", 1)[1] in
                       ("get", "set", "hget", "hset", "lpush", "rpush", "mget", "mset", "incr", "decr",
                                                         "incrby", "decrby", "zadd", "ping", "lpop", "rpop", "sadd",
                                                         "spop", "zpopmin", "zpopmax")},
                      stats["keyspace_hits"], stats["keyspace_misses"]))
        raw.pipeline(("CLIENT", "SETNAME", "stats"), ("GET", "s"), marker=False)
        assert {c["name"]: c["cmd"] for c in client.client_list()}["stats"] == "get"
        client.close()
    assert views[0] == views[1]


def _random_pipeline(rng: random.Random, length: int) -> list[tuple[str, ...]]:
    """Commands over a few keys, fast ones and the ones that change what the fast path may do (types, TTLs, MULTI,
    databases), with wrong arities and types now and then. (CLIENT REPLY SKIP is in MIXED, not here: queued inside
    MULTI, redis-server 7.0 writes EXEC's array header but not the skipped reply, inferd suppresses all of EXEC.)"""
    keys = ["a", "b", "c"]
    out: list[tuple[str, ...]] = []
    for _ in range(length):
        k, v = rng.choice(keys), rng.choice(["", "1", "x" * rng.randint(1, 40)])
        roll = rng.random()
        if roll < 0.6:
            out.append(rng.choice([("GET", k), ("SET", k, v), ("HGET", k, v), ("HSET", k, v, v),
                                   ("HSET", k, "f", v, "g", v), ("LPUSH", k, v), ("RPUSH", k, v, v),
                                   ("get", k), ("HSET", k, v), ("GET", k, v), ("SET", k, v, "GET"),
                                   ("MGET", k, rng.choice(keys), k), ("INCRBY", k, rng.choice(["1", "-5", v])),
                                   ("DECR", k), ("MSET", k, v, rng.choice(keys), v),
                                   ("ZADD", k, rng.choice(["1", "-2.5", v]), v), ("LPOP", k), ("RPOP", k),
                                   ("SADD", k, v, v), ("SISMEMBER", k, v), ("PING",), ("ZPOPMIN", k),
                                   ("ZPOPMAX", k)]))
        else:
            out.append(rng.choice([("DEL", k), ("EXPIRE", k, "100"), ("PERSIST", k), ("TYPE", k), ("INCR", k),
                                   ("SELECT", rng.choice("01")), ("MULTI",), ("EXEC",), ("DISCARD",),
                                   ("LRANGE", k, "0", "-1"), ("HGETALL", k), ("ZRANGE", k, "0", "-1", "WITHSCORES"),
                                   ("EXISTS", k, k)]))
    return out + [("EXEC",), ("DISCARD",), ("SELECT", "0")]


@pytest.mark.parametrize("seed", range(8))
def test_random_pipelines_reply_like_redis(conns, seed):
    ours, theirs, _ = conns
    rng = random.Random(seed)
    for _ in range(4):
        same(ours, theirs, *_random_pipeline(rng, 60))
    for db in ("0", "1"):   # what the pipelines left in both databases (PERSIST: whether a key has a TTL)
        same(ours, theirs, ("SELECT", db), *[(c, k) for k in "abc" for c in ("TYPE", "PERSIST", "GET", "HGETALL",
                                                                         "ZCARD", "SCARD")],
             *[("LRANGE", k, "0", "-1") for k in "abc"], ("SELECT", "0"))


def test_transaction_commands_inside_multi_reply_like_redis(conns):
    """UNWATCH is queued inside MULTI like any command (the keys stay watched until EXEC); EXEC with arguments is
    refused as EXECABORT and ends the transaction, in MULTI or not; SHUTDOWN is refused inside MULTI."""
    ours, theirs, connect = conns
    commands = (("SET", "k", "0"), ("WATCH", "k"), ("MULTI",), ("UNWATCH",), ("GET", "k"))
    assert ours.pipeline(*commands, marker=False) == theirs.pipeline(*commands, marker=False)   # ends in MULTI
    for raw in (ours, theirs):
        writer = connect(raw.sock.getpeername()[1])
        writer.pipeline(("SET", "k", "changed"))
    same(ours, theirs, ("EXEC",), ("GET", "k"),
         ("MULTI",), ("SET", "k", "2"), ("EXEC", "x"), ("GET", "k"), ("EXEC",), ("EXEC", "x"), ("DISCARD",),
         ("MULTI",), ("SHUTDOWN", "NOSAVE"), ("SET", "k", "3"), ("EXEC",), ("GET", "k"), ("PING",))
