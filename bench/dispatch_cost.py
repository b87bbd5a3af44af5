"""The server's own CPU per request, without sockets: ``Connection.data_received`` in-process, C fast path vs Python.

Builds a real server state (no listener), one connection whose transport discards what it is given, and feeds it
pipelines of N redis-benchmark-like requests (``key:<12 digits>`` over 100,000 keys, 3-byte values) for GET, SET,
HSET and LPUSH, flushing the write batch after every read as the loop does. Every reply is produced and encoded;
only the syscalls are missing. Prints µs per request with ``fastpath yes`` and ``no`` and their ratio, best of 5.

    .venv/bin/python bench/dispatch_cost.py [--pipeline 16] [--reads 20000]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from inferd import config as config_module
from inferd.resp.connection import Connection, WriteBatch
from inferd.server import Server, install_event_loop

TESTS = ("GET", "SET", "HSET", "LPUSH")


class Sink:
    """A transport that takes every write and sends nothing (bench/scoring_cost.py keeps the last)."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 0)

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _request(test: str, n: int) -> bytes:
    key = b"key:%012d" % n
    args = {"GET": [b"GET", key], "SET": [b"SET", key, b"xxx"], "HSET": [b"HSET", b"myhash", key, b"xxx"],
            "LPUSH": [b"LPUSH", b"mylist", b"xxx"]}[test]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


async def _measure(fastpath: str, test: str, pipeline: int, reads: int) -> float:
    server = Server(config_module.load(env={}, overrides={"port": 0, "fastpath": fastpath}))
    writes = WriteBatch(asyncio.get_running_loop())
    conn = Connection(server.state, writes)
    conn.connection_made(Sink())
    rng = random.Random(1)
    chunks = [b"".join(_request(test, rng.randrange(100_000)) for _ in range(pipeline)) for _ in range(1000)]
    if test == "GET":   # as after redis-benchmark's SET test: every key holds a value
        server.state.keyspace.dbs[0].data.update((b"key:%012d" % n, b"xxx") for n in range(100_000))
    for chunk in chunks:   # warm-up
        conn.data_received(chunk)
        writes.flush()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(reads):
            conn.data_received(chunks[i % 1000])
            writes.flush()
        best = min(best, time.perf_counter() - start)
        await asyncio.sleep(0)   # run the flushes the write batch scheduled
    return best / reads / pipeline * 1e6


async def _main(args: argparse.Namespace) -> None:
    print(f"µs per request, {args.pipeline} requests per read, best of 5 x {args.reads} reads")
    print("| test | fastpath yes | fastpath no | no / yes |")
    print("|---|---:|---:|---:|")
    for test in TESTS:
        fast = await _measure("yes", test, args.pipeline, args.reads)
        slow = await _measure("no", test, args.pipeline, args.reads)
        print(f"| {test} | {fast:.2f} | {slow:.2f} | {slow / fast:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--reads", type=int, default=20_000)
    install_event_loop()
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
