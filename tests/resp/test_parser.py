"""RequestParser on raw bytes: multibulk, inline, mixed pipelines, byte-by-byte feeds, malformed input, limits."""
from __future__ import annotations

import pytest

from inferd.errors import ProtocolError
from inferd.resp import parser as parser_module
from inferd.resp.parser import RequestParser, encoded_request_length, split_inline


@pytest.fixture(autouse=True, params=["compiled", "python"])
def drain(request, monkeypatch):
    """Every test runs with the parser's inner loop in C (_reads.c) and in Python (drain_py)."""
    if request.param == "compiled":
        assert parser_module._compiled_drain is not None, "inferd/resp/_reads.c was not built (it needs gcc)"
        assert RequestParser()._drain is parser_module._compiled_drain
    else:
        monkeypatch.setattr(parser_module, "_compiled_drain", None)
        assert RequestParser()._drain is parser_module.drain_py


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def feed_all(parser: RequestParser, data: bytes, step: int | None = None) -> list[list[bytes]]:
    if step is None:
        return parser.feed(data)
    out: list[list[bytes]] = []
    for i in range(0, len(data), step):
        out += parser.feed(data[i:i + step])
    return out


PIPELINE = (mb(b"SET", b"k", b"v") + b"PING\r\n" + mb(b"GET", b"k") + b"ECHO \"a b\" 'c'\r\n" +
            mb(b"SET", b"bin", b"\x00\r\n*:$") + b"\r\n" + mb(b"DEL", b"k"))
EXPECTED = [[b"SET", b"k", b"v"], [b"PING"], [b"GET", b"k"], [b"ECHO", b"a b", b"c"],
            [b"SET", b"bin", b"\x00\r\n*:$"], [b"DEL", b"k"]]


@pytest.mark.parametrize("step", [None, 1, 2, 3, 7, 64])
def test_mixed_pipeline_any_split(step):
    assert feed_all(RequestParser(), PIPELINE, step) == EXPECTED


def test_inline_after_multibulk_in_one_read():
    parser = RequestParser()
    assert parser.feed(mb(b"GET", b"a") + b"PING\r\nPING\r\n") == [[b"GET", b"a"], [b"PING"], [b"PING"]]
    assert parser.feed(mb(b"GET", b"b")) == [[b"GET", b"b"]]


def test_empty_and_null_multibulk_are_ignored():
    assert RequestParser().feed(b"*0\r\n*-1\r\n" + mb(b"PING")) == [[b"PING"]]


def test_inline_quotes_and_escapes():
    assert split_inline(b'SET "a\\x41\\n" \'it\\\'s\'') == [b"SET", b"aA\n", b"it's"]
    assert split_inline(b"  GET   key  ") == [b"GET", b"key"]
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'SET "abc')
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'SET "a"b')


def test_inline_blanks_and_bytes_as_sdssplitargs():
    """Every isspace() byte is skipped between words, only space, tab, CR and LF end one (test_wire has redis-server's
    own replies); ``\\x`` takes two hex digits or none; NUL is a byte of its word (Redis never runs such a line)."""
    assert split_inline(b"\x0b\x0cSET\x0bk v\x0c \x0b") == [b"SET\x0bk", b"v\x0c"]
    assert split_inline(b"SET\rk\tv") == [b"SET", b"k", b"v"]
    assert split_inline(b'ECHO "a"\x0b "b"\x0c \'c\'\x0b') == [b"ECHO", b"a", b"b", b"c"]
    assert split_inline(b'ECHO "\\x+1" "\\x 1" "\\x4" "\\x4aZ"') == [b"ECHO", b"x+1", b"x 1", b"x4", b"JZ"]
    assert split_inline(b"SET k a\x00b c") == [b"SET", b"k", b"a\x00b", b"c"]
    assert split_inline(b'SET k "a\x00b"') == [b"SET", b"k", b"a\x00b"]
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'ECHO "a"\x00')


def test_large_bulk_arrives_in_pieces():
    payload = bytes(range(256)) * 4096     # 1 MiB
    data = mb(b"SET", b"big", payload)
    assert feed_all(RequestParser(), data, 65536) == [[b"SET", b"big", payload]]


