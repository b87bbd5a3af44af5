"""SLOWLOG (with slowlog-log-slower-than / slowlog-max-len) and CLIENT LIST/KILL, side by side with redis-server."""
from __future__ import annotations

import socket

import pytest
import redis

from tests.conftest import RunningServer
from tests.oracle import compare


@pytest.fixture(scope="module")
def server(server_both_paths: RunningServer) -> RunningServer:
    """Every test here runs with the dispatcher's C fast path and without it (the bookkeeping is the same)."""
    return server_both_paths


pytestmark = pytest.mark.oracle


def raw(client: redis.Redis, *args: object) -> object:
    """A reply without redis-py's response callbacks."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


@pytest.fixture
def slowlog_everything(both):
    """Log every command on both servers; restore the defaults afterwards."""
    for client in both:
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 128)
        client.slowlog_reset()
    yield both
    for client in both:
        client.config_set("slowlog-log-slower-than", 10000)
        client.config_set("slowlog-max-len", 128)
        client.slowlog_reset()


def logged_argv(client: redis.Redis) -> list[list[bytes]]:
    entries = raw(client, "SLOWLOG", "GET", "-1")
    assert isinstance(entries, list)
    for entry in entries:
        assert len(entry) == 6 and isinstance(entry[0], int) and isinstance(entry[1], int)
        assert isinstance(entry[2], int) and entry[2] >= 0
    return [[a if isinstance(a, bytes) else str(a).encode() for a in e[3]] for e in entries]


def test_slowlog_records_like_redis(slowlog_everything):
    ours, theirs = slowlog_everything
    for client in (ours, theirs):
        client.set("a", "1")
        client.get("a")
        client.execute_command("ECHO", "x" * 200)                   # long argument: truncated
        client.execute_command("DEL", *[f"k{i}" for i in range(40)])  # many arguments: elided
    assert logged_argv(ours) == logged_argv(theirs)
    assert compare(ours, theirs, "SLOWLOG", "LEN") >= 5


def test_slowlog_max_len_and_reset(slowlog_everything):
    ours, theirs = slowlog_everything
    for client in (ours, theirs):
        client.config_set("slowlog-max-len", 3)
        for i in range(10):
            client.set(f"k{i}", i)
    assert compare(ours, theirs, "SLOWLOG", "LEN") == 3
    assert logged_argv(ours) == logged_argv(theirs)
    assert compare(ours, theirs, "SLOWLOG", "RESET") in (b"OK", "OK", True)
    assert compare(ours, theirs, "SLOWLOG", "GET", "0") == []
    compare(ours, theirs, "SLOWLOG", "GET", "-2")
    compare(ours, theirs, "SLOWLOG", "GET", "x")
    compare(ours, theirs, "SLOWLOG", "NOPE")


def test_slowlog_off(slowlog_everything):
    ours, theirs = slowlog_everything
    for client in (ours, theirs):
        client.config_set("slowlog-log-slower-than", -1)
        client.slowlog_reset()
        client.set("a", "1")
    assert compare(ours, theirs, "SLOWLOG", "LEN") == 0


def client_fields(client: redis.Redis) -> list[dict[str, str]]:
    text = raw(client, "CLIENT", "LIST")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return [dict(item.split("=", 1) for item in line.split(" ")) for line in text.splitlines() if line]


def test_client_list_like_redis(both):
    ours, theirs = both
    views = []
    for client in (ours, theirs):
        client.client_setname("observer")
        client.execute_command("SELECT", "4")
        mine = [c for c in client_fields(client) if c["name"] == "observer"]
        assert len(mine) == 1
        views.append(mine[0])
        client.execute_command("SELECT", "0")
    ours_line, theirs_line = views
    names = list(theirs_line)
    assert list(ours_line)[:len(names)] == names   # Redis 7.0's fields, in order (7.2 adds lib-name/lib-ver)
    for field in ("name", "db", "cmd", "flags", "multi", "sub", "psub", "user", "resp"):
        assert ours_line[field] == theirs_line[field], field


def test_client_kill_like_redis(both):
    ours, theirs = both
    for client in (ours, theirs):
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as victim:
            victim.sendall(b"CLIENT SETNAME victim\r\nCLIENT ID\r\n")
            replies = b""
            while replies.count(b"\r\n") < 2:
                replies += victim.recv(100)
            victim_id = int(replies.split(b"\r\n")[1][1:])
            assert client.execute_command("CLIENT", "KILL", "ID", victim_id) == 1
            assert victim.recv(100) == b""    # the server closed the connection
        assert not [c for c in client_fields(client) if c["name"] == "victim"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            other.sendall(b"CLIENT SETNAME other\r\n")
            assert other.recv(100) == b"+OK\r\n"
            addr = next(c["addr"] for c in client_fields(client) if c["name"] == "other")
            assert client.execute_command("CLIENT", "KILL", addr) in (b"OK", "OK", True)
            assert other.recv(100) == b""
        assert client.execute_command("CLIENT", "KILL", "ADDR", addr) == 0
    compare(ours, theirs, "CLIENT", "KILL", "127.0.0.1:1")
    compare(ours, theirs, "CLIENT", "KILL", "ID", "abc")
    compare(ours, theirs, "CLIENT", "KILL", "ID", "999999")
    compare(ours, theirs, "CLIENT", "KILL", "ID")
    compare(ours, theirs, "CLIENT", "KILL", "SKIPME", "maybe")
    compare(ours, theirs, "CLIENT", "KILL", "BOGUS", "1")
    # SKIPME yes is the default: a client never kills itself by its own id unless SKIPME no
    for client in (ours, theirs):
        assert client.execute_command("CLIENT", "KILL", "ID", client.client_id()) == 0
