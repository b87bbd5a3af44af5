"""Batching: inferd under saturating load on dense ONNX models vs the raw onnxruntime call in-process.

For each model of the settings (the issue's example, 4 x Dense 512, and a compute-bound 8 x Dense 1024):

* raw: the model called in this process with onnxruntime's default session options, at each batch size of a sweep;
  the best rows/s is the ceiling inferd is compared with (no protocol, no client, no scheduler);
* inferd: ``AI.MODELEXECUTE <model> INPUTS 1 x:<u> OUTPUTS 1 y:<u>`` (one 1xW row per request, random input key)
  from the C load generator, swept over client counts, the model stored with BATCHSIZE n and with BATCHSIZE 0;
* single client: MODELEXECUTE's median round trip vs (PING's median round trip + the raw 1-row call's median).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from typing import Any

import numpy as np

from bench import loadgen, models, profile
from bench.harness import Context, with_cpu
from bench.procs import ROOT, BenchError, ServerProcess, short_error

SUITE = "batching"
INPUT_KEYS = 1000
# References for the single-client line, not targets: the raw 1-row call with something between two calls, as a
# server's loop has between two requests of one client. "cold": other work (this much memory read: the kernel's
# network path, the interpreter); "idle": the thread asleep (the loop waits in epoll for the next request); "busy":
# the thread kept busy about as long as it sleeps there, so that only the CPU's idleness differs from "idle".
COLD_BYTES = 1 << 20
IDLE_SLEEP_S = 50e-6
BUSY_S = 150e-6

def raw_sweep(ctx: Context, tag: str, model: bytes) -> None:
    """Rows/s of the raw in-process call at each batch size; per-call latency percentiles too."""
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[1]
    rng = np.random.default_rng(1)
    for batch in ctx.settings.raw_batch_sizes:
        x = rng.standard_normal((batch, width)).astype(np.float32)
        for _ in range(3):
            session.run(None, {"x": x})
        cpu = time.process_time()   # every thread of this process: the call's own and onnxruntime's pool
        lat = timed_calls(session, x, ctx.settings.raw_seconds)
        cpu = time.process_time() - cpu
        ctx.record(SUITE, f"{tag}-raw-b{batch}", {
            "system": "raw", "model": tag, "batch": batch, "calls": len(lat), "cpus": os.cpu_count(),
            "rows_per_s": round(batch * len(lat) / float(lat.sum()) * 1e6, 1), "latency_us": _latency(lat),
            "cpu_us_per_row": round(cpu / (batch * len(lat)) * 1e6, 2)})
    raw_references(ctx, tag, session, rng.standard_normal((1, width)).astype(np.float32))


def timed_calls(session: Any, x: np.ndarray, seconds: float, between: Any = None) -> np.ndarray:
    """µs of each ``session.run`` on ``x`` for ``seconds``; ``between()`` (untimed) before each call if given."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if between is not None:
            between()
        t0 = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1e6


def _latency(lat: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(lat.mean()), 2), "p50": round(float(np.percentile(lat, 50)), 2),
            "p99": round(float(np.percentile(lat, 99)), 2)}


