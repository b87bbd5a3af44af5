"""Request parsing: multibulk requests through hiredis, inline commands through a small splitter.

The parser enforces Redis's protocol limits and raises :class:`~inferd.errors.ProtocolError` with Redis's texts.
"""
from __future__ import annotations

from typing import Any

import hiredis

from inferd.errors import ProtocolError

try:
    from inferd.resp._reads import drain as _compiled_drain
except ImportError:   # pragma: no cover - built at install when a C compiler is there; drain_py does the same
    _compiled_drain = None  # type: ignore[assignment]

Drained = tuple[Any, "BaseException | None", int]   # what drain() returns

MAX_MULTIBULK_LEN = 1024 * 1024
MAX_INLINE_LEN = 64 * 1024
KEEP_PENDING = 64 * 1024   # a pending request's chunks are all kept up to this size (see _check_pending)
_SIMPLE_STRING = "expected '$', got '+'"   # Redis's error for a '+' line as a request element


_SKIP = b" \t\n\r\v\f"   # isspace(): skipped between arguments, and what may follow a closing quote
_ENDS = b" \t\n\r"       # what ends an argument out of quotes
_NOT_PLAIN = b"\"'\v\f"   # a line with none of these splits as bytes.split() splits it


def split_inline(line: bytes) -> list[bytes]:
    r"""Split an inline command line into arguments the way Redis's ``sdssplitargs`` does.

    Blanks (isspace) are skipped between arguments, but only space, tab, CR and LF end one out of quotes (a vertical
    tab or form feed inside an argument is part of it); double quotes read ``\xHH`` and ``\n``-style escapes,
    single quotes only ``\'``. NUL is a byte like any other: Redis never runs such a line (it looks for the line's
    end with strchr, which stops at the NUL, and waits for more), and ending the line there would cut a value short.
    """
    if len(line.translate(None, _NOT_PLAIN)) == len(line):
        return line.split()
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SKIP:
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
                    _closing_quote(line, i + 1)
                    i += 1
                    break
                current.append(c)
            elif quote == 0x27:
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    current.append(0x27)
                    i += 2
                    continue
                if c == 0x27:
                    _closing_quote(line, i + 1)
                    i += 1
                    break
                current.append(c)
            elif c in _ENDS:
                break
            elif c in (0x22, 0x27):
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


def _closing_quote(line: bytes, after: int) -> None:
    """A closing quote must be followed by a blank or the end of the line."""
    if after < len(line) and line[after] not in _SKIP:
        raise ProtocolError("unbalanced quotes in request")


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _escape(line: bytes, i: int) -> tuple[int, bytes]:
    nxt = line[i + 1]
    if nxt == ord("x") and i + 3 < len(line) and line[i + 2] in _HEX and line[i + 3] in _HEX:
        return i + 4, bytes([int(line[i + 2:i + 4], 16)])
    return i + 2, _ESCAPES.get(nxt, bytes([nxt]))


def encoded_request_length(request: list[bytes]) -> int:
    """Bytes a multibulk request of bulk strings takes on the wire (hiredis reads no other spelling of headers)."""
    total = 3 + len(str(len(request)))
    for arg in request:
        total += 5 + len(str(len(arg))) + len(arg)
    return total


class Limits:
    """The protocol limits a parser enforces on the request still arriving.

    proto-max-bulk-len and client-query-buffer-limit: one object shared by a server's connections, so that CONFIG SET
    reaches those already open, as on Redis.
    """

    __slots__ = ("max_bulk_len", "max_query_len")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_query_len: int = 1024 * 1024 * 1024) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_query_len = max_query_len


