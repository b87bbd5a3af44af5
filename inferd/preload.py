"""Preloading: the config file's ``[[model]]`` and ``[[data]]`` entries, loaded before the server reports ready.

Every entry goes through the command dispatcher on an internal client (``AI.MODELSTORE``, ``AI.TENSORSET``,
``AI.MODELEXECUTE`` for warm-up runs, or the commands of a data file), so preloading behaves exactly as a client
sending those commands would; only a model that the snapshot or the append-only file already gave back unchanged is
not stored again. A bad entry stops start-up with a message naming the entry
(:class:`inferd.server.StartupError`; ``inferd`` then exits with status 1).

Model entry fields: ``key``, ``backend``, ``file`` (required); ``device`` (default ``CPU``), ``tag``, ``batchsize``,
``minbatchsize``, ``minbatchtimeout``, ``inputs``/``outputs`` (TF), ``warmup = {runs, dtype, shape}`` or
``warmup = {runs, inputs = [{dtype, shape}, ...]}``. Data entry fields: ``file`` (required), ``key`` (for ``.npy``),
``format`` (``npy`` or ``commands``; default from the suffix), ``db`` (default 0). Relative paths are taken from
the config file's folder.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import numpy as np

from inferd import systemd
from inferd.commands.context import Client
from inferd.commands.model_args import parse_modelstore
from inferd.errors import CommandError
from inferd.resp.encoder import OK, Status
from inferd.resp.parser import RequestParser, split_inline
from inferd.store.model import Model

log = logging.getLogger("inferd.preload")
WARMUP_KEY = "__inferd_warmup__:{}:{}{}"
MODEL_FIELDS = {"kind", "key", "backend", "device", "file", "tag", "batchsize", "minbatchsize", "minbatchtimeout",
                "inputs", "outputs", "warmup"}
DATA_FIELDS = {"kind", "key", "file", "format", "db"}
WARMUP_FIELDS = {"runs", "dtype", "shape", "inputs"}
NUMPY_DTYPES = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16", "int8": "INT8", "int16": "INT16",
                "int32": "INT32", "int64": "INT64", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
                "uint64": "UINT64", "bool": "BOOL"}


class PreloadError(Exception):
    """A preload entry that cannot be loaded; the text says why."""


class Preloader:
    """Subsystem: loads ``config.preload`` in order; the server is not ready until every entry is loaded."""

    def __init__(self, entries: tuple[dict[str, Any], ...]) -> None:
        self.entries = entries
        self.loaded = 0
        self._client: Client | None = None
        self._base = ""

    async def start(self, server: Any) -> None:
        """Load every entry; raise :class:`inferd.server.StartupError` naming the first bad one."""
        from inferd.server import StartupError
        if not self.entries:
            return
        state = server.state
        self._base = os.path.dirname(os.path.abspath(state.extensions.get("config_file") or "inferd.toml"))
        client = self._client = Client(state, addr="preload")
        client.authenticated = True
        client.close_callback = lambda: None
        started = time.monotonic()
        for number, entry in enumerate(self.entries, 1):
            systemd.status(f"preloading {number}/{len(self.entries)}: {_describe(entry)}")
            try:
                await (self._model(entry) if entry.get("kind") == "model" else self._data(entry))
            except (PreloadError, CommandError, OSError, ValueError) as exc:
                text = exc.text if isinstance(exc, CommandError) else str(exc)
                raise StartupError(f"preload entry {number} ({_describe(entry)}): {text}") from None
            self.loaded += 1
        log.info("preloaded %d entries in %.2fs", self.loaded, time.monotonic() - started)

    async def stop(self) -> None:
        """Nothing to release."""

    # ---- dispatching ------------------------------------------------------------------------------
    async def call(self, *argv: bytes | str | int) -> Any:
        """Dispatch one command on the internal client and await it; an error reply raises CommandError."""
        assert self._client is not None
        args = _arguments(argv)
        dispatcher = self._client.server.dispatcher
        assert dispatcher is not None
        reply = dispatcher.call(self._client, args)
        if isinstance(reply, asyncio.Future):
            reply = await reply
        if isinstance(reply, CommandError):
            raise reply
        return reply

    def _path(self, entry: dict[str, Any]) -> str:
        file = entry.get("file")
        if not isinstance(file, str) or not file:
            raise PreloadError("'file' is required (a path)")
        return file if os.path.isabs(file) else os.path.join(self._base, file)

    # ---- models -----------------------------------------------------------------------------------
    async def _model(self, entry: dict[str, Any]) -> None:
        _check_fields(entry, MODEL_FIELDS)
        key, backend = _text(entry, "key"), _text(entry, "backend").upper()
        device = _text(entry, "device", "CPU")
        path = self._path(entry)
        blob = await asyncio.get_running_loop().run_in_executor(None, _read, path)
        argv: list[bytes | str | int] = ["AI.MODELSTORE", key, backend, device]
        if "tag" in entry:
            argv += ["TAG", _text(entry, "tag")]
        for name in ("batchsize", "minbatchsize", "minbatchtimeout"):
            if name in entry:
                argv += [name.upper(), _int(entry, name)]
        if "inputs" in entry or "outputs" in entry:
            inputs, outputs = _names(entry, "inputs"), _names(entry, "outputs")
            argv += ["INPUTS", len(inputs), *inputs, "OUTPUTS", len(outputs), *outputs]
        if self._holds([*argv, "BLOB", blob]):
            log.info("model %s: the key already holds this model (from the append-only file or the snapshot); "
                     "not stored again", key)
        else:
            started = time.monotonic()
            await self.call(*argv, "BLOB", blob)
            seconds = time.monotonic() - started   # the metrics endpoint records it through the MODELSTORE hook
            log.info("preloaded model %s (%s on %s, %d bytes) in %.3fs", key, backend, device, len(blob), seconds)
        if "warmup" in entry:
            await self._warmup(key, entry["warmup"])

    def _holds(self, argv: list[bytes | str | int]) -> bool:
        """Whether the key already holds the model this MODELSTORE would store: the same bytes and settings.

        Then, as the start-up replayed it from the append-only file or loaded it from the snapshot (with this
        start's configuration), storing it again would only load it a second time and, with appendonly on, append
        it to the file once more at every start.
        """
        assert self._client is not None
        try:
            spec = parse_modelstore(_arguments(argv))
        except CommandError:
            return False   # the store reports it
        held = self._client.db.get(spec.key)
        return (isinstance(held, Model) and held.blob == spec.blob
                and (held.backend, held.device, held.tag, held.batchsize, held.minbatchsize, held.minbatchtimeout)
                == (spec.backend, spec.device, spec.tag, spec.batchsize, spec.minbatchsize, spec.minbatchtimeout)
                and (spec.backend != "TF" or (held.inputs, held.outputs) == (spec.inputs, spec.outputs)))

    async def _warmup(self, key: str, spec: Any) -> None:
        """Run the model ``runs`` times on zero-filled inputs, through temporary tensors that are then deleted."""
        if not isinstance(spec, dict):
            raise PreloadError("'warmup' must be a table: {runs = N, dtype = \"FLOAT\", shape = [..]}")
        _check_fields(spec, WARMUP_FIELDS, "warmup")
        runs = _int(spec, "runs", 1)
        meta = await self.call("AI.MODELGET", key, "META")
        info = {k.decode() if isinstance(k, bytes) else k: v for k, v in zip(meta[::2], meta[1::2], strict=True)}
        n_in, n_out = len(info.get("inputs", [])), len(info.get("outputs", []))
        shapes = _warmup_inputs(spec, n_in)
        ins = [WARMUP_KEY.format(key, "in", i) for i in range(len(shapes))]
        outs = [WARMUP_KEY.format(key, "out", i) for i in range(n_out)]
        started = time.monotonic()
        try:
            for name, (dtype, shape) in zip(ins, shapes, strict=True):
                await self.call("AI.TENSORSET", name, dtype, *shape)
            for _ in range(runs):
                reply = await self.call("AI.MODELEXECUTE", key, "INPUTS", len(ins), *ins, "OUTPUTS", len(outs), *outs)
                if not (isinstance(reply, Status) and reply == OK):
                    raise PreloadError(f"warm-up run replied {_reply_text(reply)}")
        finally:
            assert self._client is not None
            for name in ins + outs:
                self._client.db.delete(name.encode())
        log.info("warmed up model %s: %d run(s) in %.3fs", key, runs, time.monotonic() - started)

    # ---- data -------------------------------------------------------------------------------------
    async def _data(self, entry: dict[str, Any]) -> None:
        _check_fields(entry, DATA_FIELDS)
        path = self._path(entry)
        kind = _text(entry, "format", "npy" if path.endswith(".npy") else "commands").lower()
        assert self._client is not None
        db = _int(entry, "db", 0)
        if not 0 <= db < len(self._client.server.keyspace.dbs):
            raise PreloadError(f"'db' {db} is out of range")
        self._client.select(db)
        try:
            if kind == "npy":
                await self._npy(_text(entry, "key"), path)
            elif kind == "commands":
                await self._commands(path)
            else:
                raise PreloadError(f"unknown 'format' {kind!r} (npy or commands)")
        finally:
            self._client.select(0)

    async def _npy(self, key: str, path: str) -> None:
        array = np.load(path, allow_pickle=False)
        dtype, blob = tensor_blob(array)
        await self.call("AI.TENSORSET", key, dtype, *array.shape, "BLOB", blob)
        log.info("preloaded tensor %s (%s %s) from %s", key, dtype, list(array.shape), path)

    async def _commands(self, path: str) -> None:
        data = await asyncio.get_running_loop().run_in_executor(None, _read, path)
        count = 0
        for where, argv in command_lines(data):
            try:
                await self.call(*argv)
            except CommandError as exc:
                raise PreloadError(f"{path}:{where}: {exc.text}") from None
            count += 1
        log.info("preloaded %d commands from %s", count, path)


def _arguments(argv: Any) -> list[bytes]:
    """A command's arguments as the dispatcher takes them: bytes as they are, anything else as its text."""
    return [a if isinstance(a, bytes) else str(a).encode() for a in argv]


def command_lines(data: bytes) -> list[tuple[str, list[bytes]]]:
    """The commands of a data file: RESP (as ``redis-cli --pipe`` takes) or inline lines (``#`` starts a comment)."""
    if data.lstrip()[:1] == b"*":
        parser = RequestParser(max_bulk_len=1 << 62, max_query_len=1 << 62)
        return [(f"command {i}", argv) for i, argv in enumerate(parser.feed(data), 1)]
    out: list[tuple[str, list[bytes]]] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        argv = split_inline(line)
        if not argv:
            raise PreloadError(f"line {number}: unbalanced quotes")
        out.append((f"line {number}", argv))
    return out


def tensor_blob(array: np.ndarray) -> tuple[str, bytes]:
    """(AI dtype, blob) for a numpy array: little-endian row-major bytes; strings as NUL-terminated UTF-8."""
    if array.dtype.kind in "US":
        items = [x.encode() if isinstance(x, str) else bytes(x) for x in array.reshape(-1).tolist()]
        return "STRING", b"".join(item + b"\0" for item in items)
    dtype = NUMPY_DTYPES.get(array.dtype.name)
    if dtype is None:
        raise PreloadError(f"unsupported numpy dtype {array.dtype.name}")
    return dtype, np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _warmup_inputs(spec: dict[str, Any], n_inputs: int) -> list[tuple[str, list[int]]]:
    if "inputs" in spec:
        items = spec["inputs"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise PreloadError("'warmup.inputs' must be an array of tables {dtype, shape}")
    else:
        items = [spec] * n_inputs
    if len(items) != n_inputs:
        raise PreloadError(f"'warmup' gives {len(items)} inputs, the model takes {n_inputs}")
    out = []
    for item in items:
        shape = item.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise PreloadError("'warmup' needs 'shape', an array of integers")
        out.append((_text(item, "dtype", "FLOAT"), shape))
    return out


def _check_fields(entry: dict[str, Any], allowed: set[str], where: str = "") -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise PreloadError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                           f"{' in ' + where if where else ''} (allowed: {', '.join(sorted(allowed - {'kind'}))})")


def _text(entry: dict[str, Any], name: str, default: str | None = None) -> str:
    value = entry.get(name, default)
    if not isinstance(value, str) or not value:
        raise PreloadError(f"'{name}' is required (a string)" if value is None else f"'{name}' must be a string")
    return value


def _int(entry: dict[str, Any], name: str, default: int | None = None) -> int:
    value = entry.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PreloadError(f"'{name}' must be a non-negative integer")
    return value


def _names(entry: dict[str, Any], name: str) -> list[str]:
    value = entry.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PreloadError(f"'{name}' must be an array of strings")
    return value


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _describe(entry: dict[str, Any]) -> str:
    kind = entry.get("kind", "?")
    key = entry.get("key")
    return f"[[{kind}]] " + (f"key={key!r}" if key is not None else f"file={entry.get('file')!r}")


def _reply_text(reply: Any) -> str:
    if isinstance(reply, Status):
        return bytes(reply).decode("utf-8", "replace")
    return repr(reply)
