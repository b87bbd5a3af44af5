"""Script commands (spec/redisai-commands.md section 3): TorchScript source run next to the data.

AI.SCRIPTSTORE, AI.SCRIPTGET, AI.SCRIPTDEL, AI.SCRIPTEXECUTE, AI._SCRIPTSCAN and the deprecated AI.SCRIPTSET and
AI.SCRIPTRUN.

Compiling runs off the event loop like a model's load (torch is imported then, on first use); the key is written
on the loop when compiling succeeds. A run resolves everything on the loop, is queued on the script's device as a
plain call (it runs alone, on a worker thread) and writes its outputs on the loop when it completes. The parsers
live in :mod:`inferd.commands.script_args`; the TorchScript side in :mod:`inferd.backends.torchscript`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from inferd import errors
from inferd.backends.base import LoadOptions, import_framework_module
from inferd.commands.context import Client
from inferd.commands.model_args import fetch_model, parse_device
from inferd.commands.models import keys_and_tags, run_deadline, settle_run, store_built
from inferd.commands.script_args import (
    ScriptRun,
    ScriptSpec,
    fetch_script,
    parse_scriptexecute,
    parse_scriptrun,
    parse_scriptset,
    parse_scriptstore,
)
from inferd.commands.table import NOSCRIPT, command
from inferd.commands.tensors import fetch_tensor
from inferd.errors import CommandError
from inferd.resp.encoder import OK
from inferd.scheduler import TIMEDOUT
from inferd.store.script import Script

__all__ = ["KeyspaceHost", "ScriptRun", "call_of", "parse_scriptexecute", "parse_scriptrun", "script_outcome"]


# ---- storing -----------------------------------------------------------------------------------------------
def build_script(spec: ScriptSpec, options: LoadOptions) -> Script:
    """Compile the source and wrap it in a Script (runs on a worker thread; imports torch on first use)."""
    backend = import_framework_module("TORCH", "inferd.backends.torchscript", "torch")
    program = backend.compile_script(spec.source.decode("utf-8", "replace"), spec.entry_points, options)
    return Script(key=spec.key, device=spec.device, tag=spec.tag, source=spec.source,
                  entry_points=spec.entry_points, program=program)


def store_script(c: Client, spec: ScriptSpec) -> asyncio.Future[Any]:
    """Compile ``spec`` off the loop; the future resolves to OK once the key holds the new script.

    The device must read like MODELSTORE's (``CPU``, ``GPU:0``); a GPU this machine lacks fails the compile.
    """
    parse_device(spec.device.encode())
    config = c.server.config
    options = LoadOptions(device=spec.device, intra_op_parallelism=config.intra_op_parallelism,
                          inter_op_parallelism=config.inter_op_parallelism)
    return store_built(c, spec.key, Script, partial(build_script, spec, options))


def scriptstore(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTSTORE key device [TAG t] ENTRY_POINTS n fn... SOURCE src: compile and store a TorchScript script."""
    return store_script(c, parse_scriptstore(argv))


