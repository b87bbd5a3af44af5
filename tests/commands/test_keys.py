"""Generic key commands, compared with redis-server reply by reply."""
from __future__ import annotations

import time

from tests.commands.helpers import compare_scan, run_both
from tests.oracle import compare


def test_del_exists_type_unlink_touch(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "s", "v"), ("RPUSH", "l", "a"), ("SADD", "st", "m"), ("HSET", "h", "f", "v"),
             ("ZADD", "z", "1", "m"),
             ("TYPE", "s"), ("TYPE", "l"), ("TYPE", "st"), ("TYPE", "h"), ("TYPE", "z"), ("TYPE", "nokey"),
             ("EXISTS", "s", "s", "nokey", "l"), ("EXISTS", "nokey"), ("TOUCH", "s", "h", "nokey"),
             ("DEL", "s", "l", "nokey"), ("EXISTS", "s", "l"), ("UNLINK", "st", "h", "nokey"), ("DEL",),
             ("TYPE",), ("EXISTS",), ("TYPE", "a", "b"))


def test_expire_family(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "k", "v"), ("TTL", "k"), ("PTTL", "k"), ("TTL", "nokey"), ("PTTL", "nokey"),
             ("EXPIRE", "nokey", "100"), ("EXPIRE", "k", "100", "XX"), ("EXPIRE", "k", "100", "NX"),
             ("TTL", "k"), ("EXPIRE", "k", "50", "NX"), ("EXPIRE", "k", "50", "GT"), ("EXPIRE", "k", "200", "GT"),
             ("TTL", "k"), ("EXPIRE", "k", "300", "LT"), ("EXPIRE", "k", "100", "LT"), ("TTL", "k"),
             ("EXPIRE", "k", "150", "XX", "GT"), ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "GT", "LT"),
             ("EXPIRE", "k", "10", "foo"), ("EXPIRE", "k", "abc"), ("EXPIRE", "k", "9223372036854775807"),
             ("PEXPIRE", "k", "9223372036854775807"), ("EXPIREAT", "k", "9223372036854775807"),
             ("PEXPIRE", "k", "100000"), ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"), ("PERSIST", "nokey"),
             ("SET", "p", "v"), ("EXPIRE", "p", "10", "GT"), ("EXPIRE", "p", "10", "LT"), ("TTL", "p"),
             ("EXPIRETIME", "nokey"), ("PEXPIRETIME", "k"), ("EXPIREAT", "k", "4102444800"),
             ("EXPIRETIME", "k"), ("PEXPIREAT", "k", "4102444800000"), ("PEXPIRETIME", "k"),
             ("EXPIRE", "k", "-1"), ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"),
             ("SET", "k", "v"), ("PEXPIREAT", "k", "0"), ("EXISTS", "k"), ("EXPIRE", "k"), ("TTL",))


def test_expiry_happens(both):
    ours, theirs = both
    for client in both:
        client.set("gone", "v", px=30)
        client.set("stays", "v")
        deadline = time.monotonic() + 5
        while client.exists("gone") and time.monotonic() < deadline:
            time.sleep(0.01)
    run_both(ours, theirs, ("GET", "gone"), ("TTL", "gone"), ("EXISTS", "gone"), ("KEYS", "*"), ("DBSIZE",))


def test_keys_patterns(both):
    ours, theirs = both
    names = ["hello", "hallo", "hxllo", "hllo", "heeeello", "a*b", "a?c", "x[y", "key:1", "key:22", "k\\x", ""]
    for client in both:
        for name in names:
            client.set(name, "v")
    for pattern in ["*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo", "a\\*b", "a\\?c",
                    "x[[]y", "key:?", "key:*", "k\\\\x", "*o", "nomatch", "[", "h[", "[]", "\\", "h[a-", ""]:
        compare(ours, theirs, "KEYS", pattern, sort=True)


