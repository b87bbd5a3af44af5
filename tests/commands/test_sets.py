"""Set commands, compared with redis-server reply by reply."""
from __future__ import annotations

from tests.commands.helpers import compare_scan, run_both
from tests.oracle import compare


def test_add_rem_members(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SADD", "s", "a", "b", "c", "a"), ("SADD", "s", "c", "d"), ("SCARD", "s"), ("SCARD", "nokey"),
             ("SISMEMBER", "s", "a"), ("SISMEMBER", "s", "z"), ("SISMEMBER", "nokey", "a"),
             ("SMISMEMBER", "s", "a", "z", "b"), ("SMISMEMBER", "nokey", "a"), ("SREM", "s", "a", "z", "a"),
             ("SREM", "nokey", "a"), ("SREM", "s", "b", "c", "d"), ("EXISTS", "s"), ("SADD", "s"), ("SREM", "s"),
             ("SMISMEMBER", "s"), ("SCARD",))
    run_both(ours, theirs, ("SADD", "s", "x", "y", "1", "2"))
    compare(ours, theirs, "SMEMBERS", "s", sort=True)
    run_both(ours, theirs, ("SMEMBERS", "nokey"), ("SMEMBERS",))


def test_spop_srandmember(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SPOP", "nokey"), ("SPOP", "nokey", "3"), ("SPOP", "nokey", "0"), ("SRANDMEMBER", "nokey"),
             ("SRANDMEMBER", "nokey", "5"), ("SRANDMEMBER", "nokey", "-5"), ("SADD", "one", "m"),
             ("SRANDMEMBER", "one"), ("SRANDMEMBER", "one", "3"), ("SRANDMEMBER", "one", "-3"),
             ("SRANDMEMBER", "one", "0"), ("SRANDMEMBER", "one", "x"), ("SRANDMEMBER", "one", "1", "2"),
             ("SRANDMEMBER", "one", "-9223372036854775808"), ("SPOP", "one", "0"), ("SPOP", "one", "-1"),
             ("SPOP", "one", "x"), ("SPOP", "one", "1", "2"), ("SPOP", "one"), ("EXISTS", "one"),
             ("SADD", "two", "a"), ("SPOP", "two", "5"), ("EXISTS", "two"), ("SPOP",))
    members = {str(i).encode() for i in range(100)} | {b"m%d" % i for i in range(100)}
    ours.sadd("big", *members)
    popped = ours.spop("big", 50)
    assert len(popped) == 50 and set(popped) <= members
    assert ours.scard("big") == 150
    assert ours.spop("big") in members
    picked = ours.srandmember("big", 20)
    assert len(set(picked)) == 20
    assert len(ours.srandmember("big", -500)) == 500


def test_algebra(both):
    ours, theirs = both
    run_both(ours, theirs, ("SADD", "a", "1", "2", "3", "x"), ("SADD", "b", "2", "3", "4"), ("SADD", "c", "3", "9"),
             ("SET", "str", "v"))
    for cmd in ("SINTER", "SUNION", "SDIFF"):
        for keys in (("a",), ("a", "b"), ("a", "b", "c"), ("a", "nokey"), ("nokey", "a"), ("a", "str"),
                     ("nokey", "str")):
            compare(ours, theirs, cmd, *keys, sort=True)
            compare(ours, theirs, cmd + "STORE", "dst", *keys)
            compare(ours, theirs, "SMEMBERS", "dst", sort=True)
            compare(ours, theirs, "EXISTS", "dst")
        run_both(ours, theirs, (cmd,), (cmd + "STORE", "dst"))
    run_both(ours, theirs,
             ("SINTERCARD", "2", "a", "b"), ("SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"),
             ("SINTERCARD", "1", "a", "LIMIT", "0"), ("SINTERCARD", "1", "nokey"), ("SINTERCARD", "0", "a"),
             ("SINTERCARD", "x", "a"), ("SINTERCARD", "3", "a"), ("SINTERCARD", "1", "a", "LIMIT", "-1"),
             ("SINTERCARD", "1", "a", "LIMIT", "x"), ("SINTERCARD", "1", "a", "FOO"), ("SINTERCARD", "1", "a", "LIMIT"),
             ("SINTERCARD", "1", "str"))


