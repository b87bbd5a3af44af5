"""The batching suite's saturating load on two server configurations, servers started in turn, alternating.

For comparing two configurations in the same minutes (the machine drifts between runs): for each pair, a server with the
defaults and one with ``--inferd-args``, their order alternating from pair to pair. Each server gets the suite's data
(``bench.batching.load_inferd``: the dense model of ``--layers`` x ``--width`` with BATCHSIZE ``--batchsize``, its
random input rows), then the C load generator sends the suite's MODELEXECUTE (one row per request) from ``--clients``
connections for ``--seconds``; then, while that server idles, the raw onnxruntime call of ``--raw-batch`` rows runs back
to back in this process (the suite's best batch for 8 x Dense 1024 is 64), so that each server is compared with the raw
call of its own minutes. Prints a line per server (rows/s, p99, the server's CPU per row, split into its event loop and
its other threads, and the load generator's; batches and how many ran side by side, on the event loop or on its native
thread; the raw rows/s and the ratio) and, at the end, the medians per configuration.

    .venv/bin/python -m bench.saturating_pairs [--pairs 4] [--clients 512] [--seconds 6] [--layers 8]
        [--width 1024] [--batchsize 256] [--raw-batch 64] [--inferd-args ARGS]
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
from bench.batching import INPUT_KEYS, load_inferd, modelexecute_command, queue_figures, timed_calls
from bench.harness import alternating, with_cpu
from bench.procs import BenchError, ProcessGroup
from bench.profile import thread_split, thread_ticks

KEY = "m"


def measure(options: list[str], model: bytes, width: int, batchsize: int, clients: int, seconds: float,
            raw_batch: int) -> dict[str, Any]:
    """One server with ``options`` under ``clients`` clients, then the raw call of ``raw_batch`` rows."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory(prefix="inferd-saturating-") as workdir, ProcessGroup(Path(workdir)) as procs:
        server = procs.start_inferd(*options)
        load_inferd(server.port, KEY, model, width, batchsize)
        before, counters = server.cpu_seconds(), queue_figures(server.port)
        threads_before = thread_ticks(server.proc.pid)
        result = loadgen.run(server.port, clients, seconds, min(2.0, seconds), modelexecute_command(KEY, KEY),
                             keyspace=INPUT_KEYS, seed=clients)
        result = with_cpu(result, server.cpu_seconds() - before)
        split = thread_split(server.proc.pid, threads_before, result)
        after = queue_figures(server.port)
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal((raw_batch, width)).astype(np.float32)
        for _ in range(3):
            session.run(None, {"x": x})
        raw = raw_batch / float(np.median(timed_calls(session, x, min(3.0, seconds)))) * 1e6
    if result.get("requests", 0) == 0:
        raise BenchError(f"no MODELEXECUTE completed: {result.get('first_error')}")
    counted = {name: after.get(field, 0) - counters.get(field, 0)
               for name, field in (("batches", "batches"), ("side_by_side", "narrow"), ("on_loop", "inline"),
                                   ("on_thread", "native"))}
    return {"options": options, "clients": clients, "rows_per_s": result["rps"],
            "p99_ms": result["latency_us"]["p99"] / 1000, "server_cpu_us": result["server_cpu_us_per_op"],
            **counted, **split, "client_cpu_us": result["client_cpu_us_per_op"],
            "raw_rows_per_s": round(raw, 1), "ratio": round(result["rps"] / raw, 3)}


def compare(other: list[str], pairs: int, clients: int, seconds: float, layers: int, width: int, batchsize: int,
            raw_batch: int) -> list[dict[str, Any]]:
    """``pairs`` x (defaults, ``other``) servers, the order alternating; one record per server, printed as it ends."""
    model = models.dense_model(layers, width)
    return alternating(([], other), pairs,
                       lambda options: measure(options, model, width, batchsize, clients, seconds, raw_batch),
                       lambda record: f"{shlex.join(record['options']) or 'defaults':36s} {record['rows_per_s']:9,.0f} "
                       f"rows/s  p99 {record['p99_ms']:6.1f} ms  server CPU {record['server_cpu_us']:6.1f} µs/row "
                       f"(loop {record['loop_cpu_us_per_op']:.1f}, model threads "
                       f"{record['threads_cpu_us_per_op']:.1f}; client {record['client_cpu_us']:.1f})  "
                       f"{record['side_by_side']}/{record['batches']} batches side by side  raw {raw_batch} rows "
                       f"{record['raw_rows_per_s']:9,.0f} rows/s -> {record['ratio']:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--clients", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of each load run (after 2 s warm-up)")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batchsize", type=int, default=256, help="the model's BATCHSIZE (the suite's 256)")
    parser.add_argument("--raw-batch", type=int, default=64, help="rows of the raw call compared with")
    parser.add_argument("--inferd-args", default="--onnx-run-thread no", metavar="ARGS",
                        help="the second configuration's server options")
    args = parser.parse_args()
    other = shlex.split(args.inferd_args)
    records = compare(other, args.pairs, args.clients, args.seconds, args.layers, args.width, args.batchsize,
                      args.raw_batch)
    for options in ([], other):
        mine = [r for r in records if r["options"] == options]
        print(f"{shlex.join(options) or 'defaults'}: median {statistics.median(r['rows_per_s'] for r in mine):,.0f} "
              f"rows/s, {statistics.median(r['ratio'] for r in mine):.3f}x the raw call, server CPU "
              f"{statistics.median(r['server_cpu_us'] for r in mine):.1f} µs/row")


if __name__ == "__main__":
    main()
