"""AI.INFO (per-model/script run statistics) and AI.CONFIG (spec/redisai-commands.md section 5).

Backends come from installed Python packages, not ``.so`` files: BACKENDSPATH is accepted and reported but unused,
and ``LOADBACKEND <backend> <anything>`` imports (or reports) the installed backend.
"""
from __future__ import annotations

import asyncio
from typing import Any

from inferd import config as config_module
from inferd import errors
from inferd.backends.base import BACKENDS, backend_module
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import command
from inferd.errors import CommandError
from inferd.resp.encoder import OK


def ai_info(c: Client, argv: list[bytes]) -> Any:
    """AI.INFO key [RESETSTAT]: a model's or script's run statistics, or reset them."""
    if len(argv) > 3:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
    value = c.db.get(argv[1])
    stats = getattr(value, "stats", None)
    if value is None or getattr(value, "ai_type", None) is None or stats is None:
        raise CommandError(errors.AI_NO_RUN_INFO)
    if len(argv) == 3 and argv[2].upper() == b"RESETSTAT":
        stats.reset()
        return OK
    samples = stats.samples if value.ai_type == "MODEL" else -1   # RedisAI counts no samples for scripts
    return [b"key", argv[1], b"type", value.ai_type.encode(), b"backend", value.backend.encode(),
            b"device", value.device.encode(), b"tag", value.tag, b"duration", stats.duration_us,
            b"samples", samples, b"calls", stats.calls, b"errors", stats.errors]


def _set_option(c: Client, name: str, value: object) -> None:
    c.server.config = config_module.with_values(c.server.config, {name: value})


def ai_config(c: Client, argv: list[bytes]) -> Any:
    """AI.CONFIG BACKENDSPATH path | LOADBACKEND backend path | MODEL_CHUNK_SIZE bytes | GET name."""
    sub = argv[1].upper()
    n = len(argv)
    if sub == b"BACKENDSPATH":
        if n < 3:
            raise CommandError(errors.AI_BACKENDSPATH_MISSING)
        _set_option(c, "backends-path", argv[2].decode("utf-8", "replace"))
        return OK
    if sub == b"MODEL_CHUNK_SIZE":
        if n < 3:
            raise CommandError(errors.AI_CHUNK_MISSING)
        size = parse_int(argv[2], errors.AI_CHUNK_INVALID)
        if size <= 0:
            raise CommandError(errors.AI_CHUNK_INVALID)
        _set_option(c, "model-chunk-size", size)
        return OK
    if sub == b"LOADBACKEND":
        if n < 4:
            raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
        if c.in_exec:   # importing a framework takes seconds: it cannot run inside a transaction
            raise CommandError(errors.AI_IN_TRANSACTION)
        return _load_backend(argv[2])
    if sub == b"GET":
        if n < 3:
            raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
        return _config_get(c, argv[2].upper())
    raise CommandError(errors.AI_UNSUPPORTED_SUBCOMMAND)


def _load_backend(raw: bytes) -> Any:
    """Import the backend off the loop (torch and tensorflow take seconds to import)."""
    name = raw.decode("latin-1").upper()
    if name not in BACKENDS:
        raise CommandError(errors.AI_UNSUPPORTED_BACKEND)
    loop = asyncio.get_running_loop()
    importing = loop.run_in_executor(None, backend_module, name)
    reply: asyncio.Future[Any] = loop.create_future()

    def imported(done: asyncio.Future[Any]) -> None:
        failed = done.exception() is not None
        if not reply.done():
            if failed:
                reply.set_exception(CommandError(errors.AI_ERROR_LOADING_BACKEND))
            else:
                reply.set_result(OK)

    importing.add_done_callback(imported)
    return reply


def _config_get(c: Client, name: bytes) -> Any:
    if name == b"BACKENDSPATH":
        return str(c.server.config.backends_path).encode()
    if name == b"MODEL_CHUNK_SIZE":
        return int(c.server.config.model_chunk_size)
    return None


COMMANDS = [
    command("ai.info", ai_info, -2, "readonly", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Returns a model's or script's run statistics, or resets them (RedisAI).",
            arguments="key [RESETSTAT]"),
    command("ai.config", ai_config, -2, "write", group="module", since="1.0.0",
            summary="Sets or reads RedisAI run-time configuration.",
            arguments="BACKENDSPATH path | LOADBACKEND backend path | MODEL_CHUNK_SIZE bytes | GET name"),
]
