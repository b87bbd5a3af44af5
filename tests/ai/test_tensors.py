"""AI.TENSORSET / AI.TENSORGET: every dtype, BLOB / VALUES / META, 0-d and STRING tensors, every error text."""
from __future__ import annotations

import numpy as np
import pytest

from inferd.store.keyspace import type_name
from tests.ai.conftest import error_of, raw_reply_line

NUMERIC = [("FLOAT", np.float32), ("DOUBLE", np.float64), ("INT8", np.int8), ("INT16", np.int16),
           ("INT32", np.int32), ("INT64", np.int64), ("UINT8", np.uint8), ("UINT16", np.uint16),
           ("FLOAT16", np.float16), ("UINT32", np.uint32), ("UINT64", np.uint64)]


@pytest.mark.parametrize(("dtype", "np_type"), NUMERIC)
def test_blob_roundtrip_every_numeric_dtype(r, dtype, np_type):
    array = (np.arange(6).reshape(2, 3) * 3 + 1).astype(np_type)
    assert r.execute_command("AI.TENSORSET", "t", dtype, 2, 3, "BLOB", array.tobytes()) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "BLOB") == array.tobytes()
    assert r.execute_command("AI.TENSORGET", "t", "META") == [b"dtype", dtype.encode(), b"shape", [2, 3]]
    values = r.execute_command("AI.TENSORGET", "t", "VALUES")
    as_numbers = [float(v) for v in values]
    assert as_numbers == array.astype(np.float64).ravel().tolist()


@pytest.mark.parametrize(("dtype", "np_type"), NUMERIC)
def test_values_roundtrip_every_numeric_dtype(r, dtype, np_type):
    array = np.array([[1, 2], [3, 4]], dtype=np_type)
    r.execute_command("AI.TENSORSET", "t", dtype, 2, 2, "VALUES", 1, 2, 3, 4)
    blob = r.execute_command("AI.TENSORGET", "t", "BLOB")
    np.testing.assert_array_equal(np.frombuffer(blob, dtype=np_type).reshape(2, 2), array)


def test_float_values_reply_as_doubles(r):
    r.execute_command("AI.TENSORSET", "f", "FLOAT", 3, "VALUES", "0.1", "1", "-2.5")
    values = r.execute_command("AI.TENSORGET", "f", "VALUES")
    if r.connection_pool.connection_kwargs.get("protocol") == 3:
        assert values == [float(np.float32(0.1)), 1.0, -2.5]
    else:  # Redis 7 shortest round-trip text of the double, integers without ".0"
        assert values == [b"0.10000000149011612", b"1", b"-2.5"]


def test_int_and_bool_values_reply_as_integers(r):
    r.execute_command("AI.TENSORSET", "i", "INT64", 3, "VALUES", -5, 0, 9007199254740993)
    assert r.execute_command("AI.TENSORGET", "i", "VALUES") == [-5, 0, 9007199254740993]
    r.execute_command("AI.TENSORSET", "b", "BOOL", 3, "VALUES", 1, 0, 1)
    assert r.execute_command("AI.TENSORGET", "b", "VALUES") == [1, 0, 1]
    assert r.execute_command("AI.TENSORGET", "b", "BLOB") == b"\x01\x00\x01"


def test_negative_integers_are_accepted(r):
    """RedisAI rejects any negative INT value by a bug; inferd accepts them (spec decision)."""
    assert r.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", -1, -128) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [-1, -128]


def test_uint64_full_range(r):
    """UINT64 (extension): values past the signed 64-bit RESP integer range come back as decimal text."""
    r.execute_command("AI.TENSORSET", "t", "UINT64", 2, "VALUES", 0, 2 ** 64 - 1)
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [0, b"18446744073709551615"]
    assert r.execute_command("AI.TENSORGET", "t", "BLOB") == np.array([0, 2 ** 64 - 1], dtype=np.uint64).tobytes()


def test_default_reply_is_meta_blob_and_combinations(r):
    array = np.array([1.5, 2.5], dtype=np.float64)
    r.execute_command("AI.TENSORSET", "t", "double", 2, "blob", array.tobytes())
    meta = [b"dtype", b"DOUBLE", b"shape", [2]]
    assert r.execute_command("AI.TENSORGET", "t") == meta + [b"blob", array.tobytes()]
    assert r.execute_command("AI.TENSORGET", "t", "meta", "blob") == meta + [b"blob", array.tobytes()]
    assert r.execute_command("AI.TENSORGET", "t", "BLOB", "META") == meta + [b"blob", array.tobytes()]
    got = r.execute_command("AI.TENSORGET", "t", "META", "VALUES")
    assert got[:4] == meta and got[4] == b"values" and [float(v) for v in got[5]] == [1.5, 2.5]
    assert r.execute_command("AI.TENSORGET", "t", "META", "META") == meta


