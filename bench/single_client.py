"""One client's MODELEXECUTE round trip on two server configurations, servers started in turn, alternating.

The batching suite's single-client line, paired: for each pair, a server with the default options and one with
``--inferd-args`` (their order alternating from pair to pair, as the machine drifts), each on its own: the model
stored (``bench.batching.load_inferd``), PING then MODELEXECUTE of one row at one client (the C load generator,
``--seconds`` each), the model's run inside the server (AI.INFO) and how many of its batches ran on the event loop
(INFO ai), then the raw 1-row call back to back in this process while that server idles. Prints a line per server
and, at the end, the medians per configuration.

    .venv/bin/python -m bench.single_client [--pairs 5] [--seconds 3] [--layers 8] [--width 1024]
        [--inferd-args '--lone-client-run-max-us 0'] [--idle-connections N]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench import loadgen, models
from bench.batching import (
    INPUT_KEYS,
    ai_info,
    load_inferd,
    model_info,
    modelexecute_command,
    queue_figures,
    run_us_per_call,
    timed_calls,
)
from bench.harness import alternating
from bench.procs import ProcessGroup

KEY = "m"


def measure(options: list[str], model: bytes, width: int, seconds: float, idle_connections: int = 0
            ) -> dict[str, Any]:
    """One server with ``options``: PING and MODELEXECUTE p50 (µs), the run inside, the batches on the loop, raw.

    ``idle_connections``: opened (one PING each) before the PING run and left open and quiet to the end, as a
    client's connection pool or a redis-cli left open holds them.
    """
    import onnxruntime as ort
    import redis
    with tempfile.TemporaryDirectory(prefix="inferd-single-") as workdir, ProcessGroup(Path(workdir)) as procs:
        server = procs.start_inferd(*options)
        load_inferd(server.port, KEY, model, width, 0)
        idle = [redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=30)
                for _ in range(idle_connections)]
        for connection in idle:
            connection.ping()
        ping = loadgen.run(server.port, 1, seconds, min(0.5, seconds), ["PING"])
        ai_info(server.port, KEY, "RESETSTAT")
        run = loadgen.run(server.port, 1, seconds, min(0.5, seconds), modelexecute_command(KEY, KEY),
                          keyspace=INPUT_KEYS)
        info = model_info(server.port, KEY)
        queue = queue_figures(server.port)
        for connection in idle:
            connection.close()
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal((1, width)).astype(np.float32)
        raw = float(np.median(timed_calls(session, x, seconds)))
    ping_us, run_us = ping["latency_us"]["p50"], run["latency_us"]["p50"]
    return {"options": options, "ping_p50_us": ping_us, "modelexecute_p50_us": run_us, "raw_p50_us": round(raw, 1),
            "ratio": round(run_us / (ping_us + raw), 3),
            "run_inside_us": run_us_per_call(info),
            "batches": queue.get("batches", 0), "on_loop": queue.get("inline", 0)}


def compare(other: list[str], pairs: int, layers: int, width: int, seconds: float, idle_connections: int = 0
            ) -> list[dict[str, Any]]:
    """``pairs`` x (default, ``other``) servers, the order alternating; one record per server, printed as it ends."""
    model = models.dense_model(layers, width)
    return alternating(([], other), pairs, lambda options: measure(options, model, width, seconds, idle_connections),
                       lambda record: f"{shlex.join(record['options']) or 'defaults':40s} PING "
                       f"{record['ping_p50_us']:7.1f}  MODELEXECUTE {record['modelexecute_p50_us']:8.1f}  raw "
                       f"{record['raw_p50_us']:7.1f} µs -> {record['ratio']:.2f}x  run inside "
                       f"{record['run_inside_us']} µs, on the loop {record['on_loop']}/{record['batches']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of each load run and of the raw calls")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--inferd-args", default="--lone-client-run-max-us 0", metavar="ARGS",
                        help="the second configuration's server options")
    parser.add_argument("--idle-connections", type=int, default=0, metavar="N",
                        help="connections each server also holds, open and quiet (a client's pool)")
    args = parser.parse_args()
    other = shlex.split(args.inferd_args)
    records = compare(other, args.pairs, args.layers, args.width, args.seconds, args.idle_connections)
    for options in ([], other):
        mine = [r for r in records if r["options"] == options]
        ratio = statistics.median(r["ratio"] for r in mine)
        p50 = statistics.median(r["modelexecute_p50_us"] for r in mine)
        print(f"{shlex.join(options) or 'defaults'}: median {ratio:.2f}x (PING + raw call), MODELEXECUTE p50 "
              f"{p50:.1f} µs")


if __name__ == "__main__":
    main()
