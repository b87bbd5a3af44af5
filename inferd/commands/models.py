"""Model commands (spec/redisai-commands.md section 2).

AI.MODELSTORE, AI.MODELGET, AI.MODELDEL, AI.MODELEXECUTE, AI._MODELSCAN and the deprecated AI.MODELSET and
AI.MODELRUN.

Loading runs off the event loop (the loop's executor); the key is written on the loop when loading succeeds, so a
replacement is atomic and runs already queued finish on the old model. MODELEXECUTE resolves everything on the loop,
submits to the model's device queue, and writes its outputs on the loop when the run completes.
``store_built``, ``execute_run`` and ``write_outputs`` may be reused by other commands; the parsers live in
:mod:`inferd.commands.model_args`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from inferd import errors
from inferd.backends.base import LoadOptions, load_session
from inferd.commands.context import Client, settle_reply
from inferd.commands.model_args import (
    ModelRun,
    ModelSpec,
    fetch_model,
    parse_modelexecute,
    parse_modelrun,
    parse_modelset,
    parse_modelstore,
)
from inferd.commands.table import command
from inferd.commands.tensors import fetch_tensor
from inferd.errors import CommandError
from inferd.resp.encoder import OK
from inferd.scheduler import TIMEDOUT
from inferd.store.keyspace import Database
from inferd.store.model import Model
from inferd.store.tensor import Tensor

__all__ = ["ModelRun", "execute_run", "fetch_model", "keys_and_tags", "parse_modelexecute", "parse_modelrun",
           "run_deadline", "settle_run", "store_built", "write_outputs"]


# ---- storing -----------------------------------------------------------------------------------------------
def build_model(spec: ModelSpec, options: LoadOptions) -> Model:
    """Load the backend session and wrap it in a Model (runs on a worker thread)."""
    blob = spec.blob
    session = load_session(spec.backend, blob, options)
    inputs = list(spec.inputs) if spec.backend == "TF" else list(session.inputs)
    outputs = list(spec.outputs) if spec.backend == "TF" else session.outputs
    return Model(key=spec.key, backend=spec.backend, device=spec.device, tag=spec.tag, batchsize=spec.batchsize,
                 minbatchsize=spec.minbatchsize, minbatchtimeout=spec.minbatchtimeout, inputs=inputs,
                 outputs=outputs, blob=blob, session=session)


def _check_writable(db: Database, key: bytes, kind: type) -> None:
    value = db.get(key)
    if value is not None and value.__class__ is not kind:
        raise CommandError(errors.WRONGTYPE)


def store_model(c: Client, spec: ModelSpec) -> asyncio.Future[Any]:
    """Load ``spec`` off the loop; the future resolves to OK once the key holds the new model."""
    config = c.server.config
    options = LoadOptions(device=spec.device, inputs=tuple(spec.inputs), outputs=tuple(spec.outputs),
                          intra_op_parallelism=config.intra_op_parallelism,
                          inter_op_parallelism=config.inter_op_parallelism,
                          intra_op_spin_us=config.intra_op_spin_us,
                          light_load_spin_us=config.light_load_spin_us,
                          light_load_max_bytes=config.light_load_max_model_bytes,
                          light_load_intra_op_parallelism=config.light_load_intra_op_parallelism,
                          execution_timeout_ms=config.model_execution_timeout,
                          run_thread=config.onnx_run_thread == "yes")
    extensions = c.server.extensions

    def stored(model: Model, seconds: float) -> None:
        for hook in extensions.get("model_loaded_hooks", ()):   # metrics: model load duration
            hook(model, seconds)

    return store_built(c, spec.key, Model, partial(build_model, spec, options), stored)


def store_built(c: Client, key: bytes, kind: type, build: Callable[[], Any],
                stored: Callable[[Any, float], None] | None = None) -> asyncio.Future[Any]:
    """Build a value off the loop (a model's load, a script's compile); the future resolves to OK once ``key`` holds it.

    The key's type is checked before the build and again after it (it may have changed meanwhile); ``stored`` gets
    the value and the build's seconds once it is in the keyspace.
    """
    db = c.db
    _check_writable(db, key, kind)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    building = loop.run_in_executor(None, build)
    reply: asyncio.Future[Any] = loop.create_future()

    def built(done: asyncio.Future[Any]) -> None:
        try:
            value = done.result()
            _check_writable(db, key, kind)
        except CommandError as exc:
            _settle(reply, exc)
            return
        except Exception as exc:  # backends wrap their errors; this is a safety net
            _settle(reply, CommandError(f"ERR {exc}"))
            return
        db.set(key, value)
        db.touch(key)
        if db.journal is not None:
            db.journal.value(c, db, key)
        if stored is not None:
            stored(value, time.monotonic() - started)
        _settle(reply, OK)

    building.add_done_callback(built)
    return reply


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """Resolve ``future`` unless the client went away (a store still completes: the command was received)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def modelstore(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELSTORE key backend device [TAG t] [BATCHSIZE n ...] [INPUTS n ... OUTPUTS n ...] BLOB chunk...: store."""
    return store_model(c, parse_modelstore(argv))


def modelset(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELSET (deprecated): MODELSTORE's older grammar, INPUTS/OUTPUTS without counts."""
    return store_model(c, parse_modelset(argv))


# ---- reading and deleting ----------------------------------------------------------------------------------
def blob_reply(blob: bytes, chunk_size: int) -> Any:
    """The blob, or an array of MODEL_CHUNK_SIZE chunks when it is at least that long (no empty trailing chunk)."""
    if len(blob) < chunk_size:
        return blob
    view = memoryview(blob)
    return [view[i:i + chunk_size] for i in range(0, len(blob), chunk_size)]


def modelget(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELGET key [META] [BLOB]: a model's metadata and/or blob (unknown words are ignored)."""
    if len(argv) > 4:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
    model = fetch_model(c.db, argv[1])
    words = {a.upper() for a in argv[2:]}
    meta, blob = b"META" in words, b"BLOB" in words
    chunk = c.server.config.model_chunk_size
    if meta and not blob:
        return model.meta()
    if blob and not meta:
        return blob_reply(model.blob, chunk)
    return model.meta() + [b"blob", blob_reply(model.blob, chunk)]


def modeldel(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELDEL key: delete a model (runs already queued finish)."""
    fetch_model(c.db, argv[1])
    c.db.delete(argv[1])
    return OK


def modelscan(c: Client, argv: list[bytes]) -> list[list[bytes]]:
    """AI._MODELSCAN: ``[key, tag]`` for every model in every database."""
    return keys_and_tags(c, Model)


def keys_and_tags(c: Client, kind: type) -> list[list[bytes]]:
    """``[key, tag]`` for every live value of class ``kind`` in every database (AI._MODELSCAN, AI._SCRIPTSCAN)."""
    found: list[tuple[bytes, Any]] = [(key, value) for db in c.server.keyspace.dbs
                                      for key, value in list(db.data.items())
                                      if value.__class__ is kind and db.get(key) is not None]
    return [[key, value.tag] for key, value in found]


# ---- running -----------------------------------------------------------------------------------------------
def write_outputs(c: Client, keys: list[bytes], outputs: list[np.ndarray[Any, Any]]) -> None:
    """Store a run's outputs as tensors in ``c``'s database (all or nothing; each written key signals its WATCHers)."""
    db = c.db
    if len(outputs) != len(keys):
        raise CommandError(errors.AI_OUTPUT_COUNT_FROM_MODEL)
    tensors = [Tensor.from_array(np.asarray(array)) for array in outputs]
    for key in keys:
        _check_writable(db, key, Tensor)
    for key, tensor in zip(keys, tensors, strict=True):
        db.set(key, tensor)
        db.touch(key)
        if db.journal is not None:
            db.journal.value(c, db, key)


def execute_run(c: Client, run: ModelRun, inputs: list[np.ndarray[Any, Any]]) -> Any:
    """Run ``run`` on its model's device: OK (outputs written) at once, or a future once it is queued.

    The queue runs a lone request on a lightly loaded queue at once (``run_now``); a queued run's future resolves to
    OK, TIMEDOUT or an error. Cancelling the returned future (client gone) drops the queued request.
    """
    model = run.model
    schedulers = c.server.extensions["schedulers"]
    outputs = schedulers.run_now(model.device, model, inputs)
    if outputs is not None:   # run at once: the reply needs no waiting
        write_outputs(c, run.output_keys, outputs)
        return OK
    reply: asyncio.Future[Any] = schedulers.loop.create_future()
    schedulers.enqueue(model.device, reply, model, inputs, partial(settle_run, c, reply, run.output_keys),
                       deadline=run_deadline(run.timeout_ms))
    return reply


def run_deadline(timeout_ms: int) -> float | None:
    """The monotonic time a run queued now with TIMEOUT ``timeout_ms`` (0: none) must have started by."""
    return time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else None


def settle_run(c: Client, reply: asyncio.Future[Any], output_keys: list[bytes], outputs: Any,
               error: CommandError | None) -> None:
    """A run's outcome, as a scheduler's ``deliver`` gets it: settle ``reply`` and have the connection write it.

    ``outputs`` are written to ``output_keys`` and the reply is OK; or it is TIMEDOUT, or the error (MODELEXECUTE,
    SCRIPTEXECUTE).
    """
    result: Any = OK
    if outputs is TIMEDOUT:
        result = TIMEDOUT
    elif error is None:
        try:
            write_outputs(c, output_keys, outputs)
        except CommandError as exc:
            error = exc
    settle_reply(reply, c.reply_ready, result, error)   # the connection writes the reply now


def modelexecute(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELEXECUTE key INPUTS n in... OUTPUTS m out... [TIMEOUT ms]: run a model on stored tensors."""
    run = parse_modelexecute(c.db, argv)
    inputs = [fetch_tensor(c.db, key).array for key in run.input_keys]
    return execute_run(c, run, inputs)


def modelrun(c: Client, argv: list[bytes]) -> Any:
    """AI.MODELRUN key [TIMEOUT t] INPUTS in... OUTPUTS out... (deprecated): MODELEXECUTE's older grammar."""
    run = parse_modelrun(c.db, argv)
    inputs = [fetch_tensor(c.db, key).array for key in run.input_keys]
    return execute_run(c, run, inputs)


COMMANDS = [
    command("ai.modelstore", modelstore, -6, "write denyoom waits", keys=(1, 1, 1), group="module", since="1.2.5",
            summary="Stores a model (RedisAI).", arguments="key backend device [TAG tag] [BATCHSIZE n [MINBATCHSIZE "
            "m [MINBATCHTIMEOUT ms]]] [INPUTS n name ... OUTPUTS n name ...] BLOB chunk [chunk ...]"),
    command("ai.modelset", modelset, -4, "write denyoom waits", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Stores a model (deprecated: use AI.MODELSTORE).", arguments="key backend device [TAG tag] "
            "[BATCHSIZE n [MINBATCHSIZE m]] [INPUTS name ... OUTPUTS name ...] BLOB chunk [chunk ...]"),
    command("ai.modelget", modelget, -2, "readonly", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Returns a model's metadata and/or blob (RedisAI).", arguments="key [META] [BLOB]"),
    command("ai.modeldel", modeldel, 2, "write", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Deletes a model (RedisAI).", arguments="key"),
    command("ai.modelexecute", modelexecute, -2, "write denyoom runs-model", keys=(4, 4, 1), group="module",
            since="1.2.5", summary="Runs a model on stored tensors (RedisAI).",
            arguments="key INPUTS n input ... OUTPUTS m output ... [TIMEOUT ms]"),
    command("ai.modelrun", modelrun, -2, "write denyoom runs-model", keys=(3, 3, 1), group="module", since="1.0.0",
            summary="Runs a model (deprecated: use AI.MODELEXECUTE).",
            arguments="key [TIMEOUT ms] INPUTS input ... OUTPUTS output ..."),
    command("ai._modelscan", modelscan, 1, "readonly", group="module", since="1.2.5",
            summary="Lists every model's key and tag (RedisAI internal)."),
]
