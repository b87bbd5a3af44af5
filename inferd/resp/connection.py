"""The asyncio Protocol of one client connection, and the write batch its replies share with the others.

``data_received`` parses and runs synchronous commands inline, collecting every reply produced from one read. Those
replies are held until the loop has handled every read of its poll and are then written, one ``transport.write``
per connection, back to back (:class:`WriteBatch`). A command that must wait returns a Future: the connection holds
the client's later requests (in order) until it resolves; its reply is written as soon as it is settled, after any
reply of that connection still held. Reading pauses while too much is queued or unsent.
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
from inferd.resp.parser import Drained, Limits, RequestParser

try:
    from inferd.resp._reads import QuickRead, flush_held, plain_reply
except ImportError:   # pragma: no cover - built at install when a C compiler is there; the Python below does the same
    QuickRead = None  # type: ignore[assignment,misc]
    plain_reply = None  # type: ignore[assignment]
    flush_held = None  # type: ignore[assignment]

log = logging.getLogger("inferd.resp")
_Future = asyncio.Future
_OK = b"+OK\r\n"
MAX_BACKLOG = 4096   # requests held behind a waiting command before reading pauses
HOLD_MAX = 64 * 1024  # bytes of replies a connection holds for the write batch; past it they are written at once


class WriteBatch:
    """Replies produced while the loop handles one poll's reads, written once every read of that poll is handled.

    Why: a reply written as soon as it is ready wakes its client, which then sleeps again until the next one; under
    load that costs a wake-up (a cross-CPU interrupt) per reply for both processes. Replies written back to back
    reach clients that are already awake. The flush is a ``call_soon`` made from a read callback, so it runs right
    after the loop's I/O callbacks, before it polls again: nothing waits longer than the rest of that poll's reads.
    A connection holds at most ``HOLD_MAX`` bytes (large replies gain nothing from waiting, and the output buffer
    limit must see them at once).
    """

    __slots__ = ("loop", "held", "_flush_held")

    def __init__(self, loop: asyncio.AbstractEventLoop, compiled: bool = True) -> None:
        self.loop = loop
        self.held: list[Connection] = []
        # _reads.c's flush_held(connections) is the loop below in C: Connection.flush for each
        self._flush_held = flush_held if compiled and flush_held is not None else None

    def hold(self, connection: Connection) -> None:
        """``connection`` has replies held: write them with the rest of this poll's."""
        self.held.append(connection)
        if len(self.held) == 1:
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every held reply (each connection's in order, one write per connection)."""
        held, self.held = self.held, []
        journal = held[0].server.journal if held else None
        if journal is not None and not journal.flush():   # the file failed: each connection checks its changes
            for connection in held:
                connection.flush()
            return
        if self._flush_held is not None:
            self._flush_held(held)
            return
        for connection in held:
            connection.flush()


class Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, encode, write."""

    # slots: the compiled read reads and writes these at the slots' offsets (inferd/_slots.h); the instance dict
    # holds only ``data_received`` when the compiled read replaces the method
    __slots__ = ("server", "writes", "held", "held_bytes", "malformed", "dispatch", "fast_run", "transport", "client",
                 "parser", "backlog", "waiting", "read_paused", "write_paused", "plain_reply", "__dict__")

    def __init__(self, server: ServerState, writes: WriteBatch) -> None:
        self.server = server
        self.writes = writes
        self.held: list[bytes] | None = None   # replies waiting for the write batch's flush, in order
        self.held_bytes = 0
        self.malformed: str | None = None       # a protocol error to reply once the requests before it have run
        self.dispatch = server.dispatcher.call  # type: ignore[union-attr]
        self.fast_run = server.dispatcher.fast_run  # type: ignore[union-attr]
        self.transport: Any = None
        self.client: Client = None  # type: ignore[assignment]
        self.parser = RequestParser(compiled=server.config.fastpath == "yes", limits=parser_limits(server))
        self.backlog: deque[list[bytes]] = deque()
        self.waiting: asyncio.Future[Any] | None = None
        self.read_paused = False
        self.write_paused = False
        # _reads.c's plain_reply(value, resp3) encodes an array, map or set of plain values at once (LRANGE, MGET,
        # HGETALL, TENSORGET VALUES...), as encode() would; None for other values, which encode() then takes.
        self.plain_reply = plain_reply if server.config.fastpath == "yes" else None
        if self.fast_run is not None and QuickRead is not None:
            # The reads it can finish alone (at request boundaries, every request on the dispatcher's fast path)
            # it does in C; for the rest it calls the methods below from the point where it stopped.
            self.data_received = QuickRead(  # type: ignore[method-assign,assignment]
                self, self.parser, self.fast_run, server.stats, writes, HOLD_MAX)

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
        self.__dict__.pop("data_received", None)   # the compiled read refers back to this connection
        self.server.clients.pop(client.id, None)
        client.unwatch()
        self.backlog.clear()
        self.held = None
        if self.server.journal is not None:
            self.server.journal.waiting.pop(self, None)
        if self.waiting is not None and not self.waiting.done():
            self.waiting.cancel()   # the scheduler drops cancelled work before it runs

    def pause_writing(self) -> None:  # noqa: D102
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:  # noqa: D102
        self.write_paused = False
        self._maybe_resume_reading()

    def read(self, data: bytes) -> None:
        """``data_received``: parse the read, run its requests, hold their replies for the write batch."""
        client = self.client
        if client.closing or self.malformed is not None:
            return
        self.server.stats.net_input_bytes += len(data)
        client.last_interaction = time.monotonic()
        try:
            requests = self.parser.feed(data)
        except ProtocolError as exc:   # as in Redis, the requests before the malformed one run, then the error closes
            self.malformed = str(exc)
            requests = exc.completed
        self._received(requests)

    data_received = read

    def _read_drained(self, data: bytes, requests: list[list[bytes]], drained: Drained) -> None:
        """The compiled read fed ``data`` to the parser's reader and drained it; the parser's Python carries on."""
        try:
            requests = self.parser.resume(data, requests, drained)
        except ProtocolError as exc:
            self.malformed = str(exc)
            requests = exc.completed
        self._received(requests)

    def _received(self, requests: list[list[bytes]]) -> None:
        if self.waiting is not None:
            self.backlog.extend(requests)
            if len(self.backlog) > MAX_BACKLOG:
                self._pause_reading()
        elif requests:
            self._run(requests, hold=True)
        elif self.malformed is not None:
            self.protocol_error(self.malformed)

    # ---- running requests --------------------------------------------------------------------------
    def _run(self, requests: list[list[bytes]], hold: bool = False, start: int = 0,
             out: list[bytes] | None = None) -> None:
        """Run ``requests`` from ``start`` and write their replies after ``out``.

        With ``out`` given the fast path has run the requests before ``start`` (their replies are in ``out``) and
        stopped at ``requests[start]``, which the Python dispatcher takes.
        """
        dispatch = self.dispatch
        fast_run = self.fast_run
        plain = self.plain_reply
        client = self.client
        i, n = start, len(requests)
        if out is None:
            out = []
            if fast_run is not None:   # runs what it can from i (plain GET, SET...), returns where it stopped
                i = fast_run(client, requests, i, out)
        while i < n:
            argv = requests[i]
            i += 1
            reply = dispatch(client, argv)
            cls = reply.__class__
            if cls is _Future:   # handlers wait with loop.create_future() futures
                self._wait_for(reply, requests[i:])
                break
            if client.reply_mode is REPLY_ON:
                # The commonest replies are encoded here; encode() handles every type.
                if reply is OK:
                    out.append(_OK)
                elif cls is bytes:
                    out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
                elif cls is int:
                    out.append(b":%d\r\n" % reply)
                elif plain is not None and (data := plain(reply, client.resp3)) is not None:
                    out.append(data)
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
            if fast_run is not None and i < n:
                i = fast_run(client, requests, i, out)
        self._write(out, hold)
        if self.waiting is None:
            self._caught_up()

    def _wait_for(self, future: asyncio.Future[Any], rest: list[list[bytes]]) -> None:
        self.waiting = future
        self.client.in_flight += 1
        self.backlog.extendleft(reversed(rest))
        future.add_done_callback(self._resolved)

    def _resolved(self, future: asyncio.Future[Any]) -> None:
        """The awaited reply is settled: write it and go on with the requests held behind it.

        Called by the handler through ``Client.reply_ready`` (:func:`~inferd.commands.context.settle_reply`, which
        takes the future's done callback off), or by that done callback for a future settled otherwise; a call for
        a future the connection no longer waits on does nothing.
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
            data = None if self.plain_reply is None else self.plain_reply(reply, client.resp3)
            if data is not None:
                out.append(data)
            else:
                encode(reply, client.resp3, out)
            self._write(out)
        else:
            client.advance_reply_mode()
        if self.backlog and not client.closing:
            backlog, self.backlog = list(self.backlog), deque()
            self._run(backlog)
        else:
            self._caught_up()
        if self.read_paused and not client.closing:
            self._maybe_resume_reading()

    def _caught_up(self) -> None:
        """Nothing is left to run: close if the client asked to, or reply the protocol error that stopped reading."""
        if self.client.closing:
            self._close()
        elif self.malformed is not None:
            self.protocol_error(self.malformed)

    def _write(self, out: list[bytes], hold: bool = False) -> None:
        """Write ``out`` now, or with the write batch when ``hold`` (replies to a read) or when replies are held."""
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        self.server.stats.net_output_bytes += len(data)
        if self.held is not None:   # earlier replies are still held: this one goes after them
            self.held.append(data)
            self.held_bytes += len(data)
            if self.held_bytes > HOLD_MAX:
                self.flush()
        elif hold and len(data) <= HOLD_MAX:
            self.held = [data]
            self.held_bytes = len(data)
            self.writes.hold(self)
        else:
            journal = self.server.journal
            if journal is not None and not self._may_send(journal):
                self.held = [data]   # the file lacks this client's changes: the replies wait (see flush)
                self.held_bytes = len(data)
                return
            self.transport.write(data)

    def flush(self) -> None:
        """Write the replies held for the write batch (nothing once the connection is lost).

        With the append-only file on, every change is written to it first; when that fails and the file lacks a
        change this client made, the replies stay held until it has them (:meth:`journaled`), since they would
        acknowledge it.
        """
        if not self.held:
            self.held = None
            return
        journal = self.server.journal
        if journal is not None and not self._may_send(journal):
            return
        held, self.held = self.held, None   # (none left if the file's write just released them: journaled)
        if held:
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def _may_send(self, journal: Any) -> bool:
        """Write what the append-only file lacks; whether this connection's replies may go now.

        False when the write failed and the file lacks a change of this client's: the connection then waits for it.
        """
        if journal.flush() or not journal.holds(self.client):
            return True
        journal.waiting[self] = None
        return False

    def journaled(self) -> None:
        """The append-only file has this client's changes (or was turned off): write the replies held for it."""
        held, self.held = self.held, None
        if held and not self.transport.is_closing():
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def _close(self) -> None:
        self.flush()
        self.transport.close()

    # ---- closing and flow control ------------------------------------------------------------------
    def protocol_error(self, message: str) -> None:
        """Reply ``-ERR Protocol error: ...`` and close, exactly like Redis."""
        self._write([b"-ERR Protocol error: %s\r\n" % message.encode()])
        self.client.closing = True
        self._close()

    def close_after_replies(self) -> None:
        """QUIT / CLIENT KILL: close once the replies produced so far are written."""
        self.client.closing = True
        if self.waiting is None:
            asyncio.get_running_loop().call_soon(self._close)

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if self.read_paused and not self.write_paused and len(self.backlog) <= MAX_BACKLOG // 2:
            self.read_paused = False
            self.transport.resume_reading()


def parser_limits(server: Any) -> Limits:
    """The protocol limits every connection's parser shares, kept in step with CONFIG SET."""
    limits: Limits | None = server.extensions.get("parser_limits")
    if limits is None:
        limits = server.extensions["parser_limits"] = Limits(server.config.proto_max_bulk_len,
                                                             server.config.client_query_buffer_limit)

        def follow(config: Any) -> None:
            limits.max_bulk_len = config.proto_max_bulk_len
            limits.max_query_len = config.client_query_buffer_limit
        server.extensions.setdefault("config_hooks", []).append(follow)
    return limits


def _format_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr or "")
