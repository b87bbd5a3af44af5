"""PNG plots with matplotlib's Agg backend: scoring throughput and p99 vs clients, batching throughput."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import summary

COLORS = {"inferd": "tab:blue", "inferd-values": "tab:purple", "inferd-nobatch": "tab:cyan", "peer": "tab:red",
          "floor": "tab:gray"}
SCORING_LABELS = {"inferd": "inferd (one DAG round trip, BLOB)", "inferd-values": "inferd, VALUES (text floats)",
                  "inferd-nobatch": "inferd, BLOB, BATCHSIZE 0", "peer": "redis-server GET + FastAPI POST",
                  "floor": "floor: parse, batched onnxruntime call, reply (bench/scoring_floor.py)"}
BATCHING_LABELS = {"inferd": "inferd", "inferd-nobatch": "inferd, BATCHSIZE 0"}


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _series(records: list[dict[str, Any]], suite: str, system: str) -> list[dict[str, Any]]:
    runs = [r for r in summary.by_suite(records, suite) if r.get("system") == system and r.get("rps")
            and not r.get("error")]
    return sorted(runs, key=lambda r: r["clients"])


def _scoring_plot(out: Path, records: list[dict[str, Any]], metric: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for system in (*summary.SCORING_SYSTEMS, "peer", "floor"):
        runs = _series(records, "scoring", system)
        if not runs:
            continue
        xs = [r["clients"] for r in runs]
        ys = [r["rps"] for r in runs] if metric == "rps" else [r["latency_us"]["p99"] / 1000 for r in runs]
        ax.plot(xs, ys, marker="o", color=COLORS[system], label=SCORING_LABELS[system],
                linestyle="--" if system == "floor" else "-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients (closed loop)")
    if metric == "rps":
        ax.set_ylim(bottom=0)
        ax.set_ylabel("inferences / s")
        ax.set_title("Transaction scoring: throughput")
        name = "scoring_throughput.png"
    else:
        ax.set_yscale("log")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_title("Transaction scoring: p99 latency")
        name = "scoring_p99.png"
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / name)
    plt.close(fig)


def _batching_plot(out: Path, records: list[dict[str, Any]]) -> None:
    plt = _pyplot()
    tags = summary.batching_models(records) or ["(no data)"]
    fig, axes = plt.subplots(1, len(tags), figsize=(6.5 * len(tags), 4.5), dpi=110, squeeze=False)
    for ax, tag in zip(axes[0], tags, strict=True):
        raw = sorted((r for r in summary.by_suite(records, "batching") if r.get("system") == "raw"
                      and r.get("model") == tag), key=lambda r: r["batch"])
        if raw:
            ax.plot([r["batch"] for r in raw], [r["rows_per_s"] for r in raw], marker="s", color="tab:gray",
                    label="raw onnxruntime in-process (x = batch size)")
        for system in ("inferd", "inferd-nobatch"):
            runs = [r for r in _series(records, "batching", system) if r.get("model") == tag]
            if runs:
                ax.plot([r["clients"] for r in runs], [r["rps"] for r in runs], marker="o", color=COLORS[system],
                        label=f"{BATCHING_LABELS[system]} MODELEXECUTE (x = clients)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (raw) / concurrent clients (inferd)")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("rows / s")
        ax.set_title(tag)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "batching_throughput.png")
    plt.close(fig)


def write_all(out: Path, records: list[dict[str, Any]]) -> None:
    """Write the plots of every suite that has records (a plot with no data still gets its axes)."""
    suites = {r["suite"] for r in records}
    if "scoring" in suites:
        _scoring_plot(out, records, "rps")
        _scoring_plot(out, records, "p99")
    if "batching" in suites:
        _batching_plot(out, records)
