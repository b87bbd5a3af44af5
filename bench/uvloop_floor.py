"""The floor of a Python server at redis-benchmark -P 1: a uvloop Protocol that answers each request with +OK.

Its ``data_received`` only counts the multibulk requests of three arguments in a read (``*3\\r\\n``) and writes as
many ``+OK`` (a header cut between two reads counts in the second): the event loop, the system calls and one Python
callback per read, nothing else. The protocol suite of ``python -m bench`` runs it beside redis-server and inferd
(SET, -P 1 and -P 16); by hand:

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
        self.tail = b""   # the last 3 bytes of the previous read: a header cut between two reads is still counted

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        self.tail = data[-3:]
        self.transport.write(b"+OK\r\n" * data.count(b"*3\r\n"))


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Floor, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 7001))