def scriptset(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTSET key device [TAG t] SOURCE src (deprecated): a script with no entry points."""
    return store_script(c, parse_scriptset(argv))


# ---- reading and deleting ----------------------------------------------------------------------------------
def scriptget(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTGET key [META] [SOURCE]: a script's device, tag and entry points and/or its source."""
    if len(argv) > 4:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
    script = fetch_script(c.db, argv[1])
    words = {a.upper() for a in argv[2:]}
    meta, source = b"META" in words, b"SOURCE" in words
    if source and not meta:
        return script.source
    if meta and not source:
        return script.meta()
    return script.meta() + [b"source", script.source]


def scriptdel(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTDEL key: delete a script (runs already queued finish)."""
    fetch_script(c.db, argv[1])
    c.db.delete(argv[1])
    return OK


def scriptscan(c: Client, argv: list[bytes]) -> list[list[bytes]]:
    """AI._SCRIPTSCAN: ``[key, tag]`` for every script in every database."""
    return keys_and_tags(c, Script)


# ---- what a running script reaches: redis.execute, redisAI.model_execute --------------------------------------
def script_value(reply: Any) -> Any:
    """A command's reply as a script sees it: nil None, strings str, integers int, arrays tuples (``redis.asList``)."""
    if reply is None or isinstance(reply, (str, int, float)) and not isinstance(reply, bool):
        return reply
    if isinstance(reply, bool):
        return int(reply)
    if isinstance(reply, (bytes, bytearray, memoryview)):
        return bytes(reply).decode("utf-8", "replace")
    if isinstance(reply, dict):   # a RESP3 map: flattened as RESP2 sends it
        return tuple(script_value(item) for pair in reply.items() for item in pair)
    if isinstance(reply, (list, tuple, set, frozenset)):
        return tuple(script_value(item) for item in reply)
    if isinstance(reply, CommandError):   # inside an array (EXEC's replies)
        return reply.text
    return None   # the null array


class KeyspaceHost:
    """The server as a running script's ``redis.execute`` and ``redisAI.model_execute`` reach it.

    A script runs on a device worker, so each call hops to the event loop (which owns the keyspace) and waits for
    the reply there; the loop never waits on a script. Commands run as from a client of the caller's database, with
    a transaction's limits: those that must wait (model runs, stores, DAGs) and those Redis keeps out of scripts
    (``noscript``: MULTI, EXEC, CONFIG...) are refused.
    """

    def __init__(self, c: Client) -> None:
        self.caller = c   # its replies wait for the append-only file to have what the script changed
        self.state = c.server
        self.db = c.db
        self.loop = c.server.extensions["schedulers"].loop
        self.client: Client | None = None   # made on first use, on the loop

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the event loop and return its result (called from the script's worker thread)."""
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the waiting worker, raised there
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result()

    def execute(self, argv: list[bytes]) -> Any:
        """``redis.execute``: run ``argv``; an error reply raises ``Redis command returned an error: <text>``."""
        reply = self._on_loop(partial(self._call, argv))
        if isinstance(reply, CommandError):
            raise RuntimeError(errors.SCRIPT_REDIS_ERROR.format(reply.text))
        return script_value(reply)

    def _call(self, argv: list[bytes]) -> Any:
        dispatcher = self.state.dispatcher
        assert dispatcher is not None   # set at start-up, before any client connects
        cmd = dispatcher.lookup(argv)
        if isinstance(cmd, CommandError):
            return cmd
        if cmd.waits or cmd.no_multi or NOSCRIPT in cmd.flags:
            return CommandError(errors.SCRIPT_COMMAND_REFUSED)
        client = self.client
        if client is None:
            client = self.client = Client(self.state)
            client.authenticated = True
            client.db = self.db
        client.in_exec = True
        try:
            reply = dispatcher.execute(client, cmd, argv)
        finally:
            client.in_exec = False
            self.caller.aof_mark = max(self.caller.aof_mark, client.aof_mark)
            dispatcher.serve_ready()
        if isinstance(reply, asyncio.Future):   # a handler that waits without saying so in its flags
            reply.cancel()
            return CommandError(errors.SCRIPT_COMMAND_REFUSED)
        return reply

    def model_execute(self, key: str, inputs: list[np.ndarray[Any, Any]], num_outputs: int
                      ) -> list[np.ndarray[Any, Any]]:
        """``redisAI.model_execute``: run the model at ``key`` in this worker thread (no batching, no statistics)."""
        try:
            model = self._on_loop(partial(fetch_model, self.db, key.encode()))
            if len(inputs) != len(model.inputs):
                raise CommandError(errors.AI_INPUTS_VS_MODEL)
            outputs = model.run(inputs)
            if len(outputs) != num_outputs:
                raise CommandError(errors.AI_OUTPUT_COUNT_FROM_MODEL)
        except CommandError as exc:
            raise RuntimeError(exc.text) from None
        return outputs


# ---- running -----------------------------------------------------------------------------------------------
def call_of(run: ScriptRun, inputs: list[Any], host: KeyspaceHost) -> partial[Any]:
    """The plain call a device worker makes for ``run``: ``(outputs, µs)`` or a CommandError."""
    return partial(run.script.call, run.function, inputs, run.keys, run.args, len(run.output_keys), host)


def script_outcome(script: Script, result: Any, error: CommandError | None) -> Any:
    """A finished call's outputs (TIMEDOUT as is, None after an error), charged to the script's AI.INFO stats.

    A call that timed out in the queue never ran and is not charged. Scripts count no samples.
    """
    if error is not None:
        script.stats.record(0, 0, failed=True)
        return None
    if result is TIMEDOUT:
        return result
    outputs, duration_us = result
    script.stats.record(0, duration_us, failed=False)
    return outputs


def execute_script(c: Client, run: ScriptRun) -> asyncio.Future[Any]:
    """Fetch the inputs and queue ``run`` on its script's device; the future resolves to OK, TIMEDOUT or an error.

    Cancelling the returned future (client gone) drops the queued call.
    """
    inputs = [fetch_tensor(c.db, key).array for key in run.input_keys]
    script = run.script
    schedulers = c.server.extensions["schedulers"]
    reply: asyncio.Future[Any] = schedulers.loop.create_future()

    def finished(result: Any, error: CommandError | None) -> None:
        settle_run(c, reply, run.output_keys, script_outcome(script, result, error), error)

    return schedulers.call(script.device, call_of(run, inputs, KeyspaceHost(c)), reply=reply,
                           deadline=run_deadline(run.timeout_ms), deliver=finished)


def scriptexecute(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTEXECUTE key fn [KEYS n k...] [INPUTS n t...] [ARGS n a...] [OUTPUTS n o...] [TIMEOUT ms]."""
    return execute_script(c, parse_scriptexecute(c.db, argv))


def scriptrun(c: Client, argv: list[bytes]) -> Any:
    """AI.SCRIPTRUN key fn [TIMEOUT t] INPUTS in... [$ in...] OUTPUTS out... (deprecated): no counts."""
    return execute_script(c, parse_scriptrun(c.db, argv))


COMMANDS = [
    command("ai.scriptstore", scriptstore, -8, "write denyoom waits", keys=(1, 1, 1), group="module", since="1.2.5",
            summary="Compiles and stores a TorchScript script (RedisAI).",
            arguments="key device [TAG tag] ENTRY_POINTS n function ... SOURCE source"),
    command("ai.scriptset", scriptset, -5, "write denyoom waits", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Stores a script (deprecated: use AI.SCRIPTSTORE).",
            arguments="key device [TAG tag] SOURCE source"),
    command("ai.scriptget", scriptget, -2, "readonly", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Returns a script's metadata and/or source (RedisAI).", arguments="key [META] [SOURCE]"),
    command("ai.scriptdel", scriptdel, 2, "write", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Deletes a script (RedisAI).", arguments="key"),
    command("ai.scriptexecute", scriptexecute, -2, "write denyoom runs-model", keys=(5, 5, 1), group="module",
            since="1.2.5", summary="Runs a script's function on stored tensors (RedisAI).",
            arguments="key function [KEYS n key ...] [INPUTS n input ...] [ARGS n arg ...] "
                      "[OUTPUTS n output ...] [TIMEOUT ms]"),
    command("ai.scriptrun", scriptrun, -2, "write denyoom runs-model", keys=(4, 4, 1), group="module",
            since="1.0.0", summary="Runs a script's function (deprecated: use AI.SCRIPTEXECUTE).",
            arguments="key function [TIMEOUT ms] INPUTS input ... [$ input ...] OUTPUTS output ..."),
    command("ai._scriptscan", scriptscan, 1, "readonly", group="module", since="1.2.5",
            summary="Lists every script's key and tag (RedisAI internal)."),
]