class RequestParser:
    """Turns the bytes of one connection into argument lists; ``feed`` returns the complete requests.

    hiredis parses multibulk requests. Where the request still arriving begins (for an inline command after
    multibulk ones, and for the protocol limits on its headers) is counted: hiredis reads only the shortest
    spelling of every header, so each complete request takes on the wire exactly the bytes its encoding takes; a
    small window of recent chunks holds the bytes from there on.
    """

    # slots: the connection's compiled read reads ``clean`` at its slot's offset (inferd/_slots.h)
    __slots__ = ("limits", "_drain", "_reader", "clean", "_inline", "_at_start", "_fed",
                 "_window", "_pending_start", "_next_check", "_header_pos", "_elements_left")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_query_len: int = 1024 * 1024 * 1024,
                 compiled: bool = True, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits(max_bulk_len, max_query_len)
        self._drain = _compiled_drain if compiled and _compiled_drain is not None else drain_py
        self._reader = hiredis.Reader()
        # The reader when the next byte starts a request and nothing is held (no partial request, no inline
        # text): a read starting with '*' may then be fed to it directly, which the connection's compiled read
        # does; None otherwise.
        self.clean: Any = self._reader
        self._inline = b""
        self._at_start = True            # nothing fed to the current hiredis reader yet
        self._fed = 0                    # bytes fed to the current reader
        self._window: list[tuple[int, bytes]] = []   # (position, chunk) from the chunk where the pending request starts
        self._pending_start = 0          # where the request still arriving starts (bytes fed to the reader before it)
        self._next_check = 0             # position of the next header of the pending request to validate
        self._header_pos = -1            # that header's position (-1: the pending request's headers not walked yet)
        self._elements_left = -1         # elements whose header is still to be read (-1: multibulk header too)

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Parse ``data``; return every request it completes, in order.

        Raises ProtocolError on bad input, carrying the requests completed before it (``completed``).
        """
        requests: list[list[bytes]] = []
        self.clean = None
        try:
            self._feed(data, requests)
        except ProtocolError as exc:
            exc.completed = requests
            raise
        return requests

    def resume(self, data: bytes, requests: list[list[bytes]], drained: Drained) -> list[list[bytes]]:
        """The rest of ``feed(data)`` once ``data`` was fed to the reader ``clean`` and drained into ``requests``.

        The connection's compiled read does that much itself and hands over here when the read did not end at a
        request boundary (or the reader found an error). Same results and errors as ``feed``.
        """
        self.clean = None
        try:
            self._feed(self._drained(data, self._advance(data), requests, 0, drained), requests)
        except ProtocolError as exc:
            exc.completed = requests
            raise
        return requests

    def _feed(self, data: bytes, requests: list[list[bytes]]) -> None:
        while data:
            if self._at_start and (self._inline or data[0] != 42):
                data = self._feed_inline(data, requests)
            else:
                data = self._feed_multibulk(data, requests)

    def _feed_inline(self, data: bytes, requests: list[list[bytes]]) -> bytes:
        buf = self._inline + data if self._inline else data
        self._inline = b""
        self.clean = None   # until every line is taken (after a restart it was the new reader)
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
        self.clean = self._reader
        return b""

    def _feed_multibulk(self, data: bytes, requests: list[list[bytes]]) -> bytes:
        reader = self._reader
        reader.feed(data)
        position = self._advance(data)
        before = len(requests)
        drained = self._drain(reader, requests, data, self._pending_start - position)
        return self._drained(data, position, requests, before, drained)

    def _advance(self, data: bytes) -> int:
        """Count ``data`` as fed to the reader; returns the position where it starts."""
        self._at_start = False
        position = self._fed
        self._fed += len(data)
        return position

    def _drained(self, data: bytes, position: int, requests: list[list[bytes]], before: int,
                 drained: Drained) -> bytes:
        """After ``data`` (at ``position``) was fed and drained: errors, and where the next request starts.

        The pending request began at ``_pending_start``; the objects drained from this read take ``consumed`` bytes
        on the wire from there (hiredis reads only the shortest spelling of each header), so the next one starts
        right after them. The one element hiredis reads that Redis refuses, a '+' line, is shorter than the bulk
        string it stands for, so the count then ends past where the next request starts, which shows it (see
        below); the request that holds it is refused as Redis refuses it. Where a request would start, a byte other
        than '*' starts an inline command, as on Redis (the drain stops at it: ``bad`` is Ellipsis).
        """
        bad, error, consumed = drained
        start = self._pending_start
        self._window.append((position, data))
        if bad is not None or error is not None:
            self._refuse_simple_string_before(start, requests, before)
            if error is None and bad is not ...:
                raise ProtocolError(_element_error(bad))
            if error is None or error.__class__ is hiredis.ProtocolError:
                return self._recover_inline(start + consumed)
            raise error
        if consumed == 0:   # still inside the pending request (a large bulk string arriving counts as well)
            if self._fed >= self._next_check or self._fed - start > self.limits.max_query_len:
                self._check_pending()
            return b""
        end = start + consumed
        if end > self._fed or (self._window_bytes(end, end + 1) != b"*" if end < self._fed
                               else self._reader.has_data()):
            # An element was a '+' line, 3 bytes shorter than the bulk string counted for it: the count ran past
            # what was fed, or past where the request still arriving starts (whose first byte is a '*'), or to the
            # end of this read while the reader still holds the start of another request. Or else the bytes after
            # the last request start an inline command (a byte other than '*' where a request starts).
            if end < self._fed and self._refuse_simple_string_before(start, requests, before):
                return self._recover_inline(end)
            self._refuse_simple_strings(start, requests, before)
        self._pending_start = self._next_check = end
        self._header_pos = -1
        if end == self._fed:   # a request boundary: the connection's compiled read may take the next read
            self._window = []
            self.clean = self._reader
        else:
            self._window = [(position, data)]
        return b""

    def _refuse_simple_string_before(self, start: int, requests: list[list[bytes]], before: int) -> bool:
        """Refuse a request drained ahead of a bad element or a byte that starts no request, if it has a '+' element.

        Redis meets that request first (the requests before it stand). The count of consumed bytes cannot show it
        here (it ends at the bad spot, not where a later request starts), so the drained requests' bytes are walked
        (only after multibulk requests followed by an inline command in one read, or before a protocol error).
        Returns whether they hold no such request; False also when they are no longer at hand (nothing checked).
        """
        if len(requests) == before:
            return True
        if not (self._window and self._window[0][0] <= start):
            return False
        index, message = _first_bad_request(self._window_bytes(start, self._fed))
        if index < len(requests) - before and message == _SIMPLE_STRING:
            del requests[before + index:]
            raise ProtocolError(message)
        return True

    def _refuse_simple_strings(self, start: int, requests: list[list[bytes]], before: int) -> None:
        """Refuse the first request completed from ``start`` with an element that is not a bulk string.

        The requests before it stand (they run, as on Redis); where the window no longer reaches back to ``start``
        (a long pending request's early chunks are dropped once its headers are checked) every request completed
        by this read is refused.
        """
        index = 0
        message = _SIMPLE_STRING
        if self._window and self._window[0][0] <= start:
            index, message = _first_bad_request(self._window_bytes(start, self._fed))
        del requests[before + index:]
        raise ProtocolError(message)

    def _restart(self) -> None:
        self._reader = hiredis.Reader()
        self.clean = self._reader
        self._at_start = True
        self._fed = 0
        self._window = []
        self._pending_start = 0
        self._next_check = 0
        self._header_pos = -1
        self._elements_left = -1

    def _recover_inline(self, start: int) -> bytes:
        """Hiredis met a byte that cannot start a request, at ``start``: an inline command follows (or garbage)."""
        rest = self._window_bytes(start, self._fed)
        self._restart()
        if not rest or rest[0] == 42:
            end = rest.find(b"\r\n")
            if end > 0 and _negative_count(rest[1:end]):   # hiredis refuses it; Redis ignores it like '*-1'
                return rest[end + 2:]
            raise ProtocolError(_header_error(rest))
        return rest

    def _window_bytes(self, start: int, end: int) -> bytes:
        parts = []
        for pos, chunk in self._window:
            lo, hi = max(start, pos), min(end, pos + len(chunk))
            if lo < hi:
                parts.append(chunk[lo - pos:hi - pos])
        return b"".join(parts)

    def _check_pending(self) -> None:
        """Check the headers of the request still arriving, as Redis does before it reads the payload.

        Headers are read once each, in order; payloads are skipped, never copied.
        """
        if self._header_pos < 0:
            self._header_pos, self._elements_left = self._pending_start, -1
        if self._fed - self._pending_start > self.limits.max_query_len:
            raise ProtocolError("query buffer limit exceeded")
        pos = self._header_pos
        if self._elements_left < 0:
            line = self._line_at(pos)
            if line is None:
                return
            count = _header_int(line[1:], "invalid multibulk length")
            if count > MAX_MULTIBULK_LEN:
                raise ProtocolError("invalid multibulk length")
            self._elements_left = count
            pos += len(line) + 2
        while self._elements_left > 0 and pos < self._fed:
            line = self._line_at(pos)
            if line is None:
                break
            if line[:1] != b"$":
                raise ProtocolError(f"expected '$', got '{line[:1].decode('latin-1')}'")
            size = _header_int(line[1:], "invalid bulk length")
            if size < 0 or size > self.limits.max_bulk_len:
                raise ProtocolError("invalid bulk length")
            pos += len(line) + 2 + size + 2
            self._elements_left -= 1
        self._header_pos = self._next_check = pos
        # Chunks wholly before the next header are not needed for these checks; they are kept while the request is
        # small, for the walk from where it starts that a later error in the same read may need (the requests drained
        # before it are checked for a '+' element, and an inline command is taken from where it starts).
        if self._fed - self._pending_start > KEEP_PENDING:
            while len(self._window) > 1 and self._window[0][0] + len(self._window[0][1]) <= min(pos, self._fed):
                self._window.pop(0)

    def _line_at(self, pos: int) -> bytes | None:
        """The header line starting at ``pos`` (without CRLF), or None if it has not fully arrived."""
        text = self._window_bytes(pos, min(self._fed, pos + 32))
        end = text.find(b"\r\n")
        if end < 0:
            if len(text) >= 32:
                raise ProtocolError("invalid bulk length")
            return None
        return text[:end]


def _first_bad_request(rest: bytes) -> tuple[int, str]:
    """The index of the first request in ``rest`` with an element that is not a bulk string, and Redis's error."""
    pos = index = 0
    while pos < len(rest):
        end, count, error = _walk_request(rest, pos)
        if error is not None:   # other errors: not where a request starts, the count was off before (see _drained)
            return index, error if error.startswith("expected") else "invalid request"
        if end <= pos:   # headers leading backwards: the same
            break
        pos = end
        if count > 0:
            index += 1
    return index, "invalid request"


def _header_int(text: bytes, error: str) -> int:
    value = _string2ll(text)
    if value is None:
        raise ProtocolError(error)
    return value


def _string2ll(text: bytes) -> int | None:
    """A header's number as Redis's ``string2ll`` reads it (no sign but '-', no leading zero, 64 bits), else None."""
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit() or (digits[:1] == b"0" and text != b"0") or len(digits) > 19:
        return None
    value = int(text)
    return value if -(1 << 63) <= value < 1 << 63 else None


def _negative_count(text: bytes) -> bool:
    """Whether a multibulk header's count is negative in Redis's spelling (``-12``; not ``-012``, not 65 bits)."""
    value = _string2ll(text)
    return value is not None and value < 0


def _header_error(rest: bytes) -> str:
    """Redis's text for a malformed multibulk request, found by walking its headers."""
    return _walk_request(rest, 0)[2] or "invalid request"


def _walk_request(rest: bytes, pos: int) -> tuple[int, int, str | None]:
    """The headers of the multibulk request at ``pos``: (where it ends, its count, Redis's text for an error or None).

    A request cut short ends where ``rest`` does, without error.
    """
    end = rest.find(b"\r\n", pos)
    count = _string2ll(rest[pos + 1:end])
    if count is None or count > MAX_MULTIBULK_LEN:
        return pos, count or 0, "invalid multibulk length"
    pos = end + 2
    for _ in range(count):
        end = rest.find(b"\r\n", pos)
        if end < 0:
            return len(rest), count, None
        if rest[pos:pos + 1] != b"$":
            return pos, count, f"expected '$', got '{rest[pos:pos + 1].decode('latin-1')}'"
        size = _string2ll(rest[pos + 1:end])
        if size is None or size < 0:
            return pos, count, "invalid bulk length"
        pos = end + 2 + size + 2
    return pos, count, None


def drain_py(reader: Any, requests: list[list[bytes]], data: bytes, base: int) -> Drained:
    """Take every complete request out of ``reader``, just fed ``data`` (``_reads.c``'s drain does the same in C).

    Appends each request (a non-empty list of bulk strings) to ``requests``, skipping '*-1' and '*0' as Redis does;
    returns (the first object that is not a request or None, the exception the reader raised or None, the bytes the
    requests and skipped headers before the loop stopped take on the wire). The loop stops at a bad object or an
    exception, and at an object that starts in ``data`` (the first one at ``base``) with another byte than '*' (bad
    is then Ellipsis: hiredis also reads RESP3 types and bulk strings there, where Redis reads an inline command).
    """
    consumed = 0
    while True:
        try:
            request = reader.gets()
        except Exception as exc:
            return None, exc, consumed
        if request is False:
            return None, None, consumed
        if 0 <= base + consumed < len(data) and data[base + consumed] != 42:
            return ..., None, consumed
        if request.__class__ is list and request:
            if not all(a.__class__ is bytes for a in request):
                return request, None, consumed
            requests.append(request)
            consumed += encoded_request_length(request)
        elif request is None or request == []:
            consumed += 5 if request is None else 4
        else:
            return request, None, consumed


def _element_error(request: object) -> str:
    if isinstance(request, list):
        for arg in request:
            if arg.__class__ is not bytes:
                marker = {list: "*", int: ":"}.get(type(arg), "-")
                return f"expected '$', got '{marker}'"
    return "invalid request"
