"""String commands, compared with redis-server reply by reply."""
from __future__ import annotations

import pytest

from tests.commands.helpers import run_both


def test_set_options(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "k", "v"), ("GET", "k"), ("SET", "k", "v2", "NX"), ("SET", "n", "v", "XX"), ("GET", "n"),
             ("SET", "k", "v3", "XX"), ("SET", "k", "v4", "GET"), ("SET", "new", "v", "GET"),
             ("SET", "k", "v5", "NX", "GET"), ("SET", "k", "v5", "XX", "GET"), ("SET", "k", "v", "NX", "XX"),
             ("SET", "k", "v", "EX", "100"), ("TTL", "k"), ("SET", "k", "v", "KEEPTTL"), ("TTL", "k"),
             ("SET", "k", "v"), ("TTL", "k"), ("SET", "k", "v", "PX", "100000"), ("TTL", "k"),
             ("SET", "k", "v", "EXAT", "4102444800"), ("EXPIRETIME", "k"),
             ("SET", "k", "v", "PXAT", "4102444800000"), ("PEXPIRETIME", "k"),
             ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-1"), ("SET", "k", "v", "PX", "0"),
             ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "EX"), ("SET", "k", "v", "EX", "10", "PX", "10"),
             ("SET", "k", "v", "EX", "10", "KEEPTTL"), ("SET", "k", "v", "KEEPTTL", "EX", "10"),
             ("SET", "k", "v", "EX", "10", "EX", "20"), ("TTL", "k"),
             ("SET", "k", "v", "EX", "9223372036854775807"), ("SET", "k", "v", "PX", "9223372036854775807"),
             ("SET", "k", "v", "PXAT", "9223372036854775807"), ("SET", "k", "v", "FOO"), ("SET", "k", "v", "PERSIST"),
             ("SET", "k", "v", "ex", "10", "nx"), ("SET", "k"), ("SET",),
             ("RPUSH", "l", "x"), ("SET", "l", "v", "GET"), ("SET", "l", "v", "NX", "GET"), ("SET", "l", "v"),
             ("GET", "l"), ("RPUSH", "l2", "x"), ("GET", "l2"), ("GET",), ("GET", "a", "b"))


def test_setnx_setex_psetex_getset_getdel(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SETNX", "a", "1"), ("SETNX", "a", "2"), ("GET", "a"), ("SETNX", "a"),
             ("SETEX", "b", "100", "v"), ("TTL", "b"), ("SETEX", "b", "0", "v"), ("SETEX", "b", "-5", "v"),
             ("SETEX", "b", "x", "v"), ("PSETEX", "c", "100000", "v"), ("TTL", "c"), ("PSETEX", "c", "0", "v"),
             ("SETEX", "b", "100"), ("GETSET", "b", "new"), ("TTL", "b"), ("GETSET", "nokey", "v"), ("GET", "nokey"),
             ("GETDEL", "b"), ("GETDEL", "b"), ("EXISTS", "b"), ("RPUSH", "l", "x"), ("GETSET", "l", "v"),
             ("GETDEL", "l"), ("SETNX", "l", "v"), ("GETDEL",))


def test_getex(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SET", "k", "v"), ("GETEX", "k"), ("TTL", "k"), ("GETEX", "k", "EX", "100"), ("TTL", "k"),
             ("GETEX", "k", "PERSIST"), ("TTL", "k"), ("GETEX", "k", "PX", "100000"), ("TTL", "k"),
             ("GETEX", "k", "EXAT", "4102444800"), ("EXPIRETIME", "k"), ("GETEX", "k", "PXAT", "4102444800000"),
             ("GETEX", "nokey", "EX", "10"), ("GETEX", "nokey", "PERSIST"), ("GETEX", "k", "EX", "0"),
             ("GETEX", "k", "EX", "10", "PERSIST"), ("GETEX", "k", "PERSIST", "EX", "10"), ("GETEX", "k", "NX"),
             ("GETEX", "k", "KEEPTTL"), ("GETEX", "k", "EX"), ("GETEX", "k", "EX", "x"),
             ("GETEX", "k", "EXAT", "1"), ("EXISTS", "k"), ("RPUSH", "l", "x"), ("GETEX", "l"), ("GETEX",),
             # the time is checked only once the key is found, and found to be a string
             ("GETEX", "nokey", "EX", "x"), ("GETEX", "nokey", "PX", "-1"), ("GETEX", "nokey", "EX", "0"),
             ("GETEX", "l", "EX", "x"), ("GETEX", "l", "PXAT", "0"), ("GETEX", "nokey", "EX", "10", "FOO"))


def test_mget_mset_msetnx(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "nokey"), ("RPUSH", "l", "x"), ("MGET", "a", "l"),
             ("MSET", "a"), ("MSET", "a", "1", "b"), ("MSETNX", "c", "3", "d", "4"), ("MSETNX", "d", "5", "e", "6"),
             ("MGET", "c", "d", "e"), ("MSETNX", "x", "1", "x", "2"), ("GET", "x"), ("MSETNX", "a"), ("MGET",),
             ("MSET", "l", "now-a-string"), ("GET", "l"))


