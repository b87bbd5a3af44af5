"""The asyncio Protocol of one client connection.

``data_received`` parses and runs synchronous commands inline, collecting every reply produced from one read into
one ``transport.write``. A command that must wait returns a Future: the connection holds the client's later
requests (in order) until it resolves. Reading pauses while too much is queued or unsent.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from inferd.commands.context import REPLY_ON, Client, ServerState
from inferd.errors import CommandError, ProtocolError
from inferd.resp.encoder import OK, encode
from inferd.resp.parser import RequestParser

log = logging.getLogger("inferd.resp")
_Future = asyncio.Future
_OK = b"+OK\r\n"
MAX_BACKLOG = 4096   # requests held behind a waiting command before reading pauses


class Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, encode, write."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.dispatch = server.dispatcher.call  # type: ignore[union-attr]
        self.transport: Any = None
        self.client: Client = None  # type: ignore[assignment]
        self.parser = RequestParser(server.config.proto_max_bulk_len, server.config.client_query_buffer_limit)
        self.backlog: deque[list[bytes]] = deque()
        self.waiting: asyncio.Future[Any] | None = None
        self.read_paused = False
        self.write_paused = False

    # ---- asyncio callbacks -------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:  # noqa: D102
        self.transport = transport
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        server = self.server
        self.client = client = Client(server, _format_addr(peer), _format_addr(sock))
        client.close_callback = self.close_after_replies
        client.reply_ready = self._resolved
        server.stats.connections_received += 1
        if len(server.clients) >= server.config.maxclients:
            server.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        server.clients[client.id] = client
        transport.set_write_buffer_limits(high=server.config.client_output_buffer_limit_bytes)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        client = self.client
        if client is None:
            return
        client.closing = True
        self.server.clients.pop(client.id, None)
        client.unwatch()
        self.backlog.clear()
        if self.waiting is not None and not self.waiting.done():
            self.waiting.cancel()   # the scheduler drops cancelled work before it runs

    def pause_writing(self) -> None:  # noqa: D102
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:  # noqa: D102
        self.write_paused = False
        self._maybe_resume_reading()

    def data_received(self, data: bytes) -> None:  # noqa: D102
        client = self.client
        if client.closing:
            return
        self.server.stats.net_input_bytes += len(data)
        client.last_interaction = time.monotonic()
        try:
            requests = self.parser.feed(data)
        except ProtocolError as exc:
            self.protocol_error(str(exc))
            return
        if not requests:
            return
        if self.waiting is not None:
            self.backlog.extend(requests)
            if len(self.backlog) > MAX_BACKLOG:
                self._pause_reading()
            return
        self._run(requests)

    # ---- running requests --------------------------------------------------------------------------
    def _run(self, requests: Any) -> None:
        out: list[bytes] = []
        dispatch = self.dispatch
        client = self.client
        it = iter(requests)
        for argv in it:
            reply = dispatch(client, argv)
            cls = reply.__class__
            if cls is _Future:   # handlers wait with loop.create_future() futures
                self._wait_for(reply, it)
                break
            if client.reply_mode is REPLY_ON:
                # The commonest replies are encoded here; encode() handles every type.
                if reply is OK:
                    out.append(_OK)
                elif cls is bytes:
                    out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
                elif cls is int:
                    out.append(b":%d\r\n" % reply)
                else:
                    mark = len(out)
                    try:
                        encode(reply, client.resp3, out)
                    except TypeError:   # a handler bug: the client gets an error, the connection lives on
                        log.exception("cannot encode the reply to %r", argv[0][:64])
                        del out[mark:]
                        out.append(b"-ERR internal error\r\n")
            else:
                client.advance_reply_mode()
            if client.closing:
                break
        self._write(out)
        if client.closing and self.waiting is None:
            self.transport.close()

    def _wait_for(self, future: asyncio.Future[Any], rest: Any) -> None:
        self.waiting = future
        self.client.in_flight += 1
        self.backlog.extendleft(reversed(list(rest)))
        future.add_done_callback(self._resolved)

    def _resolved(self, future: asyncio.Future[Any]) -> None:
        """The awaited reply is settled: write it and go on with the requests held behind it.

        Called by the future's done callback, or earlier by the handler through ``Client.reply_ready``; the second
        call finds the connection no longer waiting on that future and does nothing.
        """
        if self.waiting is not future:
            return
        self.waiting = None
        client = self.client
        client.in_flight -= 1
        if self.transport.is_closing() or (client.closing and future.cancelled()):
            # the client is gone (its connection_lost may still be queued behind this callback)
            if not future.cancelled():
                future.exception()   # read, so that asyncio does not report an error nobody could receive
            return
        try:
            reply = future.result()
        except CommandError as exc:
            reply = exc
            self.server.record_error(exc.prefix)
        except asyncio.CancelledError:
            reply = CommandError("ERR command cancelled")
        except Exception:
            log.exception("a deferred command failed")
            reply = CommandError("ERR internal error")
        out: list[bytes] = []
        if client.reply_mode is REPLY_ON:
            encode(reply, client.resp3, out)
            self._write(out)
        else:
            client.advance_reply_mode()
        if client.closing:
            self.transport.close()
            return
        if self.backlog:
            backlog, self.backlog = self.backlog, deque()
            self._run(backlog)
        if self.read_paused:
            self._maybe_resume_reading()

    def _write(self, out: list[bytes]) -> None:
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        self.server.stats.net_output_bytes += len(data)
        self.transport.write(data)

    # ---- closing and flow control ------------------------------------------------------------------
    def protocol_error(self, message: str) -> None:
        """Reply ``-ERR Protocol error: ...`` and close, exactly like Redis."""
        self.transport.write(b"-ERR Protocol error: %s\r\n" % message.encode())
        self.client.closing = True
        self.transport.close()

    def close_after_replies(self) -> None:
        """QUIT / CLIENT KILL: close once the replies produced so far are written."""
        self.client.closing = True
        if self.waiting is None:
            asyncio.get_running_loop().call_soon(self.transport.close)

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if self.read_paused and not self.write_paused and len(self.backlog) <= MAX_BACKLOG // 2:
            self.read_paused = False
            self.transport.resume_reading()


def _format_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr or "")
