"""Replies to the reads of one poll are held and written together, each connection's in order.

The holding is observed on the real server's loop: reads are handed to real connections there (as the loop's I/O
callbacks would), their held replies inspected before the batch's flush runs, and the bytes read back on the
clients' sockets.
"""
from __future__ import annotations

import socket
from typing import Any

from tests.resp.test_wire import exchange, mb


def _connections(srv: Any) -> list[Any]:
    return [c.close_callback.__self__ for c in srv.state.clients.values()]


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def test_replies_of_one_poll_are_held_until_every_read_is_handled(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as a, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as b:
        a.sendall(mb(b"CLIENT", b"SETNAME", b"batch-a"))
        b.sendall(mb(b"CLIENT", b"SETNAME", b"batch-b"))
        assert _read_exactly(a, 5) == b"+OK\r\n" and _read_exactly(b, 5) == b"+OK\r\n"

        def two_reads() -> Any:
            by_name = {c.client.name: c for c in _connections(server)}
            conn_a, conn_b = by_name[b"batch-a"], by_name[b"batch-b"]
            conn_a.data_received(mb(b"PING") + mb(b"ECHO", b"one"))   # as the loop's read callbacks would
            conn_b.data_received(mb(b"ECHO", b"two"))
            return conn_a.held, conn_b.held, conn_a.writes.held == [conn_a, conn_b], conn_a.writes is conn_b.writes

        held_a, held_b, both_in_batch, shared = server.call(two_reads)
        assert held_a == [b"+PONG\r\n$3\r\none\r\n"]   # nothing written yet: the whole read's replies, held
        assert held_b == [b"$3\r\ntwo\r\n"]
        assert both_in_batch and shared
        assert _read_exactly(a, 16) == b"+PONG\r\n$3\r\none\r\n"
        assert _read_exactly(b, 9) == b"$3\r\ntwo\r\n"
        assert server.call(lambda: [c.held for c in _connections(server)
                                    if c.client.name in (b"batch-a", b"batch-b")]) == [None, None]


def test_a_reply_settled_before_the_flush_goes_after_the_held_ones(server):
    """SET (held), a DAG that waits on the device queue and is settled in the same loop turn, then GET."""
    dag = mb(b"AI.DAGEXECUTE", b"ROUTING", b"k", b"|>", b"AI.TENSORSET", b"t", b"FLOAT", b"1", b"VALUES", b"7",
             b"|>", b"AI.TENSORGET", b"t", b"VALUES")
    data, closed = exchange(server.port, mb(b"SET", b"wb", b"1") + dag + mb(b"GET", b"wb") + dag + mb(b"PING"))
    reply = b"*2\r\n+OK\r\n*1\r\n$1\r\n7\r\n"
    assert data == b"+OK\r\n" + reply + b"$1\r\n1\r\n" + reply + b"+PONG\r\n" and not closed


def test_held_replies_are_written_before_quit_closes(server):
    data, closed = exchange(server.port, mb(b"PING") + mb(b"ECHO", b"x") + mb(b"QUIT") + mb(b"PING"),
                            expect_close=True)
    assert data == b"+PONG\r\n$1\r\nx\r\n+OK\r\n" and closed


def test_a_protocol_error_comes_after_the_replies_of_the_requests_before_it(server):
    """Including a DAG that waits on the device queue: its reply and the held ones first, then the error."""
    dag = mb(b"AI.DAGEXECUTE", b"ROUTING", b"k", b"|>", b"AI.TENSORSET", b"t", b"FLOAT", b"1", b"VALUES", b"7",
             b"|>", b"AI.TENSORGET", b"t", b"VALUES")
    data, closed = exchange(server.port, mb(b"PING") + dag + mb(b"SET", b"pe2", b"1") + b"*1\r\n$abc\r\n",
                            expect_close=True)
    assert data == b"+PONG\r\n*2\r\n+OK\r\n*1\r\n$1\r\n7\r\n+OK\r\n-ERR Protocol error: invalid bulk length\r\n"
    assert closed
    with server.client() as check:
        assert check.get("pe2") == b"1"


def test_replies_past_the_hold_limit_are_written_at_once(server):
    """A read whose replies pass HOLD_MAX bytes is not held (the output buffer limit must see large replies)."""
    from inferd.resp.connection import HOLD_MAX
    value = b"v" * 1000
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(mb(b"CLIENT", b"SETNAME", b"big-reads") + mb(b"SET", b"hold-big", value))
        assert _read_exactly(sock, 10) == b"+OK\r\n+OK\r\n"
        gets = HOLD_MAX // len(value) + 2

        def reads() -> Any:
            conn = next(c for c in _connections(server) if c.client.name == b"big-reads")
            conn.data_received(mb(b"GET", b"hold-big") * 3)             # small: held
            small = conn.held is not None
            conn.data_received(mb(b"GET", b"hold-big") * gets)          # past the limit: everything written
            return small, conn.held
        small, held_after = server.call(reads)
        assert small and held_after is None
        reply = b"$1000\r\n" + value + b"\r\n"
        assert _read_exactly(sock, len(reply) * (3 + gets)) == reply * (3 + gets)
