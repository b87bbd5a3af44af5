"""DAG commands: AI.DAGEXECUTE, AI.DAGEXECUTE_RO and the deprecated AI.DAGRUN, AI.DAGRUN_RO (spec section 4).

A DAG is parsed completely (header, every op, models and scripts resolved, TENSORSET ops materialized, LOAD
snapshots taken) before anything runs, so a parse error changes nothing. Tensor names are DAG-local and
SSA-versioned: every op output gets a new slot and later ops read the latest earlier version of a name. Model and
script ops run through the device queues like any client's request (model ops batch with other clients' runs);
each device runs its ops in order and ops on different devices run in parallel as soon as their inputs exist.
PERSIST writes the keyspace only after every op succeeded. The execution itself lives in
:mod:`inferd.commands.dag_run`; the parsed form, and the plans that let a DAGEXECUTE of a shape seen before skip
most of the parsing (DAGs with script ops are always parsed in full), in :mod:`inferd.commands.dag_plan`.
"""
from __future__ import annotations

from typing import Any

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.dag_plan import (
    ARROW,
    MODEL,
    SCRIPT,
    TENSORGET,
    TENSORSET,
    Dag,
    DagPlans,
    Op,
    check_persist_target,
)
from inferd.commands.dag_run import DagRun
from inferd.commands.model_args import ModelRun, parse_modelexecute, parse_modelrun, parse_timeout
from inferd.commands.script_args import ScriptRun, parse_scriptexecute, parse_scriptrun
from inferd.commands.table import command
from inferd.commands.tensors import fetch_tensor, parse_tensorset, tensorget_formats
from inferd.errors import CommandError


# ---- header ------------------------------------------------------------------------------------------------
def _until_arrow(argv: list[bytes], start: int) -> int:
    """Index of the next ``|>`` at or after ``start`` (len(argv) if none)."""
    try:
        return argv.index(ARROW, start)
    except ValueError:
        return len(argv)


def _counted_keys(argv: list[bytes], i: int, missing: str, bad: str, mismatch: str) -> tuple[list[bytes], int]:
    """``KEYWORD n key...`` starting at the keyword's index ``i``; returns the keys and the next index."""
    if i + 1 >= len(argv):
        raise CommandError(missing)
    count = parse_int(argv[i + 1], bad) if argv[i + 1] != ARROW else 0
    if count <= 0:
        raise CommandError(bad)
    start = i + 2
    if _until_arrow(argv, start) - start < count:
        raise CommandError(mismatch)
    return argv[start:start + count], start + count


def _parse_load(dag: Dag, argv: list[bytes], i: int) -> int:
    keys, i = _counted_keys(argv, i, errors.DAG_LOAD_MISSING, errors.DAG_LOAD_COUNT, errors.DAG_LOAD_MISMATCH)
    for key in keys:
        dag.define(key, fetch_tensor(dag.db, key))
    return i


def _parse_persist(dag: Dag, argv: list[bytes], i: int) -> int:
    if dag.readonly:
        raise CommandError(errors.DAG_PERSIST_IN_RO)
    keys, i = _counted_keys(argv, i, errors.DAG_PERSIST_MISSING, errors.DAG_PERSIST_COUNT,
                            errors.DAG_PERSIST_MISMATCH)
    if len(set(keys)) != len(keys):
        raise CommandError(errors.DAG_PERSIST_UNIQUE)
    dag.persist = list(keys)
    return i


def _parse_timeout(dag: Dag, argv: list[bytes], i: int) -> int:
    if i + 1 >= len(argv) or argv[i + 1] == ARROW:
        raise CommandError(errors.AI_TIMEOUT_NO_VALUE)
    dag.timeout_ms = parse_timeout(argv[i + 1])
    return i + 2


def _parse_routing(dag: Dag, argv: list[bytes], i: int) -> int:
    if i + 1 >= len(argv) or argv[i + 1] == ARROW:
        raise CommandError(errors.DAG_ROUTING_MISSING)
    return i + 2   # a single-node server: the routing key only pins a slot in a cluster


_NEEDS_ONE_OF = (b"LOAD", b"PERSIST", b"ROUTING")   # a DAGEXECUTE must name its keys (the spec's rule)
_HEADER = {b"LOAD": _parse_load, b"PERSIST": _parse_persist, b"TIMEOUT": _parse_timeout, b"ROUTING": _parse_routing}


