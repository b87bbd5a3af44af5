"""List commands, compared with redis-server reply by reply."""
from __future__ import annotations

from tests.commands.helpers import run_both


def test_push_pop(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("LPUSH", "l", "a", "b", "c"), ("RPUSH", "l", "d", "e"), ("LRANGE", "l", "0", "-1"),
             ("LPUSHX", "nokey", "a"), ("RPUSHX", "nokey", "a"), ("EXISTS", "nokey"), ("LPUSHX", "l", "x", "y"),
             ("RPUSHX", "l", "z"), ("LRANGE", "l", "0", "-1"), ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "2"),
             ("RPOP", "l", "2"), ("LPOP", "l", "0"), ("LPOP", "l", "-1"), ("LPOP", "l", "x"), ("LPOP", "l", "1", "2"),
             ("RPOP", "l", "100"), ("EXISTS", "l"), ("LPOP", "l"), ("RPOP", "l", "2"), ("LPOP", "nokey", "0"),
             ("LPUSH", "l"), ("LPOP",), ("RPUSH", "l", "only"), ("RPOP", "l"), ("EXISTS", "l"))


def test_range_index_len(both):
    ours, theirs = both
    run_both(ours, theirs, ("RPUSH", "l", *"abcdefghij"))
    for start, stop in [(0, -1), (0, 0), (-3, -1), (2, 5), (5, 2), (-100, 100), (8, 100), (20, 30), (-1, -3),
                        (0, -11), (-11, 0), (3, -3)]:
        run_both(ours, theirs, ("LRANGE", "l", str(start), str(stop)))
    run_both(ours, theirs,
             ("LRANGE", "l", "x", "1"), ("LRANGE", "nokey", "0", "-1"), ("LLEN", "l"), ("LLEN", "nokey"),
             ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"), ("LINDEX", "l", "10"), ("LINDEX", "l", "-11"),
             ("LINDEX", "l", "x"), ("LINDEX", "nokey", "x"), ("LINDEX", "nokey", "0"),
             ("LSET", "l", "0", "A"), ("LSET", "l", "-1", "J"), ("LSET", "l", "10", "x"), ("LSET", "l", "x", "x"),
             ("LSET", "nokey", "0", "x"), ("LSET", "nokey", "x", "x"), ("LRANGE", "l", "0", "-1"), ("LRANGE", "l", "0"))


def test_big_lrange_like_benchmark(both):
    ours, theirs = both
    for client in both:
        client.rpush("big", *range(600))
    run_both(ours, theirs, ("LRANGE", "big", "0", "99"), ("LRANGE", "big", "0", "599"), ("LRANGE", "big", "500", "-1"),
             ("LRANGE", "big", "-50", "-40"))


def test_lrem_ltrim_linsert(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("RPUSH", "l", "a", "b", "a", "c", "a", "b"), ("LREM", "l", "1", "a"), ("LRANGE", "l", "0", "-1"),
             ("LREM", "l", "-1", "b"), ("LRANGE", "l", "0", "-1"), ("LREM", "l", "0", "a"), ("LRANGE", "l", "0", "-1"),
             ("LREM", "l", "0", "zz"), ("LREM", "l", "x", "a"), ("LREM", "nokey", "0", "a"), ("LREM", "l", "0", "b"),
             ("LREM", "l", "0", "c"), ("EXISTS", "l"),
             ("RPUSH", "t", *"abcdef"), ("LTRIM", "t", "1", "-2"), ("LRANGE", "t", "0", "-1"),
             ("LTRIM", "t", "-2", "100"),
             ("LRANGE", "t", "0", "-1"), ("LTRIM", "t", "x", "1"), ("LTRIM", "nokey", "0", "1"),
             ("LTRIM", "t", "5", "1"),
             ("EXISTS", "t"),
             ("RPUSH", "i", "a", "c"), ("LINSERT", "i", "BEFORE", "c", "b"), ("LINSERT", "i", "after", "c", "d"),
             ("LINSERT", "i", "BEFORE", "zz", "x"), ("LINSERT", "nokey", "BEFORE", "a", "x"),
             ("LINSERT", "i", "MIDDLE", "a", "x"), ("LRANGE", "i", "0", "-1"), ("LINSERT", "i", "BEFORE", "a"))


