"""What every benchmark suite shares: the run settings, the process group, and writing one raw JSON per run."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.procs import ProcessGroup, ServerProcess

Side = TypeVar("Side")


@dataclass
class Settings:
    """Sizes and durations of one benchmark run (``quick`` shrinks them so a test can exercise the harness)."""

    quick: bool = False
    rounds: int = 3  # every suite runs this many times, one after the other; reports fold rounds into medians
    clients: tuple[int, ...] = (1, 4, 16, 64)
    duration_s: float = 6.0
    warmup_s: float = 2.0
    users: int = 10_000
    peer_workers: int = 2
    scoring_batchsize: int = 64
    protocol_requests: int = 200_000
    protocol_requests_pipelined: int = 1_000_000
    protocol_clients: int = 50
    # 256: as many rows pending as the largest batch holds; 512: more, so that the next batch's rows are pending
    # while one runs (at 256 every client waits in the running batch, and the backend idles while they are answered)
    batching_clients: tuple[int, ...] = (1, 16, 64, 256, 512)
    batching_batchsize: int = 256   # the raw sweep's largest batch; fewer clients than this bound the batch anyway
    # (name, dense layers, width): the example size, whose single-row call is short enough to expose
    # per-request overhead, and a compute-bound one, where per-row compute dominates the protocol's cost.
    batching_models: tuple[tuple[str, int, int], ...] = (("dense-4x512", 4, 512), ("dense-8x1024", 8, 1024))
    raw_batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    raw_seconds: float = 1.5
    profile: bool = True  # per suite, one extra, unmeasured run of inferd under py-spy, perf and per-thread CPU
    profile_clients: int = 16
    inferd_args: tuple[str, ...] = ()  # extra command-line options for every inferd started (default: none)

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        """Full settings, or the quick ones (well under a minute for everything)."""
        if not quick:
            return cls()
        return cls(quick=True, rounds=1, clients=(1, 16), duration_s=1.0, warmup_s=0.3, users=1000,
                   protocol_requests=10_000, protocol_requests_pipelined=50_000, batching_clients=(1, 16),
                   raw_batch_sizes=(1, 16, 64), raw_seconds=0.2, profile=False)


@dataclass
class Context:
    """One benchmark run: settings, output folder, scratch folder, servers, and the records gathered so far."""

    settings: Settings
    out: Path
    workdir: Path
    procs: ProcessGroup
    records: list[dict[str, Any]] = field(default_factory=list)
    round: int = 0

    def record(self, suite: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Keep one run's result and write it as raw/<suite>-<name>-r<round>.json."""
        entry = {"suite": suite, "name": name, "round": self.round, **data}
        self.records.append(entry)
        raw = self.out / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{suite}-{name}-r{self.round}")
        (raw / f"{safe}.json").write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        return entry


def cpu_of(servers: list[ServerProcess]) -> float:
    """Total CPU seconds used so far by these servers (and their worker processes)."""
    return sum(s.cpu_seconds() for s in servers)


def with_cpu(result: dict[str, Any], cpu_seconds: float) -> dict[str, Any]:
    """Add the servers' CPU time over a load run and the CPU microseconds per completed request.

    CPU is read over the whole load run, warm-up included, so it is divided by every request the run completed.
    """
    done = int(result.get("requests", 0)) + int(result.get("warmup_requests", 0))
    result["server_cpu_s"] = round(cpu_seconds, 3)
    result["server_cpu_us_per_op"] = round(cpu_seconds / done * 1e6, 2) if done else None
    return result


def alternating(sides: Sequence[Side], pairs: int, measure: Callable[[Side], dict[str, Any]],
                line: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """``pairs`` rounds of one measurement per side, their order alternating from round to round (the machine drifts:
    no side always goes first); each record is printed (``line``) as it ends. The paired tools' loop."""
    records = []
    for pair in range(pairs):
        for side in sides if pair % 2 == 0 else sides[::-1]:
            record = measure(side)
            records.append(record)
            print(line(record), flush=True)
    return records
