"""What machine and software produced the figures: cores, CPU model, memory, load, Python and package versions."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from bench.procs import ROOT

PACKAGES = ("inferd", "numpy", "hiredis", "uvloop", "onnxruntime", "onnx", "fastapi", "starlette", "uvicorn",
            "httptools", "redis", "matplotlib")


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (how busy the machine was)."""
    return [round(x, 2) for x in os.getloadavg()]


def describe() -> dict[str, Any]:
    """Everything that identifies this machine and software stack, as a JSON-ready dict."""
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    # the results folder is this run's output, not a change to what is measured
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", ".",
                         ":(exclude)bench/results"])
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "redis_server": _first_line(["redis-server", "--version"]),
        "gcc": _first_line(["gcc", "--version"]),
        "git_commit": commit + (" (uncommitted changes)" if dirty else ""),
        "load_average_start": load_average(),
    }
