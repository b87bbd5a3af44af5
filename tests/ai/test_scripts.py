"""AI.SCRIPTSTORE / SCRIPTSET / SCRIPTGET / SCRIPTDEL / SCRIPTEXECUTE / SCRIPTRUN / _SCRIPTSCAN on real TorchScript
sources: replies, results checked against numpy, and every error text of spec section 3, over RESP2 and RESP3."""
from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import redis

from tests.ai.conftest import error_of, get_tensor, raw_reply_line, set_tensor

SOURCE = '''
def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]

def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    factor = float(args[0])
    return tensors[0] * factor, torch.tensor(len(keys)), torch.tensor(int(args[1]))

def sum_and_product(a, b):
    return a + b, a * b

def total(first, rest: List[Tensor]):
    out = first.clone()
    for t in rest:
        out = out + t
    return out

def listed(tensors: List[Tensor], keys: List[str], args: List[str]):
    return [tensors[0] * 2, tensors[0] * 3]

def in_place(tensors: List[Tensor], keys: List[str], args: List[str]):
    tensors[0].add_(100)
    return tensors[0]

def fails(tensors: List[Tensor], keys: List[str], args: List[str]):
    raise RuntimeError("no reference data for " + keys[0])

def not_a_tensor(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 7

def typed(a: Tensor, n: int):
    return a

def transposed(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0].t()
'''
ENTRY_POINTS = ["add", "scale", "listed", "in_place", "fails", "not_a_tensor", "transposed"]
A = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
B = np.array([[10.0, 20.0], [30.0, 40.0]], dtype=np.float32)


def _info(r, key):
    reply = r.execute_command("AI.INFO", key)
    return dict(zip(reply[::2], reply[1::2], strict=True))


@pytest.fixture
def s(r):
    """A client with script ``s`` stored (every entry point above) and tensors ``a``, ``b``."""
    assert r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "TAG", "v1", "ENTRY_POINTS", len(ENTRY_POINTS),
                             *ENTRY_POINTS, "SOURCE", SOURCE) == b"OK"
    set_tensor(r, "a", A)
    set_tensor(r, "b", B)
    return r


# ---- storing, reading, deleting ----------------------------------------------------------------------------
def test_scriptget_meta_source_and_unknown_words(s):
    meta = [b"device", b"CPU", b"tag", b"v1", b"Entry Points", [e.encode() for e in ENTRY_POINTS]]
    assert s.execute_command("AI.SCRIPTGET", "s", "META") == meta
    assert s.execute_command("AI.SCRIPTGET", "s", "SOURCE") == SOURCE.encode()
    assert s.execute_command("AI.SCRIPTGET", "s") == meta + [b"source", SOURCE.encode()]
    assert s.execute_command("AI.SCRIPTGET", "s", "source", "meta") == meta + [b"source", SOURCE.encode()]
    assert s.execute_command("AI.SCRIPTGET", "s", "whatever") == meta + [b"source", SOURCE.encode()]


def test_type_scan_del_exists_keys(s, server):
    assert s.type("s") in (b"AI_SCRIPT", "AI_SCRIPT")
    assert s.exists("s") == 1 and b"s" in s.keys("*")
    assert s.execute_command("AI._SCRIPTSCAN") == [[b"s", b"v1"]]
    assert s.info("ai")["ai_scripts"] == 1
    assert s.memory_usage("s") >= len(SOURCE)
    assert s.execute_command("AI.SCRIPTDEL", "s") == b"OK"
    assert s.exists("s") == 0 and s.execute_command("AI._SCRIPTSCAN") == []
    assert error_of(s, "AI.SCRIPTGET", "s") == "script key is empty"
    assert error_of(s, "AI.SCRIPTDEL", "s") == "script key is empty"
    assert error_of(s, "AI.INFO", "s") == "cannot find run info for key"
    s.execute_command("AI.SCRIPTSTORE", "s2", "cpu", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE)
    assert s.execute_command("AI.SCRIPTGET", "s2", "META")[:4] == [b"device", b"cpu", b"tag", b""]
    assert s.delete("s2") == 1 and s.execute_command("AI._SCRIPTSCAN") == []   # DEL works the same way