def parse_header(dag: Dag, argv: list[bytes]) -> int:
    """LOAD / PERSIST / ROUTING / TIMEOUT, each at most once, up to the first ``|>``; returns its index."""
    i = 1
    keywords: set[bytes] = set()
    dag.keywords = keywords
    while i < len(argv) and argv[i] != ARROW:
        word = argv[i].upper()
        parse = _HEADER.get(word)
        if parse is None or word in keywords:
            raise CommandError(errors.DAG_UNEXPECTED.format(argv[i].decode("utf-8", "replace")))
        keywords.add(word)
        i = parse(dag, argv, i)
    return i


# ---- ops ---------------------------------------------------------------------------------------------------
def split_ops(argv: list[bytes], i: int) -> list[list[bytes]]:
    """The ops after the header (``i`` is the first ``|>``); an empty op (``|>`` last or doubled) is an error."""
    ops: list[list[bytes]] = []
    while i < len(argv):
        end = _until_arrow(argv, i + 1)
        if end == i + 1:
            raise CommandError(errors.DAG_UNEXPECTED.format("|>"))
        ops.append(argv[i + 1:end])
        i = end
    return ops


def _op_tensorset(dag: Dag, argv: list[bytes]) -> Op:
    if len(argv) < 4:
        raise CommandError(errors.DAG_OP_ARITY.format(argv[0].decode("utf-8", "replace")))
    tensor = parse_tensorset(argv, dag.max_bytes)
    return Op(TENSORSET, [], [dag.define(argv[1], tensor)])


def _op_tensorget(dag: Dag, argv: list[bytes]) -> Op:
    if not 2 <= len(argv) <= 4:
        raise CommandError(errors.DAG_OP_ARITY.format(argv[0].decode("utf-8", "replace")))
    slot = dag.lookup(argv[1])
    return Op(TENSORGET, [slot], [], tensorget_formats(argv[2:]))   # format words checked before anything runs


def _model_op(dag: Dag, run: ModelRun) -> Op:
    if run.timeout_ms:
        raise CommandError(errors.DAG_TIMEOUT_IN_OP)
    inputs = [dag.lookup(name) for name in run.input_keys]
    outputs = [dag.define(name, None) for name in run.output_keys]
    return Op(MODEL, inputs, outputs, run=run)


def _op_modelexecute(dag: Dag, argv: list[bytes]) -> Op:
    try:
        run = parse_modelexecute(dag.db, argv)
    except CommandError as exc:
        if exc.text in (errors.AI_TIMEOUT_NO_VALUE, errors.AI_TIMEOUT_INVALID):
            raise CommandError(errors.DAG_TIMEOUT_IN_OP) from None
        raise
    return _model_op(dag, run)


def _op_modelrun(dag: Dag, argv: list[bytes]) -> Op:
    if len(argv) > 2 and argv[2].upper() == b"TIMEOUT":
        raise CommandError(errors.DAG_TIMEOUT_IN_OP)
    return _model_op(dag, parse_modelrun(dag.db, argv))


def _script_op(dag: Dag, run: ScriptRun) -> Op:
    inputs = [dag.lookup(name) for name in run.input_keys]
    outputs = [dag.define(name, None) for name in run.output_keys]
    return Op(SCRIPT, inputs, outputs, script=run)


def _op_scriptexecute(dag: Dag, argv: list[bytes]) -> Op:
    if dag.readonly:
        raise CommandError(errors.DAG_SCRIPT_IN_RO)
    return _script_op(dag, parse_scriptexecute(dag.db, argv, in_dag=True))


def _op_scriptrun(dag: Dag, argv: list[bytes]) -> Op:
    return _script_op(dag, parse_scriptrun(dag.db, argv, in_dag=True))


_EXECUTE_OPS = {b"AI.TENSORSET": _op_tensorset, b"AI.TENSORGET": _op_tensorget,
                b"AI.MODELEXECUTE": _op_modelexecute, b"AI.SCRIPTEXECUTE": _op_scriptexecute}
_DAGRUN_OPS = {b"AI.TENSORSET": _op_tensorset, b"AI.TENSORGET": _op_tensorget, b"AI.MODELRUN": _op_modelrun,
               b"AI.SCRIPTRUN": _op_scriptrun}


def parse_op(dag: Dag, argv: list[bytes]) -> Op:
    """One op, checked against the DAG flavour (DAGEXECUTE takes the new ops, DAGRUN the deprecated ones)."""
    name = argv[0].upper()
    table = _DAGRUN_OPS if dag.deprecated else _EXECUTE_OPS
    parse = table.get(name)
    if parse is not None:
        return parse(dag, argv)
    if not dag.deprecated and name in (b"AI.MODELRUN", b"AI.SCRIPTRUN"):
        raise CommandError(errors.DAG_DEPRECATED_OP.format(name.decode()))
    if dag.deprecated and name in (b"AI.MODELEXECUTE", b"AI.SCRIPTEXECUTE"):
        raise CommandError(errors.DAG_NEW_OP_IN_DAGRUN.format(name.decode()))
    raise CommandError(errors.DAG_UNSUPPORTED_OP)


