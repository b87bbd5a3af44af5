"""inferd's own CPU per scoring request, without sockets: the event-loop thread's CPU per inference, in-process.

Builds a real server state (no listener) with its device schedulers, stores the scoring model (bench/models.py) and
USERS reference tensors through the dispatcher, and opens CLIENTS connections whose transports keep the last reply and
send nothing. Each round feeds every connection one scoring request (the suite's `AI.DAGEXECUTE LOAD 1 ref:<u> |>
AI.TENSORSET tx ... BLOB |> AI.MODELEXECUTE ... |> AI.TENSORGET out BLOB`, a user per request) through
``Connection.data_received``, as the loop's reads would, then runs the loop until every reply is written: the DAG
plan, the scheduler's batch, the backend call and the replies all run; only the syscalls are missing. Prints the event
loop thread's CPU (``time.thread_time``) per inference, best of ``--repeat`` x ``--rounds`` rounds, after checking
that the replies hold the scores onnxruntime computes in-process. ``--hidden 8`` shrinks the model's hidden layers so
that the backend's share is small and inferd's own Python shows.

    .venv/bin/python -m bench.scoring_cost [--clients 16] [--rounds 2000] [--repeat 9] [--hidden 512]
"""
from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import numpy as np

from bench import models, scoring
from bench.dispatch_cost import Sink
from bench.procs import resp_request
from inferd import config as config_module
from inferd.resp.connection import Connection, WriteBatch
from inferd.scheduler import Schedulers
from inferd.server import Server, install_event_loop

USERS = 1000


class _Keeping(Sink):
    """dispatch_cost's transport that sends nothing, keeping the last reply and telling each write."""

    def __init__(self, written: Any) -> None:
        self.written = written
        self.last = b""

    def write(self, data: bytes) -> None:
        self.last = data
        self.written()


def _scoring_request(user: int, tx: bytes) -> bytes:
    words = [tx if w == "__tx_blob__" else w.replace("__user__", str(user)).encode()
             for w in scoring.dag_command(scoring.MODEL_KEY)]
    return resp_request(*words)


async def _settled(reply: Any) -> Any:
    return await reply if isinstance(reply, asyncio.Future) else reply


async def measure(clients: int, rounds: int, repeat: int, hidden: int) -> float:
    """µs of the loop thread's CPU per inference (best of ``repeat``); raises AssertionError on a wrong reply."""
    server = Server(config_module.load(env={}, overrides={"port": 0}))
    schedulers = next(s for s in server.subsystems if isinstance(s, Schedulers))
    await schedulers.start(server)
    loop = asyncio.get_running_loop()
    writes = WriteBatch(loop)
    waiting: dict[str, Any] = {"left": 0, "done": None}

    def written() -> None:
        waiting["left"] -= 1
        if waiting["left"] == 0:
            waiting["done"].set_result(None)
    connections = []
    for _ in range(clients):
        connection = Connection(server.state, writes)
        connection.connection_made(_Keeping(written))
        connections.append(connection)
    dispatcher, client = server.state.dispatcher, connections[0].client
    assert dispatcher is not None   # the server's state has its dispatcher once Server() has built it
    model = models.fraud_model(hidden=hidden)
    stored = await _settled(dispatcher.call(client, [b"AI.MODELSTORE", scoring.MODEL_KEY.encode(), b"ONNX", b"CPU",
                                                     b"BATCHSIZE", b"%d" % max(clients, 1), b"BLOB", model]))
    assert not isinstance(stored, Exception), stored
    refs = models.reference_blobs(USERS)
    for user in range(USERS):
        dispatcher.call(client, [b"AI.TENSORSET", b"ref:%d" % user, b"FLOAT", b"1", b"%d" % models.REF_FLOATS,
                                 b"BLOB", refs[user].tobytes()])
    tx = np.random.default_rng(1).random((1, models.TX_FLOATS), dtype=np.float32)
    requests = [_scoring_request(user, tx.tobytes()) for user in range(USERS)]

    async def one_round(k: int) -> None:
        waiting["left"], waiting["done"] = clients, loop.create_future()
        for i, connection in enumerate(connections):
            connection.data_received(requests[(k * clients + i) % USERS])
        writes.flush()
        await waiting["done"]

    try:
        for k in range(200):   # warm-up: the DAG's plan learnt, the model's run estimates measured
            await one_round(k)
        want = scoring.expected_score(model, np.repeat(tx, clients, axis=0), refs[:clients])
        await one_round(0)     # users 0..clients-1: each connection's last reply holds its user's score
        for i, connection in enumerate(connections):
            last = connection.transport.last
            assert last.startswith(b"*3\r\n+OK\r\n+OK\r\n$8\r\n"), last[:64]
            assert np.allclose(np.frombuffer(last[-10:-2], np.float32), want[i], atol=1e-5), i
        best = float("inf")
        for _ in range(repeat):
            start = time.thread_time()
            for k in range(rounds):
                await one_round(k)
            best = min(best, time.thread_time() - start)
    finally:
        await schedulers.stop()
    return best / rounds / clients * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--hidden", type=int, default=models.HIDDEN, help="the model's hidden layers' width")
    args = parser.parse_args()
    install_event_loop()
    # a reply that never comes (a bug) ends the run rather than hanging it
    us = asyncio.run(asyncio.wait_for(measure(args.clients, args.rounds, args.repeat, args.hidden), 1800))
    print(f"{us:.2f} µs of the event loop's CPU per inference ({args.clients} connections, hidden {args.hidden}, "
          f"best of {args.repeat} x {args.rounds} rounds)")


if __name__ == "__main__":
    main()