def test_wrongtype_both_ways(s):
    s.set("str", "v")
    wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert error_of(s, "AI.SCRIPTSTORE", "str", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE) == wrongtype
    assert s.get("str") == b"v"
    for args in (("AI.SCRIPTGET", "a"), ("AI.SCRIPTDEL", "a"), ("AI.SCRIPTEXECUTE", "a", "add", "INPUTS", 1, "a"),
                 ("AI.SCRIPTRUN", "a", "add", "INPUTS", "a"), ("AI.TENSORGET", "s"), ("AI.MODELGET", "s")):
        assert error_of(s, *args) == wrongtype


def test_overwrite_replaces_the_script_and_resets_stats(s):
    s.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c")
    assert _info(s, "s")[b"calls"] == 1
    assert s.execute_command("AI.SCRIPTSTORE", "s", "CPU", "TAG", "v2", "ENTRY_POINTS", 1, "listed",
                             "SOURCE", SOURCE) == b"OK"
    assert _info(s, "s")[b"calls"] == 0
    assert s.execute_command("AI.SCRIPTGET", "s", "META") == [b"device", b"CPU", b"tag", b"v2", b"Entry Points",
                                                              [b"listed"]]


def test_failed_store_changes_nothing(s):
    assert error_of(s, "AI.SCRIPTSTORE", "s", "CPU", "TAG", "broken", "ENTRY_POINTS", 1, "f",
                    "SOURCE", "def f(:\n").startswith("expected")
    assert s.execute_command("AI.SCRIPTGET", "s", "META")[3] == b"v1"


def test_deprecated_scriptset_has_no_entry_points(r):
    assert r.execute_command("AI.SCRIPTSET", "old", "CPU", "SOURCE", SOURCE) == b"OK"
    assert r.execute_command("AI.SCRIPTSET", "old2", "CPU", "TAG", "t", "SOURCE", SOURCE) == b"OK"
    assert r.execute_command("AI.SCRIPTGET", "old2", "META") == [b"device", b"CPU", b"tag", b"t",
                                                                 b"Entry Points", []]
    set_tensor(r, "a", A)
    set_tensor(r, "b", B)
    # no entry points: every function is called "best effort", even one with the entry-point signature
    assert r.execute_command("AI.SCRIPTEXECUTE", "old", "sum_and_product", "INPUTS", 2, "a", "b",
                             "OUTPUTS", 2, "s", "p") == b"OK"
    np.testing.assert_array_equal(get_tensor(r, "p"), A * B)
    assert error_of(r, "AI.SCRIPTEXECUTE", "old", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == \
        "Unsupported input type in function definition: add"


def test_compile_error_gives_torchs_text_on_one_line(r):
    text = error_of(r, "AI.SCRIPTSTORE", "bad", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE",
                    "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return undefined_name\n")
    assert text.startswith("undefined value undefined_name") and "\n" not in text
    assert r.exists("bad") == 0


def test_gpu_device_without_gpu_is_a_clear_error(r):
    import torch
    if torch.cuda.is_available():
        assert r.execute_command("AI.SCRIPTSTORE", "g", "GPU:0", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE) == b"OK"
        set_tensor(r, "a", A)
        set_tensor(r, "b", B)
        r.execute_command("AI.SCRIPTEXECUTE", "g", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c")
        np.testing.assert_array_equal(get_tensor(r, "c"), A + B)
    else:
        assert error_of(r, "AI.SCRIPTSTORE", "g", "GPU:0", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE) == \
            "device GPU:0 is not available to the TORCH backend"
        assert r.exists("g") == 0


_SIGNATURES = '''
def two(tensors: List[Tensor], keys: List[str]):
    return tensors[0]

def wrong(tensors: List[Tensor], keys: List[str], args: List[int]):
    return tensors[0]

def positional(a, b, c):
    return a
'''
STORE_ERRORS = [
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE"),
     "wrong number of arguments for 'AI.SCRIPTSTORE' command"),
    (("AI.SCRIPTSTORE", "k", "CPU", "TAG", "t", "ENTRY", 1, "f"),
     "Insufficient arguments, missing script entry points"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 5, "f", "SOURCE", "x"),
     "Insufficient arguments, missing script entry points"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", "one", "f", "SOURCE", "x"),
     "Non numeric entry points number provided to AI.SCRIPTSTORE command"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "f", "SRC", "x"),
     "Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSTORE", "k", "CPU", "TAG", "t", "ENTRY_POINTS", 1, "f", "SOURCE"),
     "Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSTORE", "k", "bad_device", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE), "Invalid DEVICE"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "nosuch", "SOURCE", SOURCE),
     "Function nosuch does not exist in the given script."),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "two", "SOURCE", _SIGNATURES),
     "Wrong number of inputs in function two. Expected 3 but was 2"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 2, "add", "sum_and_product", "SOURCE", SOURCE),
     "Wrong number of inputs in function sum_and_product. Expected 3 but was 2"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "positional", "SOURCE", _SIGNATURES),
     "Wrong inputs type in function positional. Expected signature similar to: def positional("
     "tensors: List[Tensor], keys: List[str], args: List[str])"),
    (("AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "wrong", "SOURCE", _SIGNATURES),
     "Wrong inputs type in function wrong. Expected signature similar to: def wrong("
     "tensors: List[Tensor], keys: List[str], args: List[str])"),
    (("AI.SCRIPTSET", "k", "CPU", "SOURCE"), "wrong number of arguments for 'AI.SCRIPTSET' command"),
    (("AI.SCRIPTSET", "k", "CPU", "TAG", "t", "SOURCE"), "wrong number of arguments for 'AI.SCRIPTSET' command"),
    (("AI.SCRIPTSET", "k", "CPU", "TAG", "t"), "Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSET", "k", "CPU", "TAG", "t", "SRC", "x"), "Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTGET", "k", "META", "SOURCE", "X"), "wrong number of arguments for 'AI.SCRIPTGET' command"),
    (("AI.SCRIPTDEL", "k", "x"), "wrong number of arguments for 'AI.SCRIPTDEL' command"),
]


