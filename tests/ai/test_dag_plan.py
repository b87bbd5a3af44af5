"""DAG plans: a DAGEXECUTE of a shape seen before skips most of the parsing, and must parse exactly as in full.

The differential test parses thousands of generated DAGs twice on the server's own loop, once through
``parse_dag`` (which uses and learns plans) and once in full, and compares the parsed DAGs (ops, slots, tensors,
names, PERSIST) or the error texts. The generator reuses a few shapes with names drawn from a small pool (so names
collide in every pattern), data that is sometimes wrong, ``|>`` where a value would be, and models and LOAD keys
that are missing, of the wrong type or of another input count.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis

from inferd.commands import dag as dag_module
from inferd.commands._fastpath import dag_shape_matches
from inferd.commands.context import Client
from inferd.commands.dag_plan import MAX_PLAN_NAMES, PLANS_PER_SHAPE, DagPlans
from inferd.errors import CommandError
from tests.ai import models

LINEAR = models.onnx_linear()
TWO_INPUTS = models.onnx_two_inputs()
NAMES = ["a", "b", "x", "y", "str"]         # a and b hold tensors, str a string, x and y nothing


def setup(client: redis.Redis) -> None:
    client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", LINEAR)
    client.execute_command("AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB", TWO_INPUTS)
    client.execute_command("AI.TENSORSET", "a", "FLOAT", 1, 2, "VALUES", 1, 2)
    client.execute_command("AI.TENSORSET", "b", "FLOAT", 1, 2, "VALUES", 3, 4)
    client.set("str", "x")


class Picker:
    """Mostly one of the choices that parse, now and then anything from the pool (names collide either way)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, good: list[Any], pool: list[Any] | None = None) -> Any:
        if pool is not None and self.rng.random() < 0.12:
            return self.rng.choice(pool)
        return self.rng.choice(good)


def _one_input(pick: Picker) -> list[Any]:
    blob = np.array([1.5, -2], np.float32).tobytes()
    load, name, out = pick(["a", "b"], NAMES), pick(NAMES), pick(NAMES)
    return ["AI.DAGEXECUTE", "LOAD", "1", load, "|>",
            "AI.TENSORSET", name, pick(["FLOAT", "DOUBLE"], ["BAD", "INT8", "BOOL", "float"]), "1",
            pick(["2"], ["3", "0", "x", "02"]), pick(["BLOB"], ["blob"]),
            pick([blob], [b"short", "|>", b"\x00\x01", b"\x00\x07", blob + blob]), "|>",
            "AI.MODELEXECUTE", pick(["m"], ["m2", "nosuch", "str"]), "INPUTS", "1", pick([load, name], NAMES),
            "OUTPUTS", "1", out, "|>",
            "AI.TENSORGET", pick([out, load, name], NAMES), pick(["BLOB", "VALUES", "META"], ["BAD"])]


def _two_inputs(pick: Picker) -> list[Any]:
    first, second, out = pick(["a", "b"], NAMES), pick(["a", "b"], NAMES), pick(NAMES)
    return ["AI.DAGEXECUTE", "PERSIST", "1", pick([out, first], NAMES), "LOAD", "2", first, second, "|>",
            "AI.MODELEXECUTE", pick(["m2"], ["m", "str"]), "INPUTS", "2", pick([first, second], NAMES),
            pick([first, second], NAMES), "OUTPUTS", "1", out, "|>",
            "AI.TENSORGET", pick([out, first, second], NAMES), "VALUES"]


def _read_only(pick: Picker) -> list[Any]:
    name = pick(NAMES)
    return ["AI.DAGEXECUTE_RO", "ROUTING", pick(["tag", "a"], ["|>"]), "|>",
            "AI.TENSORSET", name, "FLOAT", "2", "VALUES", pick(["1", "2.5"], ["x", "|>"]), "2", "|>",
            "AI.TENSORGET", pick([name], NAMES), "META", pick(["VALUES", "BLOB", "META"])]


SHAPES = [_one_input, _two_inputs, _read_only]


def generated(rng: random.Random, count: int) -> Iterator[list[bytes]]:
    """``count`` DAGs of the SHAPES, drawn with ``rng``, every word as bytes."""
    pick = Picker(rng)
    for _ in range(count):
        yield [a if isinstance(a, bytes) else a.encode() for a in rng.choice(SHAPES)(pick)]


def describe(dag: Any) -> Any:
    """Everything a parsed DAG holds that its run or its reply reads."""
    slots = [None if t is None else (t.meta(), bytes(t.blob())) for t in dag.slots]
    ops = [(op.kind, op.inputs, op.outputs, op.formats, op.result,
            None if op.run is None else (op.run.model, op.run.input_keys, op.run.output_keys, op.run.timeout_ms))
           for op in dag.ops]
    persisted = {key: dag.names[key] for key in dag.persist}   # the run reads the names for PERSIST only
    return (dag.readonly, dag.deprecated, dag.db, dag.max_bytes, dag.persist, dag.timeout_ms, sorted(dag.keywords),
            persisted, slots, ops)


