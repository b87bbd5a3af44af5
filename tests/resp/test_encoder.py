"""Reply encoding for RESP2 and RESP3."""
from __future__ import annotations

import random
from typing import Any

import pytest

from inferd.errors import CommandError
from inferd.resp._reads import plain_reply
from inferd.resp.encoder import NULL_ARRAY, OK, Push, RedisDouble, Status, Verbatim, encode_one, format_double


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



_FLOATS = [0.0, -0.0, 1.0, -3.0, 0.1, 1 / 3, 1e-5, 2.5e-308, 5e-324, 1e16, 9.999999999999998e16, 1e17, 1.5e17, -1e300,
           123456789012345680.0, float("inf"), float("-inf"), float("nan"), 0.17812757194042206]
_INTS = [0, -1, 1023, 1024, -(2 ** 63), 2 ** 63 - 1, 123456789]


def _plain(rng: random.Random, depth: int = 0) -> Any:
    """A random reply of the kinds plain_reply takes: bytes, Status, None, int, float, and arrays, maps and sets."""
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 1, 9, 10, 99, 100, 1000, 70000]))
    if kind == 1:
        return Status(rng.choice([b"OK", b"QUEUED", b"NA", b""]))
    if kind == 2:
        return None
    if kind == 3:
        return rng.choice(_INTS + [rng.randrange(-(2 ** 63), 2 ** 63)])
    if kind in (4, 5):
        return rng.choice(_FLOATS + [rng.uniform(-1e6, 1e6), float(rng.randrange(-10 ** 6, 10 ** 6)),
                                     rng.random() * 10.0 ** rng.randrange(-300, 300)])
    size = rng.randrange(0, 12)
    if kind in (6, 7):
        return [_plain(rng, depth + 1) for _ in range(size)]
    if kind == 8:
        return {rng.randbytes(rng.randrange(0, 6)): _plain(rng, depth + 1) for _ in range(size)}
    return {rng.randbytes(rng.randrange(0, 6)) for _ in range(size)} | {rng.choice(_INTS)}


@pytest.mark.parametrize("resp3", [False, True])
def test_compiled_plain_reply_is_encode_for_aggregates_of_plain_values(resp3):
    """_reads.c's plain_reply writes what encode() writes for arrays, maps and sets of plain values, nested too."""
    rng = random.Random(7)
    for _ in range(2000):
        value = [_plain(rng) for _ in range(rng.randrange(0, 6))]
        for shaped in (value, tuple(value), dict(enumerate(value)) if resp3 else {b"k": value}):
            assert plain_reply(shaped, resp3) == encode_one(shaped, resp3=resp3)
    values = rng.sample(_FLOATS, len(_FLOATS)) + [rng.uniform(-1, 1) for _ in range(1000)]
    assert plain_reply(values, resp3) == encode_one(values, resp3=resp3)   # TENSORGET VALUES of a float tensor


@pytest.mark.parametrize("value", [
    [b"a", 2 ** 63], [b"a", -(2 ** 63) - 1], [True], [b"a", RedisDouble(1.5)], [CommandError("ERR x")],
    [b"a", bytearray(b"b")], [memoryview(b"b")], [b"a", "text"], [NULL_ARRAY], [Verbatim(b"v")], Push([b"x"]),
    [[[[[[[[[[b"deep"]]]]]]]]]], {b"k": [1.5, Push([b"x"])]}, b"ab", None, 7, 1.5, OK,
])
def test_compiled_plain_reply_leaves_every_other_value_to_encode(value):
    """None (encode() writes it) for a scalar, or an aggregate holding anything but plain values of exact types."""
    assert plain_reply(value, False) is None
    assert plain_reply(value, True) is None