def test_scan(both):
    ours, theirs = both
    for client in both:
        pipe = client.pipeline(transaction=False)
        for i in range(300):
            pipe.set(f"key:{i}", i)
        for i in range(20):
            pipe.rpush(f"list:{i}", i)
        pipe.hset("hash:1", "f", "v")
        pipe.execute()
    compare_scan(ours, theirs, "SCAN")
    compare_scan(ours, theirs, "SCAN", "COUNT", "7")
    compare_scan(ours, theirs, "SCAN", "MATCH", "key:1*", "COUNT", "50")
    compare_scan(ours, theirs, "SCAN", "TYPE", "list")
    compare_scan(ours, theirs, "SCAN", "TYPE", "HASH", "MATCH", "hash:*")
    compare_scan(ours, theirs, "SCAN", "TYPE", "nosuchtype")
    run_both(ours, theirs,
             ("SCAN", "abc"), ("SCAN", " 0"), ("SCAN", "18446744073709551616"), ("SCAN", "0", "COUNT", "0"),
             ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"), ("SCAN", "0", "FOO", "bar"), ("SCAN",),
             ("SCAN", "0", "COUNT", "1000", "MATCH", "nomatch*"))


def test_scan_survives_inserts_and_deletes(r):
    """Every key present for the whole iteration is returned, whatever happens meanwhile."""
    stable = {f"stable:{i}".encode() for i in range(500)}
    for key in stable:
        r.set(key, "v")
    seen: set[bytes] = set()
    cursor = 0
    step = 0
    while True:
        cursor, keys = r.scan(cursor, count=20)
        seen.update(keys)
        for j in range(10):   # churn: new keys appear, and some of them go again
            r.set(f"new:{step}:{j}", "v")
        r.delete(f"new:{step}:0", f"new:{step}:1")
        step += 1
        if cursor == 0:
            break
    assert stable <= seen
    assert step < 500


def test_rename_renamenx(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "a", "1"), ("PEXPIRE", "a", "100000"), ("RENAME", "a", "b"), ("EXISTS", "a"), ("GET", "b"),
             ("RENAME", "nokey", "x"), ("RENAMENX", "nokey", "x"), ("RENAME", "b", "b"), ("RENAMENX", "b", "b"),
             ("SET", "c", "3"), ("RENAMENX", "b", "c"), ("RENAMENX", "b", "d"), ("GET", "d"),
             ("RPUSH", "l", "x"), ("RENAME", "l", "d"), ("TYPE", "d"), ("LRANGE", "d", "0", "-1"),
             ("RENAME", "d"), ("RENAMENX", "a", "b", "c"))


def test_rename_keeps_ttl(both):
    ours, theirs = both
    for client in both:
        client.set("a", "1", ex=100)
        client.rename("a", "b")
        assert 0 < client.ttl("b") <= 100


def test_copy(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "s", "v"), ("COPY", "s", "s2"), ("GET", "s2"), ("COPY", "s", "s2"), ("COPY", "s", "s2", "REPLACE"),
             ("COPY", "s", "s"), ("COPY", "nokey", "x"), ("COPY", "s", "s", "DB", "1"), ("COPY", "s", "s", "DB", "99"),
             ("COPY", "s", "x", "DB", "abc"), ("COPY", "s", "x", "DB"), ("COPY", "s", "x", "FOO"),
             ("HSET", "h", "f", "v"), ("COPY", "h", "h2"), ("HSET", "h2", "g", "w"), ("HGETALL", "h"),
             ("HGETALL", "h2"), ("RPUSH", "l", "a"), ("COPY", "l", "l2"), ("RPUSH", "l2", "b"),
             ("LRANGE", "l", "0", "-1"),
             ("SADD", "st", "a"), ("COPY", "st", "st2"), ("SADD", "st2", "b"), ("SMEMBERS", "st"),
             ("ZADD", "z", "1", "a"), ("COPY", "z", "z2"), ("ZADD", "z2", "2", "b"), ("ZRANGE", "z", "0", "-1"),
             ("COPY", "s", "h", "REPLACE"), ("TYPE", "h"), ("COPY",), ("SELECT", "1"), ("GET", "s"),
             ("SELECT", "0"))


