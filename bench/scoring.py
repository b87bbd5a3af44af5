"""Transaction scoring: inferd's one-round-trip DAG vs the two-hop stack (redis-server GET + FastAPI/ORT POST).

Every path is driven by the same C closed-loop load generator, picking a random user per request:

* inferd: ``AI.DAGEXECUTE LOAD 1 ref:<u> |> AI.TENSORSET tx FLOAT 1 30 BLOB <120 bytes> |> AI.MODELEXECUTE fraud
  INPUTS 2 tx ref:<u> OUTPUTS 1 out |> AI.TENSORGET out BLOB`` (one round trip; the transaction as raw float32, as
  RedisAI's aibench fraud benchmark and redisai-py send it);
* inferd-values: the same DAG with the transaction as 30 text floats (``VALUES ...``) and ``TENSORGET out VALUES``,
  so the cost of the text path stays visible;
* inferd-nobatch: the BLOB DAG on the model stored with BATCHSIZE 0;
* peer: ``GET ref:<u>`` from redis-server, then ``POST /score`` (transaction + reference as float32 bytes, reply
  float32 bytes) to uvicorn/FastAPI running the same ONNX model with onnxruntime;
* floor: inferd's BLOB command sent to bench/scoring_floor.py, a uvloop server doing only the work no scoring
  server can skip (parse, one batched onnxruntime call per loop turn, write the score): the bound of a Python
  server on this event loop and machine, beside which inferd's own cost shows.

All servers stay up for the whole suite and the client counts are interleaved (peer, inferd, ... per count), so
background noise hits every system alike.
"""
from __future__ import annotations

import os
import urllib.request
from typing import Any

import numpy as np

from bench import loadgen, models, profile
from bench.batching import model_info, queue_figures
from bench.harness import Context, cpu_of, with_cpu
from bench.procs import BenchError, ServerProcess, short_error

SUITE = "scoring"
MODEL_KEY = "fraud"
NOBATCH_KEY = "fraud_nobatch"
LOAD_CHUNK = 1000


# system -> (model key, tensor format of the transaction sent and of the score read back)
INFERD_SYSTEMS = {"inferd": (MODEL_KEY, "BLOB"), "inferd-values": (MODEL_KEY, "VALUES"),
                  "inferd-nobatch": (NOBATCH_KEY, "BLOB")}


def dag_command(model_key: str, tensor_format: str = "BLOB") -> list[str]:
    """The loadgen template of one scoring request; loadgen fills ``__user__``, ``__tx_blob__``, ``__rand_float__``."""
    tx = ["__tx_blob__"] if tensor_format == "BLOB" else ["__rand_float__"] * models.TX_FLOATS
    return ["AI.DAGEXECUTE", "LOAD", "1", "ref:__user__", "|>",
            "AI.TENSORSET", "tx", "FLOAT", "1", str(models.TX_FLOATS), tensor_format, *tx, "|>",
            "AI.MODELEXECUTE", model_key, "INPUTS", "2", "tx", "ref:__user__", "OUTPUTS", "1", "out", "|>",
            "AI.TENSORGET", "out", tensor_format]


def system_command(system: str) -> list[str]:
    """The loadgen template that an inferd system sends."""
    return dag_command(*INFERD_SYSTEMS[system])


def _client(port: int) -> Any:
    import redis
    return redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=60)


def load_peer_data(port: int, refs: np.ndarray) -> None:
    """SET ref:<i> to user i's reference tensor as raw float32 bytes, in redis-server."""
    client = _client(port)
    for start in range(0, len(refs), LOAD_CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + LOAD_CHUNK, len(refs))):
            pipe.set(f"ref:{i}", refs[i].tobytes())
        pipe.execute()
    client.close()


def load_inferd_data(port: int, refs: np.ndarray, model: bytes, batchsize: int) -> None:
    """AI.TENSORSET ref:<i> FLOAT 1 256 BLOB ..., and the model twice: batched and with BATCHSIZE 0."""
    client = _client(port)
    try:
        for start in range(0, len(refs), LOAD_CHUNK):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + LOAD_CHUNK, len(refs))):
                pipe.execute_command("AI.TENSORSET", f"ref:{i}", "FLOAT", 1, models.REF_FLOATS, "BLOB",
                                     refs[i].tobytes())
            pipe.execute()
        client.execute_command("AI.MODELSTORE", MODEL_KEY, "ONNX", "CPU", "BATCHSIZE", batchsize, "BLOB", model)
        client.execute_command("AI.MODELSTORE", NOBATCH_KEY, "ONNX", "CPU", "BLOB", model)
    except Exception as exc:  # redis-py raises ResponseError for a missing command: the inferd path is unavailable
        raise BenchError(f"cannot load the scoring data into inferd: {short_error(exc)}") from exc
    finally:
        client.close()