def test_smove(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("SADD", "a", "1", "2"), ("SADD", "b", "3"), ("SET", "str", "v"), ("SMOVE", "a", "b", "1"),
             ("SMOVE", "a", "b", "zz"), ("SMOVE", "nokey", "b", "1"), ("SMOVE", "nokey", "str", "1"),
             ("SMOVE", "a", "str", "2"), ("SMOVE", "str", "a", "2"), ("SMOVE", "a", "a", "2"),
             ("SMOVE", "a", "new", "2"), ("EXISTS", "a"), ("SMEMBERS", "new"))


def test_wrong_type(both):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "s", "v"))
    for args in (("SADD", "s", "a"), ("SREM", "s", "a"), ("SMEMBERS", "s"), ("SISMEMBER", "s", "a"),
                 ("SMISMEMBER", "s", "a"), ("SCARD", "s"), ("SPOP", "s"), ("SPOP", "s", "2"), ("SRANDMEMBER", "s"),
                 ("SRANDMEMBER", "s", "2"), ("SSCAN", "s", "0")):
        run_both(ours, theirs, args)


def test_sscan(both):
    ours, theirs = both
    for client in both:
        client.sadd("ints", *range(20))
        client.sadd("small", *[f"m{i}" for i in range(5)])
        client.sadd("big", *[f"m{i}" for i in range(1000)])
    compare(ours, theirs, "SSCAN", "ints", "0")
    compare(ours, theirs, "SSCAN", "ints", "0", "MATCH", "1*")
    run_both(ours, theirs, ("SSCAN", "nokey", "0"), ("SSCAN", "ints", "-"), ("SSCAN", "ints", "0", "COUNT", "0"),
             ("SSCAN", "ints", "0", "MATCH"), ("SSCAN", "ints"))
    compare_scan(ours, theirs, "SSCAN", "small")
    compare_scan(ours, theirs, "SSCAN", "big")
    compare_scan(ours, theirs, "SSCAN", "big", "MATCH", "m1?", "COUNT", "100")


def test_spop_one_at_a_time_empties_a_large_set_and_keeps_its_ttl(both):
    """Popped one by one, a large set gives each member once, in no fixed order: its table grows sparse as it empties
    and is then copied (the key keeps its TTL); SRANDMEMBER draws from it all along."""
    ours, _ = both
    members = {b"member:%d" % i for i in range(3000)}
    ours.sadd("big", *members)
    ours.expire("big", 1000)
    popped = []
    for left in range(3000, 0, -1):
        if left % 500 == 0:
            assert ours.srandmember("big") in members - set(popped)
        popped.append(ours.spop("big"))
        if left == 10:
            assert 0 < ours.ttl("big") <= 1000
    assert len(popped) == 3000 and set(popped) == members
    assert not ours.exists("big")


def test_random_member_draws_every_member_alike():
    from inferd.commands._fastpath import random_member
    members = {b"m%d" % i for i in range(100)}   # 100 members in 512 slots
    counts = dict.fromkeys([*members, None], 0)
    for _ in range(20000):
        counts[random_member(members)] += 1
    missed = counts.pop(None)   # 64 empty slots in a row: 0.805 ** 64, about one draw in a million
    assert missed < 10 and min(counts.values()) > 100 and max(counts.values()) < 300   # 200 each (sd 14)
    assert random_member(set()) is None
    sparse = {b"m%d" % i for i in range(100000)}
    for _ in range(99990):
        sparse.pop()   # the table keeps its size: 10 members in ~262,000 slots
    draws = [random_member(sparse) for _ in range(200)]
    assert None in draws and set(draws) - {None} <= sparse   # most draws find no member in their tries