def test_move(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "a", "1", "EX", "100"), ("MOVE", "a", "1"), ("EXISTS", "a"), ("MOVE", "a", "1"),
             ("HSET", "h", "f", "v"), ("MOVE", "h", "0"), ("MOVE", "h", "x"), ("MOVE", "h", "99"), ("MOVE", "h", "-1"),
             ("MOVE", "h", "2147483648"), ("MOVE", "nokey", "1"), ("SELECT", "1"), ("TTL", "a"), ("TYPE", "a"),
             ("SET", "h", "there"), ("SELECT", "0"), ("MOVE", "h", "1"), ("HGETALL", "h"), ("MOVE", "h"),
             ("MOVE", "h", "1", "2"), ("SELECT", "1"), ("GET", "h"), ("MOVE", "a", "0"), ("SELECT", "0"), ("GET", "a"))


def test_swapdb(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "a", "0"), ("SWAPDB", "0", "1"), ("GET", "a"), ("SELECT", "1"), ("GET", "a"), ("SELECT", "0"),
             ("SWAPDB", "0", "0"), ("SWAPDB", "a", "1"), ("SWAPDB", "0", "b"), ("SWAPDB", "0", "99"),
             ("SWAPDB", "-1", "0"), ("SWAPDB", "0"), ("SWAPDB", "1", "0"), ("GET", "a"),
             # indexes are C ints: past that range the index is invalid, not out of range (the first one first)
             ("SWAPDB", "99999999999999", "1.5"), ("SWAPDB", "1", "9223372036854775807"), ("SWAPDB", "2147483648", "0"),
             ("SWAPDB", "0", "-2147483649"), ("SWAPDB", "2147483647", "0"),
             ("SELECT", "2147483648"), ("SELECT", "-9223372036854775808"), ("SELECT", "2147483647"),
             ("COPY", "a", "b", "DB", "99999999999999"), ("COPY", "a", "b", "DB", "-2147483649"))


def test_randomkey(both):
    ours, theirs = both
    run_both(ours, theirs, ("RANDOMKEY",), ("SET", "only", "1"), ("RANDOMKEY",), ("RANDOMKEY", "x"))


def test_object_and_memory(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "int", "12345"), ("SET", "emb", "hello"), ("SET", "raw", "x" * 50), ("SET", "neg", "-5"),
             ("SET", "notint", "012"), ("RPUSH", "l", "a"), ("SADD", "is", "1", "2"), ("SADD", "hs", "a"),
             ("HSET", "h", "f", "v"), ("HSET", "bigh", "f", "v" * 100), ("ZADD", "z", "1", "a"),
             ("ZADD", "bigz", "1", "m" * 100),
             ("OBJECT", "ENCODING", "int"), ("OBJECT", "ENCODING", "emb"), ("OBJECT", "ENCODING", "raw"),
             ("OBJECT", "ENCODING", "neg"), ("OBJECT", "ENCODING", "notint"), ("OBJECT", "ENCODING", "l"),
             ("OBJECT", "ENCODING", "is"), ("OBJECT", "ENCODING", "hs"), ("OBJECT", "ENCODING", "h"),
             ("OBJECT", "ENCODING", "bigh"), ("OBJECT", "ENCODING", "z"), ("OBJECT", "ENCODING", "bigz"),
             ("OBJECT", "ENCODING", "nokey"), ("OBJECT", "ENCODING"), ("OBJECT", "FOO", "x"), ("OBJECT",),
             ("OBJECT", "HELP"), ("OBJECT", "FREQ", "int"), ("OBJECT", "FREQ", "nokey"),
             ("OBJECT", "REFCOUNT", "nokey"), ("OBJECT", "REFCOUNT", "emb"), ("OBJECT", "IDLETIME", "nokey"),
             ("MEMORY", "USAGE", "nokey"), ("MEMORY", "USAGE", "emb", "SAMPLES", "x"),
             ("MEMORY", "USAGE", "emb", "FOO"), ("MEMORY", "USAGE"))
    for key in ("int", "emb", "l", "h", "z", "is"):
        assert ours.memory_usage(key) > 0
    assert ours.object("idletime", "emb") == 0


def test_randomkey_is_random_in_a_large_database(r):
    r.mset({f"k{i}": i for i in range(200)})
    seen = {r.randomkey() for _ in range(60)}
    assert len(seen) > 10
    assert all(key.startswith(b"k") for key in seen)
