"""The connection's compiled read (``_reads.c``'s QuickRead) against ``Connection.read``, in process.

The same byte streams, cut into reads at every place (or at random places), go to a connection with the compiled
read and to one with everything in Python (``fastpath no``); the bytes written back and the keyspace must be the
same. Each stream mixes what the compiled read finishes alone with everything it must hand over: commands off the
fast path, inline commands, requests split across reads, '*0', MULTI, CLIENT REPLY, protocol errors.
"""
from __future__ import annotations

import asyncio
import random
import types
from typing import Any

import pytest

from inferd import config as config_module
from inferd.resp import connection as connection_module
from inferd.resp._reads import QuickRead
from inferd.resp.connection import Connection, WriteBatch
from inferd.server import Server


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class _Capture:
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 0)

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Side:
    """One server state and one connection to it, fed read by read as the loop would (write batch flushed after
    every read)."""

    def __init__(self, fastpath: str) -> None:
        self.server = Server(config_module.load(env={}, overrides={"port": 0, "fastpath": fastpath}))
        self.writes = WriteBatch(asyncio.get_running_loop(), compiled=fastpath == "yes")
        self.transport = _Capture()
        self.conn = Connection(self.server.state, self.writes)
        self.conn.connection_made(self.transport)
        self.python_reads = 0
        read = self.conn.read

        def counting_read(data: bytes) -> None:
            self.python_reads += 1
            read(data)
        self.conn.read = counting_read  # type: ignore[method-assign]

    def feed(self, reads: list[bytes]) -> bytes:
        for data in reads:
            if self.transport.closed:
                break
            self.conn.data_received(data)
            self.writes.flush()
        return b"".join(self.transport.written)

    def keyspace(self) -> dict[bytes, Any]:
        data = self.server.state.keyspace.dbs[0].data
        return {k: (list(v) if not isinstance(v, (bytes, dict)) else v) for k, v in data.items()}


STREAMS = {
    "fast only": mb(b"SET", b"a", b"1") + mb(b"GET", b"a") + mb(b"HSET", b"h", b"f", b"v") + mb(b"HGET", b"h", b"f")
    + mb(b"LPUSH", b"l", b"x", b"y") + mb(b"RPUSH", b"l", b"z") + mb(b"GET", b"missing"),
    "fast and other": mb(b"SET", b"n", b"5") + mb(b"INCR", b"n") + mb(b"GET", b"n") + mb(b"PING")
    + mb(b"GET", b"h") + mb(b"HSET", b"h", b"f", b"1") + mb(b"GET", b"h") + mb(b"DEL", b"h") + mb(b"get", b"n"),
    "inline and empty": mb(b"SET", b"a", b"1") + b"GET a\r\n" + b"*0\r\n" + mb(b"GET", b"a") + b"\r\n"
    + b"*-1\r\n" + mb(b"SET", b"b", b"2") + b"PING\r\n" + mb(b"GET", b"b"),
    "inline alone": b"PING\r\nECHO b\x0bc\x0c\r\nSET a 1\r\n\r\n  GET \t a \x0b\r\nECHO 'q x'\r\nINCR a\nGET a\r\n"
    + b" \x0c\r\n"
    + mb(b"GET", b"a") + b"PING\r\n",   # from the connection's first byte: the compiled read splits whole lines
    "inline with a star": mb(b"SET", b"a", b"1") + b"ECHO *2\r\n" + mb(b"GET", b"a") + b"ECHO x *1\r\n"
    + mb(b"GET", b"a"),   # cut after "ECHO ", the next read starts with '*' inside an inline command
    "multi and reply modes": mb(b"SET", b"a", b"1") + mb(b"MULTI") + mb(b"GET", b"a") + mb(b"SET", b"a", b"2")
    + mb(b"EXEC") + mb(b"CLIENT", b"REPLY", b"SKIP") + mb(b"GET", b"a") + mb(b"GET", b"a")
    + mb(b"CLIENT", b"REPLY", b"OFF") + mb(b"SET", b"a", b"3") + mb(b"CLIENT", b"REPLY", b"ON") + mb(b"GET", b"a"),
    "large values": mb(b"SET", b"big", b"x" * 70_000) + mb(b"GET", b"big") + mb(b"GET", b"big")
    + mb(b"HSET", b"h", b"f", b"\r\n*1\r\n$3\r\nGET\r\n") + mb(b"HGET", b"h", b"f"),
    "protocol error": mb(b"SET", b"a", b"1") + mb(b"GET", b"a") + b"*1\r\n$x\r\n" + mb(b"SET", b"a", b"2"),
    "bad element": mb(b"SET", b"a", b"1") + b"*2\r\n$3\r\nGET\r\n:1\r\n" + mb(b"GET", b"a"),
    # what the reader takes and the compiled split leaves to it: bytes other than CRLF after a bulk string (hiredis,
    # like Redis, skips two bytes there), '*0', and then a length spelt with a sign (a protocol error)
    "spelt otherwise": mb(b"SET", b"a", b"1") + b"*2\r\n$3\r\nGETxx$1\r\na\r\n" + b"*0\r\n" + mb(b"GET", b"a")
    + b"*1\r\n$+4\r\nPING\r\n",
    "expires and quit": mb(b"SET", b"t", b"1", b"EX", b"100") + mb(b"GET", b"t") + mb(b"SET", b"t", b"2")
    + mb(b"TTL", b"t") + mb(b"QUIT") + mb(b"SET", b"after", b"1"),
}