def expected_score(model: bytes, tx: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The model's output computed in-process with onnxruntime (the reference for the correctness checks)."""
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"transaction": tx, "reference": ref})[0])


def _compare(got: np.ndarray, want: np.ndarray) -> str:
    if got.shape == want.shape and np.allclose(got, want, atol=1e-4):
        return "ok"
    return f"mismatch: got {got.tolist()}, want {want.tolist()}"


def check_inferd(port: int, model_key: str, model: bytes, refs: np.ndarray, tensor_format: str = "BLOB") -> str:
    """Run one scoring DAG with redis-py (tx and score as BLOB or VALUES) and compare with in-process onnxruntime."""
    tx = np.linspace(0, 1, models.TX_FLOATS, dtype=np.float32).reshape(1, -1)
    data = [tx.tobytes()] if tensor_format == "BLOB" else [repr(float(v)) for v in tx[0]]
    client = _client(port)
    try:
        reply = client.execute_command("AI.DAGEXECUTE", "LOAD", 1, "ref:5", "|>",
                                       "AI.TENSORSET", "tx", "FLOAT", 1, models.TX_FLOATS, tensor_format, *data,
                                       "|>", "AI.MODELEXECUTE", model_key, "INPUTS", 2, "tx", "ref:5", "OUTPUTS", 1,
                                       "out", "|>", "AI.TENSORGET", "out", tensor_format)
        if tensor_format == "BLOB":
            got = np.frombuffer(reply[-1], dtype=np.float32)
        else:
            got = np.array([float(v) for v in reply[-1]], dtype=np.float32)
    except Exception as exc:
        return f"failed: {short_error(exc)}"
    finally:
        client.close()
    return _compare(got, expected_score(model, tx, refs[5:6])[0])


