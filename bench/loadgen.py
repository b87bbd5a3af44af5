"""Build bench/loadgen.c with gcc (once, when the source changed) and run it; its JSON report becomes a dict."""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.models import TX_FLOATS
from bench.procs import ROOT, BenchError

SOURCE = ROOT / "bench" / "loadgen.c"
BINARY = ROOT / "build" / "bench" / "loadgen"


def build() -> Path:
    """Compile the load generator if the binary is missing or older than its source; return its path."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BenchError("gcc is needed to build bench/loadgen.c")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=BINARY.parent, prefix=".loadgen-")
    os.close(fd)
    done = subprocess.run([compiler, "-O2", "-Wall", "-o", tmp, str(SOURCE)], capture_output=True, text=True)
    if done.returncode != 0:
        os.unlink(tmp)
        raise BenchError(f"gcc failed: {done.stderr[-2000:]}")
    os.replace(tmp, BINARY)  # atomic: a concurrent run never sees a half-written binary
    return BINARY


def run(port: int, clients: int, duration: float, warmup: float, command: list[str] | None = None,
        keyspace: int = 1, http_port: int = 0, get_prefix: str = "ref:", seed: int = 1,
        tx_floats: int = TX_FLOATS) -> dict[str, Any]:
    """Run one closed-loop load: RESP ``command`` (resp mode) or, with ``http_port``, the GET + POST peer path.

    ``tx_floats`` float32 values make the binary transaction: the ``__tx_blob__`` argument and the POST body's head.
    """
    argv = [str(build()), "--port", str(port), "--clients", str(clients), "--duration", str(duration),
            "--warmup", str(warmup), "--keyspace", str(keyspace), "--seed", str(seed), "--tx-floats", str(tx_floats)]
    if http_port:
        argv += ["--mode", "peer", "--http-port", str(http_port), "--get-prefix", get_prefix]
    else:
        argv += ["--mode", "resp", "--", *(command or ["PING"])]
    limit = warmup + duration + 60
    before = _children_cpu_s()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"loadgen did not finish within {limit:.0f}s") from exc
    if done.returncode != 0:
        raise BenchError(f"loadgen failed: {done.stderr.strip()[-1000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    # the load generator's own CPU (user + kernel, warm-up included, as the servers' in harness.with_cpu)
    cpu = _children_cpu_s() - before
    requests = int(result.get("requests", 0)) + int(result.get("warmup_requests", 0))
    result["client_cpu_s"] = round(cpu, 3)
    result["client_cpu_us_per_op"] = round(cpu / requests * 1e6, 2) if requests else None
    return result


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended and been waited for (the load generator's, here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
