"""A deferred reply (a command that waited on a device queue) whose client is already gone is dropped quietly.

The race under load: the client's connection closes (``connection_lost`` is scheduled) and, before that callback runs,
the run finishes: the future is done, so it is not cancelled, and its reply callback runs after the transport is
gone. The sequence is replayed on the loop, in the order the loop would see it.
"""
from __future__ import annotations

import asyncio
import gc
from typing import Any

import redis

from inferd.errors import CommandError


def _connection_of(srv: Any, name: str) -> Any:
    client = next(c for c in srv.state.clients.values() if c.name == name.encode())
    return client.close_callback.__self__   # the Connection whose close_after_replies this is


def test_reply_resolving_after_the_connection_closed_is_dropped_without_error(start_server):
    srv = start_server()
    gone = redis.Redis(host="127.0.0.1", port=srv.port, client_name="gone")
    assert gone.ping()
    done: list[bool] = []

    def replay() -> None:
        conn = _connection_of(srv, "gone")
        future = asyncio.get_running_loop().create_future()
        conn._wait_for(future, [])      # as the connection does for a handler that returned a future
        conn.transport.close()                # the client goes away (connection_lost is now scheduled) ...
        future.set_result(b"late")            # ... just as its run finishes: the reply callback runs after it
        asyncio.get_running_loop().call_soon(lambda: done.append(conn.transport.is_closing()))
    srv.call(replay)
    other = srv.client(protocol=2)
    assert other.ping()                       # the loop is alive and serving
    assert done == [True]
    srv.stop()                                # fails on any exception that reached the loop's handler
    gone.close()


def test_failed_reply_of_a_gone_client_is_not_reported_as_unretrieved(start_server):
    srv = start_server()
    gone = redis.Redis(host="127.0.0.1", port=srv.port, client_name="gone")
    assert gone.ping()

    def replay() -> None:
        conn = _connection_of(srv, "gone")
        future = asyncio.get_running_loop().create_future()
        conn._wait_for(future, [])
        conn.transport.close()
        future.set_exception(CommandError("ERR the run failed"))
    srv.call(replay)
    assert srv.client(protocol=2).ping()
    gc.collect()                              # an unretrieved exception is reported when its future is collected
    assert srv.client(protocol=2).ping()
    srv.stop()
    gone.close()
