"""Where inferd's time goes under load: CPU per thread from /proc/<pid>/task and a py-spy sample of the Python stacks.

Run on an extra load run that is not one of the measured ones (sampling perturbs the server). Threads py-spy sees
are Python threads (the event loop is the one whose id is the pid; the others are scheduler workers); threads it
does not see are native (onnxruntime's intra-op pool and the like).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import Context
from bench.procs import CLOCK_TICKS, ROOT, BenchError, ServerProcess, short_error

TOP = 20
INCLUSIVE_PARTS = ("inferd/", "prometheus_client/", "numpy/")
ENTRY_FRAMES = ("inferd/cli.py", "inferd/__main__.py", "inferd/server.py")
SAMPLE_RATE = 100
THREAD_RE = re.compile(r"thread \((0x[0-9a-fA-F]+|\d+)\)")


def thread_ticks(pid: int) -> dict[int, tuple[int, int]]:
    """(utime, stime) clock ticks of every thread of ``pid``: user-space and kernel CPU."""
    ticks: dict[int, tuple[int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        ticks[int(tid)] = (int(fields[11]), int(fields[12]))
    return ticks


def thread_split(pid: int, before: dict[int, tuple[int, int]], result: dict[str, Any]) -> dict[str, Any]:
    """The server's CPU per request since ``before`` (:func:`thread_ticks`) split between its event loop (the thread
    whose id is the pid) and its other threads (the scheduler's workers, the native threads running the model), over
    every request of the load run, warm-up included (as ``harness.with_cpu``)."""
    requests = int(result.get("requests", 0)) + int(result.get("warmup_requests", 0))
    if not requests:
        return {}
    spent = {tid: sum(ticks) - sum(before.get(tid, (0, 0))) for tid, ticks in thread_ticks(pid).items()}
    loop = spent.pop(pid, 0)
    per_request = 1e6 / CLOCK_TICKS / requests
    return {"loop_cpu_us_per_op": round(loop * per_request, 1),
            "threads_cpu_us_per_op": round(sum(spent.values()) * per_request, 1)}


def py_spy() -> str | None:
    """The py-spy executable (the project's venv first), or None."""
    local = ROOT / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def summarize_stacks(raw: str, pid: int) -> dict[str, Any]:
    """Top self and inclusive functions of the event-loop thread, and which thread ids py-spy saw."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    seen: set[int] = set()
    loop_samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        match = THREAD_RE.match(frames[0])
        tid = int(match.group(1), 0) if match else -1
        seen.add(tid)
        if tid != pid or len(frames) < 2:
            continue
        loop_samples += int(count)
        self_time[frames[-1]] += int(count)
        for frame in set(frames[1:]):
            inclusive[frame] += int(count)
    def top(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "samples": n, "share": round(n / loop_samples, 3) if loop_samples else 0.0}
                for f, n in counter.most_common(TOP)]
    for frame in list(inclusive):
        if not any(part in frame for part in INCLUSIVE_PARTS) or any(part in frame for part in ENTRY_FRAMES):
            del inclusive[frame]
    return {"loop_samples": loop_samples, "python_threads": sorted(seen), "top_self": top(self_time),
            "top_inclusive": top(inclusive)}


def _per_op(seconds: float, requests: int) -> float | None:
    return round(seconds / requests * 1e6, 1) if requests else None


def _sample(pid: int, seconds: float, out: Path, name: str) -> tuple[str, str]:
    """py-spy's raw stacks of ``pid`` over ``seconds``, and an error text if it failed.

    py-spy pauses the process for each sample (a few µs at 100 Hz): with ``--nonblocking`` it read stacks while
    the interpreter changed them, and most of the loop's samples fell on ``Runner.run``.
    """
    spy = py_spy()
    if spy is None:
        return "", "py-spy not installed"
    target = out / f"{name}.stacks.txt"
    argv = [spy, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", str(SAMPLE_RATE),
            "--threads", "-f", "raw", "-o", str(target)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode == 0 and target.exists():
        return target.read_text(), ""
    return "", (done.stderr or done.stdout).strip()[-300:]


PERF_RATE = 499
PERF_TOP = 15


def _perf_start(tid: int, seconds: float, out: Path, name: str) -> tuple[subprocess.Popen[str] | None, Path, str]:
    """Start ``perf record`` (software cpu-clock) on one thread: where its CPU goes in native code and the kernel.

    py-spy sees Python frames only: time in the interpreter's C, uvloop, numpy or the kernel lands on the innermost
    Python frame (``Runner.run`` for the loop's own work). perf attributes it to the library and symbol.
    """
    target = out / f"{name}.perf.data"
    perf = shutil.which("perf")
    if perf is None:
        return None, target, "perf not installed (Debian: linux-perf)"
    argv = [perf, "record", "-q", "-e", "cpu-clock", "-F", str(PERF_RATE), "-t", str(tid), "-o", str(target),
            "--", "sleep", str(max(1, int(seconds)))]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), target, ""


def parse_perf_report(text: str) -> list[dict[str, Any]]:
    """The rows of ``perf report -q -g none`` ("12.34%  library  [.] symbol"), largest first, at most PERF_TOP."""
    rows = []
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].endswith("%"):
            rows.append({"where": " ".join(parts[1].split()), "share": round(float(parts[0][:-1]) / 100, 4)})
    return rows[:PERF_TOP]


def _perf_report(target: Path, sort: str) -> list[dict[str, Any]]:
    done = subprocess.run(["perf", "report", "-i", str(target), "--no-children", "--sort", sort, "-q", "-g", "none"],
                          capture_output=True, text=True)
    return parse_perf_report(done.stdout)


def _perf_finish(proc: subprocess.Popen[str] | None, target: Path, error: str) -> dict[str, Any]:
    if proc is None:
        return {"perf_error": error}
    _, stderr = proc.communicate()
    if proc.returncode != 0 or not target.exists():
        return {"perf_error": (stderr or f"perf exited {proc.returncode}").strip()[-300:]}
    by_dso = _perf_report(target, "dso")
    by_symbol = _perf_report(target, "dso,sym")
    target.unlink()   # binary and large; the summary is what the report uses
    return {"perf_by_dso": by_dso, "perf_by_symbol": by_symbol, "perf_error": "" if by_dso else "no samples"}


def machine_ticks() -> tuple[int, int]:
    """(idle, total) clock ticks of every CPU since boot, from /proc/stat (idle counts iowait too)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def profile_load(server: ServerProcess, run_load: Any, seconds: float, out: Path, name: str) -> dict[str, Any]:
    """Run ``run_load()`` while sampling; return per-thread CPU per request and share of the run's wall time, the
    machine's idle share over the run, and the stack and native summaries."""
    pid = server.proc.pid
    before = thread_ticks(pid)
    idle_before, total_before = machine_ticks()
    started = time.monotonic()
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(run_load()))
    worker.start()
    perf, perf_target, perf_error = _perf_start(pid, seconds, out, name)
    stacks, spy_error = _sample(pid, seconds, out, name)
    native = _perf_finish(perf, perf_target, perf_error)
    worker.join()
    after = thread_ticks(pid)
    wall = time.monotonic() - started
    idle_after, total_after = machine_ticks()
    requests = int(result.get("requests", 0)) + int(result.get("warmup_requests", 0))
    summary = summarize_stacks(stacks, pid)
    threads = []
    for tid, (utime, stime) in sorted(after.items()):
        user = (utime - before.get(tid, (0, 0))[0]) / CLOCK_TICKS
        kernel = (stime - before.get(tid, (0, 0))[1]) / CLOCK_TICKS
        if user + kernel <= 0:
            continue
        kind = "event loop" if tid == pid else ("python worker" if tid in summary["python_threads"]
                                                 else "native (not seen by py-spy)")
        threads.append({"tid": tid, "kind": kind, "cpu_s": round(user + kernel, 3),
                        "busy": round((user + kernel) / wall, 3) if wall > 0 else None,
                        "cpu_us_per_op": _per_op(user + kernel, requests), "user_us_per_op": _per_op(user, requests),
                        "kernel_us_per_op": _per_op(kernel, requests)})
    machine_idle = (idle_after - idle_before) / max(total_after - total_before, 1)
    return {"load": result, "threads": threads, "wall_s": round(wall, 2), "machine_idle": round(machine_idle, 3),
            "py_spy_error": spy_error, **summary, **native}


def profile_run(ctx: Context, server: ServerProcess, name: str, info: dict[str, Any], run_load: Any) -> None:
    """Profile one extra load run of ``server`` (not a measurement: sampling perturbs it) and record it.

    ``info`` describes it for the report: ``owner`` (the suite that reruns it), ``title``, ``unit`` (what one
    request is: inference, request, row) and whatever else the suite wants kept.
    """
    folder = ctx.out / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        data = profile_load(server, run_load, ctx.settings.duration_s, folder, name)
    except BenchError as exc:
        data = {"error": short_error(exc)}
    ctx.record("profile", name, {"system": "inferd", **info, **data})
