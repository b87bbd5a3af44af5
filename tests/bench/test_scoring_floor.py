"""bench/scoring_floor.py, started as the scoring suite starts it: the scoring command's score, -ERR for the rest."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from bench import models, scoring
from bench.procs import ProcessGroup

USERS = 20


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("floor")
    model_path = Path(workdir) / "fraud.onnx"
    model_path.write_bytes(models.fraud_model())
    with ProcessGroup(workdir) as procs:
        server = procs.start_scoring_floor(str(model_path), USERS)
        yield redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=10)


def _command(user: int | str, blob: bytes) -> list[Any]:
    words = [blob if w == "__tx_blob__" else w for w in scoring.dag_command(scoring.MODEL_KEY)]
    return [w.replace("__user__", str(user)) if isinstance(w, str) else w for w in words]


def test_scores_the_scoring_command_as_inferd_does(floor: Any) -> None:
    refs = models.reference_blobs(USERS)
    tx = np.linspace(0, 1, models.TX_FLOATS, dtype=np.float32).reshape(1, -1)
    reply = floor.execute_command(*_command(7, tx.tobytes()))
    assert reply[:2] == [b"OK", b"OK"]
    want = scoring.expected_score(models.fraud_model(), tx, refs[7:8])[0]
    assert np.allclose(np.frombuffer(reply[2], np.float32), want, atol=1e-5)
    assert scoring.check_inferd(floor.connection_pool.connection_kwargs["port"], scoring.MODEL_KEY,
                                models.fraud_model(), refs) == "ok"


ZEROS = np.zeros(models.TX_FLOATS, np.float32).tobytes()


@pytest.mark.parametrize("command", [
    ["SET", "k", "v"],
    ["AI.DAGEXECUTE", "LOAD", "1", "ref:1"],
    _command(USERS, ZEROS),
    _command("x1", ZEROS),
    _command(1, ZEROS[:-4]),
], ids=["another-command", "another-shape", "user-past-the-rows", "key-without-a-user", "29-floats"])
def test_anything_else_gets_an_error_and_the_server_goes_on(floor: Any, command: list[Any]) -> None:
    with pytest.raises(redis.ResponseError, match="the scoring floor answers only the scoring command"):
        floor.execute_command(*command)
    assert floor.ping() is True


def test_a_broken_stream_closes_that_connection_only(floor: Any) -> None:
    port = floor.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"*1\r\n:1\r\n*1\r\n$4\r\nPING\r\n*x\r\n")
        replies = b""
        while chunk := sock.recv(4096):
            replies += chunk
    assert replies == (b"-ERR the scoring floor answers only the scoring command\r\n+PONG\r\n"
                       b"-ERR Protocol error\r\n")
    assert floor.ping() is True
