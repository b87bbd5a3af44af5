"""Fixtures for the AI.* tests: test models built once per session, and small helpers over redis-py."""
from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest
import redis

from tests.ai import models


@pytest.fixture(scope="session")
def onnx_linear() -> bytes:
    return models.onnx_linear()


@pytest.fixture(scope="session")
def onnx_two_inputs() -> bytes:
    return models.onnx_two_inputs()


@pytest.fixture(scope="session")
def torch_two_inputs() -> bytes:
    return models.torch_two_inputs()


@pytest.fixture(scope="session")
def torch_tuple_outputs() -> bytes:
    return models.torch_tuple_outputs()


@pytest.fixture(scope="session")
def tf_graphdef() -> bytes:
    return models.tf_graphdef()


@pytest.fixture(scope="session")
def tflite_model() -> bytes:
    return models.tflite_model()


def set_tensor(r: redis.Redis, key: str, array: np.ndarray, dtype: str = "FLOAT") -> None:
    """AI.TENSORSET ``key`` from ``array`` as a BLOB."""
    r.execute_command("AI.TENSORSET", key, dtype, *array.shape, "BLOB", array.tobytes())


def get_tensor(r: redis.Redis, key: str, np_type: Any = np.float32) -> np.ndarray:
    """AI.TENSORGET ``key`` META BLOB as an array of ``np_type`` in the tensor's shape."""
    meta = r.execute_command("AI.TENSORGET", key, "META", "BLOB")
    return np.frombuffer(meta[5], dtype=np_type).reshape(meta[3])


def error_of(client: redis.Redis, *args: Any) -> str:
    """The error text of a command as redis-py reports it (a leading ``ERR `` stripped); fails if it succeeds."""
    with pytest.raises(redis.ResponseError) as info:
        client.execute_command(*args)
    return str(info.value)


def encode_command(*args: Any) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def raw_reply_line(port: int, *args: Any) -> bytes:
    """Send one command on a fresh RESP2 socket and return the first reply line (to check exact error bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(encode_command(*args))
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]
