"""Reply encoding for RESP2 and RESP3."""
from __future__ import annotations

import random

import pytest

from inferd.errors import CommandError
from inferd.resp._reads import bulk_reply
from inferd.resp.encoder import NULL_ARRAY, OK, Push, Status, Verbatim, encode_one, format_double


@pytest.mark.parametrize("value,resp2,resp3", [
    (b"ab", b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (Status(b"QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (7, b":7\r\n", b":7\r\n"),
    (-12345678901, b":-12345678901\r\n", b":-12345678901\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ({b"k": 1}, b"*2\r\n$1\r\nk\r\n:1\r\n", b"%1\r\n$1\r\nk\r\n:1\r\n"),
    ({b"m"}, b"*1\r\n$1\r\nm\r\n", b"~1\r\n$1\r\nm\r\n"),
    (Verbatim(b"hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
    (Push([b"x"]), b"*1\r\n$1\r\nx\r\n", b">1\r\n$1\r\nx\r\n"),
    (CommandError("ERR bad\nthing"), b"-ERR bad thing\r\n", b"-ERR bad thing\r\n"),
    (memoryview(b"xyz"), b"$3\r\nxyz\r\n", b"$3\r\nxyz\r\n"),
])
def test_encoding(value, resp2, resp3):
    assert encode_one(value, resp3=False) == resp2
    assert encode_one(value, resp3=True) == resp3


def test_double_text_is_shortest_round_trip():
    assert format_double(0.1) == b"0.1"
    assert format_double(3.0) == b"3"
    assert format_double(float("-inf")) == b"-inf"


def test_unknown_type_is_a_bug_not_a_silent_reply():
    with pytest.raises(TypeError):
        encode_one(object())


def _bulks(rng: random.Random) -> list[bytes | None]:
    sizes = [0, 1, 9, 10, 99, 100, 1000, 70000]
    return [None if rng.random() < 0.2 else rng.randbytes(rng.choice(sizes)) for _ in range(rng.randrange(0, 40))]


@pytest.mark.parametrize("resp3", [False, True])
def test_compiled_bulk_reply_is_encode_for_arrays_and_maps_of_bulks(resp3):
    """_reads.c's bulk_reply writes what encode() writes, for lists, tuples and dicts of bytes and None."""
    rng = random.Random(7)
    for _ in range(300):
        items = _bulks(rng)
        keys = [rng.randbytes(rng.randrange(0, 12)) for _ in items]
        for value in (items, tuple(items), dict(zip(keys, items, strict=True))):
            assert bulk_reply(value, resp3) == encode_one(value, resp3=resp3)


@pytest.mark.parametrize("value", [
    [b"a", 1], [b"a", Status(b"OK")], [OK], [b"a", [b"b"]], [b"a", 1.5], {b"k": 1}, {b"k": [b"v"]}, {1: b"v"},
    [b"a", bytearray(b"b")], [b"a", "text"], Push([b"x"]), {b"m"}, b"ab", None, 7, NULL_ARRAY,
])
def test_compiled_bulk_reply_leaves_every_other_value_to_encode(value):
    """None (encode() writes it) for anything but an exact list, tuple or dict whose elements are bytes or None."""
    assert bulk_reply(value, False) is None
    assert bulk_reply(value, True) is None
