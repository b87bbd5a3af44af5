"""``python -m bench --quick`` end to end: every suite runs, and the JSON, markdown and PNG outputs are well-formed.

Timing figures are never asserted; only that runs completed, without errors where the path is known to exist.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return out, done


def _records(out: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((out / "results.json").read_text())["records"]
    return records


def _completed(r: dict[str, Any]) -> bool:
    return not r.get("error") and r.get("errors") == 0 and r.get("requests", 0) > 0


@pytest.mark.slow
def test_exits_cleanly_and_prints_the_report(quick_run: Any) -> None:
    _out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "# inferd benchmark results" in done.stdout


@pytest.mark.slow
def test_results_json_describes_machine_and_runs(quick_run: Any) -> None:
    out, _ = quick_run
    doc = json.loads((out / "results.json").read_text())
    assert doc["command"].startswith("python -m bench") and "--quick" in doc["command"]
    machine = doc["machine"]
    for key in ("nproc", "cpu_model", "memory_gib", "python", "packages", "redis_server", "load_average_end"):
        assert machine[key], key
    assert machine["packages"]["onnxruntime"] != "not installed"
    assert {r["suite"] for r in doc["records"]} == {"scoring", "protocol", "batching"}
    models = {r["model"] for r in doc["records"] if r["suite"] == "batching" and "model" in r}
    # 4 scoring, 2 protocol, the compute-bound model's saturation, each model's single client
    assert len(doc["targets"]) == 7 + len(models) and len(models) == 2
    assert all(set(t) == {"target", "measured", "met"} for t in doc["targets"])


@pytest.mark.slow
def test_one_raw_json_per_run(quick_run: Any) -> None:
    out, _ = quick_run
    raw = sorted((out / "raw").glob("*.json"))
    names = {(r["suite"], r["name"]) for r in _records(out)}
    assert len(raw) == len(names) > 10
    for path in raw:
        data = json.loads(path.read_text())
        assert (data["suite"], data["name"]) in names


@pytest.mark.slow
def test_peer_stack_and_redis_server_runs_complete(quick_run: Any) -> None:
    records = _records(quick_run[0])
    setup = next(r for r in records if r["suite"] == "scoring" and r["system"] == "setup")
    assert setup["checks"]["peer"] == "ok"
    peer = [r for r in records if r["suite"] == "scoring" and r["system"] == "peer"]
    assert [r["clients"] for r in peer] == [1, 16] and all(_completed(r) for r in peer)
    redis = [r for r in records if r["suite"] == "protocol" and r["system"] == "redis-server"]
    assert len(redis) == 34 and all(r["rps"] > 0 and r["server_cpu_us_per_op"] >= 0 for r in redis)
    assert {r["test"] for r in redis} == {"SET", "GET", "HSET", "LPUSH", "LRANGE_100", "LRANGE_600", "PING_INLINE",
                                          "PING_MBULK", "INCR", "RPUSH", "LPOP", "RPOP", "SADD", "SPOP", "ZADD",
                                          "ZPOPMIN", "MSET"}
    floor = [r for r in records if r["suite"] == "protocol" and r["system"] == "uvloop-floor"]
    assert [(r["test"], r["pipeline"]) for r in floor] == [("SET", 1), ("SET", 16)]
    assert all(not r.get("error") and r["rps"] > 0 for r in floor), [r.get("error") for r in floor]


@pytest.mark.slow
def test_inferd_runs_complete(quick_run: Any) -> None:
    records = _records(quick_run[0])
    protocol = [r for r in records if r["suite"] == "protocol" and r["system"] == "inferd"]
    assert len(protocol) == 34 and all(not r.get("error") and r["rps"] > 0 for r in protocol)
    batching = [r for r in records if r["suite"] == "batching" and r["system"] in ("inferd", "inferd-nobatch", "ping")]
    gain = next(r for r in records if r["suite"] == "batching" and r["system"] == "batching_gain")
    assert not gain.get("error") and gain["batched"]["requests_per_s"] > 0, gain
    assert batching and all(_completed(r) for r in batching), [r.get("error") for r in batching]
    # the server's CPU split between its event loop and its other threads (in clock ticks: a short light run may
    # show none, the loop's work under load does)
    loads = [r for r in batching if r["system"] != "ping"]
    assert all(r["loop_cpu_us_per_op"] >= 0 and r["threads_cpu_us_per_op"] >= 0 for r in loads)
    assert max(r["loop_cpu_us_per_op"] for r in loads) > 0
    raw = [r for r in records if r["suite"] == "batching" and r["system"] == "raw"]
    assert raw and all(r["rows_per_s"] > 0 for r in raw)


@pytest.mark.slow
def test_inferd_scoring_paths_are_correct_and_complete(quick_run: Any) -> None:
    records = _records(quick_run[0])
    setup = next(r for r in records if r["suite"] == "scoring" and r["system"] == "setup")
    systems = ("inferd", "inferd-values", "inferd-nobatch")
    assert {s: setup["checks"][s] for s in systems} == dict.fromkeys(systems, "ok")
    commands = setup["inferd_command"]
    assert set(commands) == set(systems)
    head = "AI.DAGEXECUTE LOAD 1 ref:__user__ |> AI.TENSORSET tx FLOAT 1 30 "
    for system in ("inferd", "inferd-nobatch"):
        assert commands[system].startswith(head + "BLOB __tx_blob__ |> AI.MODELEXECUTE ")
        assert commands[system].endswith("|> AI.TENSORGET out BLOB")
    assert commands["inferd-values"].startswith(head + "VALUES " + "__rand_float__ " * 30 + "|> AI.MODELEXECUTE ")
    assert commands["inferd-values"].endswith("|> AI.TENSORGET out VALUES")
    runs = [r for r in records if r["suite"] == "scoring" and r["system"] in systems]
    assert sorted((r["system"], r["clients"]) for r in runs) == sorted((s, c) for s in systems for c in (1, 16))
    assert all(_completed(r) for r in runs), [r.get("error") for r in runs]
    # how each run was batched (INFO ai, AI.INFO): BATCHSIZE 0 runs one row at a time; 16 clients batch on "fraud"
    for r in runs:
        assert r["rows_per_batch"] >= 1 and 0 <= r["batches_on_loop"] + r["batches_on_thread"] <= 1, r
        assert r["model_run_us_per_row"] > 0, r
    assert all(r["rows_per_batch"] == 1 for r in runs if r["system"] == "inferd-nobatch")
    assert next(r for r in runs if (r["system"], r["clients"]) == ("inferd", 16))["rows_per_batch"] > 1
    text = (quick_run[0] / "results.md").read_text()
    assert "| clients | system | rows per batch | batches on the loop | on the native thread | model run µs per row |" \
        in text
    assert "| 16 | inferd-nobatch | 1.0 |" in text


@pytest.mark.slow
def test_scoring_floor_is_checked_and_measured_beside_inferd(quick_run: Any) -> None:
    records = _records(quick_run[0])
    setup = next(r for r in records if r["suite"] == "scoring" and r["system"] == "setup")
    assert setup["checks"]["floor"] == "ok"
    floor = [r for r in records if r["suite"] == "scoring" and r["system"] == "floor"]
    assert [r["clients"] for r in floor] == [1, 16] and all(_completed(r) for r in floor)
    assert "The floor of a Python scoring server, in the same run: bench/scoring_floor.py" in (
        quick_run[0] / "results.md").read_text()


@pytest.mark.slow
def test_markdown_has_every_section_and_table(quick_run: Any) -> None:
    text = (quick_run[0] / "results.md").read_text()
    for heading in ("## Targets", "## Transaction scoring", "## Protocol", "## Batching"):
        assert heading in text
    assert "| clients | system | inferences/s | p50 ms | p99 ms | p99.9 ms |" in text
    assert "| test | -P | redis-server req/s | inferd req/s | ratio |" in text
    assert "The floor of a Python server on this event loop, in the same run: bench/uvloop_floor.py" in text
    assert "| clients | inferd/peer throughput | inferd/peer p99 | inferd-values/peer throughput |" in text
    assert "* inferd-values: `AI.DAGEXECUTE" in text and "__rand_float__ x 30" in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|"), line


@pytest.mark.slow
@pytest.mark.parametrize("name", ["scoring_throughput.png", "scoring_p99.png", "batching_throughput.png"])
def test_plots_are_png_images(quick_run: Any, name: str) -> None:
    path = quick_run[0] / name
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    import matplotlib.image
    image = matplotlib.image.imread(str(path))
    assert image.shape[0] > 100 and image.shape[1] > 100
