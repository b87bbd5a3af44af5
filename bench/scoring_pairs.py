"""inferd's scoring load at one client count on two server configurations, servers started in turn, alternating.

The scoring suite's inferd line without its peer, floor and sweep, for comparing two configurations in the same
minutes (the machine drifts between runs): for each pair, a server with the defaults and the scoring model of width
``--hidden``, and one with ``--inferd-args`` and width ``--other-hidden`` (``--hidden`` unless given), their order
alternating from pair to pair. Each server gets the suite's data (``--users`` reference tensors, the model with
BATCHSIZE 64), its score is checked against onnxruntime in-process, then the C load generator sends the suite's
BLOB DAG from ``--clients`` connections for ``--seconds``. Prints a line per server (inferences/s, p50/p99, the
server's CPU per inference; over the load run, as the suite reports them, rows per batch, the share of batches run on
the event loop and the model's run per row) and, at the end, the medians per configuration.

``--other-hidden 8`` makes the model's run almost free on the second side: what the request path alone allows.

    .venv/bin/python -m bench.scoring_pairs [--pairs 3] [--clients 16] [--seconds 5] [--users 10000]
        [--hidden 512] [--other-hidden N] [--inferd-args ARGS]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import loadgen, models, scoring
from bench.harness import alternating, with_cpu
from bench.procs import BenchError, ProcessGroup

BATCHSIZE = 64   # the suite's (bench.harness.Settings.scoring_batchsize)


def measure(options: list[str], hidden: int, clients: int, seconds: float, users: int) -> dict[str, Any]:
    """One server with ``options`` and the scoring model of width ``hidden``, under ``clients`` clients."""
    model = models.fraud_model(hidden=hidden)
    refs = models.reference_blobs(users)
    with tempfile.TemporaryDirectory(prefix="inferd-scoring-") as workdir, ProcessGroup(Path(workdir)) as procs:
        server = procs.start_inferd(*options)
        scoring.load_inferd_data(server.port, refs, model, BATCHSIZE)
        check = scoring.check_inferd(server.port, scoring.MODEL_KEY, model, refs)
        if check != "ok":
            raise BenchError(f"inferd's score ({shlex.join(options) or 'defaults'}): {check}")
        before, counters = server.cpu_seconds(), scoring.batch_counters(server.port, scoring.MODEL_KEY)
        result = loadgen.run(server.port, clients, seconds, min(1.0, seconds), scoring.system_command("inferd"),
                             keyspace=users, seed=clients)
        result = with_cpu(result, server.cpu_seconds() - before)
        batches = scoring.batch_figures(counters, scoring.batch_counters(server.port, scoring.MODEL_KEY))
    if result.get("requests", 0) == 0:
        raise BenchError(f"no scoring request completed: {result.get('first_error')}")
    if not batches:
        raise BenchError("inferd's INFO ai / AI.INFO counters were not readable around the load run")
    return {"options": options, "hidden": hidden, "clients": clients,
            "throughput": result["rps"], "p50_ms": result["latency_us"]["p50"] / 1000,
            "p99_ms": result["latency_us"]["p99"] / 1000, "server_cpu_us": result["server_cpu_us_per_op"], **batches}


def _label(record: dict[str, Any]) -> str:
    return f"{shlex.join(record['options']) or 'defaults'}, hidden {record['hidden']}"


def compare(other: list[str], pairs: int, clients: int, seconds: float, users: int, hidden: int,
            other_hidden: int) -> list[dict[str, Any]]:
    """``pairs`` x ((defaults, ``hidden``), (``other``, ``other_hidden``)) servers, the order alternating."""
    sides: tuple[tuple[list[str], int], ...] = (([], hidden), (other, other_hidden))
    return alternating(sides, pairs, lambda side: measure(side[0], side[1], clients, seconds, users), _line)


def _line(record: dict[str, Any]) -> str:
    return (f"{_label(record):44s} {record['throughput']:9,.0f}/s  p50 {record['p50_ms']:.2f} p99 "
            f"{record['p99_ms']:.2f} ms  server CPU {record['server_cpu_us']:.1f} µs/inference  "
            f"{record['rows_per_batch']:.1f} rows/batch, {record['batches_on_loop']:.0%} of {record['batches']} "
            f"on the loop, {record['batches_on_thread']:.0%} on the thread, model run "
            f"{record['model_run_us_per_row']} µs/row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each load run (after 1 s warm-up)")
    parser.add_argument("--users", type=int, default=10_000, help="reference tensors (the suite's 10,000)")
    parser.add_argument("--hidden", type=int, default=models.HIDDEN, help="the model's hidden width (both sides)")
    parser.add_argument("--other-hidden", type=int, help="the second side's hidden width (default: --hidden)")
    parser.add_argument("--inferd-args", default="", metavar="ARGS", help="the second side's server options")
    args = parser.parse_args()
    other = shlex.split(args.inferd_args)
    other_hidden = args.hidden if args.other_hidden is None else args.other_hidden
    records = compare(other, args.pairs, args.clients, args.seconds, args.users, args.hidden, other_hidden)
    for options, width in (([], args.hidden), (other, other_hidden)):
        mine = [r for r in records if r["options"] == options and r["hidden"] == width]
        print(f"{_label(mine[0])}: median {statistics.median(r['throughput'] for r in mine):,.0f} inferences/s, "
              f"server CPU {statistics.median(r['server_cpu_us'] for r in mine):.1f} µs/inference")


if __name__ == "__main__":
    main()
