"""INFO's ``ai`` section (backends and versions, device queues, model counts) and the instantaneous rates sampler.

Backend versions come from package metadata (``importlib.metadata``): torch and tensorflow are never imported here.
"""
from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import sys
import time
from collections import deque
from typing import Any

from inferd.commands.dag import PLANS

Section = list[tuple[str, Any]]

# backend -> (distributions that provide it, module whose presence in sys.modules means "loaded")
BACKEND_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "ONNX": (("onnxruntime", "onnxruntime-gpu"), "onnxruntime"),
    "TORCH": (("torch",), "torch"),
    "TF": (("tensorflow", "tensorflow-cpu"), "tensorflow"),
    "TFLITE": (("tensorflow", "tensorflow-cpu", "tflite-runtime"), "tensorflow"),
}
SAMPLE_PERIOD_SECONDS = 0.1
SAMPLES = 16   # Redis averages its instantaneous metrics over 16 samples taken every 100 ms


@functools.cache
def backend_version(backend: str) -> str:
    """The installed version of ``backend``'s package, or ``""`` when none is installed (cached per process)."""
    for dist in BACKEND_PACKAGES[backend][0]:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def backend_loaded(backend: str) -> bool:
    """Whether ``backend``'s framework is already imported in this process."""
    return BACKEND_PACKAGES[backend][1] in sys.modules


def queue_figures(state: Any) -> list[dict[str, Any]]:
    """Per device queue: ``device``, ``depth``, ``threads`` and the scheduler's counters (call on the loop)."""
    schedulers = state.extensions.get("schedulers")
    if schedulers is None:
        return []
    out: list[dict[str, Any]] = []
    threads = schedulers.threads_per_queue
    for device, q in list(schedulers.queues.items()):
        st = q.stats
        out.append({"device": device, "depth": q.depth, "threads": threads, "busy": threads - q.idle,
                    "side_busy": 1 - q.side, "narrow": st.narrow,
                    "batches": st.batches, "requests": st.requests, "rows": st.rows, "refused": st.refused,
                    "timed_out": st.timed_out, "cancelled": st.cancelled, "inline": st.inline,
                    "native": st.native,
                    "queue_wait_usec": int(sum(m.wait_seconds for m in st.models.values()) * 1e6),
                    "compute_usec": int(sum(m.compute_seconds for m in st.models.values()) * 1e6)})
    return out


def available_backends() -> list[str]:
    """The backends whose framework is installed (from package metadata: nothing is imported)."""
    return [backend for backend in BACKEND_PACKAGES if backend_version(backend)]


def ai_object_counts(state: Any) -> dict[str, int]:
    """Models, scripts and tensors held, from the values' ``redis_type`` (AI__MODEL, AI_SCRIPT, AI_TENSOR)."""
    counts = {"AI__MODEL": 0, "AI_SCRIPT": 0, "AI_TENSOR": 0}
    for db in state.keyspace.dbs:
        for value in db.data.values():
            kind = getattr(value, "redis_type", None)
            if kind in counts:
                counts[kind] += 1
    return counts


def ai_section(state: Any) -> Section:
    """INFO ai."""
    config = state.config
    out: Section = [("ai_backends_available", ",".join(available_backends()))]
    for backend in BACKEND_PACKAGES:
        out.append((f"ai_backend_{backend.lower()}_version", backend_version(backend) or "none"))
        out.append((f"ai_backend_{backend.lower()}_loaded", int(backend_loaded(backend))))
    counts = ai_object_counts(state)
    out += [("ai_threads_per_queue", config.threads_per_queue),
            ("ai_intra_op_parallelism", config.intra_op_parallelism),
            ("ai_inter_op_parallelism", config.inter_op_parallelism),
            ("ai_intra_op_spin_us", config.intra_op_spin_us),
            ("ai_light_load_spin_us", config.light_load_spin_us),
            ("ai_light_load_max_model_bytes", config.light_load_max_model_bytes),
            ("ai_light_load_intra_op_parallelism", config.light_load_intra_op_parallelism),
            ("ai_model_execution_timeout", config.model_execution_timeout),
            ("ai_queue_max_depth", config.queue_max_depth),
            ("ai_inline_run_max_us", config.inline_run_max_us),
            ("ai_lone_client_run_max_us", config.lone_client_run_max_us),
            ("ai_side_batch_min_row_us", config.side_batch_min_row_us),
            ("ai_dag_plans", PLANS.count), ("ai_dag_plan_hits", PLANS.hits),
            ("ai_models", counts["AI__MODEL"]), ("ai_scripts", counts["AI_SCRIPT"]),
            ("ai_tensors", counts["AI_TENSOR"])]
    queues = queue_figures(state)
    out.append(("ai_queues", len(queues)))
    for q in queues:
        fields = ",".join(f"{k}={v}" for k, v in q.items() if k != "device")
        out.append((f"ai_queue_{q['device']}", fields))
    return out


class RateSampler:
    """INFO stats' instantaneous_ops_per_sec and kbps: a sample every 100 ms, averaged over the last 16."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._samples: deque[tuple[float, int, int, int]] = deque(maxlen=SAMPLES + 1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sampling on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def sample(self) -> None:
        """Take one sample of the cumulative counters."""
        st = self.state.stats
        dispatcher = self.state.dispatcher
        calls = dispatcher.commands_processed() if dispatcher is not None else 0
        self._samples.append((time.monotonic(), calls, st.net_input_bytes, st.net_output_bytes))

    def rates(self) -> tuple[int, float, float]:
        """(ops per second, input kbps, output kbps) over the sampled window."""
        if len(self._samples) < 2:
            return 0, 0.0, 0.0
        t0, c0, i0, o0 = self._samples[0]
        t1, c1, i1, o1 = self._samples[-1]
        span = max(t1 - t0, 1e-9)
        return int((c1 - c0) / span), (i1 - i0) / span / 1024, (o1 - o0) / span / 1024

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_PERIOD_SECONDS)


def register(state: Any) -> None:
    """Add the ``ai`` INFO section to the server state."""
    state.extensions.setdefault("info_sections", {})["ai"] = ai_section