def test_bulk_length_limit_checked_before_payload():
    parser = RequestParser(max_bulk_len=1024 * 1024)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"*2\r\n$3\r\nSET\r\n$2000000\r\n")


def test_multibulk_length_limit():
    with pytest.raises(ProtocolError, match="invalid multibulk length"):
        RequestParser().feed(b"*2000000\r\n$3\r\n")


def test_inline_length_limit():
    with pytest.raises(ProtocolError, match="too big inline request"):
        feed_all(RequestParser(), b"A" * (70 * 1024), 4096)


@pytest.mark.parametrize("element,marker", [(b":5\r\n", ":"), (b"*1\r\n$1\r\na\r\n", "*"), (b"-ERR\r\n", "-")])
def test_non_bulk_elements_are_refused(element, marker):
    with pytest.raises(ProtocolError, match=f"expected '\\$', got '\\{marker}'" if marker != ":" else "got ':'"):
        RequestParser().feed(b"*2\r\n$3\r\nGET\r\n" + element)


def test_garbage_multibulk_header():
    with pytest.raises(ProtocolError):
        RequestParser().feed(b"*abc\r\n")


def test_encoded_length_matches_wire():
    for req in ([b"PING"], [b"SET", b"k" * 100, b"v" * 1000], [b""]):
        assert encoded_request_length(req) == len(mb(*req))


def test_random_pipelines_random_splits():
    import random
    rng = random.Random(1234)
    for _ in range(300):
        expected: list[list[bytes]] = []
        stream = b""
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.25:
                words = [rng.choice([b"PING", b"GET", b"ECHO"]), b"w%d" % rng.randint(0, 99)]
                stream += b" ".join(words) + rng.choice([b"\r\n", b"\n"])
            else:
                words = [bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 3, 20, 300])))
                         for _ in range(rng.randint(1, 4))]
                words[0] = words[0] or b"X"
                stream += mb(*words)
            expected.append(words)
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 8))))
        parser = RequestParser()
        got: list[list[bytes]] = []
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            got += parser.feed(stream[a:b])
        assert got == expected


def test_limit_checked_for_request_after_complete_ones_in_the_same_read():
    parser = RequestParser(max_bulk_len=1024 * 1024)
    assert parser.feed(mb(b"PING") + b"*2\r\n$3\r\nSET\r\n") == [[b"PING"]]
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"$99999999\r\n")


def test_clean_is_the_reader_exactly_at_request_boundaries(drain):
    """``clean`` (the reader a read starting with '*' may be fed to directly) is set only where nothing is pending:
    both drains count the bytes of what they drained, exactly (hiredis reads only the shortest spelling)."""
    parser = RequestParser()
    assert parser.clean is parser._reader                      # a new parser: nothing pending
    whole = mb(b"SET", b"k", b"v") + mb(b"GET", b"k")
    parser.feed(whole)
    assert parser.clean is parser._reader
    parser.feed(whole[:9])                                     # a request cut in its middle
    assert parser.clean is None
    assert parser.feed(whole[9:]) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]
    assert parser.clean is parser._reader                      # the split request completed: a boundary again
    parser.feed(b"PI")                                         # half an inline command
    assert parser.clean is None
    parser.feed(b"NG\r\n")
    assert parser.clean is parser._reader
    parser.feed(b"*-1\r\n*0\r\n")                             # ignored, 5 and 4 bytes: still a boundary
    assert parser.clean is parser._reader
    parser.feed(b"*-1\r\n*1\r")
    assert parser.clean is None

