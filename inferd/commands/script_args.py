"""Argument grammar of the script commands, checked in RedisAI's order with its error texts (spec section 3).

SCRIPTSTORE / SCRIPTSET say what to compile, SCRIPTEXECUTE / SCRIPTRUN what to run. ``parse_scriptexecute`` and
``parse_scriptrun`` are shared with DAG ops (``in_dag``: no TIMEOUT, and SCRIPTEXECUTE's first scope is free).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.model_args import parse_timeout
from inferd.errors import CommandError
from inferd.store.keyspace import Database
from inferd.store.script import Script


@dataclass(slots=True)
class ScriptSpec:
    """A parsed SCRIPTSTORE/SCRIPTSET: what to compile and how to describe it."""

    key: bytes
    device: str
    source: bytes = b""
    tag: bytes = b""
    entry_points: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ScriptRun:
    """A parsed SCRIPTEXECUTE/SCRIPTRUN: the script (resolved now), the function and its KEYS, INPUTS, ARGS, OUTPUTS.

    ``timeout_ms`` is 0 when no TIMEOUT was given.
    """

    script: Script
    function: str
    keys: list[str] = field(default_factory=list)
    input_keys: list[bytes] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    output_keys: list[bytes] = field(default_factory=list)
    timeout_ms: int = 0


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def fetch_script(db: Database, key: bytes) -> Script:
    """The script at ``key``: ``ERR script key is empty`` if missing, WRONGTYPE if the key holds something else."""
    value = db.get_typed(key, Script)
    if value is None:
        raise CommandError(errors.AI_SCRIPT_EMPTY)
    return value


# ---- SCRIPTSTORE / SCRIPTSET -------------------------------------------------------------------------------
def _tag(argv: list[bytes], spec: ScriptSpec) -> int:
    """An optional ``TAG t`` after the device; returns the next index."""
    if len(argv) > 4 and argv[3].upper() == b"TAG":
        spec.tag = argv[4]
        return 5
    return 3


def _source(argv: list[bytes], i: int, spec: ScriptSpec) -> None:
    if i + 1 >= len(argv) or argv[i].upper() != b"SOURCE":
        raise CommandError(errors.SCRIPT_MISSING_SOURCE)
    spec.source = argv[i + 1]


def parse_scriptstore(argv: list[bytes]) -> ScriptSpec:
    """``AI.SCRIPTSTORE key device [TAG t] ENTRY_POINTS n fn... SOURCE src`` (the device is checked later)."""
    if len(argv) < 8:
        raise errors.wrong_arity(_text(argv[0]))
    spec = ScriptSpec(argv[1], _text(argv[2]))
    i = _tag(argv, spec)
    n = len(argv)
    if i + 1 >= n or argv[i].upper() != b"ENTRY_POINTS":
        raise CommandError(errors.SCRIPT_MISSING_ENTRY_POINTS)
    count = parse_int(argv[i + 1], errors.SCRIPT_ENTRY_POINTS_COUNT)
    start = i + 2
    if count <= 0 or start + count > n:
        raise CommandError(errors.SCRIPT_MISSING_ENTRY_POINTS)
    spec.entry_points = [_text(name) for name in argv[start:start + count]]
    _source(argv, start + count, spec)
    return spec


def parse_scriptset(argv: list[bytes]) -> ScriptSpec:
    """Deprecated ``AI.SCRIPTSET key device [TAG t] SOURCE src``: a script with no entry points."""
    if len(argv) not in (5, 7):
        raise errors.wrong_arity(_text(argv[0]))
    spec = ScriptSpec(argv[1], _text(argv[2]))
    _source(argv, _tag(argv, spec), spec)
    return spec


# ---- SCRIPTEXECUTE -----------------------------------------------------------------------------------------
def _keys_scope(argv: list[bytes], i: int) -> tuple[list[bytes], int]:
    """``KEYS n key...`` at ``i``; returns the keys and the next index."""
    if len(argv) - i - 1 < 2:
        raise CommandError(errors.SCRIPTEXECUTE_KEYS_MISSING)
    count = parse_int(argv[i + 1], errors.SCRIPTEXECUTE_KEYS_COUNT)
    if count <= 0:
        raise CommandError(errors.SCRIPTEXECUTE_KEYS_COUNT)
    start = i + 2
    if start + count > len(argv):
        raise CommandError(errors.SCRIPTEXECUTE_KEYS_MISMATCH)
    return argv[start:start + count], start + count


def _counted_scope(argv: list[bytes], i: int, bad_count: str, what: str) -> tuple[list[bytes], int]:
    """``INPUTS|ARGS|OUTPUTS n name...`` at ``i``; returns the names and the next index."""
    if i + 1 >= len(argv):
        raise CommandError(errors.SCRIPTEXECUTE_SCOPE_LAST)
    count = parse_int(argv[i + 1], bad_count)
    if count <= 0:
        raise CommandError(bad_count)
    start = i + 2
    if start + count > len(argv):
        raise CommandError(errors.SCRIPTEXECUTE_MISMATCH.format(what))
    return argv[start:start + count], start + count


def _scope(run: ScriptRun, argv: list[bytes], i: int, word: bytes) -> int:
    """Parse the scope ``word`` starting at ``i`` into ``run``; returns the next index."""
    if word == b"KEYS":
        keys, i = _keys_scope(argv, i)
        run.keys = [_text(k) for k in keys]
    elif word == b"INPUTS":
        run.input_keys, i = _counted_scope(argv, i, errors.SCRIPTEXECUTE_INPUTS_COUNT, "inputs")
    elif word == b"ARGS":
        args, i = _counted_scope(argv, i, errors.SCRIPTEXECUTE_ARGS_COUNT, "args")
        run.args = [_text(a) for a in args]
    else:
        run.output_keys, i = _counted_scope(argv, i, errors.SCRIPTEXECUTE_OUTPUTS_COUNT, "outputs")
    return i


_SCOPES = (b"KEYS", b"INPUTS", b"ARGS", b"OUTPUTS")


def parse_scriptexecute(db: Database, argv: list[bytes], in_dag: bool = False) -> ScriptRun:
    """``AI.SCRIPTEXECUTE key fn [KEYS n k...] [INPUTS n t...] [ARGS n a...] [OUTPUTS n o...] [TIMEOUT ms]``.

    Checks everything in RedisAI's order and resolves the script; input tensors are not fetched here (DAG ops read
    them from the DAG's own tensors).
    """
    n = len(argv)
    if n < 3:
        raise errors.wrong_arity("AI.SCRIPTEXECUTE")
    run = ScriptRun(fetch_script(db, argv[1]), _text(argv[2]))
    if not in_dag and (n < 4 or argv[3].upper() not in (b"KEYS", b"INPUTS")):
        raise CommandError(errors.SCRIPTEXECUTE_FIRST_SCOPE)
    seen: set[bytes] = set()
    i = 3
    while i < n:
        word = argv[i].upper()
        if word == b"TIMEOUT":
            if in_dag:
                raise CommandError(errors.DAG_TIMEOUT_IN_OP)
            if i + 1 >= n:
                raise CommandError(errors.SCRIPTEXECUTE_TIMEOUT_NO_VALUE)
            run.timeout_ms = parse_timeout(argv[i + 1])
            if i + 2 < n:
                raise CommandError(errors.SCRIPTEXECUTE_AFTER_TIMEOUT)
            break
        if word not in _SCOPES:
            raise CommandError(errors.SCRIPTEXECUTE_UNEXPECTED.format(_text(argv[i])))
        if word in seen:
            raise CommandError(errors.SCRIPTEXECUTE_SCOPE_TWICE.format(word.decode()))
        seen.add(word)
        i = _scope(run, argv, i, word)
    return run


# ---- SCRIPTRUN ---------------------------------------------------------------------------------------------
def parse_scriptrun(db: Database, argv: list[bytes], in_dag: bool = False) -> ScriptRun:
    """Deprecated ``AI.SCRIPTRUN key fn [TIMEOUT t] INPUTS in... [$ in...] OUTPUTS out...`` (names without counts).

    ``$`` marks where the inputs bound to a trailing ``List[Tensor]`` parameter begin; the binding is positional
    anyway (a trailing list takes every input after the Tensor parameters), so only its grammar is checked.
    """
    n = len(argv)
    if n < 3:
        raise errors.wrong_arity("AI.SCRIPTRUN")
    run = ScriptRun(fetch_script(db, argv[1]), _text(argv[2]))
    section: bytes | None = None
    inputs_done = variadic = timeout_set = False
    i = 3
    while i < n:
        word = argv[i].upper()
        if word == b"TIMEOUT":
            if in_dag:
                raise CommandError(errors.DAG_TIMEOUT_IN_OP)
            if timeout_set:
                raise CommandError(errors.SCRIPTRUN_TIMEOUT_TWICE)
            if i + 1 >= n:
                raise CommandError(errors.AI_TIMEOUT_NO_VALUE)
            run.timeout_ms, timeout_set = parse_timeout(argv[i + 1]), True
            i += 2
            continue
        if word == b"INPUTS":
            if inputs_done:
                raise CommandError(errors.SCRIPTRUN_INPUTS_SECTION_TWICE)
            if section == b"INPUTS":
                raise CommandError(errors.SCRIPTRUN_INPUTS_KEYWORD_TWICE)
            section = b"INPUTS"
        elif word == b"OUTPUTS":
            if section == b"OUTPUTS":
                raise CommandError(errors.SCRIPTRUN_OUTPUTS_TWICE)
            section, inputs_done = b"OUTPUTS", True
        elif word == b"$":
            if section != b"INPUTS":
                raise CommandError(errors.SCRIPTRUN_VARIADIC_OUTSIDE)
            if variadic:
                raise CommandError(errors.SCRIPTRUN_VARIADIC_TWICE)
            variadic = True
        elif section == b"INPUTS":
            run.input_keys.append(argv[i])
        elif section == b"OUTPUTS":
            run.output_keys.append(argv[i])
        else:
            raise CommandError(errors.SCRIPTRUN_UNRECOGNIZED)
        i += 1
    return run
