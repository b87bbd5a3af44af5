"""The parsed form of a DAG (:class:`Dag`, :class:`Op`), and plans that skip re-parsing a DAG shape seen before.

Clients send one DAG shape again and again with other keys and other tensor data (a scoring request per
transaction). Once an AI.DAGEXECUTE or AI.DAGEXECUTE_RO has parsed without error, :func:`plan_of` records its
shape: which argument positions decide how it parses (the command name, header keywords and counts, every ``|>``,
op names, MODELEXECUTE's INPUTS/OUTPUTS words and counts, TENSORGET's format words), where the tensor names are,
and which of those names are equal. A later DAG of the same length with the same deciding words, no other ``|>``
and names equal in the same places parses into the same ops over the same slots, so :meth:`DagPlan.build` redoes
only what depends on the values: LOAD lookups, each TENSORSET's tensor (dtype, shape and data checked by the same
parser), each model's lookup and its input/output counts, and PERSIST's type checks. Anything wrong there makes
the caller parse the DAG in full, which reports the error exactly as it would have without plans.
"""
from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from numpy import ndarray

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.model_args import ModelRun, fetch_model
from inferd.commands.script_args import ScriptRun
from inferd.commands.tensors import fetch_tensor, parse_tensorset
from inferd.errors import CommandError
from inferd.store.keyspace import Database
from inferd.store.tensor import Tensor

try:
    from inferd.commands._fastpath import dag_shape_matches
except ImportError:   # pragma: no cover - built at install when a C compiler is there; matches() does it in Python
    dag_shape_matches = None  # type: ignore[assignment]

ARROW = b"|>"
TENSORSET, TENSORGET, MODEL, SCRIPT = "TENSORSET", "TENSORGET", "MODEL", "SCRIPT"
PLANS_PER_SHAPE = 4     # plans kept per (command name, argument count)
MAX_PLANS = 1024        # plans kept in all (past it, all are dropped and learnt again)
MAX_PLAN_NAMES = 64     # a DAG naming more tensors is parsed in full (matching compares every pair of names)


class Op:
    """One parsed DAG op; ``inputs``/``outputs`` are slot numbers in :attr:`Dag.slots`.

    ``formats``: TENSORGET's (meta, blob, values); ``run``: a model op's run, ``script`` a SCRIPT op's; ``result``:
    None while not run, then OK or a CommandError. Only a model or script op changes once parsed (its ``result``): a
    plan's TENSORSET and TENSORGET ops are shared by every DAG it builds.
    """

    # a plain class with its own __init__, one made per model op of each request: a dataclass's __init__ is
    # interpreted Python even where mypyc compiles the class
    __slots__ = ("kind", "inputs", "outputs", "formats", "run", "script", "result")

    def __init__(self, kind: str, inputs: list[int], outputs: list[int],
                 formats: tuple[bool, bool, bool] = (False, False, False), run: ModelRun | None = None,
                 script: ScriptRun | None = None) -> None:
        self.kind = kind
        self.inputs = inputs
        self.outputs = outputs
        self.formats = formats
        self.run = run
        self.script = script
        self.result: Any = None

    @property
    def device(self) -> str:
        """The queue this op runs on (TENSORSET/TENSORGET belong to CPU and run on the loop)."""
        if self.run is not None:
            return self.run.model.device.upper()
        return self.script.script.device.upper() if self.script is not None else "CPU"


class Dag:
    """A parsed DAG: header options, SSA slots, ops."""

    __slots__ = ("readonly", "deprecated", "db", "max_bytes", "persist", "timeout_ms", "keywords", "slots", "names",
                 "ops")

    def __init__(self, readonly: bool, deprecated: bool, db: Database, max_bytes: int = 0) -> None:
        self.readonly = readonly
        self.deprecated = deprecated
        self.db = db
        self.max_bytes = max_bytes                  # bound on a zero-filled TENSORSET op (proto-max-bulk-len)
        self.persist: list[bytes] = []
        self.timeout_ms = 0
        self.keywords: set[bytes] | frozenset[bytes] = frozenset()   # the header's (a plan's: shared)
        self.slots: list[Tensor | None] = []
        self.names: dict[bytes, int] = {}          # each name's latest slot (a plan's DAG: only for PERSIST)
        self.ops: list[Op] = []

    def define(self, name: bytes, value: Tensor | None) -> int:
        """A new version of ``name``; returns its slot."""
        self.slots.append(value)
        slot = self.names[name] = len(self.slots) - 1
        return slot

    def lookup(self, name: bytes) -> int:
        """The latest version of ``name`` defined so far; ``ERR INPUT key cannot be found in DAG`` otherwise."""
        slot = self.names.get(name)
        if slot is None:
            raise CommandError(errors.DAG_INPUT_NOT_FOUND)
        return slot


