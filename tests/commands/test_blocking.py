"""Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP) with several clients at once,
compared with redis-server: who is served, in what order, after a transaction, on a timeout, on a wrong type, in
MULTI, and after a blocked client went away. Both paths of the module's server (a push to a key a client waits on
leaves the C fast path)."""
from __future__ import annotations

import socket
import time

import pytest
import redis

from tests.commands.helpers import encode

pytestmark = pytest.mark.oracle


class Peer:
    """A raw connection that sends without waiting and reads what has arrived after a short pause."""

    def __init__(self, port: int, protocol: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if protocol == "3":
            self.send(("HELLO", "3"))
            self.read()

    def send(self, *commands: tuple[str, ...]) -> None:
        self.sock.sendall(b"".join(encode(*c) for c in commands))

    def read(self, wait: float = 0.25, quiet: float = 0.05) -> bytes:
        """What arrives within ``wait`` seconds (nothing, for a blocked client), read until it stops for ``quiet``."""
        data = b""
        self.sock.settimeout(wait)
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
                self.sock.settimeout(quiet)
        except TimeoutError:
            pass
        finally:
            self.sock.settimeout(5)
        return data

    def close(self) -> None:
        self.sock.close()


def _scenario(port: int, protocol: str) -> list[bytes]:
    a, b, c = (Peer(port, protocol) for _ in range(3))
    out = []
    try:
        a.send(("FLUSHALL",))
        out.append(a.read())
        b.send(("BLPOP", "q1", "q2", "0"), ("PING",))      # blocks; its PING waits behind it
        c.send(("BRPOP", "q2", "0"))
        out += [b.read(), c.read()]
        a.send(("RPUSH", "q2", "x", "y", "z"))               # the oldest waiter first: b gets x, c then z
        out += [a.read(), b.read(), c.read()]
        a.send(("LRANGE", "q2", "0", "-1"))
        out.append(a.read())
        b.send(("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"))
        a.send(("MULTI",), ("LPUSH", "src", "1"), ("LPOP", "src"), ("LPUSH", "src", "2"), ("EXEC",))   # served after
        out += [a.read(), b.read()]
        a.send(("LRANGE", "dst", "0", "-1"), ("EXISTS", "src"))
        out.append(a.read())
        c.send(("BZPOPMIN", "z", "0.2"))
        out += [c.read(0.1), c.read(0.5)]                     # nothing, then the timeout's null
        c.send(("BZPOPMAX", "z", "0"))
        a.send(("ZADD", "z", "1", "a", "2.5", "b"))
        out += [a.read(), c.read()]
        b.send(("BLMPOP", "0", "2", "l1", "l2", "RIGHT", "COUNT", "5"))
        a.send(("SET", "l1", "str"), ("LPUSH", "l2", "a", "b"))   # a string does not wake a list waiter
        out += [a.read(), b.read()]
        a.send(("MULTI",), ("BLPOP", "empty", "0"), ("BZMPOP", "0", "1", "empty", "MIN"), ("EXEC",))   # no blocking
        out.append(a.read())
        b.send(("BLPOP", "l1", "0"), ("BZMPOP", "0.3", "1", "zz", "MIN", "COUNT", "2"))
        out.append(b.read())
        b.send(("BZMPOP", "0", "1", "zz", "MIN"))
        b.close()                                            # a client that goes away stops waiting
        time.sleep(0.1)
        a.send(("ZADD", "zz", "1", "m"), ("ZCARD", "zz"))
        out.append(a.read())
        c.send(("BLPOP", "k", "x"), ("BLPOP", "k", "-1"), ("BLPOP", "k", "inf"), ("BLPOP", "k", " 1"),
               ("BLMOVE", "a", "b", "UP", "LEFT", "0"), ("BLMPOP", "0", "0", "k", "LEFT"),
               ("BLMPOP", "x", "1", "k", "LEFT"), ("LPUSH", "wl", "v"), ("BRPOPLPUSH", "wl", "l1", "0"),
               ("LRANGE", "wl", "0", "-1"), ("BLPOP", "k", "0.001"), ("BRPOPLPUSH", "k", "x", "0.001"))
        out.append(c.read(0.5, quiet=0.4))   # (redis-server ends timeouts on its 10 Hz cron)
    finally:
        for peer in (a, b, c):
            peer.close()
    return out


@pytest.mark.parametrize("protocol", ["2", "3"])
def test_blocked_clients_are_served_as_by_redis(server, oracle, protocol):
    ours, theirs = _scenario(server.port, protocol), _scenario(oracle.port, protocol)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, (step, a, b)


def test_a_blocked_pop_signals_watchers_only_when_it_pops(server, oracle):
    """Blocking on a key changes nothing; the pop that serves the client changes the key it pops from."""
    outcomes = []
    for port in (server.port, oracle.port):
        a, b = Peer(port, "2"), Peer(port, "2")
        a.send(("FLUSHALL",), ("WATCH", "q", "other"))
        a.read()
        b.send(("BLPOP", "other", "q", "0"))
        b.read()
        a.send(("MULTI",), ("PING",), ("EXEC",))   # the blocked client touched nothing
        first = a.read()
        a.send(("WATCH", "q"))
        a.read()
        pusher = redis.Redis(port=port)
        pusher.rpush("q", "x")                     # the push and the blocked client's pop both change q
        a.send(("MULTI",), ("PING",), ("EXEC",))
        outcomes.append((first, a.read(), b.read()))
        for peer in (a, b):
            peer.close()
        pusher.close()
    assert outcomes[0] == outcomes[1]


def test_info_counts_blocked_clients(server):
    client = redis.Redis(port=server.port)
    waiter = Peer(server.port, "2")
    try:
        waiter.send(("BLPOP", "nothing", "0"))
        waiter.read()
        assert client.info("clients")["blocked_clients"] == 1
    finally:
        waiter.close()
    time.sleep(0.1)
    assert client.info("clients")["blocked_clients"] == 0
    client.close()


def test_keys_that_arrive_from_another_database_serve_blocked_clients(server, oracle):
    """MOVE, COPY ... DB and SWAPDB bring a key to the blocked client's database without naming it there."""
    replies = []
    for port in (server.port, oracle.port):
        a, b = Peer(port, "2"), Peer(port, "2")
        a.send(("FLUSHALL",))
        a.read()
        steps = []
        for bring in (("MOVE", "l", "1"), ("COPY", "l", "l", "DB", "1"), ("SWAPDB", "0", "1")):
            b.send(("SELECT", "1"), ("BLPOP", "l", "0"))
            a.send(("SELECT", "0"), ("DEL", "l"), ("RPUSH", "l", "x", "y"), bring)
            steps += [a.read(), b.read()]
            a.send(("SELECT", "1"), ("DEL", "l"), ("SELECT", "0"), ("FLUSHDB",))
            a.read()
        replies.append(steps)
        a.close()
        b.close()
    assert replies[0] == replies[1]


def test_client_unblock(server, oracle):
    """CLIENT UNBLOCK ends a blocked pop as a timeout (a null array) or with UNBLOCKED; 0 for a client not blocked."""
    replies = []
    for port in (server.port, oracle.port):
        admin, blocked = redis.Redis(port=port), Peer(port, "2")
        blocked.send(("CLIENT", "ID"))
        client_id = blocked.read().split(b"\r\n")[0][1:].decode()
        steps = [admin.execute_command("CLIENT", "UNBLOCK", client_id)]   # not blocked yet: 0
        for reason in ("TIMEOUT", "ERROR", "timeout"):
            blocked.send(("BLPOP", "q", "0"))
            blocked.read()
            steps += [admin.execute_command("CLIENT", "UNBLOCK", client_id, reason), blocked.read()]
        blocked.send(("BZMPOP", "0", "1", "z", "MIN"))
        blocked.read()
        steps += [admin.execute_command("CLIENT", "UNBLOCK", client_id), blocked.read()]
        for args in (("UNBLOCK", client_id, "FOO"), ("UNBLOCK", "x"), ("UNBLOCK", client_id, "TIMEOUT", "x")):
            try:
                steps.append(admin.execute_command("CLIENT", *args))
            except redis.ResponseError as exc:
                steps.append(str(exc))
        replies.append(steps)
        admin.close()
        blocked.close()
    assert replies[0] == replies[1]