def parse_dag(c: Client, argv: list[bytes], readonly: bool, deprecated: bool) -> Dag:
    """Parse a whole DAG command (nothing runs, nothing is written); a DAGEXECUTE of a known shape uses its plan."""
    max_bytes = c.server.config.proto_max_bulk_len
    if not deprecated:
        planned = PLANS.dag_for(c.db, argv, readonly, max_bytes)
        if planned is not None:
            return planned
    dag = _parse_in_full(c, argv, readonly, deprecated, max_bytes)
    if not deprecated:
        PLANS.learn(argv, dag)
    return dag


def _parse_in_full(c: Client, argv: list[bytes], readonly: bool, deprecated: bool, max_bytes: int) -> Dag:
    if not deprecated and len(argv) < 6:
        raise CommandError(errors.DAG_MISSING_ARGS.format(argv[0].decode("utf-8", "replace")))
    dag = Dag(readonly, deprecated, c.db, max_bytes)
    op_argvs = split_ops(argv, parse_header(dag, argv))
    for op_argv in op_argvs:
        dag.ops.append(parse_op(dag, op_argv))
    if not dag.ops:
        raise CommandError(errors.DAG_EMPTY)
    if not deprecated and not dag.keywords.intersection(_NEEDS_ONE_OF):
        raise CommandError(errors.DAG_NO_KEYWORD)
    for key in dag.persist:
        if key not in dag.names:
            raise CommandError(errors.DAG_PERSIST_NOT_FOUND)
        check_persist_target(dag.db, key)
    return dag


PLANS = DagPlans()   # shapes are independent of any server or database: one table per process


# ---- handlers ----------------------------------------------------------------------------------------------
def _run(c: Client, argv: list[bytes], readonly: bool, deprecated: bool) -> Any:
    dag = parse_dag(c, argv, readonly, deprecated)
    reply = DagRun(dag, c.server.extensions["schedulers"], c.reply_ready, c).start()
    if reply.done():   # every op ran at once (see DagRun._submit): reply now, as any command that does not wait
        return reply.result()
    return reply


def dagexecute(c: Client, argv: list[bytes]) -> Any:
    """AI.DAGEXECUTE [LOAD n key...] [PERSIST n key...] [ROUTING tag] [TIMEOUT ms] |> op [|> op ...]."""
    return _run(c, argv, readonly=False, deprecated=False)


def dagexecute_ro(c: Client, argv: list[bytes]) -> Any:
    """AI.DAGEXECUTE_RO [LOAD n key...] [ROUTING tag] [TIMEOUT ms] |> op [|> op ...]: no PERSIST, no scripts."""
    return _run(c, argv, readonly=True, deprecated=False)


def dagrun(c: Client, argv: list[bytes]) -> Any:
    """AI.DAGRUN [LOAD n key...] [PERSIST n key...] [TIMEOUT ms] |> op ... (deprecated: MODELRUN/SCRIPTRUN ops)."""
    return _run(c, argv, readonly=False, deprecated=True)


def dagrun_ro(c: Client, argv: list[bytes]) -> Any:
    """AI.DAGRUN_RO [LOAD n key...] [TIMEOUT ms] |> op ... (deprecated, read-only)."""
    return _run(c, argv, readonly=True, deprecated=True)


_ARGS = "[LOAD n key ...] [PERSIST n key ...] [ROUTING tag] [TIMEOUT ms] |> op [|> op ...]"
_ARGS_RO = "[LOAD n key ...] [ROUTING tag] [TIMEOUT ms] |> op [|> op ...]"
COMMANDS = [
    command("ai.dagexecute", dagexecute, -1, "write denyoom runs-model", group="module", since="1.2.5",
            summary="Runs a DAG of tensor, model and script ops in one round trip (RedisAI).", arguments=_ARGS),
    command("ai.dagexecute_ro", dagexecute_ro, -1, "readonly runs-model", group="module", since="1.2.5",
            summary="Runs a read-only DAG (no PERSIST, no scripts) (RedisAI).", arguments=_ARGS_RO),
    command("ai.dagrun", dagrun, -4, "write denyoom runs-model", group="module", since="1.0.0",
            summary="Runs a DAG (deprecated: use AI.DAGEXECUTE).", arguments=_ARGS),
    command("ai.dagrun_ro", dagrun_ro, -4, "readonly runs-model", group="module", since="1.0.0",
            summary="Runs a read-only DAG (deprecated: use AI.DAGEXECUTE_RO).", arguments=_ARGS_RO),
]
