"""The floor of a Python server at redis-benchmark -P 1: a uvloop Protocol that answers each request with +OK.

Its ``data_received`` only counts the multibulk requests of three arguments in a read (``*3\\r\\n``) and writes as
many ``+OK``: the event loop, the system calls and one Python callback per read, nothing else. Run it beside
redis-server and inferd and drive all three with redis-benchmark SET:

    .venv/bin/python bench/uvloop_floor.py 7001 &
    redis-benchmark -p 7001 -t set -n 200000 -c 50 -r 100000 -q
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop


class _Floor(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"+OK\r\n" * data.count(b"*3\r\n"))


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Floor, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 7001))
