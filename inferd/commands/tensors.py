"""Tensor commands: AI.TENSORSET and AI.TENSORGET (spec/redisai-commands.md section 1).

``parse_tensorset``, ``tensorget_reply``, ``fetch_tensor`` and ``fetch_typed`` are shared with DAG ops and model
commands (their signatures are stable).
"""
from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import command
from inferd.errors import CommandError
from inferd.resp.encoder import OK
from inferd.store import tensor as tensors
from inferd.store.keyspace import Database
from inferd.store.tensor import Tensor

try:   # AI.TENSORSET's FLOAT and DOUBLE VALUES read in C (built at install; from_values reads the same otherwise)
    from inferd.commands._fastpath import float_values
except ImportError:   # pragma: no cover
    float_values = None  # type: ignore[assignment]
_LITTLE_ENDIAN = sys.byteorder == "little"   # float_values writes native floats; FLOAT and DOUBLE are little-endian

_BLOB = b"BLOB"
_VALUES = b"VALUES"
_META = b"META"
T = TypeVar("T")


def fetch_typed(db: Database, key: bytes, kind: type[T], missing: str) -> T:
    """The ``kind`` at ``key``: CommandError ``missing`` if none, WRONGTYPE if the key holds something else.

    Database.get_typed's check, compiled (the DAG path calls it for every LOAD and model op); with no key of the
    database expiring, its dict is read directly (Database.get is interpreted Python).
    """
    value = db.get(key) if db.expires else db.data.get(key)
    if value is None:
        raise CommandError(missing)
    if value.__class__ is not kind:
        raise CommandError(errors.WRONGTYPE)
    return value  # type: ignore[no-any-return]


def fetch_tensor(db: Database, key: bytes) -> Tensor:
    """The tensor at ``key``: ``ERR tensor key is empty or in a different shard`` if missing, WRONGTYPE if not one."""
    return fetch_typed(db, key, Tensor, errors.AI_TENSOR_EMPTY)


def parse_tensorset(argv: list[bytes], max_bytes: int = 0) -> Tensor:
    """Build the tensor of ``AI.TENSORSET key dtype [dim ...] [BLOB data | VALUES v ...]`` (argv[0] is the name).

    ``max_bytes`` > 0 bounds a zero-filled tensor's size (a BLOB is already bounded by proto-max-bulk-len).
    """
    dtype = tensors.dtype_of(argv[2])
    shape: list[int] = []
    i, n = 3, len(argv)
    while i < n:
        word = argv[i].upper()
        if word == _BLOB or word == _VALUES:
            break
        dim = parse_int(argv[i], errors.AI_BAD_SHAPE)
        if dim <= 0:
            raise CommandError(errors.AI_BAD_SHAPE)
        shape.append(dim)
        i += 1
    dims = tuple(shape)
    if i == n:
        itemsize = 1 if dtype.kind == "string" else dtype.numpy.itemsize
        if max_bytes and tensors.element_count(dims) * itemsize > max_bytes:
            raise CommandError(errors.AI_TENSOR_TOO_LARGE)
        return tensors.zeros(dtype, dims)
    if argv[i].upper() == _BLOB:
        if n - i != 2:
            raise CommandError(errors.AI_BLOB_SINGLE)
        return tensors.from_blob(dtype, dims, argv[i + 1])
    if dtype.numpy.itemsize in (4, 8) and dtype.kind == "float" and float_values is not None and _LITTLE_ENDIAN and (
            n - i - 1 == tensors.element_count(dims)):
        data = float_values(argv, i + 1, dtype.numpy.itemsize)   # the compiled read of plain values
        if data is not None:
            return Tensor(np.frombuffer(data, dtype.numpy).reshape(dims), dtype)
    return tensors.from_values(dtype, dims, argv[i + 1:])


def tensorset(c: Client, argv: list[bytes]) -> Any:
    """AI.TENSORSET key dtype [dim ...] [BLOB data | VALUES v ...]: store a tensor."""
    db = c.db
    existing = db.get(argv[1])
    if existing is not None and existing.__class__ is not Tensor:
        raise CommandError(errors.WRONGTYPE)
    db.set(argv[1], parse_tensorset(argv, c.server.config.proto_max_bulk_len))
    return OK


def tensorget_formats(formats: list[bytes]) -> tuple[bool, bool, bool]:
    """(meta, blob, values) of TENSORGET's format words (META, BLOB, VALUES in any combination; none: META BLOB)."""
    meta = blob = values = False
    for raw in formats:
        word = raw.upper()
        if word == _META:
            meta = True
        elif word == _BLOB:
            blob = True
        elif word == _VALUES:
            values = True
        else:
            raise CommandError(errors.AI_TENSOR_FORMAT)
    if blob and values:
        raise CommandError(errors.AI_BLOB_AND_VALUES)
    if not formats:
        meta = blob = True
    return meta, blob, values


def tensor_reply(tensor: Tensor, meta: bool, blob: bool, values: bool) -> Any:
    """The TENSORGET reply for already checked formats (see :func:`tensorget_formats`)."""
    if not meta:
        return tensor.blob() if blob else tensor.values()
    reply = tensor.meta()
    if blob:
        reply += [b"blob", tensor.blob()]
    elif values:
        reply += [b"values", tensor.values()]
    return reply


def tensorget_reply(tensor: Tensor, formats: list[bytes]) -> Any:
    """The TENSORGET reply for ``formats`` (the words after the key): META, BLOB, VALUES in any combination."""
    return tensor_reply(tensor, *tensorget_formats(formats))


def tensorget(c: Client, argv: list[bytes]) -> Any:
    """AI.TENSORGET key [META] [BLOB|VALUES]: a tensor's data and/or metadata."""
    if len(argv) > 4:
        raise errors.wrong_arity(argv[0].decode("utf-8", "replace"))
    return tensorget_reply(fetch_tensor(c.db, argv[1]), argv[2:])


COMMANDS = [
    command("ai.tensorset", tensorset, -4, "write denyoom", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Stores a tensor (RedisAI).", arguments="key dtype [dim ...] [BLOB data | VALUES value ...]"),
    command("ai.tensorget", tensorget, -2, "readonly", keys=(1, 1, 1), group="module", since="1.0.0",
            summary="Returns a tensor's metadata, blob or values (RedisAI).", arguments="key [META] [BLOB | VALUES]"),
]