def _compare(reads: list[bytes]) -> tuple[_Side, _Side]:
    fast, slow = _Side("yes"), _Side("no")
    assert fast.conn.data_received.__class__.__name__ == "QuickRead", "inferd/resp/_reads.c was not built"
    assert "data_received" not in slow.conn.__dict__
    got, expected = fast.feed(reads), slow.feed(reads)
    assert got == expected, (reads, got, expected)
    assert fast.keyspace() == slow.keyspace()
    assert fast.transport.closed == slow.transport.closed
    stats_fast, stats_slow = fast.server.state.stats, slow.server.state.stats
    assert (stats_fast.net_input_bytes, stats_fast.net_output_bytes) == (stats_slow.net_input_bytes,
                                                                         stats_slow.net_output_bytes)
    return fast, slow


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_two_way_cut_gives_the_python_reads_bytes(name):
    stream = STREAMS[name]
    step = 1 if len(stream) < 1000 else 997

    async def main() -> None:
        for cut in range(0, len(stream) + 1, step):
            _compare([stream[:cut], stream[cut:]] if 0 < cut < len(stream) else [stream])
    asyncio.run(main())


@pytest.mark.parametrize("seed", range(6))
def test_random_cuts_of_all_streams_give_the_python_reads_bytes(seed):
    rng = random.Random(seed)
    names = sorted(STREAMS)
    rng.shuffle(names)
    stream = b"".join(STREAMS[n] for n in names
                      if n not in ("protocol error", "bad element", "expires and quit", "spelt otherwise"))
    cuts = sorted(rng.sample(range(1, len(stream)), 40))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    async def main() -> None:
        _compare(reads)
    asyncio.run(main())


def test_reads_at_request_boundaries_stay_in_c_and_a_split_request_returns_there():
    """Whole reads of fast commands never reach Connection.read; after a request split across two reads the parser
    is at a boundary again and the next whole read is back in C."""
    async def main() -> None:
        fast, _ = _compare([mb(b"SET", b"a", b"1"), mb(b"GET", b"a") * 3, mb(b"HSET", b"h", b"f", b"v")])
        assert fast.python_reads == 0
        split = mb(b"SET", b"b", b"2")
        fast.feed([split[:7]])
        assert fast.python_reads == 0 and fast.conn.parser.clean is None   # fed in C, then _read_drained
        fast.feed([split[7:]])
        assert fast.python_reads == 1 and fast.conn.parser.clean is not None   # the rest: Connection.read
        fast.feed([mb(b"GET", b"b")])
        assert fast.python_reads == 1
        fast.feed([b"PING\r\n"])   # inline after multibulk requests: the Python read
        assert fast.python_reads == 2
        assert fast.transport.written[-3:] == [b"+OK\r\n", b"$1\r\n2\r\n", b"+PONG\r\n"]
    asyncio.run(main())


class _CountingReader:
    """The parser's hiredis reader, counting what the compiled read feeds it."""

    def __init__(self, reader: Any) -> None:
        self.reader, self.fed = reader, 0

    def feed(self, data: bytes) -> None:
        self.fed += 1
        self.reader.feed(data)

    def gets(self) -> Any:
        return self.reader.gets()

    def has_data(self) -> bool:
        return bool(self.reader.has_data())