@pytest.mark.parametrize(("args", "text"), STORE_ERRORS)
def test_store_errors_change_nothing(r, args, text):
    assert error_of(r, *args) == text
    assert r.exists("k") == 0


def test_error_prefixes_on_the_wire(server):
    port = server.port
    assert raw_reply_line(port, "AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", "x", "f", "SOURCE", "y") == \
        b"-ERR Non numeric entry points number provided to AI.SCRIPTSTORE command"
    assert raw_reply_line(port, "AI.SCRIPTSTORE", "k", "CPU", "ENTRY_POINTS", 1, "nosuch", "SOURCE", SOURCE) == \
        b"-Function nosuch does not exist in the given script."
    assert raw_reply_line(port, "AI.SCRIPTGET", "k") == b"-ERR script key is empty"
    assert raw_reply_line(port, "ai.scriptexecute", "k") == \
        b"-ERR wrong number of arguments for 'AI.SCRIPTEXECUTE' command"
    assert raw_reply_line(port, "ai.scriptrun", "k") == b"-ERR wrong number of arguments for 'AI.SCRIPTRUN' command"


# ---- running -----------------------------------------------------------------------------------------------
def test_entry_point_adds_two_tensors(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "c"), A + B)
    assert s.execute_command("AI.TENSORGET", "c", "META") == [b"dtype", b"FLOAT", b"shape", [2, 2]]


def test_entry_point_gets_keys_and_args_as_strings(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "scale", "KEYS", 3, "k1", "k2", "k3", "INPUTS", 1, "a",
                             "ARGS", 2, "2.5", "-7", "OUTPUTS", 3, "x", "nkeys", "arg", "TIMEOUT", 10000) == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "x"), A * 2.5)
    assert s.execute_command("AI.TENSORGET", "nkeys", "META", "VALUES") == [b"dtype", b"INT64", b"shape", [],
                                                                            b"values", [3]]
    assert s.execute_command("AI.TENSORGET", "arg", "VALUES") == [-7]


def test_scopes_in_any_order(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "scale", "INPUTS", 1, "a", "OUTPUTS", 3, "x", "n", "m",
                             "ARGS", 2, "3", "1", "KEYS", 1, "k") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "x"), A * 3)
    assert s.execute_command("AI.TENSORGET", "n", "VALUES") == [1]


def test_list_return_and_tuple_of_non_entry_function(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "listed", "INPUTS", 1, "a", "OUTPUTS", 2, "x2", "x3") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "x2"), A * 2)
    np.testing.assert_array_equal(get_tensor(s, "x3"), A * 3)
    # a function that is not an entry point: Tensor parameters bound positionally, tuple outputs flattened
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "sum_and_product", "INPUTS", 2, "a", "b",
                             "OUTPUTS", 2, "sum", "prod") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "sum"), A + B)
    np.testing.assert_array_equal(get_tensor(s, "prod"), A * B)


def test_trailing_list_takes_the_rest(s):
    set_tensor(s, "c", A * 100)
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "total", "INPUTS", 3, "a", "b", "c", "OUTPUTS", 1, "t") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "t"), A + B + A * 100)
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "total", "INPUTS", 1, "a", "OUTPUTS", 1, "t") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "t"), A)