def test_counters(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("INCR", "n"), ("INCR", "n"), ("DECR", "n"), ("DECR", "m"), ("INCRBY", "n", "10"), ("DECRBY", "n", "3"),
             ("INCRBY", "n", "-20"), ("INCRBY", "n", "abc"), ("INCRBY", "n", "1.5"), ("DECRBY", "n", "x"),
             ("SET", "big", "9223372036854775807"), ("INCR", "big"), ("INCRBY", "big", "0"),
             ("SET", "small", "-9223372036854775808"), ("DECR", "small"), ("DECRBY", "n", "-9223372036854775808"),
             ("DECRBY", "n", "9223372036854775807"), ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", " 1"),
             ("INCR", "s"), ("SET", "s", "01"), ("INCR", "s"), ("SET", "s", "+1"), ("INCR", "s"),
             ("SET", "s", "99999999999999999999"), ("INCR", "s"), ("RPUSH", "l", "x"), ("INCR", "l"),
             ("SET", "t", "5", "EX", "100"), ("INCR", "t"), ("TTL", "t"), ("INCR",), ("INCRBY", "n"))


@pytest.mark.parametrize("start,incr", [
    ("10.50", "0.1"), ("0", "0.1"), ("1", "1e400"), ("3.0e3", "200"), ("5", "-5"), ("1e308", "1e308"),
    ("1", "1.5e3"), ("1", "-0.0001"), ("0", "1e-20"), ("1", "inf"), ("1", "x"), ("1", " 1"), ("1", "1 "),
    ("abc", "1"), ("1", "nan"), ("1", ""), ("17179869184", "1.5"), ("-1", "1"), ("3", "0.3333333333333333"),
])
def test_incrbyfloat(both, start, incr):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "f", start), ("INCRBYFLOAT", "f", incr), ("GET", "f"),
             ("INCRBYFLOAT", "new", incr), ("INCRBYFLOAT", "f"))


def test_incrbyfloat_keeps_ttl_and_checks_type(both):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "f", "1", "EX", "100"), ("INCRBYFLOAT", "f", "1.5"), ("TTL", "f"),
             ("RPUSH", "l", "x"), ("INCRBYFLOAT", "l", "1"), ("INCRBYFLOAT", "l", "x"))


def test_append_strlen_getrange_setrange(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("APPEND", "s", "Hello"), ("APPEND", "s", " World"), ("STRLEN", "s"), ("STRLEN", "nokey"),
             ("GETRANGE", "s", "0", "4"), ("GETRANGE", "s", "-5", "-1"), ("GETRANGE", "s", "-1", "-5"),
             ("GETRANGE", "s", "5", "3"), ("GETRANGE", "s", "0", "100"), ("GETRANGE", "s", "-100", "2"),
             ("GETRANGE", "s", "20", "30"), ("GETRANGE", "nokey", "0", "1"), ("GETRANGE", "s", "x", "1"),
             ("GETRANGE", "s", "-3", "-2"), ("GETRANGE", "s", "0", "-100"),
             ("SETRANGE", "s", "6", "Redis"), ("GET", "s"), ("SETRANGE", "s", "20", "!"), ("GET", "s"),
             ("SETRANGE", "new", "3", "abc"), ("GET", "new"), ("SETRANGE", "empty", "5", ""), ("EXISTS", "empty"),
             ("SETRANGE", "s", "2", ""), ("SETRANGE", "s", "-1", "x"), ("SETRANGE", "s", "x", "x"),
             ("SETRANGE", "s", "536870911", "xy"), ("SETRANGE", "s", "536870912", "x"),
             ("SET", "t", "1", "EX", "100"), ("APPEND", "t", "2"), ("TTL", "t"), ("SETRANGE", "t", "0", "9"),
             ("TTL", "t"), ("GET", "t"), ("RPUSH", "l", "x"), ("APPEND", "l", "x"), ("STRLEN", "l"),
             ("GETRANGE", "l", "0", "1"), ("SETRANGE", "l", "0", "x"), ("APPEND", "s"), ("GETRANGE", "s", "0"),
             ("SUBSTR", "s", "0", "4"), ("SUBSTR", "s", "-3", "-1"), ("SUBSTR", "nokey", "0", "1"),
             ("SUBSTR", "s", "x", "1"), ("SUBSTR", "l", "0", "1"), ("SUBSTR", "s", "0"))


def test_append_past_proto_max_bulk_len(both):
    ours, theirs = both
    for client in both:
        client.config_set("proto-max-bulk-len", 1024 * 1024)
    try:
        chunk = "x" * (600 * 1024)
        run_both(ours, theirs, ("SET", "s", chunk), ("APPEND", "s", chunk), ("STRLEN", "s"),
                 ("SETRANGE", "s", "600000", chunk), ("SETRANGE", "s", "1048575", "y"), ("STRLEN", "s"))
    finally:
        for client in both:
            client.config_set("proto-max-bulk-len", 512 * 1024 * 1024)


def test_plain_set_get_over_both_protocols(r):
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", b"\x00\xff" * 1000) is True
    assert r.get("k") == b"\x00\xff" * 1000