def outcome(parse: Any, *args: Any) -> Any:
    try:
        return "ok", describe(parse(*args))
    except CommandError as exc:
        return "error", exc.text


def differential(srv: Any, count: int, seed: int) -> dict[str, int]:
    """Parse ``count`` generated DAGs both ways on the loop thread; returns how each parse went."""
    def run() -> dict[str, int]:
        c = Client(srv.state)
        max_bytes = srv.state.config.proto_max_bulk_len
        seen = {"ok": 0, "error": 0, "planned": 0}
        for argv in generated(random.Random(seed), count):
            readonly = argv[0].endswith(b"_RO")
            hits = dag_module.PLANS.hits
            planned = outcome(dag_module.parse_dag, c, argv, readonly, False)
            full = outcome(dag_module._parse_in_full, c, argv, readonly, False, max_bytes)
            assert planned == full, argv
            seen[full[0]] += 1
            seen["planned"] += dag_module.PLANS.hits - hits
        return seen
    return srv.call(run)


@pytest.mark.parametrize("compiled", [True, False])
def test_generated_dags_parse_the_same_with_and_without_plans(start_server, monkeypatch, compiled):
    if not compiled:   # the plans' shape check in Python (as without a C compiler)
        monkeypatch.setattr("inferd.commands.dag_plan.dag_shape_matches", None)
    srv = start_server()
    setup(srv.client(protocol=2))
    seen = differential(srv, 3000, seed=5)
    # the generator reaches both outcomes often, and plans are used for a good share of the DAGs that parse
    assert seen["ok"] > 300 and seen["error"] > 300, seen
    assert seen["planned"] > seen["ok"] // 4, seen


def test_the_compiled_shape_check_agrees_with_python(start_server):
    """dag_shape_matches (C) and DagPlan.matches_in_python agree on generated DAGs against every plan of their length,
    including argv whose words are not all bytes."""
    srv = start_server()
    setup(srv.client(protocol=2))

    def run() -> dict[bool, int]:
        c = Client(srv.state)
        max_bytes = srv.state.config.proto_max_bulk_len
        rng = random.Random(11)
        plans = DagPlans()
        seen = {True: 0, False: 0}
        for argv in generated(rng, 3000):
            try:
                plans.learn(argv, dag_module._parse_in_full(c, argv, argv[0].endswith(b"_RO"), False, max_bytes))
            except CommandError:
                pass
            odd = list(argv)
            odd[rng.randrange(len(odd))] = bytearray(b"|>")   # what the parser never gives: not bytes
            for plan in plans.by_shape.get((argv[0], len(argv)), []):
                for words in (argv, odd):
                    expected = plan.matches_in_python(words) if words is argv else False
                    assert dag_shape_matches(words, *plan.shape) is expected, words
                    seen[expected] += 1
        return seen
    seen = srv.call(run)
    assert seen[True] > 300 and seen[False] > 300, seen


def test_a_repeated_shape_runs_from_its_plan_with_other_keys_and_data(start_server):
    srv = start_server()
    client = srv.client(protocol=2)
    setup(client)
    before = srv.call(lambda: dag_module.PLANS.hits)
    info_before = client.info("ai")["ai_dag_plan_hits"]
    for i in range(5):
        x = np.array([[i, i + 1]], np.float32)
        reply = client.execute_command("AI.DAGEXECUTE", "LOAD", "1", "a" if i % 2 else "b", "|>",
                                       "AI.TENSORSET", f"x{i % 2}", "FLOAT", 1, 2, "BLOB", x.tobytes(), "|>",
                                       "AI.MODELEXECUTE", "m", "INPUTS", 1, f"x{i % 2}", "OUTPUTS", 1, "out", "|>",
                                       "AI.TENSORGET", "out", "VALUES")
        assert reply[:2] == [b"OK", b"OK"]
        np.testing.assert_allclose([float(v) for v in reply[2]], (x @ models.WEIGHTS + models.BIAS).ravel(), rtol=1e-6)
    assert srv.call(lambda: dag_module.PLANS.hits) - before == 4     # the first one was parsed in full
    info = client.info("ai")
    assert info["ai_dag_plan_hits"] - info_before == 4 and info["ai_dag_plans"] >= 1