def check_peer(http_port: int, model: bytes, refs: np.ndarray) -> str:
    """POST one scoring request to the model server and compare its score with in-process onnxruntime."""
    tx = np.linspace(0, 1, models.TX_FLOATS, dtype=np.float32).reshape(1, -1)
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/score", data=tx.tobytes() + refs[5].tobytes(),
                                     headers={"Content-Type": "application/octet-stream"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        got = np.frombuffer(response.read(), dtype=np.float32)
    return _compare(got, expected_score(model, tx, refs[5:6])[0])


def batch_counters(port: int, model_key: str) -> tuple[int, ...] | None:
    """inferd's CPU queue's batches, rows, batches on the loop and on the native thread (INFO ai), and the model's
    run time and rows (AI.INFO); None when either is unavailable (they explain a run, they are not its result)."""
    try:
        queue, info = queue_figures(port), model_info(port, model_key)
        return (int(queue["batches"]), int(queue["rows"]), int(queue["inline"]), int(queue.get("native", 0)),
                int(info["duration"]), int(info["samples"]))
    except Exception:
        return None


def batch_figures(before: tuple[int, ...] | None, after: tuple[int, ...] | None) -> dict[str, float]:
    """Batches, rows per batch, the shares of batches run on the event loop and on the queue's native thread
    (onnx-run-thread) and the model's run per row over one load run, from :func:`batch_counters` before and after
    it."""
    if before is None or after is None:
        return {}
    batches, rows, inline, native, duration, samples = (b - a for a, b in zip(before, after, strict=True))
    if batches <= 0 or samples <= 0:
        return {}
    return {"batches": batches, "rows_per_batch": round(rows / batches, 2),
            "batches_on_loop": round(inline / batches, 4), "batches_on_thread": round(native / batches, 4),
            "model_run_us_per_row": round(duration / samples, 2)}


def _measure(ctx: Context, system: str, clients: int, servers: list[ServerProcess], model_key: str | None = None,
             **load: Any) -> None:
    """One load run; for an inferd system (``model_key``), also how its requests were batched (batch_figures)."""
    s = ctx.settings
    before = cpu_of(servers)
    counters = batch_counters(load["port"], model_key) if model_key else None
    try:
        result = loadgen.run(clients=clients, duration=s.duration_s, warmup=s.warmup_s, keyspace=s.users,
                             seed=clients, **load)
    except BenchError as exc:
        ctx.record(SUITE, f"{system}-c{clients}", {"system": system, "clients": clients, "error": short_error(exc)})
        return
    result = with_cpu(result, cpu_of(servers) - before)
    if model_key:
        result.update(batch_figures(counters, batch_counters(load["port"], model_key)))
    if result["requests"] == 0:
        result["error"] = short_error(result.get("first_error") or "no request completed")
    ctx.record(SUITE, f"{system}-c{clients}", {"system": system, **result})


def _start_peer(ctx: Context, model_path: str, refs: np.ndarray) -> tuple[ServerProcess, ServerProcess]:
    redis_server = ctx.procs.start_redis()
    load_peer_data(redis_server.port, refs)
    uvicorn = ctx.procs.start_uvicorn("bench.peer_app:app", ctx.settings.peer_workers,
                                      {"BENCH_PEER_MODEL": model_path, "BENCH_PEER_THREADS": "1"})
    return redis_server, uvicorn


def _start_floor(ctx: Context, model_path: str, model: bytes, refs: np.ndarray,
                 checks: dict[str, str]) -> ServerProcess | None:
    """bench/scoring_floor.py holding the same model and reference rows, its score checked; None if unavailable."""
    try:
        floor = ctx.procs.start_scoring_floor(model_path, len(refs))
    except BenchError as exc:
        checks["floor"] = f"unavailable: {short_error(exc)}"
        return None
    checks["floor"] = check_inferd(floor.port, MODEL_KEY, model, refs)
    return floor


def _setup_inferd(inferd: ServerProcess, model: bytes, refs: np.ndarray, batchsize: int,
                  checks: dict[str, str]) -> bool:
    """Load the data and models into inferd and check each system's scores; False when inferd is unavailable."""
    try:
        load_inferd_data(inferd.port, refs, model, batchsize)
    except BenchError as exc:
        checks.update(dict.fromkeys(INFERD_SYSTEMS, f"unavailable: {exc}"))
        return False
    for system, (key, tensor_format) in INFERD_SYSTEMS.items():
        checks[system] = check_inferd(inferd.port, key, model, refs, tensor_format)
    return True


def run(ctx: Context) -> None:
    """The whole scoring suite: set up both stacks, check they compute the same score, sweep the client counts."""
    s = ctx.settings
    model = models.fraud_model()
    model_path = ctx.workdir / "fraud.onnx"
    model_path.write_bytes(model)
    refs = models.reference_blobs(s.users)
    redis_server, uvicorn = _start_peer(ctx, str(model_path), refs)
    checks = {"peer": check_peer(uvicorn.port, model, refs)}
    inferd = ctx.procs.start_inferd(*ctx.settings.inferd_args)
    inferd_ready = _setup_inferd(inferd, model, refs, s.scoring_batchsize, checks)
    floor = _start_floor(ctx, str(model_path), model, refs, checks)
    ctx.record(SUITE, "setup", {"system": "setup", "users": s.users, "checks": checks, "cpus": os.cpu_count(),
                                "peer_workers": s.peer_workers, "scoring_batchsize": s.scoring_batchsize,
                                "tx_floats": models.TX_FLOATS,
                                "inferd_command": {system: " ".join(system_command(system))
                                                   for system in INFERD_SYSTEMS}})
    for clients in s.clients:
        _measure(ctx, "peer", clients, [redis_server, uvicorn], port=redis_server.port, http_port=uvicorn.port)
        for system in INFERD_SYSTEMS:
            if not inferd_ready:
                ctx.record(SUITE, f"{system}-c{clients}", {"system": system, "clients": clients,
                                                           "error": checks[system]})
                continue
            _measure(ctx, system, clients, [inferd], INFERD_SYSTEMS[system][0], port=inferd.port,
                     command=system_command(system))
        if floor is not None:
            _measure(ctx, "floor", clients, [floor], port=floor.port, command=system_command("inferd"))
        else:
            ctx.record(SUITE, f"floor-c{clients}", {"system": "floor", "clients": clients, "error": checks["floor"]})
    if s.profile and inferd_ready and ctx.round == s.rounds - 1:   # once, after the last round's measurements
        _profile(ctx, inferd)
    ctx.procs.stop_all()


def _profile(ctx: Context, inferd: ServerProcess) -> None:
    """One more inferd run at the target client count, sampled."""
    s = ctx.settings
    clients = s.profile_clients

    def load() -> dict[str, Any]:
        return loadgen.run(inferd.port, clients, s.duration_s, 1.0, system_command("inferd"), keyspace=s.users)

    profile.profile_run(ctx, inferd, f"scoring-inferd-c{clients}",
                        {"owner": SUITE, "title": f"transaction scoring, {clients} clients", "unit": "inference",
                         "clients": clients}, load)
