"""Random commands of every data-type, key and transaction command, sent to inferd and to redis-server as raw
pipelines in RESP2 and RESP3, replies compared byte for byte.

Each command is drawn with its arity (as redis-server's COMMAND INFO gives it) most of the time and any arity the rest,
its key positions holding one of a few keys, its other arguments drawn from numbers, range bounds, option words and
values, so that most replies are real answers and the rest are the errors a wrong argument gets. Commands whose
answers are random (SPOP, SRANDMEMBER, HRANDFIELD, RANDOMKEY), depend on the clock (TTL family), on cursors (SCAN
family) or on the order of a set (SMEMBERS and the other set reads, KEYS) are left out.
"""
from __future__ import annotations

import random

import pytest
import redis

from tests.commands.helpers import Raw

pytestmark = pytest.mark.oracle

KEYS = ["k1", "k2", "k3"]
COMMANDS = (
    "append decr decrby del exists expire expireat get getdel getex getrange getset hdel hexists hget hgetall hincrby "
    "hincrbyfloat hlen hmget hmset hset hsetnx hstrlen incr incrby incrbyfloat lindex linsert llen lpop lpos lpush "
    "lpushx lrange lrem lset ltrim mget mset msetnx persist pexpire pexpireat psetex rename renamenx rpop rpush rpushx "
    "sadd scard sdiffstore setex setnx setrange sintercard sinterstore sismember smismember smove srem strlen "
    "sunionstore type unlink zadd zcard zcount zincrby zlexcount zmscore zpopmax zpopmin zrange zrangebylex "
    "zrangebyscore zrangestore zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex "
    "zrevrangebyscore zrevrank zscore copy touch dbsize select swapdb flushdb multi exec discard watch unwatch set "
    "lmove rpoplpush lmpop zmpop move substr setbit getbit bitcount bitpos bitop zunion zinter zdiff zunionstore "
    "zinterstore zdiffstore zintercard"
).split()
WORDS = ["NX", "XX", "GT", "LT", "CH", "INCR", "WITHSCORES", "LIMIT", "BYSCORE", "BYLEX", "REV", "COUNT", "GET",
         "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "PERSIST", "BEFORE", "AFTER", "RANK", "MAXLEN", "REPLACE", "DB",
         "nx", "ex", "LEFT", "RIGHT", "MIN", "MAX", "BIT", "BYTE", "AND", "OR", "XOR", "NOT", "WEIGHTS",
         "AGGREGATE", "SUM"]
NUMBERS = ["0", "1", "0", "1", "-1", "2", "3", "-2", "10", "100", "1.5", "-0.5", "inf", "-inf", "+inf", "nan",
           "1e3", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "abc", "", " 1", "0x10",
           "01", "1.0", "(1", "(2", "[a", "[b", "(c", "-", "+", "[", "(", "1700000000", "99999999999999"]
VALUES = ["a", "b", "c", "x", "hello", "", "1", "2", "5"]


@pytest.fixture(scope="module")
def shapes(oracle):
    """Each command's (arity, first key, last key, step), from redis-server's COMMAND INFO."""
    infos = redis.Redis(port=oracle.port).execute_command("COMMAND", "INFO", *COMMANDS)
    return {name: (infos[name]["arity"], infos[name]["first_key_pos"], infos[name]["last_key_pos"],
                   infos[name]["step_count"]) for name in COMMANDS}


def _argument(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(KEYS)
    if roll < 0.45:
        return rng.choice(WORDS)
    return rng.choice(NUMBERS) if roll < 0.8 else rng.choice(VALUES)


def _command(rng: random.Random, shapes: dict[str, tuple[int, int, int, int]]) -> list[str]:
    name = rng.choice(COMMANDS)
    if rng.random() < 0.3:   # any arity
        return [name, *[_argument(rng) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4, 6]))]]
    arity, first, last, step = shapes[name]
    argc = arity if arity > 0 else -arity + rng.choice([0, 0, 1, 1, 2, 3, 5])
    args = [_argument(rng) for _ in range(argc - 1)]
    if first:
        last = argc + last if last < 0 else last
        for i in range(first, min(last, argc - 1) + 1, step or 1):
            args[i - 1] = rng.choice(KEYS)
    if name in ("pexpire", "psetex") or "PX" in args:   # no key may expire while the pipeline runs
        args = [a + "00000" if a.isdigit() and 0 < int(a) < 100000 else a for a in args]
    return [name, *args]


@pytest.mark.parametrize("protocol", ["2", "3"])
@pytest.mark.parametrize("seed", range(12))
def test_random_commands_reply_like_redis(server, oracle, shapes, seed, protocol):
    rng = random.Random(seed * 10 + int(protocol))
    pipelines = [[_command(rng, shapes) for _ in range(50)] + [["DISCARD"]] for _ in range(4)]   # (the end marker is
    replies = []                                                                                  # then never queued)
    for port in (server.port, oracle.port):
        raw = Raw(port)
        try:
            raw.pipeline(("FLUSHALL",), ("HELLO", protocol))
            replies.append([raw.pipeline(*commands) for commands in pipelines])
        finally:
            raw.close()
    for commands, ours, theirs in zip(pipelines, *replies, strict=True):
        assert ours == theirs, commands
