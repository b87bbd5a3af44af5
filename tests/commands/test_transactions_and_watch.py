"""The data-type commands inside MULTI/EXEC and under WATCH, compared with redis-server."""
from __future__ import annotations

import pytest


def _transaction(client, *commands):
    pipe = client.pipeline(transaction=True)
    for args in commands:
        pipe.execute_command(*args)
    return pipe.execute(raise_on_error=False)


def _normalise(replies):
    return [repr(r) if isinstance(r, Exception) else sorted(r) if isinstance(r, set) else r for r in replies]


def test_replies_inside_exec_are_snapshots(both):
    commands = [("SADD", "s", "a"), ("SMEMBERS", "s"), ("SADD", "s", "b"), ("HSET", "h", "f", "1"), ("HGETALL", "h"),
                ("HSET", "h", "g", "2"), ("RPUSH", "l", "x"), ("LRANGE", "l", "0", "-1"), ("RPUSH", "l", "y"),
                ("ZADD", "z", "1", "m"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZADD", "z", "2", "n"),
                ("INCR", "s"), ("SMEMBERS", "s")]
    ours, theirs = (_normalise(_transaction(client, *commands)) for client in both)
    assert ours == theirs


@pytest.mark.parametrize("write", [("HSET", "k", "f", "v"), ("RPUSH", "k", "x"), ("SADD", "k", "m"),
                                   ("ZADD", "k", "1", "m"), ("EXPIRE", "k", "100"), ("RENAME", "other", "k"),
                                   ("COPY", "other", "k"), ("SWAPDB", "0", "1"), ("DEL", "k"), ("APPEND", "k", "x"),
                                   ("MSET", "a", "1", "k", "2"), ("SETRANGE", "k", "0", "x"), ("PERSIST", "k")])
def test_writes_abort_watchers(both, write):
    results = []
    for client in both:
        client.set("other", "o")
        client.delete("k")
        if write[0] not in ("HSET", "RPUSH", "SADD", "ZADD", "COPY"):   # those create k; the others modify it
            client.set("k", "1", ex=1000)
        watcher = client.pipeline(transaction=True)
        watcher.watch("k")
        client.execute_command(*write)   # another connection of the pool writes the watched key
        watcher.multi()
        watcher.set("k", "from-transaction")
        try:
            results.append(watcher.execute())
        except Exception as exc:   # redis-py raises WatchError for an aborted EXEC
            results.append(type(exc).__name__)
        finally:
            watcher.reset()
        client.execute_command("SWAPDB", "0", "1") if write[0] == "SWAPDB" else None
    assert results[0] == results[1] == "WatchError"


def test_copy_to_another_db_aborts_watchers_there(server):
    writer, watcher_client = server.client(), server.client()
    writer.flushall()
    writer.set("src", "v")
    watcher_client.select(1)
    watcher = watcher_client.pipeline(transaction=True)
    watcher.watch("dst")
    writer.copy("src", "dst", destination_db=1)
    watcher.multi()
    watcher.set("dst", "x")
    with pytest.raises(Exception, match="Watched variable changed"):
        watcher.execute()


# Each write twice: once changing nothing (reply 0, nil or an empty array), once changing the key it names, which
# is the key watched. Redis signals WATCHers only on a real change; so does inferd.
_NO_CHANGE_AND_CHANGE = [
    (("SETNX", "k", "x"), ("SETNX", "new", "x")), (("MSETNX", "k", "x", "o", "y"), ("MSETNX", "k2", "x")),
    (("DEL", "missing"), ("DEL", "k")), (("UNLINK", "missing"), ("UNLINK", "k")),
    (("EXPIRE", "missing", "10"), ("EXPIRE", "k", "10")), (("PEXPIRE", "t", "100000000", "GT"), ("PEXPIRE", "t", "9")),
    (("EXPIREAT", "missing", "2000000000"), ("EXPIREAT", "k", "2000000000")),
    (("PEXPIREAT", "missing", "2000000000000"), ("PEXPIREAT", "k", "2000000000000")),
    (("PERSIST", "k"), ("PERSIST", "t")), (("GETDEL", "missing"), ("GETDEL", "k")),
    (("HSETNX", "h", "f", "x"), ("HSETNX", "h", "g", "x")), (("HDEL", "h", "zz"), ("HDEL", "h", "f")),
    (("SADD", "s", "a"), ("SADD", "s", "b")), (("SREM", "s", "zz"), ("SREM", "s", "a")),
    (("SMOVE", "s", "s2", "zz"), ("SMOVE", "s", "s2", "a")), (("ZREM", "z", "zz"), ("ZREM", "z", "m")),
    (("LREM", "l", "0", "zz"), ("LREM", "l", "0", "a")), (("LPUSHX", "missing", "x"), ("LPUSHX", "l", "x")),
    (("RPUSHX", "missing", "x"), ("RPUSHX", "l", "x")), (("LPOP", "missing"), ("LPOP", "l")),
    (("RPOP", "l", "0"), ("RPOP", "l")), (("SPOP", "missing"), ("SPOP", "s")), (("SPOP", "s", "0"), ("SPOP", "s", "1")),
    (("SET", "k", "x", "NX"), ("SET", "k", "x", "XX")), (("SET", "k", "x", "NX", "GET"), ("SET", "k", "1", "XX")),
    (("SET", "missing", "x", "XX", "GET"), ("SET", "k", "x", "XX", "GET")), (("GETEX", "k"), ("GETEX", "t", "PERSIST")),
    (("ZADD", "z", "1", "m"), ("ZADD", "z", "2", "m")), (("ZADD", "z", "CH", "1", "m"), ("ZADD", "z", "CH", "2", "m")),
    (("ZADD", "z", "NX", "5", "m"), ("ZADD", "z", "NX", "5", "n")),
    (("ZADD", "z", "XX", "5", "n"), ("ZADD", "z", "XX", "5", "m")),
    (("ZADD", "z", "GT", "0", "m"), ("ZADD", "z", "GT", "3", "m")),
    (("ZADD", "z", "LT", "3", "m"), ("ZADD", "z", "LT", "0", "m")),
    (("ZADD", "missing", "XX", "1", "m"), ("ZADD", "missing", "1", "m")),
    (("ZADD", "z", "1", "m", "1", "m"), ("ZADD", "z", "1", "m", "3", "m")),
    (("ZADD", "z", "INCR", "0", "m"), ("ZADD", "z", "INCR", "1", "m")),
    (("ZINCRBY", "z", "0", "m"), ("ZINCRBY", "z", "1", "m")),
    (("ZADD", "z", "XX", "INCR", "1", "n"), ("ZADD", "z", "NX", "INCR", "1", "n")),
    (("ZREMRANGEBYSCORE", "z", "5", "9"), ("ZREMRANGEBYSCORE", "z", "0", "9")),
    (("ZREMRANGEBYRANK", "z", "5", "9"), ("ZREMRANGEBYRANK", "z", "0", "0")),
    (("ZREMRANGEBYLEX", "z", "(m", "+"), ("ZREMRANGEBYLEX", "z", "-", "+")),
    # a missing key deleted along with one that exists (the first key is the watched one)
    (("DEL", "gone", "k"), ("DEL", "k", "gone")),
    (("UNLINK", "gone", "s", "gone"), ("UNLINK", "s", "gone")),
    # an empty result stored over no key (over a key, it deletes it)
    (("SDIFFSTORE", "gone", "s", "s"), ("SDIFFSTORE", "k", "s", "s")),
    (("SINTERSTORE", "gone", "s", "nokey"), ("SINTERSTORE", "s", "s", "nokey")),
    (("SUNIONSTORE", "gone", "nokey"), ("SUNIONSTORE", "h", "nokey")),
    (("ZRANGESTORE", "gone", "z", "5", "9"), ("ZRANGESTORE", "z", "z", "5", "9")),
    (("ZUNIONSTORE", "gone", "1", "nokey"), ("ZUNIONSTORE", "z", "1", "nokey")),
    (("ZINTERSTORE", "gone", "2", "z", "nokey"), ("ZINTERSTORE", "z", "2", "z", "z")),
    (("ZDIFFSTORE", "gone", "2", "z", "z"), ("ZDIFFSTORE", "k", "2", "z", "z")),
    # nothing to move, pop or take (the first key is the watched one)
    (("LMOVE", "gone", "l", "LEFT", "LEFT"), ("LMOVE", "l", "gone", "LEFT", "LEFT")),
    (("RPOPLPUSH", "gone", "l"), ("RPOPLPUSH", "l", "l")),
    (("LMPOP", "2", "gone", "l", "LEFT"), ("LMPOP", "2", "l", "gone", "LEFT")),   # (*MPOP: the first key is
    (("ZMPOP", "2", "gone", "z", "MIN"), ("ZMPOP", "2", "z", "gone", "MAX")),     # after numkeys)
    (("MOVE", "gone", "1"), ("MOVE", "k", "1")),
    # a bit set to what it was ("1" is 0x31), in the string's bytes; past its end, even a 0 grows it
    (("SETBIT", "k", "0", "0"), ("SETBIT", "k", "0", "1")),
    (("SETBIT", "k", "2", "1"), ("SETBIT", "k", "100", "0")),
    (("BITOP", "AND", "gone", "nokey"), ("BITOP", "AND", "k", "nokey")),   # (BITOP: the key after the operation)
    (("SETRANGE", "k", "1", ""), ("SETRANGE", "k", "1", "x")),
]


@pytest.mark.parametrize("write", [w for pair in _NO_CHANGE_AND_CHANGE for w in pair], ids=" ".join)
def test_only_writes_that_change_a_key_abort_its_watchers(both, write):
    outcomes = []
    for client in both:
        client.set("k", "1")
        client.set("t", "1", ex=1000)
        client.hset("h", "f", "v")
        client.sadd("s", "a")
        client.zadd("z", {"m": 1})
        client.rpush("l", "a", "b")
        watcher = client.pipeline(transaction=True)
        watcher.watch(write[2] if write[0].endswith("MPOP") or write[0] == "BITOP" else write[1])
        reply = client.execute_command(*write)
        watcher.multi()
        watcher.ping()
        try:
            outcomes.append((reply, watcher.execute()))
        except Exception as exc:   # WatchError: the transaction was aborted
            outcomes.append((reply, type(exc).__name__))
        finally:
            watcher.reset()
    assert outcomes[0] == outcomes[1]