def test_zero_dimensional_tensor(r):
    assert r.execute_command("AI.TENSORSET", "s", "FLOAT", "VALUES", 7) == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "META") == [b"dtype", b"FLOAT", b"shape", []]
    assert r.execute_command("AI.TENSORGET", "s", "BLOB") == np.float32(7).tobytes()
    r.execute_command("AI.TENSORSET", "s2", "INT32", "BLOB", np.int32(-3).tobytes())
    assert r.execute_command("AI.TENSORGET", "s2", "VALUES") == [-3]


def test_zero_filled_when_no_data(r):
    r.execute_command("AI.TENSORSET", "z", "INT16", 2, 2)
    assert r.execute_command("AI.TENSORGET", "z", "VALUES") == [0, 0, 0, 0]
    r.execute_command("AI.TENSORSET", "zs", "STRING", 2)
    assert r.execute_command("AI.TENSORGET", "zs", "VALUES") == [b"", b""]
    assert r.execute_command("AI.TENSORGET", "zs", "BLOB") == b"\0\0"


def test_string_tensors(r):
    assert r.execute_command("AI.TENSORSET", "s", "STRING", 2, "BLOB", b"a\0bb\0") == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [b"a", b"bb"]
    assert r.execute_command("AI.TENSORGET", "s", "BLOB") == b"a\0bb\0"
    r.execute_command("AI.TENSORSET", "v", "STRING", 1, 2, "VALUES", "x\0", "héllo")
    assert r.execute_command("AI.TENSORGET", "v", "META", "VALUES") == [
        b"dtype", b"STRING", b"shape", [1, 2], b"values", [b"x", "héllo".encode()]]


def test_overwrite_and_type_name(r, server):
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1)
    r.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", 1, 2)
    assert r.execute_command("AI.TENSORGET", "t", "META") == [b"dtype", b"INT8", b"shape", [2]]
    assert server.call(lambda: type_name(server.state.keyspace.dbs[0].get(b"t"))) == "AI_TENSOR"
    assert r.type("t") in (b"AI_TENSOR", "AI_TENSOR")


def test_wrongtype(r):
    r.set("str", "x")
    assert error_of(r, "AI.TENSORSET", "str", "FLOAT", 1, "VALUES", 1) == \
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert error_of(r, "AI.TENSORGET", "str").startswith("WRONGTYPE")
    assert r.get("str") == b"x"


TENSORSET_ERRORS = [
    (("AI.TENSORSET", "t", "FLOAT"), "wrong number of arguments for 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "INT"), "wrong number of arguments for 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOATX", 1), "invalid data type"),
    (("AI.TENSORSET", "t", "INT", 1), "invalid data type"),
    (("AI.TENSORSET", "t", "FLOAT", 0, "VALUES"), "invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", -2, "VALUES", 1), "invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", "x", "VALUES", 1), "invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "BLOB"),
     "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 1, "BLOB", "aaaa", "bbbb"),
     "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "BLOB", "abc"), "data length does not match tensor shape and type"),
    (("AI.TENSORSET", "t", "BOOL", 2, "BLOB", b"\x01\x02"), "BOOL tensor elements must be 0 or 1"),
    (("AI.TENSORSET", "t", "STRING", 2, "BLOB", b"a\0b"),
     "Number of string elements in data blob does not match tensor length"),
    (("AI.TENSORSET", "t", "STRING", 3, "BLOB", b"a\0b\0"),
     "Number of string elements in data blob does not match tensor length"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1), "wrong number of values was given in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", "VALUES"), "wrong number of values was given in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", "A"), "invalid value"),
    (("AI.TENSORSET", "t", "DOUBLE", 1, "VALUES", "nan"), "invalid value"),
    (("AI.TENSORSET", "t", "INT32", 1, "VALUES", "1.87"), "invalid value"),
    (("AI.TENSORSET", "t", "INT8", 1, "VALUES", 128), "invalid value"),
    (("AI.TENSORSET", "t", "UINT8", 1, "VALUES", -1), "invalid value"),
    (("AI.TENSORSET", "t", "BOOL", 1, "VALUES", 2), "invalid value"),
    (("AI.TENSORSET", "t", "STRING", 1, "VALUES", b"a\0b"), "C-string value contains null character"),
    (("AI.TENSORSET", "t", "FLOAT", 100000, 100000, 100000), "tensor is larger than proto-max-bulk-len"),
]