def raw_references(ctx: Context, tag: str, session: Any, x: np.ndarray) -> None:
    """The raw 1-row call with other work, sleep, or a busy wait between calls (see COLD_BYTES), one record each.

    Back-to-back calls keep the weights in the caller's caches and its CPU awake; a server's loop does other work
    and then sleeps between two requests of one client, so a small model's 1-row run there is slower.
    """
    other = np.ones(COLD_BYTES // 4, np.float32)
    for kind, between, meta in (("cold", other.sum, {"cold_bytes": COLD_BYTES}),
                                ("idle", partial(time.sleep, IDLE_SLEEP_S), {}),
                                ("busy", partial(_busy, BUSY_S), {})):
        lat = timed_calls(session, x, ctx.settings.raw_seconds, between=between)
        ctx.record(SUITE, f"{tag}-raw-{kind}-b1", {
            "system": f"raw-{kind}", "model": tag, "batch": 1, "calls": len(lat), **meta,
            "between_us": round(_median_us(between), 1), "latency_us": _latency(lat)})


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _median_us(fn: Any, calls: int = 200) -> float:
    """Median µs of ``fn()``: what a "between" step takes (a sleep's includes the timer's slack)."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def load_inferd(port: int, tag: str, model: bytes, width: int, batchsize: int) -> None:
    """Store the model (as <tag> with BATCHSIZE, <tag>-nobatch without) and INPUT_KEYS random 1xW inputs."""
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=120)
    rng = np.random.default_rng(2)
    try:
        client.execute_command("AI.MODELSTORE", tag, "ONNX", "CPU", "BATCHSIZE", batchsize, "BLOB", model)
        client.execute_command("AI.MODELSTORE", f"{tag}-nobatch", "ONNX", "CPU", "BLOB", model)
        pipe = client.pipeline(transaction=False)
        for i in range(INPUT_KEYS):
            row = rng.standard_normal((1, width)).astype(np.float32)
            pipe.execute_command("AI.TENSORSET", f"{tag}:x:{i}", "FLOAT", 1, width, "BLOB", row.tobytes())
        pipe.execute()
        client.execute_command("AI.MODELEXECUTE", tag, "INPUTS", 1, f"{tag}:x:0", "OUTPUTS", 1, f"{tag}:y:0")
    except Exception as exc:  # a missing command or backend makes the inferd side unavailable
        raise BenchError(f"cannot load {tag} into inferd: {short_error(exc)}") from exc
    finally:
        client.close()


def modelexecute_command(key: str, tag: str) -> list[str]:
    """The load generator's MODELEXECUTE of model ``key`` on a random one of ``tag``'s inputs (see load_inferd)."""
    return ["AI.MODELEXECUTE", key, "INPUTS", "1", f"{tag}:x:__user__", "OUTPUTS", "1", f"{tag}:y:__user__"]


def _load(ctx: Context, inferd: ServerProcess, name: str, clients: int, command: list[str],
          meta: dict[str, Any]) -> None:
    s = ctx.settings
    model_key = command[1] if command[0] == "AI.MODELEXECUTE" else None
    if model_key:
        ai_info(inferd.port, model_key, "RESETSTAT")
    before, threads_before = inferd.cpu_seconds(), profile.thread_ticks(inferd.proc.pid)
    try:
        result = loadgen.run(inferd.port, clients, s.duration_s, s.warmup_s, command, keyspace=INPUT_KEYS,
                             seed=clients)
    except BenchError as exc:
        ctx.record(SUITE, name, {**meta, "clients": clients, "error": short_error(exc)})
        return
    result = with_cpu(result, inferd.cpu_seconds() - before)
    result.update(profile.thread_split(inferd.proc.pid, threads_before, result))
    if model_key:   # the backend calls as inferd timed them (AI.INFO): what the run itself took in the server
        result["server_run_us_per_request"] = run_us_per_call(model_info(inferd.port, model_key))
    if result["requests"] == 0:
        result["error"] = short_error(result.get("first_error") or "no request completed")
    ctx.record(SUITE, name, {**meta, **result})


def ai_info(port: int, key: str, *extra: str) -> Any:
    """``AI.INFO key [extra]``'s reply, None if it fails (the figures it gives are context, not a load run's result)."""
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=30, decode_responses=True)
    try:
        return client.execute_command("AI.INFO", key, *extra)
    except Exception:
        return None
    finally:
        client.close()


def model_info(port: int, key: str) -> dict[str, Any]:
    """AI.INFO of one model as a dict of text keys; empty if it fails."""
    reply = ai_info(port, key)
    return dict(zip(reply[::2], reply[1::2], strict=True)) if isinstance(reply, list) else {}


def queue_figures(port: int) -> dict[str, int]:
    """The CPU queue's counters (INFO ai's ``ai_queue_CPU`` line: batches, inline, ...)."""
    import redis
    client = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=30)
    try:
        return dict(client.info("ai").get("ai_queue_CPU", {}))
    finally:
        client.close()


def run_us_per_call(info: dict[str, Any]) -> float | None:
    """µs per backend call of the model whose ``model_info`` this is (its duration / calls); None before a call."""
    calls = int(info.get("calls", 0))
    return round(int(info.get("duration", 0)) / calls, 1) if calls else None


def _inferd_sweep(ctx: Context, inferd: ServerProcess, tag: str, width: int, model: bytes) -> None:
    s = ctx.settings
    try:
        load_inferd(inferd.port, tag, model, width, s.batching_batchsize)
    except BenchError as exc:
        for clients in s.batching_clients:
            ctx.record(SUITE, f"{tag}-inferd-c{clients}", {"system": "inferd", "model": tag, "clients": clients,
                                                           "error": str(exc)})
        return
    for clients in s.batching_clients:
        if clients == 1:  # the round-trip floor, measured right before the single-client runs it is compared with
            _load(ctx, inferd, f"{tag}-ping-c1", 1, ["PING"], {"system": "ping", "model": tag})
        for system, key, batchsize in (("inferd", tag, s.batching_batchsize), ("inferd-nobatch", f"{tag}-nobatch", 0)):
            command = modelexecute_command(key, tag)
            _load(ctx, inferd, f"{tag}-{system}-c{clients}", clients, command,
                  {"system": system, "model": tag, "batchsize": batchsize})


def batching_gain(ctx: Context) -> None:
    """The scheduler's own check, bench/batching_gain.py (BATCHSIZE 16 vs 0, 32 redis-py clients), recorded as is."""
    seconds = 0.5 if ctx.settings.quick else 5.0
    argv = [sys.executable, str(ROOT / "bench" / "batching_gain.py"), "--seconds", str(seconds)]
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise BenchError(f"batching_gain.py failed: {(done.stderr or done.stdout).strip()[-300:]}")
        data = json.loads(lines[-1])
    except (BenchError, subprocess.TimeoutExpired, ValueError) as exc:
        data = {"error": short_error(exc)}
    ctx.record(SUITE, "batching-gain", {"system": "batching_gain", **data})