def _getter(positions: list[int]) -> Callable[[list[bytes]], tuple[bytes, ...]]:
    """The words at ``positions`` of an argv, always as a tuple (itemgetter of one position returns the word)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda argv: (argv[only],)
    return itemgetter(*positions)   # type: ignore[return-value]


class DagPlan:
    """The shape of a DAG that parsed without error, and how to build the same DAG for other keys and data."""

    __slots__ = ("arrows", "fixed_words", "fixed", "name_words", "pattern", "keywords", "timeout_ms",
                 "slot_count", "loads", "steps", "names", "persist", "shape")

    def __init__(self, argv: list[bytes], dag: Dag, fixed: list[int], names: list[int], loads: list[int],
                 persist: list[int], steps: list[tuple[Any, ...]]) -> None:
        self.arrows = argv.count(ARROW)
        self.fixed_words = _getter(fixed)
        self.fixed = self.fixed_words(argv)
        self.name_words = _getter(names)
        self.pattern = _pattern(self.name_words(argv))
        # what the compiled check (_fastpath_tensors.c) takes after argv
        self.shape = (tuple(fixed), self.fixed, self.arrows, tuple(names), self.pattern)
        self.keywords = frozenset(dag.keywords)
        self.timeout_ms = dag.timeout_ms
        self.slot_count = len(dag.slots)
        self.loads = list(enumerate(loads))                   # LOAD keys define slots 0, 1, ... in order
        self.steps = steps
        first = {argv[i]: i for i in reversed(names)}        # a position of each distinct name
        self.names = [(first[name], slot) for name, slot in dag.names.items()]
        self.persist = persist

    def matches(self, argv: list[bytes]) -> bool:
        """Whether ``argv`` (as long as this plan's DAG) parses into this plan's ops over the same slots."""
        if dag_shape_matches is not None:
            return dag_shape_matches(argv, *self.shape)
        return self.matches_in_python(argv)

    def matches_in_python(self, argv: list[bytes]) -> bool:
        """:meth:`matches` without the compiled check."""
        return (self.fixed_words(argv) == self.fixed and argv.count(ARROW) == self.arrows
                and _pattern(self.name_words(argv)) == self.pattern)

    def build(self, db: Database, argv: list[bytes], readonly: bool, max_bytes: int) -> Dag:
        """The DAG that a full parse of ``argv`` gives; raises CommandError where the full parse might fail."""
        dag = Dag(readonly, False, db, max_bytes)
        dag.keywords = self.keywords
        dag.timeout_ms = self.timeout_ms
        slots: list[Tensor | None] = [None] * self.slot_count
        for slot, index in self.loads:
            slots[slot] = fetch_tensor(db, argv[index])
        ops = dag.ops
        for kind, inputs, outputs, at, detail, shared in self.steps:
            if kind is TENSORSET:
                end, same = detail
                if same is not None and argv[at + 2:end - 1] == same[0] and len(argv[end - 1]) == same[1]:
                    slots[outputs[0]] = Tensor(ndarray(same[3], same[2], argv[end - 1]), same[4])   # read-only
                else:
                    slots[outputs[0]] = parse_tensorset(argv[at:end], max_bytes)
                ops.append(shared)
            elif kind is TENSORGET:
                ops.append(shared)
            else:
                model = fetch_model(db, argv[at])
                n_in, n_out, first_in, first_out = detail
                if n_in != len(model.inputs) or (model.outputs is not None and n_out != len(model.outputs)):
                    raise CommandError(errors.AI_INPUTS_VS_MODEL)   # the full parse says which count is wrong
                run = ModelRun(model, argv[first_in:first_in + n_in], argv[first_out:first_out + n_out])
                ops.append(Op(MODEL, inputs, outputs, run=run))
        dag.slots = slots
        if self.persist:   # the names are read by PERSIST only (after parsing): left empty without it
            dag.names = {argv[index]: slot for index, slot in self.names}
            dag.persist = [argv[index] for index in self.persist]
            for key in dag.persist:
                check_persist_target(db, key)
        return dag


def check_persist_target(db: Database, key: bytes) -> None:
    """A PERSIST key may hold nothing or a tensor; WRONGTYPE otherwise."""
    existing = db.get(key)
    if existing is not None and existing.__class__ is not Tensor:
        raise CommandError(errors.WRONGTYPE)


def _pattern(names: tuple[bytes, ...]) -> tuple[int, ...]:
    """Which names are equal: each name's first position among them (``a b a`` -> ``0 1 0``)."""
    return tuple(map(names.index, names))


def _same_blob(argv: list[bytes], at: int, end: int, tensor: Tensor | None) -> tuple[Any, ...] | None:
    """How a TENSORSET op's BLOB of a numeric type is read again when its dtype and dims words are the same.

    (those words, the blob's length, the numpy dtype, the shape, the tensor dtype); None for VALUES, STRING and BOOL
    (whose data are checked element by element) and zero-filled tensors: those always go through parse_tensorset.
    """
    if tensor is None or end - at < 5 or argv[end - 2].upper() != b"BLOB" or tensor.dtype.kind in ("string", "bool"):
        return None
    array = tensor.array
    return argv[at + 2:end - 1], array.nbytes, array.dtype, array.shape, tensor.dtype


def plan_of(argv: list[bytes], dag: Dag) -> DagPlan | None:
    """The plan of an AI.DAGEXECUTE(_RO) that parsed without error (None for ops that have no plan)."""
    arrows = [i for i, word in enumerate(argv) if word == ARROW]
    fixed = list(range(arrows[0])) + arrows    # the header's words are fixed except the keys and ROUTING's tag
    names: list[int] = []
    loads: list[int] = []
    persist: list[int] = []
    free: list[int] = []
    i = 1
    while i < arrows[0]:
        word = argv[i].upper()
        if word in (b"LOAD", b"PERSIST"):
            keys = list(range(i + 2, i + 2 + parse_int(argv[i + 1])))
            (loads if word == b"LOAD" else persist).extend(keys)
            names.extend(keys)
            i = keys[-1] + 1
        else:
            if word == b"ROUTING":
                free.append(i + 1)
            i += 2
    steps: list[tuple[Any, ...]] = []
    for op, start, end in zip(dag.ops, arrows, arrows[1:] + [len(argv)], strict=True):
        at = start + 1                              # the op's name
        fixed.append(at)
        if op.kind == TENSORSET:
            names.append(at + 1)                    # dtype, shape and data: checked again by parse_tensorset
            same = _same_blob(argv, at, end, dag.slots[op.outputs[0]])
            steps.append((TENSORSET, op.inputs, op.outputs, at, (end, same), Op(TENSORSET, op.inputs, op.outputs)))
        elif op.kind == TENSORGET:
            names.append(at + 1)
            fixed.extend(range(at + 2, end))        # the format words
            steps.append((TENSORGET, op.inputs, op.outputs, at, op.formats,
                          Op(TENSORGET, op.inputs, op.outputs, op.formats)))
        elif op.kind == MODEL and op.run is not None and argv[at].upper() == b"AI.MODELEXECUTE":
            n_in, n_out = len(op.run.input_keys), len(op.run.output_keys)
            first_in, first_out = at + 4, at + 4 + n_in + 2
            if first_out + n_out != end:            # a TIMEOUT (refused in a DAG op): no plan
                return None
            fixed.extend([at + 2, at + 3, first_out - 2, first_out - 1])   # INPUTS n, OUTPUTS m
            names.extend(range(first_in, first_in + n_in))
            names.extend(range(first_out, first_out + n_out))
            steps.append((MODEL, op.inputs, op.outputs, at + 1, (n_in, n_out, first_in, first_out), None))
        else:
            return None
    if len(names) > MAX_PLAN_NAMES:
        return None
    fixed = sorted(set(fixed) - set(names) - set(free))
    return DagPlan(argv, dag, fixed, names, loads, persist, steps)


class DagPlans:
    """Plans by (command name, argument count), the most recently used first, a few per shape, bounded in all."""

    def __init__(self) -> None:
        self.by_shape: dict[tuple[bytes, int], list[DagPlan]] = {}
        self.count = 0
        self.hits = 0

    def dag_for(self, db: Database, argv: list[bytes], readonly: bool, max_bytes: int) -> Dag | None:
        """The DAG of ``argv`` built from a plan it matches; None without one or where the build fails.

        After None the caller parses in full, which reports any error exactly as without plans.
        """
        plan = self.find(argv)
        if plan is None:
            return None
        try:
            dag = plan.build(db, argv, readonly, max_bytes)
        except CommandError:
            return None
        self.hits += 1
        return dag

    def find(self, argv: list[bytes]) -> DagPlan | None:
        """A plan that ``argv`` matches, if any (moved to the front of its shape's plans)."""
        plans = self.by_shape.get((argv[0], len(argv)))
        if plans:
            for index, plan in enumerate(plans):
                if plan.matches(argv):
                    if index:
                        plans.insert(0, plans.pop(index))
                    return plan
        return None

    def learn(self, argv: list[bytes], dag: Dag) -> None:
        """Keep the plan of a DAG that parsed in full, in place of its shape's least recently used one if need be.

        Past :data:`MAX_PLANS` every plan is dropped: the shapes in use are learnt again as they come.
        """
        plan = plan_of(argv, dag)
        if plan is None:
            return
        if self.count >= MAX_PLANS:
            self.by_shape.clear()
            self.count = 0
        plans = self.by_shape.setdefault((argv[0], len(argv)), [])
        if len(plans) >= PLANS_PER_SHAPE:
            plans.pop()
            self.count -= 1
        plans.insert(0, plan)
        self.count += 1
