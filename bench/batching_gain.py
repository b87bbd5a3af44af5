"""Batching gain: 32 concurrent clients on a BATCHSIZE 16 model vs the same model at BATCHSIZE 0, in the same run.

Self-contained: builds a dense ONNX model (256 -> 2048 -> 2048 -> 2048 -> 2, ReLU) whose per-row cost at batch 64 is
a small fraction of its batch-1 cost (measured here with onnxruntime in-process, same thread settings as the
server), starts inferd as a subprocess on a free port, stores the model twice (``m16`` with BATCHSIZE 16, ``m0``
with BATCHSIZE 0), and drives 32 redis-py asyncio clients, each repeating ``AI.MODELEXECUTE <model> INPUTS 1 x<i>
OUTPUTS 1 y<i>`` on its own 1x256 tensor for a fixed time per phase. The mean batch size comes from the server's
own counters (``INFO ai``: rows / batches of the CPU queue, as deltas over each phase). Prints one JSON line.

    .venv/bin/python bench/batching_gain.py [--seconds 5] [--clients 32] [--batchsize 16]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np

WIDTH, INPUT = 2048, 256


def build_model() -> bytes:
    """The dense ONNX model: weight-bandwidth bound at batch 1, so batching amortizes the weights."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    nodes, inits, prev, dim = [], [], "x", INPUT
    for i in range(3):
        inits.append(numpy_helper.from_array((rng.standard_normal((dim, WIDTH)) / np.sqrt(dim)).astype(np.float32),
                                             f"w{i}"))
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"])]
        prev, dim = f"r{i}", WIDTH
    inits.append(numpy_helper.from_array((rng.standard_normal((dim, 2)) / np.sqrt(dim)).astype(np.float32), "wo"))
    nodes.append(helper.make_node("MatMul", [prev, "wo"], ["y"]))
    graph = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", INPUT])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def raw_cost_per_row(blob: bytes, batch: int, threads: int, seconds: float = 1.5) -> float:
    """Seconds per row of the raw onnxruntime call at ``batch`` (median of repeated calls)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    x = np.ones((batch, INPUT), np.float32)
    for _ in range(3):
        session.run(None, {"x": x})
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - t)
    return float(np.median(times)) / batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_inferd(port: int, threads: int) -> subprocess.Popen[bytes]:
    """inferd as a subprocess; returns once it answers PING."""
    import redis
    proc = subprocess.Popen([sys.executable, "-m", "inferd", "--port", str(port), "--threads-per-queue", "1",
                             "--intra-op-parallelism", str(threads), "--loglevel", "warning"],
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.monotonic() + 60
    while True:
        try:
            redis.Redis(port=port, protocol=2).ping()
            return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("inferd did not start") from None
            time.sleep(0.05)


def cpu_queue(client: Any) -> dict[str, int]:
    """The CPU queue's counters from ``INFO ai`` (batches, requests, rows)."""
    fields = client.info("ai").get("ai_queue_CPU")
    if not isinstance(fields, dict):
        raise RuntimeError("INFO ai has no ai_queue_CPU line")
    return {k: int(v) for k, v in fields.items()}


async def drive(port: int, model: str, clients: int, seconds: float, warmup: float) -> tuple[int, float]:
    """``clients`` connections repeating MODELEXECUTE; returns (requests completed, seconds) after the warmup."""
    import redis.asyncio as aioredis
    counting = asyncio.Event()
    stop = asyncio.Event()
    done = [0] * clients

    async def one(i: int) -> None:
        c = aioredis.Redis(port=port, protocol=2)
        try:
            while not stop.is_set():
                reply = await c.execute_command("AI.MODELEXECUTE", model, "INPUTS", 1, f"x{i}", "OUTPUTS", 1, f"y{i}")
                if reply != b"OK":
                    raise RuntimeError(f"unexpected reply {reply!r}")
                if counting.is_set():
                    done[i] += 1
        finally:
            await c.aclose()

    tasks = [asyncio.create_task(one(i)) for i in range(clients)]
    await asyncio.sleep(warmup)
    counting.set()
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return sum(done), elapsed


def phase(port: int, model: str, clients: int, seconds: float) -> dict[str, float]:
    """Throughput and the server-side mean batch size of one model under ``clients`` concurrent clients."""
    import redis
    admin = redis.Redis(port=port, protocol=2)
    before = cpu_queue(admin)
    completed, elapsed = asyncio.run(drive(port, model, clients, seconds, warmup=1.0))
    after = cpu_queue(admin)
    batches = after["batches"] - before["batches"]
    rows = after["rows"] - before["rows"]
    return {"requests_per_s": round(completed / elapsed, 1), "mean_batch": round(rows / batches, 2) if batches else 0}


def main() -> None:
    """Run both phases and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batchsize", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (raw and server)")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    blob = build_model()
    cost1, cost64 = raw_cost_per_row(blob, 1, args.threads), raw_cost_per_row(blob, 64, args.threads)
    port = free_port()
    proc = start_inferd(port, args.threads)
    try:
        import redis
        admin = redis.Redis(port=port, protocol=2)
        admin.execute_command("AI.MODELSTORE", "m0", "ONNX", "CPU", "BLOB", blob)
        admin.execute_command("AI.MODELSTORE", "mb", "ONNX", "CPU", "BATCHSIZE", args.batchsize, "BLOB", blob)
        for i in range(args.clients):
            x = np.random.default_rng(i).standard_normal((1, INPUT)).astype(np.float32)
            admin.execute_command("AI.TENSORSET", f"x{i}", "FLOAT", 1, INPUT, "BLOB", x.tobytes())
        unbatched = phase(port, "m0", args.clients, args.seconds)
        batched = phase(port, "mb", args.clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait(30)
    print(json.dumps({
        "bench": "batching_gain", "clients": args.clients, "batchsize": args.batchsize, "seconds": args.seconds,
        "raw_us_per_row_batch1": round(cost1 * 1e6, 1), "raw_us_per_row_batch64": round(cost64 * 1e6, 1),
        "raw_batch64_over_batch1_per_row": round(cost64 / cost1, 3),
        "unbatched": unbatched, "batched": batched,
        "throughput_gain": round(batched["requests_per_s"] / unbatched["requests_per_s"], 2)
        if unbatched["requests_per_s"] else None,
        "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