@pytest.mark.parametrize(("args", "text"), TENSORSET_ERRORS)
def test_tensorset_errors_change_nothing(r, args, text):
    r.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 5)
    assert error_of(r, *args) == text
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [5]


TENSORGET_ERRORS = [
    (("AI.TENSORGET",), "wrong number of arguments for 'AI.TENSORGET' command"),
    (("AI.TENSORGET", "t", "META", "BLOB", "VALUES"), "wrong number of arguments for 'AI.TENSORGET' command"),
    (("AI.TENSORGET", "missing"), "tensor key is empty or in a different shard"),
    (("AI.TENSORGET", "t", "BLOBS"), "unsupported data format"),
    (("AI.TENSORGET", "t", "BLOB", "VALUES"), "both BLOB and VALUES specified"),
]


@pytest.mark.parametrize(("args", "text"), TENSORGET_ERRORS)
def test_tensorget_errors(r, args, text):
    r.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 5)
    assert error_of(r, *args) == text


def test_error_prefixes_are_exact(server):
    """redis-py strips ``ERR ``: check the bytes on the wire (arity echoes the name as typed)."""
    port = server.port
    assert raw_reply_line(port, "ai.tensorset", "k", "FLOAT") == \
        b"-ERR wrong number of arguments for 'ai.tensorset' command"
    assert raw_reply_line(port, "AI.TENSORSET", "k", "BAD", 1) == b"-ERR invalid data type"
    assert raw_reply_line(port, "AI.TENSORGET", "nokey") == b"-ERR tensor key is empty or in a different shard"


def test_blob_reply_is_the_received_bytes_zero_copy(r, server):
    """The stored array is a view over the received argument (no copy) and TENSORGET returns exactly it."""
    payload = np.arange(1000, dtype=np.float32).tobytes()
    r.execute_command("AI.TENSORSET", "big", "FLOAT", 1000, "BLOB", payload)
    array = server.call(lambda: server.state.keyspace.dbs[0].get(b"big").array)
    owner = array
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert isinstance(owner, bytes) and owner == payload and not array.flags.writeable
    assert r.execute_command("AI.TENSORGET", "big", "BLOB") == payload


EDGE_VALUES = [b"0", b"-0", b"+.5", b"5.", b"-1.25E-3", b"1e308", b"1e400", b"-1e400", b"3.5e38", b"-3.5e38",
               b"1e-400", b"1e-50", b"3.4028235e38", b"1.4e-45", b"0.1", b"123456789.123456789", b"9" * 64, b"9" * 65,
               b"0x10", b"1_000", b" 1", b"1 ", b"inf", b"nan", b"e5", b"1e", b".", b"--1", b"1..2", b"+", b""]


@pytest.mark.parametrize("dtype", ["FLOAT", "DOUBLE"])
def test_compiled_values_read_as_from_values_does(dtype):
    """TENSORSET's FLOAT and DOUBLE VALUES read in C give from_values' tensor bit for bit, or its very error."""
    from inferd.commands.tensors import parse_tensorset
    from inferd.errors import CommandError
    from inferd.store import tensor as tensors
    rng = np.random.default_rng(3)
    cases = [[value] for value in EDGE_VALUES]
    cases += [[b"%.*g" % (int(rng.integers(1, 18)), x) for x in rng.standard_normal(40) * 10.0 ** rng.integers(-40, 40)]
              for _ in range(200)]
    cases += [[b"1", b"2", bad] for bad in (b"x", b"1e400", b"3.5e38", b" 2")]
    for values in cases:
        argv = [b"AI.TENSORSET", b"t", dtype.encode(), b"%d" % len(values), b"VALUES", *values]
        try:
            expected = tensors.from_values(tensors.DTYPES[dtype], (len(values),), values)
        except CommandError as exc:
            with pytest.raises(CommandError) as raised:
                parse_tensorset(argv)
            assert raised.value.text == exc.text, values
            continue
        got = parse_tensorset(argv)
        assert got.dtype is expected.dtype and got.array.dtype == expected.array.dtype, values
        assert got.array.shape == expected.array.shape and got.array.tobytes() == expected.array.tobytes(), values


def test_float_values_past_the_range_become_infinities(r):
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, 4, "VALUES", "1e400", "-3.5e38", "1e-50", "-0")
    assert [float(v) for v in r.execute_command("AI.TENSORGET", "t", "VALUES")] == [np.inf, -np.inf, 0.0, 0.0]
    assert np.frombuffer(r.execute_command("AI.TENSORGET", "t", "BLOB"), np.float32).tolist() == [
        np.inf, -np.inf, 0.0, -0.0]