@pytest.mark.parametrize("step", [None, 1000, 4096])
def test_a_payload_holding_an_earlier_requests_encoding_is_read_whole(step):
    """Where the request still arriving starts is counted, never searched for: a payload that holds the bytes of the
    request before it (a stored command log, say) is not taken for that request's end."""
    first = mb(b"SET", b"a", b"b")
    payload = b"x" * 10 + first + b"y" * 200 + first + b"z" * 5000
    second = mb(b"SET", b"big", payload)
    cut = second.rindex(first) + len(first) + 100               # the first read ends inside the payload
    parser = RequestParser()
    assert parser.feed(first + second[:cut]) == [[b"SET", b"a", b"b"]]
    assert feed_all(parser, second[cut:], step) == [[b"SET", b"big", payload]]
    assert parser.clean is parser._reader


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-drain", "python-drain"])
@pytest.mark.parametrize("stream, completed", [
    (b"*1\r\n+PING\r\n", []),
    (mb(b"SET", b"k", b"v") + b"*2\r\n$4\r\nECHO\r\n+hi\r\n" + mb(b"GET", b"k"), [[b"SET", b"k", b"v"]]),
    # followed by the start of another request: exactly the 3 bytes a '+' line is shorter than a bulk string, more
    (b"*1\r\n+PING\r\n*1\r", []),
    (b"*1\r\n+PING\r\n*1\r\n$4\r\nPI", []),
    (mb(b"SET", b"k", b"v") + b"*3\r\n$3\r\nSET\r\n+k\r\n+w\r\n" + b"*2\r\n$3\r\nGET\r\n$1\r\nk\r",
     [[b"SET", b"k", b"v"]]),
    # followed in the same read by a request with another bad element, or by a byte that starts no request
    (b"*1\r\n+PING\r\n" + mb(b"SET", b"k", b"") + b"*1\r\n$-1\r\n", []),
    (mb(b"PING") + b"*1\r\n+PING\r\n" + mb(b"SET", b"k", b"v") + b"*2\r\n$3\r\nGET\r\n:1\r\n", [[b"PING"]]),
    (mb(b"PING") + b"*1\r\n+PING\r\n" + mb(b"SET", b"k", b"v") + b"GET k\r\n", [[b"PING"]]),
])
def test_simple_string_elements_are_refused_after_the_requests_before_them(stream, completed, compiled):
    """hiredis reads a '+' line as a string; Redis refuses it as an element, and so does inferd."""
    with pytest.raises(ProtocolError, match="expected '\\$', got '\\+'") as caught:
        RequestParser(compiled=compiled).feed(stream)
    assert caught.value.completed == completed


@pytest.mark.parametrize("chunks, completed", [
    # a request split over three reads, its first chunk behind the next header after the second; the third read
    # completes it, then a '+' element request, then a byte that starts no request
    ([b"*3\r\n$4\r", b"\nHGET\r\n$1", b"\r\nh\r\n$1\r\na\r\n*1\r\n+PING\r\n*-1\r\n\r\n"], [[b"HGET", b"h", b"a"]]),
    ([b"*3\r\n$4\r", b"\nHGET\r\n$1", b"\r\nh\r\n$1\r\na\r\n*1\r\n+PING\r\n*1\r\n$-1\r\n"], [[b"HGET", b"h", b"a"]]),
])
def test_simple_string_elements_are_refused_after_a_split_request(chunks, completed):
    parser = RequestParser()
    for chunk in chunks[:-1]:
        assert parser.feed(chunk) == []
    with pytest.raises(ProtocolError, match="expected '\\$', got '\\+'") as caught:
        parser.feed(chunks[-1])
    assert caught.value.completed == completed


NOT_REQUESTS = mb(b"PING") + b"~1\r\n$4\r\nPING\r\n" + b"$3\r\nGET\r\n" + mb(b"GET", b"k") + b":1\r\n_\r\n"


@pytest.mark.parametrize("cut", range(1, len(NOT_REQUESTS)))
def test_where_a_request_starts_any_other_byte_starts_an_inline_command(cut):
    """hiredis reads '~', '>', '$', ':' and other RESP3 types there too; Redis reads an inline command."""
    parser = RequestParser()
    assert feed_all(parser, NOT_REQUESTS[:cut]) + feed_all(parser, NOT_REQUESTS[cut:]) == [
        [b"PING"], [b"~1"], [b"$4"], [b"PING"], [b"$3"], [b"GET"], [b"GET", b"k"], [b":1"], [b"_"]]