def test_lpos(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"), ("LPOS", "l", "c"), ("LPOS", "l", "zz"),
             ("LPOS", "l", "c", "RANK", "2"), ("LPOS", "l", "c", "RANK", "-1"), ("LPOS", "l", "c", "RANK", "-5"),
             ("LPOS", "l", "c", "COUNT", "0"), ("LPOS", "l", "c", "COUNT", "2"),
             ("LPOS", "l", "c", "COUNT", "2", "RANK", "-1"),
             ("LPOS", "l", "c", "MAXLEN", "3"), ("LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"),
             ("LPOS", "l", "c", "RANK", "0"), ("LPOS", "l", "c", "COUNT", "-1"), ("LPOS", "l", "c", "COUNT", "x"),
             ("LPOS", "l", "c", "MAXLEN", "-1"), ("LPOS", "l", "c", "MAXLEN", "x"), ("LPOS", "l", "c", "RANK", "x"),
             ("LPOS", "l", "c", "RANK", "-9223372036854775808"), ("LPOS", "l", "c", "FOO", "1"),
             ("LPOS", "l", "c", "RANK"),
             ("LPOS", "nokey", "c"), ("LPOS", "nokey", "c", "COUNT", "0"), ("LPOS", "l"))


def test_wrong_type(both):
    ours, theirs = both
    run_both(ours, theirs, ("SET", "s", "v"))
    for args in (("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"), ("RPUSHX", "s", "a"), ("LPOP", "s"),
                 ("RPOP", "s", "1"), ("LRANGE", "s", "0", "1"), ("LLEN", "s"), ("LINDEX", "s", "0"),
                 ("LSET", "s", "0", "x"), ("LREM", "s", "0", "x"), ("LTRIM", "s", "0", "1"),
                 ("LINSERT", "s", "BEFORE", "a", "b"), ("LPOS", "s", "a")):
        run_both(ours, theirs, args)


def test_lmove_rpoplpush(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("RPUSH", "a", "1", "2", "3"), ("LMOVE", "a", "b", "LEFT", "RIGHT"), ("LMOVE", "a", "b", "right", "left"),
             ("LRANGE", "a", "0", "-1"), ("LRANGE", "b", "0", "-1"), ("LMOVE", "a", "a", "RIGHT", "LEFT"),
             ("LMOVE", "a", "b", "LEFT", "LEFT"), ("EXISTS", "a"), ("LMOVE", "b", "b", "LEFT", "RIGHT"),
             ("LRANGE", "b", "0", "-1"), ("LMOVE", "nokey", "b", "LEFT", "LEFT"), ("LMOVE", "b", "c", "UP", "LEFT"),
             ("LMOVE", "b", "c", "LEFT", "DOWN"), ("LMOVE", "nokey", "c", "UP", "LEFT"), ("SET", "s", "x"),
             ("LMOVE", "b", "s", "LEFT", "LEFT"), ("LMOVE", "s", "b", "LEFT", "LEFT"),
             ("LMOVE", "nokey", "s", "LEFT", "LEFT"), ("LRANGE", "b", "0", "-1"), ("LMOVE", "b", "c", "LEFT"),
             ("RPOPLPUSH", "b", "c"), ("RPOPLPUSH", "b", "c"), ("RPOPLPUSH", "b", "c"), ("LRANGE", "c", "0", "-1"),
             ("EXISTS", "b"), ("RPOPLPUSH", "c", "c"), ("LRANGE", "c", "0", "-1"), ("RPOPLPUSH", "c", "s"),
             ("RPOPLPUSH", "s", "c"), ("RPOPLPUSH", "nokey", "c"), ("RPOPLPUSH", "c"))


def test_lmpop(both):
    ours, theirs = both
    run_both(ours, theirs,
             ("RPUSH", "a", "1", "2", "3"), ("RPUSH", "b", "x"), ("LMPOP", "2", "a", "b", "LEFT"),
             ("LMPOP", "2", "nokey", "a", "RIGHT", "COUNT", "5"), ("EXISTS", "a"), ("LMPOP", "2", "a", "b", "left"),
             ("LMPOP", "1", "b", "LEFT"), ("RPUSH", "a", "1"), ("SET", "s", "x"), ("LMPOP", "2", "s", "a", "LEFT"),
             ("LMPOP", "2", "nokey", "s", "LEFT"), ("LMPOP", "0", "a", "LEFT"), ("LMPOP", "-1", "a", "LEFT"),
             ("LMPOP", "x", "a", "LEFT"), ("LMPOP", "3", "a", "b", "LEFT"), ("LMPOP", "1", "a", "MIDDLE"),
             ("LMPOP", "1", "a", "LEFT", "COUNT", "0"), ("LMPOP", "1", "a", "LEFT", "COUNT", "x"),
             ("LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"), ("LMPOP", "1", "a", "LEFT", "COUNT"),
             ("LMPOP", "1", "a", "LEFT", "FOO"), ("LMPOP", "1", "a"), ("LRANGE", "a", "0", "-1"))