def test_whole_plain_requests_are_split_in_c_and_the_rest_goes_through_the_reader():
    """Reads of whole multibulk requests as clients write them are split in C, the reader never fed; '*0', bytes
    other than CRLF after a bulk string, a request still arriving and a length spelt otherwise are fed to it, with
    the Python read's bytes back."""
    async def main() -> None:
        fast, slow = _Side("yes"), _Side("no")
        counting = fast.conn.parser.clean = _CountingReader(fast.conn.parser.clean)
        split = mb(b"GET", b"a")
        steps = [([mb(b"SET", b"a", b"1") + mb(b"GET", b"a") * 3, mb(b"HSET", b"h", b"f", b"x" * 300)], 0),
                 ([b"*0\r\n" + mb(b"GET", b"a")], 1), ([b"*2\r\n$3\r\nGETxx$1\r\na\r\n"], 2),
                 ([mb(b"ECHO", b""), mb(b"ECHO", b"\r\n*1\r\n")], 2), ([split[:9]], 3), ([split[9:]], 3),
                 ([mb(b"GET", b"a")], 3), ([b"*1\r\n$04\r\nPING\r\n"], 4)]
        for reads, fed in steps:
            assert fast.feed(reads) == slow.feed(reads)
            assert counting.fed == fed, reads
            if fast.conn.parser.clean is counting.reader:   # the Python read took the rest of the split request
                fast.conn.parser.clean = counting
        assert fast.python_reads == 1 and b"-ERR Protocol error" in fast.transport.written[-1]
    asyncio.run(main())


def test_whole_lines_of_inline_commands_stay_in_c_until_one_needs_the_parser():
    """A connection that sends inline commands alone (redis-benchmark's PING_INLINE, a terminal) has its whole lines
    split in C; a quote (sdssplitargs' escapes), a line still arriving, a line of more than 4,096 bytes and the
    first multibulk request go to Connection.read, which gives the same bytes."""
    async def main() -> None:
        fast, _ = _compare([b"PING\r\n" * 16, b"SET k v\r\nGET k\n", b"\r\n", b"  INCR \t n\r\nGET n\r\n"])
        assert fast.python_reads == 0
        assert fast.transport.written == [b"+PONG\r\n" * 16, b"+OK\r\n$1\r\nv\r\n", b":1\r\n$1\r\n1\r\n"]
        fast.feed([b"ECHO 'a b'\r\n"])
        assert fast.python_reads == 1
        fast.feed([b"ECHO x" + b"y" * 5000 + b"\r\n"])
        assert fast.python_reads == 2
        fast.feed([b"PING\r\nPI"])
        assert fast.python_reads == 3
        fast.feed([b"NG\r\n"])
        assert fast.python_reads == 4
        fast.feed([b"PING\r\n"])
        assert fast.python_reads == 4
        fast.feed([mb(b"GET", b"k"), b"PING\r\n"])   # a whole multibulk read in C leaves the parser as it was
        assert fast.python_reads == 4
        split = mb(b"GET", b"k")
        fast.feed([split[:5], split[5:], b"PING\r\n"])   # once the parser's Python fed the reader, its Python reads
        assert fast.python_reads == 6                      # inline commands (through hiredis, as Redis does)
    asyncio.run(main())


def test_replies_already_held_and_large_replies_go_through_the_python_write():
    async def main() -> None:
        fast, slow = _Side("yes"), _Side("no")
        for side in (fast, slow):
            side.feed([mb(b"SET", b"big", b"y" * (connection_module.HOLD_MAX + 10))])
            side.conn.data_received(mb(b"GET", b"big"))   # too large to hold: written at once
            assert len(side.transport.written) == 2 and side.conn.held is None
            side.conn.data_received(mb(b"SET", b"s", b"1"))
            side.conn.data_received(mb(b"GET", b"s"))     # held after the first, in one flush
            assert side.conn.held == [b"+OK\r\n", b"$1\r\n1\r\n"]
            side.writes.flush()
        assert fast.transport.written == slow.transport.written
    asyncio.run(main())


def test_the_compiled_read_is_dropped_with_the_connection():
    async def main() -> None:
        side = _Side("yes")
        quick = side.conn.__dict__.get("data_received")
        assert quick is not None and quick.__class__.__name__ == "QuickRead"
        side.conn.connection_lost(None)
        assert "data_received" not in side.conn.__dict__
    asyncio.run(main())


def test_objects_of_other_types_go_through_getattr():
    """The compiled paths read and write slots at offsets found on inferd's own types (inferd/_slots.h); an object
    of another type with the same attribute names (here the statistics as a SimpleNamespace, whose layout differs
    from ServerStats') must go through getattr/setattr."""
    async def main() -> None:
        _compare([STREAMS["fast only"]])   # the offsets are found on the real types first
        side = _Side("yes")
        counters = types.SimpleNamespace(net_input_bytes=0, net_output_bytes=0)
        conn = side.conn
        conn.data_received = QuickRead(  # type: ignore[method-assign]
            conn, conn.parser, conn.fast_run, counters, side.writes, connection_module.HOLD_MAX)
        stream = STREAMS["fast only"]
        conn.data_received(stream)
        side.writes.flush()
        assert side.python_reads == 0
        assert counters.net_input_bytes == len(stream)
        assert counters.net_output_bytes == len(b"".join(side.transport.written)) > 0
        assert side.server.state.stats.net_input_bytes == 0   # the real statistics were not the ones written
    asyncio.run(main())
