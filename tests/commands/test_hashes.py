"""Hash commands, compared with redis-server reply by reply."""
from __future__ import annotations

from tests.commands.helpers import compare_scan, run_both


def test_hset_hget_family(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "10", "c", "3"), ("HGET", "h", "a"),
             ("HGET", "h", "nofield"), ("HGET", "nokey", "a"), ("HMGET", "h", "a", "x", "c"), ("HMGET", "nokey", "a"),
             ("HGETALL", "h"), ("HGETALL", "nokey"), ("HLEN", "h"), ("HLEN", "nokey"), ("HEXISTS", "h", "a"),
             ("HEXISTS", "h", "x"), ("HEXISTS", "nokey", "a"), ("HSTRLEN", "h", "a"), ("HSTRLEN", "h", "x"),
             ("HSTRLEN", "nokey", "x"), ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "d", "4"),
             ("HSETNX", "n2", "f", "v"),
             ("HMSET", "h", "e", "5", "f", "6"), ("HMSET", "h", "e"), ("HSET", "h", "a"), ("HSET", "h", "a", "1", "b"),
             ("HSET", "h"), ("HGET", "h"), ("HMGET", "h"), ("HGETALL",))
    for cmd in ("HKEYS", "HVALS"):
        run_both(ours, theirs, (cmd, "h"), (cmd, "nokey"), (cmd,))


def test_hdel_deletes_empty_hash(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("HSET", "h", "a", "1", "b", "2"), ("HDEL", "h", "a", "x", "a"), ("EXISTS", "h"), ("HDEL", "h", "b"),
             ("EXISTS", "h"), ("HDEL", "nokey", "a"), ("HDEL", "h"))


def test_wrong_type(both):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "s", "v"))
    for args in (("HSET", "s", "a", "1"), ("HSETNX", "s", "a", "1"), ("HGET", "s", "a"), ("HMGET", "s", "a"),
                 ("HGETALL", "s"), ("HDEL", "s", "a"), ("HEXISTS", "s", "a"), ("HKEYS", "s"), ("HVALS", "s"),
                 ("HLEN", "s"), ("HSTRLEN", "s", "a"), ("HINCRBY", "s", "a", "1"), ("HINCRBYFLOAT", "s", "a", "1"),
                 ("HRANDFIELD", "s"), ("HRANDFIELD", "s", "2"), ("HSCAN", "s", "0"), ("HMSET", "s", "a", "1")):
        run_both(ours, theirs, args)


def test_hincrby_hincrbyfloat(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-10"), ("HINCRBY", "h", "n", "x"),
             ("HSET", "h", "s", "abc", "big", "9223372036854775807", "f", "1.5"), ("HINCRBY", "h", "s", "1"),
             ("HINCRBY", "h", "big", "1"), ("HINCRBY", "h", "f", "1"), ("HINCRBYFLOAT", "h", "f", "0.1"),
             ("HINCRBYFLOAT", "h", "f", "-1.6"), ("HINCRBYFLOAT", "h", "s", "1"), ("HINCRBYFLOAT", "h", "f", "x"),
             ("HINCRBYFLOAT", "h", "f", "inf"), ("HINCRBYFLOAT", "h2", "f", "nan"), ("HINCRBYFLOAT", "h", "new", "2.5"),
             ("HINCRBYFLOAT", "h", "f", "1e400"), ("HSET", "h", "huge", "1e308"),
             ("HINCRBYFLOAT", "h", "huge", "1e308"),
             ("HGETALL", "h"), ("EXISTS", "h2"), ("HINCRBY", "h", "n"), ("HINCRBYFLOAT", "h", "n"))


def test_hrandfield(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"), ("HRANDFIELD", "nokey", "-3", "WITHVALUES"),
             ("HSET", "h", "only", "v"), ("HRANDFIELD", "h"), ("HRANDFIELD", "h", "1"), ("HRANDFIELD", "h", "5"),
             ("HRANDFIELD", "h", "-3"), ("HRANDFIELD", "h", "-3", "WITHVALUES"), ("HRANDFIELD", "h", "0"),
             ("HRANDFIELD", "h", "2", "WITHVALUES"), ("HRANDFIELD", "h", "x"), ("HRANDFIELD", "h", "1", "FOO"),
             ("HRANDFIELD", "h", "1", "WITHVALUES", "x"), ("HRANDFIELD", "h", "-9223372036854775808"),
             ("HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"), ("HRANDFIELD",))
    fields = {f"f{i}".encode() for i in range(20)}
    ours.hset("big", mapping={f: "v" for f in fields})
    picked = ours.hrandfield("big", 10)
    assert len(picked) == 10 == len(set(picked)) and set(picked) <= fields
    assert len(ours.hrandfield("big", -50)) == 50
    assert set(ours.hrandfield("big", 100)) == fields


def test_hscan(both):
    ours, theirs = both
    for client in both:
        client.hset("small", mapping={f"f{i}": i for i in range(10)})
        client.hset("big", mapping={f"f{i}": i for i in range(1000)})
    run_both(ours, theirs, ("HSCAN", "small", "0"), ("HSCAN", "small", "0", "MATCH", "f1*"),
             ("HSCAN", "small", "0", "COUNT", "2"), ("HSCAN", "nokey", "0"), ("HSCAN", "small", "x"),
             ("HSCAN", "small", "0", "COUNT", "0"), ("HSCAN", "small", "0", "TYPE", "string"),
             ("HSCAN", "small", "0", "MATCH"), ("HSCAN", "nokey", "0", "FOO"), ("HSCAN", "small"))
    compare_scan(ours, theirs, "HSCAN", "big")
    compare_scan(ours, theirs, "HSCAN", "big", "COUNT", "33", "MATCH", "f9*")
