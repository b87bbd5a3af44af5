"""Request parsing: multibulk requests through hiredis, inline commands through a small splitter.

The parser enforces Redis's protocol limits and raises :class:`~inferd.errors.ProtocolError` with Redis's texts.
"""
from __future__ import annotations

import hiredis

from inferd.errors import ProtocolError

MAX_MULTIBULK_LEN = 1024 * 1024
MAX_INLINE_LEN = 64 * 1024
# Bytes kept to find where an inline command starts after a multibulk one in the same read, and to look at
# the headers of a request that is still arriving; a request larger than this is not re-read.
KEEP_LIMIT = 1024 * 1024
SMALL_REQUESTS = 64 * 1024


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command line into arguments the way Redis's ``sdssplitargs`` does (quotes, escapes)."""
    if b'"' not in line and b"'" not in line:
        return line.split()
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    raise ProtocolError("unbalanced quotes in request")
                break
            c = line[i]
            if quote == 0x22:
                if c == 0x5C and i + 1 < n:
                    i, ch = _escape(line, i)
                    current += ch
                    continue
                if c == 0x22:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    quote = 0
                    i += 1
                    break
                current.append(c)
            elif quote == 0x27:
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    current.append(0x27)
                    i += 2
                    continue
                if c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    quote = 0
                    i += 1
                    break
                current.append(c)
            elif c in b" \t\n\r\v\f":
                break
            elif c in (0x22, 0x27):
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}


def _escape(line: bytes, i: int) -> tuple[int, bytes]:
    nxt = line[i + 1]
    if nxt == ord("x") and i + 3 < len(line):
        try:
            return i + 4, bytes([int(line[i + 2:i + 4], 16)])
        except ValueError:
            pass
    return i + 2, _ESCAPES.get(nxt, bytes([nxt]))


def encoded_request_length(request: list[bytes]) -> int:
    """Bytes a multibulk request takes on the wire (used only to find offsets in the rare recovery paths)."""
    total = 3 + len(str(len(request) if request else -1))
    for arg in request:
        total += 5 + len(str(len(arg))) + len(arg)
    return total


class RequestParser:
    """Turns the bytes of one connection into argument lists; ``feed`` returns the complete requests."""

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_query_len: int = 1024 * 1024 * 1024) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_query_len = max_query_len
        self._reader = hiredis.Reader()
        self._inline = b""
        self._kept: list[bytes] | None = []    # chunks fed to hiredis since it last held no partial request
        self._kept_len = 0
        self._parsed_since_sync: list[list[bytes]] = []
        self._next_check = 0                    # _kept_len below which the pending request needs no new check

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Parse ``data``; return every request it completes, in order. Raises ProtocolError on bad input."""
        requests: list[list[bytes]] = []
        while data:
            if self._kept_len == 0 and (self._inline or data[0] != 42):
                data = self._feed_inline(data, requests)
            else:
                data = self._feed_multibulk(data, requests)
        return requests

    def _feed_inline(self, data: bytes, requests: list[list[bytes]]) -> bytes:
        buf = self._inline + data if self._inline else data
        self._inline = b""
        start = 0
        while start < len(buf):
            if buf[start] == 42:
                return buf[start:]
            end = buf.find(b"\n", start)
            if end < 0:
                if len(buf) - start > MAX_INLINE_LEN:
                    raise ProtocolError("too big inline request")
                self._inline = buf[start:]
                return b""
            if end - start > MAX_INLINE_LEN:
                raise ProtocolError("too big inline request")
            args = split_inline(buf[start:end])
            if args:
                requests.append(args)
            start = end + 1
        return b""

    def _feed_multibulk(self, data: bytes, requests: list[list[bytes]]) -> bytes:
        reader = self._reader
        reader.feed(data)
        self._kept_len += len(data)
        if self._kept is not None:
            self._kept.append(data)
            if self._kept_len > KEEP_LIMIT and not self._parsed_since_sync and self._next_check > KEEP_LIMIT:
                self._kept = None
        parsed = self._parsed_since_sync
        # Every element must be a bulk string. While the bytes since the last sync point are few, one C-level join
        # checks that (TypeError otherwise) for a bounded copy; larger requests are checked element by element.
        small = self._kept_len <= SMALL_REQUESTS
        try:
            while True:
                request = reader.gets()
                if request is False:
                    break
                if request.__class__ is list and request:
                    if small:
                        try:
                            b"".join(request)
                        except TypeError:
                            raise ProtocolError(_element_error(request)) from None
                    elif not all(a.__class__ is bytes for a in request):
                        raise ProtocolError(_element_error(request))
                    requests.append(request)
                elif request is not None and request != []:     # '*-1' and '*0' are ignored, as Redis does
                    raise ProtocolError(_element_error(request))
                parsed.append(request or [])
        except hiredis.ProtocolError:
            return self._recover_inline()
        if not reader.has_data():
            self._sync()
        elif self._kept_len >= self._next_check:
            self._check_pending()
        return b""

    def _sync(self) -> None:
        self._kept = []
        self._kept_len = 0
        self._next_check = 0
        self._parsed_since_sync.clear()

    def _pending_bytes(self) -> bytes:
        assert self._kept is not None
        buf = b"".join(self._kept)
        offset = sum(encoded_request_length(r) for r in self._parsed_since_sync)
        return buf[offset:]

    def _recover_inline(self) -> bytes:
        """hiredis met a non-'*' byte after a multibulk request: the rest is inline (or garbage)."""
        if self._kept is None:
            raise ProtocolError("invalid request")
        rest = self._pending_bytes()
        self._reader = hiredis.Reader()
        self._sync()
        if not rest or rest[0] == 42:
            raise ProtocolError(_header_error(rest))
        return rest

    def _check_pending(self) -> None:
        """Check the headers of the request still arriving, as Redis does before it reads the payload."""
        if self._kept_len > self.max_query_len:
            raise ProtocolError("query buffer limit exceeded")
        if self._kept is None:
            self._next_check = self._kept_len + KEEP_LIMIT
            return
        rest = self._pending_bytes()
        base = self._kept_len - len(rest)
        pos = rest.find(b"\r\n")
        if pos < 0:
            return
        count = _header_int(rest[1:pos], "invalid multibulk length")
        if count > MAX_MULTIBULK_LEN:
            raise ProtocolError("invalid multibulk length")
        pos += 2
        for _ in range(count):
            end = rest.find(b"\r\n", pos)
            if end < 0:
                return
            if rest[pos] != 36:
                raise ProtocolError(f"expected '$', got '{chr(rest[pos])}'")
            size = _header_int(rest[pos + 1:end], "invalid bulk length")
            if size < 0 or size > self.max_bulk_len:
                raise ProtocolError("invalid bulk length")
            pos = end + 2 + size + 2
            if pos > len(rest):
                self._next_check = base + pos
                return


def _header_int(text: bytes, error: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(error) from None


def _header_error(rest: bytes) -> str:
    line = rest.split(b"\r\n", 1)[0]
    return "invalid multibulk length" if line[:1] == b"*" else "invalid request"


def _element_error(request: object) -> str:
    if isinstance(request, list):
        for arg in request:
            if arg.__class__ is not bytes:
                marker = {list: "*", int: ":"}.get(type(arg), "-")
                return f"expected '$', got '{marker}'"
    return "invalid request"