def _profile(ctx: Context, inferd: ServerProcess, tag: str) -> None:
    """The saturating load (the most clients, BATCHSIZE n) on ``tag``, sampled."""
    s = ctx.settings
    clients = max(s.batching_clients)
    command = modelexecute_command(tag, tag)

    def load() -> dict[str, Any]:
        return loadgen.run(inferd.port, clients, s.duration_s, 1.0, command, keyspace=INPUT_KEYS, seed=clients)

    profile.profile_run(ctx, inferd, f"batching-{tag}-inferd-c{clients}",
                        {"owner": SUITE, "title": f"saturating load, {tag}, {clients} clients, BATCHSIZE "
                         f"{s.batching_batchsize}", "unit": "row", "clients": clients, "model": tag}, load)


def run(ctx: Context) -> None:
    """Per model: the raw sweep first (inferd idle), then inferd's sweeps, with a PING run before the 1-client ones.

    With profiling on, the last round ends with a sampled saturating run on the last (compute-bound) model.
    """
    inferd = ctx.procs.start_inferd(*ctx.settings.inferd_args)
    for tag, layers, width in ctx.settings.batching_models:
        model = models.dense_model(layers, width)
        raw_sweep(ctx, tag, model)
        _inferd_sweep(ctx, inferd, tag, width, model)
    if ctx.settings.profile and ctx.round == ctx.settings.rounds - 1 and ctx.settings.batching_models:
        _profile(ctx, inferd, ctx.settings.batching_models[-1][0])
    ctx.procs.stop_all()
    if (ROOT / "bench" / "batching_gain.py").exists():
        batching_gain(ctx)