def test_outputs_are_contiguous_and_inputs_never_change(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "transposed", "INPUTS", 1, "a", "OUTPUTS", 1, "t") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "t"), A.T)
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "in_place", "INPUTS", 1, "t", "OUTPUTS", 1, "u") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "u"), A.T + 100)
    np.testing.assert_array_equal(get_tensor(s, "t"), A.T)     # the stored input is untouched


def test_without_outputs_the_return_is_ignored(s):
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "not_a_tensor", "KEYS", 1, "a") == b"OK"
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b") == b"OK"
    assert _info(s, "s")[b"calls"] == 2


def test_int_tensors(r):
    source = "def inc(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return tensors[0] + 1\n"
    r.execute_command("AI.SCRIPTSTORE", "i", "CPU", "ENTRY_POINTS", 1, "inc", "SOURCE", source)
    r.execute_command("AI.TENSORSET", "x", "INT32", 3, "VALUES", -5, 0, 7)
    assert r.execute_command("AI.SCRIPTEXECUTE", "i", "inc", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    assert r.execute_command("AI.TENSORGET", "y", "META", "VALUES") == [b"dtype", b"INT32", b"shape", [3],
                                                                        b"values", [-4, 1, 8]]


RUN_ERRORS = [
    (("nosuch", "INPUTS", 1, "a"), "Function does not exist: nosuch"),
    (("sum_and_product", "INPUTS", 1, "a", "OUTPUTS", 2, "x", "y"),
     "Wrong number of inputs provided to function: sum_and_product"),
    (("sum_and_product", "INPUTS", 3, "a", "b", "a", "OUTPUTS", 2, "x", "y"),
     "Wrong number of inputs provided to function: sum_and_product"),
    (("typed", "INPUTS", 1, "a", "OUTPUTS", 1, "x"), "Unsupported input type in function definition: typed"),
    (("add", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "x", "y"), "Function returned unexpected number of outputs - add"),
    (("listed", "INPUTS", 1, "a", "OUTPUTS", 1, "x"), "Function returned unexpected number of outputs - listed"),
    (("not_a_tensor", "INPUTS", 1, "a", "OUTPUTS", 1, "x"), "Function returned non-tensor valuesnot_a_tensor"),
]


@pytest.mark.parametrize(("args", "text"), RUN_ERRORS)
def test_run_errors_are_charged_and_write_nothing(s, args, text):
    assert error_of(s, "AI.SCRIPTEXECUTE", "s", *args) == text
    assert s.exists("x", "y") == 0
    info = _info(s, "s")
    assert (info[b"calls"], info[b"errors"]) == (1, 1)


def test_script_exception_is_an_error_reply_and_the_server_lives_on(s):
    text = error_of(s, "AI.SCRIPTEXECUTE", "s", "fails", "KEYS", 1, "user:42", "INPUTS", 1, "a", "OUTPUTS", 1, "x")
    assert "no reference data for user:42" in text and "\n" not in text
    assert s.exists("x") == 0
    assert s.ping() is True
    assert s.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") == b"OK"
    info = _info(s, "s")
    assert (info[b"calls"], info[b"errors"]) == (2, 1)


def test_ai_info_of_a_script(s):
    for _ in range(3):
        s.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c")
    reply = s.execute_command("AI.INFO", "s")
    assert reply[:10] == [b"key", b"s", b"type", b"SCRIPT", b"backend", b"TORCH", b"device", b"CPU", b"tag", b"v1"]
    info = _info(s, "s")
    assert info[b"duration"] > 0 and info[b"samples"] == -1
    assert (info[b"calls"], info[b"errors"]) == (3, 0)
    assert s.execute_command("AI.INFO", "s", "RESETSTAT") == b"OK"
    assert (_info(s, "s")[b"calls"], _info(s, "s")[b"duration"]) == (0, 0)


def _execute_errors():
    e = "AI.SCRIPTEXECUTE"
    return [
        ((e, "s"), "wrong number of arguments for 'AI.SCRIPTEXECUTE' command"),
        ((e, "nosuch", "add", "INPUTS", 1, "a"), "script key is empty"),
        ((e, "a", "add", "INPUTS", 1, "a"), "WRONGTYPE Operation against a key holding the wrong kind of value"),
        ((e, "s", "add"), "KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "ARGS", 1, "x", "INPUTS", 1, "a"),
         "KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "INPUTS", 1, "a", "INPUTS", 1, "b"),
         "Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "KEYS", 1, "k", "INPUTS", 1, "a", "KEYS", 1, "k"),
         "Already Encountered KEYS scope in AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "INPUTS", 1, "a", "ARGS", 1, "x", "ARGS", 1, "y"),
         "Already Encountered ARGS scope in AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "INPUTS", 1, "a", "OUTPUTS", 1, "x", "OUTPUTS", 1, "y"),
         "Already Encountered OUTPUTS scope in AI.SCRIPTEXECUTE command"),
        ((e, "s", "add", "KEYS", 1), "Missing arguments after KEYS keyword"),
        ((e, "s", "add", "KEYS", 0, "k"), "Invalid or negative value found in number of KEYS"),
        ((e, "s", "add", "KEYS", "x", "k"), "Invalid or negative value found in number of KEYS"),
        ((e, "s", "add", "KEYS", 3, "k", "j"),
         "Number of pre declared KEYS to be used in the command does not match the number of given arguments"),
        ((e, "s", "add", "INPUTS"), "Invalid arguments provided to AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 1, "a", "OUTPUTS"), "Invalid arguments provided to AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", "x", "a"), "Invalid argument for inputs count in AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", -1, "a"), "Invalid argument for inputs count in AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 1, "a", "ARGS", "x", "y"), "Invalid argument for keys count in AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 1, "a", "OUTPUTS", 0, "y"),
         "Invalid argument for outputs count in AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 3, "a", "b"),
         "number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
        ((e, "s", "add", "INPUTS", 1, "a", "ARGS", 2, "y"),
         "number of args to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
        ((e, "s", "add", "INPUTS", 1, "a", "OUTPUTS", 2, "y"),
         "number of outputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"),
        ((e, "s", "add", "INPUTS", 1, "a", "EXTRA"), "Invalid AI.SCRIPTEXECUTE command. Unexpected argument: EXTRA"),
        ((e, "s", "add", "INPUTS", 1, "a", "TIMEOUT"), "No value provided for TIMEOUT in AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 1, "a", "TIMEOUT", 0), "Invalid value for TIMEOUT"),
        ((e, "s", "add", "INPUTS", 1, "a", "TIMEOUT", "x"), "Invalid value for TIMEOUT"),
        ((e, "s", "add", "INPUTS", 1, "a", "TIMEOUT", 5, "OUTPUTS", 1, "y"),
         "Encountered problem parsing AI.SCRIPTEXECUTE"),
        ((e, "s", "add", "INPUTS", 2, "a", "nosuch", "OUTPUTS", 1, "y"), "tensor key is empty or in a different shard"),
        ((e, "s", "add", "INPUTS", 2, "a", "str", "OUTPUTS", 1, "y"),
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
    ]


@pytest.mark.parametrize(("args", "text"), _execute_errors())
def test_execute_errors_in_spec_order_run_nothing(s, args, text):
    s.set("str", "v")
    assert error_of(s, *args) == text
    assert s.exists("x", "y") == 0
    assert _info(s, "s")[b"calls"] == 0


def test_runs_refused_inside_multi(s):
    pipe = s.pipeline(transaction=True)
    pipe.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c")
    pipe.execute_command("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "b", "OUTPUTS", "c")
    pipe.execute_command("AI.SCRIPTSTORE", "s3", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE)
    results = pipe.execute(raise_on_error=False)
    for result in results:
        assert isinstance(result, redis.ResponseError)
        assert str(result) == "Cannot run RedisAI command within a transaction or a LUA script"
    assert s.exists("c", "s3") == 0


def _occupy_cpu_worker(server):
    """Block the CPU queue's only worker until the returned event is set."""
    gate = threading.Event()
    schedulers = server.state.extensions["schedulers"]
    server.call(lambda: schedulers.call("CPU", lambda: gate.wait(30)))
    return gate


def test_timeout_while_queued_is_timedout(s, server):
    """A script call is queued on its device like a model run: a TIMEOUT that passes while it waits gives +TIMEDOUT,
    and the loop keeps serving other clients meanwhile."""
    gate = _occupy_cpu_worker(server)
    replies: list = []
    client = server.client(protocol=s.connection_pool.connection_kwargs.get("protocol"))
    runner = threading.Thread(target=lambda: replies.append(client.execute_command(
        "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 1)))
    runner.start()
    assert s.ping() is True
    runner.join(5)        # returns at once if the scheduler times queued work out by itself
    gate.set()
    runner.join(30)
    client.close()
    assert replies == [b"TIMEDOUT"]
    assert s.exists("c") == 0
    assert _info(s, "s")[b"calls"] == 0    # never ran: not a call


def test_queued_script_runs_once_the_worker_is_free(s, server):
    gate = _occupy_cpu_worker(server)
    replies: list = []
    client = server.client(protocol=2)
    runner = threading.Thread(target=lambda: replies.append(client.execute_command(
        "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 60000)))
    runner.start()
    assert s.execute_command("AI.TENSORGET", "a", "META") == [b"dtype", b"FLOAT", b"shape", [2, 2]]
    gate.set()
    runner.join(30)
    client.close()
    assert replies == [b"OK"]
    np.testing.assert_array_equal(get_tensor(s, "c"), A + B)


# ---- SCRIPTRUN (deprecated) ----------------------------------------------------------------------------------
def test_scriptrun_binds_inputs_and_writes_outputs(s):
    assert s.execute_command("AI.SCRIPTRUN", "s", "sum_and_product", "INPUTS", "a", "b", "OUTPUTS", "x", "y") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "y"), A * B)
    assert s.execute_command("AI.SCRIPTRUN", "s", "add", "TIMEOUT", 1000, "INPUTS", "a", "b", "OUTPUTS", "x") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "x"), A + B)     # an entry point gets (tensors, [], [])
    set_tensor(s, "c", A * 100)
    assert s.execute_command("AI.SCRIPTRUN", "s", "total", "INPUTS", "a", "$", "b", "c", "OUTPUTS", "t") == b"OK"
    np.testing.assert_array_equal(get_tensor(s, "t"), A + B + A * 100)


@pytest.mark.parametrize(("args", "text"), [
    (("s",), "wrong number of arguments for 'AI.SCRIPTRUN' command"),
    (("nosuch", "add", "INPUTS", "a"), "script key is empty"),
    (("s", "add", "TIMEOUT", 5, "TIMEOUT", 5, "INPUTS", "a"), "Already encountered an TIMEOUT section in SCRIPTRUN"),
    (("s", "add", "INPUTS", "a", "OUTPUTS", "x", "INPUTS", "b"),
     "Already encountered an INPUTS section in SCRIPTRUN"),
    (("s", "add", "INPUTS", "a", "INPUTS", "b"), "Already encountered an INPUTS keyword in SCRIPTRUN"),
    (("s", "add", "INPUTS", "a", "OUTPUTS", "x", "OUTPUTS", "y"),
     "Already encountered an OUTPUTS keyword in SCRIPTRUN"),
    (("s", "add", "$", "a"), "Encountered a variable size list of tensors outside of input section"),
    (("s", "add", "INPUTS", "a", "OUTPUTS", "$", "x"),
     "Encountered a variable size list of tensors outside of input section"),
    (("s", "total", "INPUTS", "a", "$", "b", "$", "c"), "Already encountered a variable size list of tensors"),
    (("s", "add", "a", "b"), "Unrecongnized parameter to SCRIPTRUN"),
    (("s", "add", "INPUTS", "a", "b", "TIMEOUT"), "No value provided for TIMEOUT"),
    (("s", "add", "TIMEOUT", -1, "INPUTS", "a", "b"), "Invalid value for TIMEOUT"),
    (("s", "add", "INPUTS", "a", "nosuch", "OUTPUTS", "x"), "tensor key is empty or in a different shard"),
])
def test_scriptrun_errors(s, args, text):
    assert error_of(s, "AI.SCRIPTRUN", *args) == text
    assert s.exists("x") == 0


# ---- torch is imported only for scripts --------------------------------------------------------------------
def test_missing_torch_is_a_clear_error_at_store_time(tmp_path):
    (tmp_path / "torch.py").write_text("raise ImportError('No module named torch', name='torch')\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "from inferd.backends.base import LoadOptions\n"
            "from inferd.commands.script_args import ScriptSpec\n"
            "from inferd.commands.scripts import build_script\n"
            "from inferd.errors import CommandError\n"
            "try:\n    build_script(ScriptSpec(b'k', 'CPU', b'def f(x):\\n    return x\\n'), LoadOptions())\n"
            "except CommandError as e:\n    print(e.text)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.splitlines() == ["ERR Could not load backend TORCH: torch is not installed"]