def test_an_error_in_a_planned_shape_is_the_full_parse_error(start_server):
    srv = start_server()
    client = srv.client(protocol=2)
    setup(client)

    def dag(load: str, model: str) -> Any:
        return client.execute_command("AI.DAGEXECUTE", "LOAD", "1", load, "|>",
                                      "AI.MODELEXECUTE", model, "INPUTS", 1, load, "OUTPUTS", 1, "out", "|>",
                                      "AI.TENSORGET", "out", "VALUES")
    assert len(dag("a", "m")) == 2
    for load, model, text in [("nosuch", "m", "tensor key is empty or in a different shard"),
                              ("str", "m", "WRONGTYPE Operation against a key holding the wrong kind of value"),
                              ("a", "m2", "Number of keys given as INPUTS here does not match model definition"),
                              ("a", "nosuch", "model key is empty")]:
        try:
            dag(load, model)
        except redis.ResponseError as exc:
            assert str(exc) == text
        else:
            raise AssertionError("no error")
    client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", TWO_INPUTS)   # the model changes under a plan
    try:
        dag("a", "m")
    except redis.ResponseError as exc:
        assert str(exc) == "Number of keys given as INPUTS here does not match model definition"
    else:
        raise AssertionError("no error")


def test_plans_are_bounded_per_shape_and_in_all(start_server, monkeypatch):
    srv = start_server()
    setup(srv.client(protocol=2))
    c = Client(srv.state)

    def argv(timeout: int) -> list[bytes]:   # DAGs of one length whose TIMEOUT differs: one plan each
        return [b"AI.DAGEXECUTE", b"LOAD", b"1", b"a", b"TIMEOUT", b"%d" % timeout, b"|>", b"AI.TENSORGET", b"a"]

    def learn(plans: DagPlans, timeouts: range) -> list[bool]:
        for timeout in timeouts:
            plans.learn(argv(timeout), dag_module._parse_in_full(c, argv(timeout), False, False, 0))
        return [plans.find(argv(timeout)) is not None for timeout in timeouts]
    per_shape = DagPlans()
    # the least recently used plan of a shape makes room: finding 1 again keeps it, so 2 goes
    found = srv.call(lambda: learn(per_shape, range(1, PLANS_PER_SHAPE + 1)))
    assert found == [True] * PLANS_PER_SHAPE
    srv.call(lambda: (per_shape.find(argv(1)), learn(per_shape, range(10, 11))))
    assert srv.call(lambda: [per_shape.find(argv(t)) is not None for t in (1, 2, 3, 10)]) == [True, False, True, True]
    assert per_shape.count == PLANS_PER_SHAPE
    monkeypatch.setattr("inferd.commands.dag_plan.MAX_PLANS", 2)
    in_all = DagPlans()
    assert srv.call(lambda: learn(in_all, range(1, 4))) == [False, False, True]   # the third dropped the first two
    assert in_all.count == 1


def test_a_dag_of_many_names_has_no_plan(start_server):
    srv = start_server()
    client = srv.client(protocol=2)
    setup(client)
    keys = ["a"] * (MAX_PLAN_NAMES + 1)
    before = srv.call(lambda: dag_module.PLANS.count)
    for _ in range(2):
        assert client.execute_command("AI.DAGEXECUTE", "LOAD", len(keys), *keys, "|>",
                                      "AI.TENSORGET", "a", "VALUES") == [[b"1", b"2"]]
    assert srv.call(lambda: dag_module.PLANS.count) == before


def test_a_planned_blob_is_checked_as_in_full(start_server):
    """A planned TENSORSET whose words are the plan's reads its blob directly: only where no element needs checking."""
    srv = start_server()
    client = srv.client(protocol=2)
    cases = [("BOOL", [2], b"\x00\x01", [0, 1]),
             ("BOOL", [2], b"\x00\x07", "BOOL tensor elements must be 0 or 1"),
             ("STRING", [2], b"ab\x00c\x00", [b"ab", b"c"]),
             ("STRING", [2], b"ab\x00c\x00d\x00",
              "Number of string elements in data blob does not match tensor length"),
             ("FLOAT", [2], np.array([1.5, 2], np.float32).tobytes(), [1.5, 2.0]),
             ("FLOAT", [2], np.array([1.5, 2, 3], np.float32).tobytes(),
              "data length does not match tensor shape and type"),
             ("FLOAT", [3], np.array([1.5, 2, 3], np.float32).tobytes(), [1.5, 2.0, 3.0]),
             ("INT8", [3], b"\x01\x02\x03", [1, 2, 3])]
    for dtype, dims, blob, want in cases:
        for _ in range(2):   # parsed in full, then from its plan
            try:
                got = client.execute_command("AI.DAGEXECUTE", "ROUTING", "t", "|>",
                                             "AI.TENSORSET", "t", dtype, *dims, "BLOB", blob, "|>",
                                             "AI.TENSORGET", "t", "VALUES")
            except redis.ResponseError as exc:
                assert str(exc) == want, (dtype, blob)
            else:
                assert [float(v) if dtype == "FLOAT" else v for v in got[1]] == want, (dtype, blob)
