"""The floor of a Python scoring server: the scoring suite's requests answered with only the work they cannot skip.

A uvloop Protocol reads requests with hiredis (as inferd's parser does). For the scoring suite's BLOB command
(``AI.DAGEXECUTE LOAD 1 ref:<u> |> AI.TENSORSET tx FLOAT 1 30 BLOB <120 bytes> |> ... |> AI.TENSORGET out BLOB``)
it takes the transaction from the blob and user u's reference row from an array (``bench.models.reference_blobs``,
the rows the suite stores), and queues them; once per loop turn one ``session.run`` (onnxruntime, inferd's default
session options) scores every queued request, and each client gets the bytes inferd replies: ``+OK``, ``+OK`` and
the score as a float32 blob. No keyspace, no DAG, no scheduler, no statistics, no error handling beyond ``-ERR`` for
any other request (PING answers PONG). The scoring suite measures it beside inferd, so the machine's bound for any
Python server on this event loop is in the same run.

    .venv/bin/python -m bench.scoring_floor PORT MODEL.onnx USERS
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import hiredis
import numpy as np
import uvloop

from bench import models
from bench.scoring import MODEL_KEY, dag_command

COMMAND = dag_command(MODEL_KEY)   # the BLOB scoring command, as the load generator's template
DAG = COMMAND[0].encode()
REF_KEY, TX_BLOB = COMMAND.index("ref:__user__"), COMMAND.index("__tx_blob__")
REF_PREFIX = b"ref:"


class ScoringFloor:
    """The requests queued during one loop turn, scored together at its end."""

    def __init__(self, session: Any, refs: np.ndarray) -> None:
        self.session = session
        self.refs = refs
        self.pending: list[tuple[asyncio.Transport, np.ndarray, np.ndarray]] = []

    def queue(self, transport: asyncio.Transport, request: list[Any]) -> bool:
        """Queue one scoring request; False if it is not one (wrong shape, unknown user)."""
        if len(request) != len(COMMAND) or request[0].upper() != DAG:
            return False
        key, blob = request[REF_KEY], request[TX_BLOB]
        if type(key) is not bytes or type(blob) is not bytes:   # a RESP integer where a word goes
            return False
        user = key[len(REF_PREFIX):]
        if not (key.startswith(REF_PREFIX) and user.isdigit() and int(user) < len(self.refs)
                and len(blob) == 4 * models.TX_FLOATS):
            return False
        tx = np.frombuffer(blob, np.float32)
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.score)
        self.pending.append((transport, tx, self.refs[int(user)]))
        return True

    def score(self) -> None:
        batch, self.pending = self.pending, []
        tx = np.stack([row for _, row, _ in batch])
        ref = np.stack([row for _, _, row in batch])
        scores = self.session.run(None, {"transaction": tx, "reference": ref})[0]
        for (transport, _, _), score in zip(batch, scores, strict=True):
            data = score.tobytes()
            transport.write(b"*3\r\n+OK\r\n+OK\r\n$%d\r\n%s\r\n" % (len(data), data))


class FloorProtocol(asyncio.Protocol):
    def __init__(self, floor: ScoringFloor) -> None:
        self.floor = floor
        self.reader = hiredis.Reader()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (request := self.reader.gets()) is not False:
                self._answer(request)
        except hiredis.ProtocolError:
            self.transport.write(b"-ERR Protocol error\r\n")
            self.transport.close()

    def _answer(self, request: Any) -> None:
        name = request[0] if type(request) is list and request else None
        if type(name) is bytes and name.upper() == b"PING":
            self.transport.write(b"+PONG\r\n")
        elif type(name) is not bytes or not self.floor.queue(self.transport, request):
            self.transport.write(b"-ERR the scoring floor answers only the scoring command\r\n")


def session_for(model_path: str) -> Any:
    """An onnxruntime session with inferd's defaults (its pool threads spin 5 µs, as ``intra-op-spin-us``)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.intra_op.spin_duration_us", "5")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


async def _serve(port: int, floor: ScoringFloor) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: FloorProtocol(floor), "127.0.0.1", port)
    await server.serve_forever()


def main(argv: list[str]) -> None:
    port, model_path, users = int(argv[0]), argv[1], int(argv[2])
    floor = ScoringFloor(session_for(model_path), models.reference_blobs(users))
    uvloop.install()
    asyncio.run(_serve(port, floor))


if __name__ == "__main__":
    main(sys.argv[1:])
