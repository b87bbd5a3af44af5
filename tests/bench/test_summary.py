"""Ratios and target checks computed from run records (pure functions)."""
from __future__ import annotations

from typing import Any

import pytest

from bench import report, scoring, summary


def _load(system: str, clients: int, rps: float, p99: float, suite: str = "scoring", **extra: Any) -> dict[str, Any]:
    return {"suite": suite, "system": system, "clients": clients, "rps": rps,
            "latency_us": {"p50": p99 / 2, "p99": p99, "p999": p99 * 2}, **extra}


def _met(records: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {target: met for target, _measured, met in summary.targets(records)}


def _measured(records: list[dict[str, Any]]) -> dict[str, str]:
    return {target: measured for target, measured, _met in summary.targets(records)}


def test_scoring_targets_met_and_missed() -> None:
    good = [_load("peer", 16, 2000, 20_000), _load("inferd", 16, 16_000, 2_000)]
    met = _met(good)
    assert all(v for k, v in met.items() if k.startswith("scoring"))
    slow = [_load("peer", 16, 2000, 20_000), _load("inferd", 16, 9_000, 7_000)]
    met = _met(slow)
    assert met["scoring, 16 clients: >= 15,000 inferences/s"] is False
    assert met["scoring, 16 clients: p99 <= 3 ms"] is False
    assert met["scoring, 16 clients: >= 5x the peer's throughput"] is False
    assert met["scoring, 16 clients: <= 0.3x the peer's p99"] is False


def test_failed_runs_count_as_not_measured() -> None:
    records = [_load("peer", 16, 2000, 20_000), {"suite": "scoring", "system": "inferd", "clients": 16,
                                                  "error": "unknown command"}]
    assert all(v is None for k, v in _met(records).items() if k.startswith("scoring"))
    assert summary.scoring_ratios(records)[0]["inferd_rps"] is None


def test_every_inferd_scoring_system_is_compared_with_the_peer_and_targets_read_inferd() -> None:
    assert summary.SCORING_SYSTEMS == tuple(scoring.INFERD_SYSTEMS)
    records = [_load("peer", 16, 2000, 20_000), _load("inferd", 16, 4000, 10_000),
               _load("inferd-values", 16, 20_000, 1_000), _load("inferd-nobatch", 16, 1000, 40_000)]
    row = summary.scoring_ratios(records)[0]
    assert (row["inferd_rps"], row["inferd-values_rps"], row["inferd-nobatch_rps"]) == (2.0, 10.0, 0.5)
    assert (row["inferd_p99"], row["inferd-values_p99"], row["inferd-nobatch_p99"]) == (0.5, 0.05, 2.0)
    assert not any(v for k, v in _met(records).items() if k.startswith("scoring"))


def test_scoring_report_names_each_system_s_command() -> None:
    setup = {"suite": "scoring", "system": "setup", "users": 10, "scoring_batchsize": 64, "peer_workers": 2,
             "checks": {"peer": "ok", "inferd": "ok", "inferd-values": "ok", "inferd-nobatch": "ok"},
             "inferd_command": {s: " ".join(scoring.system_command(s)) for s in scoring.INFERD_SYSTEMS}}
    text = "\n".join(report.scoring_tables([setup, _load("peer", 1, 100, 1000), _load("inferd-values", 1, 50, 900)]))
    assert ("* inferd: `AI.DAGEXECUTE LOAD 1 ref:__user__ |> AI.TENSORSET tx FLOAT 1 30 BLOB __tx_blob__ |> "
            "AI.MODELEXECUTE fraud INPUTS 2 tx ref:__user__ OUTPUTS 1 out |> AI.TENSORGET out BLOB`") in text
    assert "* inferd-values: `AI.DAGEXECUTE LOAD 1 ref:__user__ |> AI.TENSORSET tx FLOAT 1 30 VALUES " \
           "__rand_float__ x 30 |> AI.MODELEXECUTE fraud " in text
    assert "* inferd-nobatch: `" in text and "MODELEXECUTE fraud_nobatch INPUTS" in text
    assert "| 1 | - | - | 0.50x | 0.90x | - | - |" in text


def test_protocol_ratio_uses_the_worst_test() -> None:
    records = [{"suite": "protocol", "system": s, "test": t, "pipeline": 1, "rps": rps}
               for s, t, rps in (("redis-server", "SET", 100.0), ("inferd", "SET", 95.0),
                                 ("redis-server", "GET", 100.0), ("inferd", "GET", 80.0))]
    pairs = summary.protocol_pairs(records)
    assert [round(p["ratio"], 2) for p in pairs] == [0.95, 0.8]
    assert _met(records)["protocol -P 1: >= 0.9x redis-server (every test)"] is False
    assert _met(records)["protocol -P 16: >= 0.6x redis-server (every test)"] is None


def test_protocol_targets_leave_out_the_array_tests() -> None:
    """LRANGE_100 and LRANGE_600 are measured beside the issue's four tests, not held to its ratios."""
    records = [{"suite": "protocol", "system": s, "test": t, "pipeline": 1, "rps": rps}
               for s, t, rps in (("redis-server", "SET", 100.0), ("inferd", "SET", 95.0),
                                 ("redis-server", "LRANGE_600", 100.0), ("inferd", "LRANGE_600", 50.0))]
    assert [p["test"] for p in summary.protocol_pairs(records)] == ["SET", "LRANGE_600"]
    assert _met(records)["protocol -P 1: >= 0.9x redis-server (every test)"] is True
    assert "LRANGE" not in _measured(records)["protocol -P 1: >= 0.9x redis-server (every test)"]


def test_scoring_table_shows_server_and_client_cpu_per_inference() -> None:
    peer = _load("peer", 16, 5000, 6000, server_cpu_us_per_op=300.0, client_cpu_us_per_op=12.5, errors=0)
    ours = _load("inferd", 16, 17000, 1500, server_cpu_us_per_op=63.4, errors=0)   # before the client's was measured
    text = "\n".join(report.scoring_tables([peer, ours]))
    assert "| server CPU µs/inference | client CPU µs/inference | errors |" in text
    assert "| 16 | peer | 5,000 | 3.00 | 6.00 | 12.00 | 300.0 | 12.5 | 0 |" in text
    assert "| 16 | inferd | 17,000 | 0.75 | 1.50 | 3.00 | 63.4 | - | 0 |" in text


def test_scoring_cpu_budget_shows_what_the_cpus_allow_and_what_the_ratio_target_leaves_the_server() -> None:
    setup = {"suite": "scoring", "system": "setup", "cpus": 2}
    peer = _load("peer", 16, 5000, 6000, server_cpu_us_per_op=250.0, client_cpu_us_per_op=50.0, errors=0)
    ours = _load("inferd", 16, 17_000, 1500, server_cpu_us_per_op=70.0, client_cpu_us_per_op=10.0, errors=0)
    other = _load("inferd", 64, 18_000, 7000, server_cpu_us_per_op=60.0, client_cpu_us_per_op=9.0, errors=0)
    b = summary.scoring_budget([setup, peer, other, ours])
    assert b["cpu_bound_rps"] == 25_000.0      # 2 CPUs / (70 + 10) µs, read at 16 clients
    assert b["needed_rps"] == 25_000.0         # 5 x 5,000
    assert b["server_budget_us"] == 70.0       # 2e6 / 25,000 - 10
    text = "\n".join(report.scoring_tables([setup, peer, other, ours]))
    assert ("CPU per inference at 16 clients: inferd 70.0 µs, the load generator 10.0 µs. Sharing 2 CPUs, client "
            "and server can complete at most 25,000 inferences/s at these costs (inferd reached 17,000); 5x the peer "
            "(25,000/s) leaves inferd 70.0 µs of CPU per inference") in text
    # records from before the CPU count was kept, or a failed run: no line rather than a wrong one
    assert summary.scoring_budget([{**setup, "cpus": None}, peer, ours]) == {}
    assert summary.scoring_budget([setup, peer, {**ours, "error": "x"}]) == {}
    assert "CPU per inference at" not in "\n".join(report.scoring_tables([peer, ours]))


def test_scoring_floor_line_shows_the_floor_beside_the_peer_and_inferd() -> None:
    peer = _load("peer", 16, 5000, 6000, errors=0)
    ours = _load("inferd", 16, 15_000, 1500, server_cpu_us_per_op=48.0, errors=0)
    floor = _load("floor", 16, 30_000, 900, server_cpu_us_per_op=30.5, errors=0)
    other = _load("floor", 64, 60_000, 2000, server_cpu_us_per_op=20.0, errors=0)
    f = summary.scoring_floor([peer, other, ours, floor])
    assert (f["rps"], f["peer_ratio"], f["inferd_share"], f["own_cpu_us"]) == (30_000, 6.0, 0.5, 17.5)
    text = "\n".join(report.scoring_tables([peer, ours, floor]))
    assert ("bench/scoring_floor.py (uvloop, hiredis, one batched onnxruntime call per loop turn, the score written "
            "back; no keyspace, DAG or scheduler) made 30,000 inferences/s at 16 clients (6.00x the peer) with 30.5 µs "
            "of CPU per inference; inferd reached 0.50x of it, its own work costing 17.5 µs of CPU per inference "
            "more.") in text
    assert "| 16 | floor | 30,000 |" in text
    # no floor run, or a failed one: no line; a failed inferd run: its figures unknown, the floor's still shown
    assert summary.scoring_floor([peer, ours]) == {}
    assert summary.scoring_floor([peer, ours, {**floor, "error": "x"}]) == {}
    assert "scoring_floor.py" not in "\n".join(report.scoring_tables([peer, ours]))
    f = summary.scoring_floor([peer, {**ours, "error": "x"}, floor])
    assert (f["peer_ratio"], f["inferd_share"], f["own_cpu_us"]) == (6.0, None, None)


def test_batching_ratios() -> None:
    raw = [{"suite": "batching", "system": "raw", "model": "m", "batch": b, "rows_per_s": r,
            "latency_us": {"p50": p50, "p99": p50}} for b, r, p50 in ((1, 1000.0, 100.0), (8, 4000.0, 500.0))]
    ping = _load("ping", 1, 10_000, 60, suite="batching", model="m")
    ping["latency_us"]["p50"] = 30.0
    one = _load("inferd", 1, 700, 300, suite="batching", model="m")
    one["latency_us"]["p50"] = 150.0
    many = _load("inferd", 16, 3600, 9000, suite="batching", model="m")
    b = summary.batching_summary([*raw, ping, one, many], "m")
    assert b["raw_best_batch"] == 8 and b["inferd_best_clients"] == 16
    assert b["saturation_ratio"] == 3600 / 4000
    assert b["single_client_ratio"] == 150.0 / (30.0 + 100.0)
    met = _met([*raw, ping, one, many])
    assert met["batching (m): saturating throughput >= 0.8x raw best batch"] is True
    assert met["batching (m): single-client MODELEXECUTE <= 1.3x (PING + raw call)"] is True
    assert b["server_run_us"] is None and b["raw_cold_p50_us"] is None   # older records: no in-server run figure


def test_every_models_single_client_line_is_a_target() -> None:
    def model(tag: str, one_p50: float) -> list[dict[str, Any]]:
        raw = {"suite": "batching", "system": "raw", "model": tag, "batch": 1, "rows_per_s": 1000.0,
               "latency_us": {"p50": 100.0, "p99": 100.0}}
        ping = _load("ping", 1, 10_000, 60, suite="batching", model=tag)
        one = _load("inferd", 1, 700, 300, suite="batching", model=tag)
        ping["latency_us"]["p50"], one["latency_us"]["p50"] = 30.0, one_p50
        return [raw, ping, one]

    met = _met(model("small", 150.0) + model("large", 200.0))   # 150 / 130 = 1.15x, 200 / 130 = 1.54x
    assert met["batching (small): single-client MODELEXECUTE <= 1.3x (PING + raw call)"] is True
    assert met["batching (large): single-client MODELEXECUTE <= 1.3x (PING + raw call)"] is False
    assert "batching (small): saturating throughput >= 0.8x raw best batch" not in met   # the last model's only


def test_saturation_cpu_budget_shows_what_the_cpus_allow_at_the_measured_costs() -> None:
    raw = [{"suite": "batching", "system": "raw", "model": "m", "batch": b, "rows_per_s": r, "cpus": 2,
            "cpu_us_per_row": cpu, "latency_us": {"p50": 1.0, "p99": 1.0}}
           for b, r, cpu in ((1, 1000.0, 400.0), (64, 16_000.0, 110.0))]
    best = _load("inferd", 256, 10_000, 9000, suite="batching", model="m", server_cpu_us_per_op=150.0,
                 client_cpu_us_per_op=10.0, loop_cpu_us_per_op=30.0, threads_cpu_us_per_op=120.0)
    other = _load("inferd", 16, 5_000, 9000, suite="batching", model="m", server_cpu_us_per_op=300.0,
                  client_cpu_us_per_op=20.0)
    b = summary.batching_summary([*raw, other, best], "m")
    assert (b["server_cpu_us_per_row"], b["client_cpu_us_per_row"], b["raw_cpu_us_per_row"]) == (150.0, 10.0, 110.0)
    assert (b["loop_cpu_us_per_row"], b["threads_cpu_us_per_row"]) == (30.0, 120.0)
    assert b["cpu_bound_rows_per_s"] == 12_500.0                      # 2 CPUs / (150 + 10) µs
    assert b["free_server_bound_rows_per_s"] == 16_666.7              # 2 CPUs / (110 + 10) µs
    assert b["free_server_bound_ratio"] == pytest.approx(16_666.67 / 16_000, rel=1e-4)
    assert b["server_budget_us_per_row"] == 36.2                      # 2e6 / (0.8 x 16,000) - 110 - 10
    text = "\n".join(report.batching_tables([*raw, other, best]))
    assert ("CPU per row at that best run (256 clients): inferd 150.0 µs (its event loop 30.0, its other threads "
            "120.0), the load generator 10.0 µs") in text
    assert "costs 110.0 µs of CPU per row at batch 64 (all its threads), so inferd's own work is 40.0 µs" in text
    assert "at most 12,500 rows/s at these costs (inferd reached 10,000)" in text
    assert "would allow 16,667 rows/s (1.04x the raw best). 0.8x the raw best leaves inferd's own work 36.2" in text
    older = summary.batching_summary([{k: v for k, v in r.items() if k != "cpu_us_per_row"} for r in raw] + [best],
                                     "m")
    assert "cpu_bound_rows_per_s" not in older and "CPU per row" not in "\n".join(report.batching_tables(raw))


def test_serial_cycle_shows_what_clients_all_in_one_batch_allow_when_backend_and_server_take_turns() -> None:
    raw = [{"suite": "batching", "system": "raw", "model": "m", "batch": b, "rows_per_s": r, "cpus": 2,
            "cpu_us_per_row": 100.0, "latency_us": {"p50": p50, "p99": p50}}
           for b, r, p50 in ((1, 1000.0, 500.0), (64, 10_000.0, 6_000.0), (256, 11_000.0, 20_000.0))]
    best = _load("inferd", 64, 5_000, 9000, suite="batching", model="m", batchsize=256, server_cpu_us_per_op=150.0,
                 client_cpu_us_per_op=10.0)
    b = summary.batching_summary([*raw, best], "m")
    assert (b["serial_rows"], b["serial_call_us"], b["serial_own_us_per_row"]) == (64, 6_000.0, 50.0)
    assert b["serial_cycle_us"] == 9_200.0                            # 6,000 µs + 64 x (150 - 100) µs
    assert b["serial_bound_rows_per_s"] == 6_956.5                    # 64 rows / 9.2 ms
    assert b["serial_bound_ratio"] == pytest.approx(6_956.52 / 11_000, rel=1e-4)
    text = "\n".join(report.batching_tables([*raw, best]))
    assert ("With 64 clients and BATCHSIZE 256, every waiting client's row fits in one batch; where the backend's "
            "run and inferd's own work take turns (no request arrives while the batch runs), a cycle of 64 rows "
            in text and
            "costs the raw call of that batch (6,000.0 µs p50) plus 64 x 50.0 µs (inferd's own work per row at 64 "
            "clients), 9.2 ms, which allows 6,956 rows/s (0.63x the raw best; that run reached 5,000)." in text)
    more = dict(best, clients=512)        # clients outnumber the batch: rows wait while one runs, no turns
    fewer = dict(best, clients=32)        # no raw call of 32 rows measured
    for run in (more, fewer, {k: v for k, v in best.items() if k != "batchsize"}):
        assert "serial_bound_rows_per_s" not in summary.batching_summary([*raw, run], "m")
        assert "take turns" not in "\n".join(report.batching_tables([*raw, run]))
    # The best run has more clients than a batch holds: the count is that of the run with the most that fit (256),
    # at that run's own CPU per row, not the best's.
    one_batch = dict(best, clients=256, rps=6_000.0, server_cpu_us_per_op=130.0)
    beyond = dict(best, clients=512, rps=7_000.0, server_cpu_us_per_op=120.0)
    b = summary.batching_summary([*raw, best, one_batch, beyond], "m")
    assert (b["inferd_best_clients"], b["own_us_per_row"]) == (512, 20.0)
    assert (b["serial_rows"], b["serial_own_us_per_row"], b["serial_reached_rows_per_s"]) == (256, 30.0, 6_000.0)
    assert b["serial_cycle_us"] == 27_680.0                           # 20,000 µs + 256 x (130 - 100) µs
    assert "a cycle of 256 rows costs the raw call of that batch (20,000.0 µs p50)" in "\n".join(
        report.batching_tables([*raw, best, one_batch, beyond]))


def test_single_client_line_shows_the_in_server_run_and_the_raw_call_with_work_sleep_or_busy_wait_between() -> None:
    raw = {"suite": "batching", "name": "m-raw-b1", "system": "raw", "model": "m", "batch": 1, "rows_per_s": 1e4,
           "latency_us": {"p50": 60.0, "p99": 70.0}}
    cold = {"suite": "batching", "name": "m-raw-cold-b1", "system": "raw-cold", "model": "m", "batch": 1,
            "cold_bytes": 1 << 20, "between_us": 40.0, "latency_us": {"p50": 85.0, "p99": 95.0}}
    idle = {"suite": "batching", "name": "m-raw-idle-b1", "system": "raw-idle", "model": "m", "batch": 1,
            "between_us": 149.5, "latency_us": {"p50": 99.0, "p99": 120.0}}
    busy = {"suite": "batching", "name": "m-raw-busy-b1", "system": "raw-busy", "model": "m", "batch": 1,
            "between_us": 150.0, "latency_us": {"p50": 57.0, "p99": 70.0}}
    ping = {**_load("ping", 1, 10_000, 60, suite="batching", model="m"), "name": "m-ping-c1"}
    one = {**_load("inferd", 1, 5000, 300, suite="batching", model="m", batchsize=8), "name": "m-inferd-c1",
           "server_run_us_per_request": 97.5}
    records = [raw, cold, idle, busy, ping, one]
    b = summary.batching_summary(records, "m")
    assert (b["server_run_us"], b["raw_cold_p50_us"], b["raw_cold_kib"]) == (97.5, 85.0, 1024)
    assert (b["raw_idle_p50_us"], b["raw_idle_between_us"], b["raw_busy_p50_us"]) == (99.0, 149.5, 57.0)
    text = "\n".join(report.batching_tables(records))
    assert "that client's 1-row runs took 97.5 µs on average" in text
    assert "1,024 KiB of other memory read (other work): 85.0 µs" in text
    assert "the thread asleep (150 µs: the loop waiting for the next request): 99.0 µs" in text
    assert "the thread busy as long (150 µs: its CPU never idle): 57.0 µs" in text
    assert "| 1 | 10,000 |" in text and "raw-cold" not in text and "raw-idle" not in text   # not sweep rows
    older = "\n".join(report.batching_tables([raw, cold, ping, one]))   # records from before the idle reference
    assert "85.0 µs." in older and "asleep" not in older


def test_rounds_fold_into_medians_with_their_spread() -> None:
    rounds = [{**_load("inferd", 16, rps, p99, errors=errors), "name": "inferd-c16", "round": i}
              for i, (rps, p99, errors) in enumerate(((9000.0, 4000.0, 0), (6000.0, 9000.0, 2), (8000.0, 3000.0, 1)))]
    setup = {"suite": "scoring", "system": "setup", "name": "setup"}   # written without a round: kept as is
    merged = summary.merge_rounds([setup, *rounds])
    assert merged[0] is setup and len(merged) == 2
    one = merged[1]
    assert one["rps"] == 8000.0 and one["latency_us"]["p99"] == 4000.0 and one["latency_us"]["p50"] == 2000.0
    assert one["rps_rounds"] == [9000.0, 6000.0, 8000.0] and one["rounds"] == 3 and one["failed_rounds"] == 0
    assert one["errors"] == 3 and "round" not in one
    text = "\n".join(report.scoring_tables(merged))
    assert "| 16 | inferd | 8,000 (6,000-9,000) | 2.00 | 4.00 | 8.00 |" in text


def test_a_failed_round_is_left_out_and_counted() -> None:
    good = {**_load("peer", 4, 500.0, 100.0), "name": "peer-c4", "round": 0}
    bad = {"suite": "scoring", "system": "peer", "clients": 4, "name": "peer-c4", "round": 1, "error": "refused"}
    one = summary.merge_rounds([good, bad])[0]
    assert one["rps"] == 500.0 and one["rounds"] == 1 and one["failed_rounds"] == 1 and not one.get("error")
    only_bad = summary.merge_rounds([bad])[0]
    assert only_bad["error"] == "refused" and only_bad["failed_rounds"] == 1


def test_every_suite_runs_once_per_round(tmp_path: Any) -> None:
    from bench import __main__ as main
    from bench.harness import Context, Settings
    from bench.procs import ProcessGroup
    seen: list[tuple[str, int]] = []

    def suite(name: str) -> Any:
        def run(ctx: Context) -> None:
            seen.append((name, ctx.round))
            ctx.record(name, "only", {"system": "x", "rps": 10.0 * (ctx.round + 1)})
        return run

    saved = dict(main.SUITES)
    main.SUITES.update({"a": suite("a"), "b": suite("b")})
    try:
        with ProcessGroup(tmp_path) as procs:
            ctx = Context(Settings(rounds=3), tmp_path, tmp_path, procs)
            assert main.run_suites(ctx, ["a", "b"]) == []
    finally:
        main.SUITES.clear()
        main.SUITES.update(saved)
    assert seen == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert sorted(p.name for p in (tmp_path / "raw").glob("a-*.json")) == ["a-only-r0.json", "a-only-r1.json",
                                                                          "a-only-r2.json"]
    assert [r["rps"] for r in summary.merge_rounds(ctx.records) if r["suite"] == "a"] == [20.0]


def test_rounds_default_to_three_one_when_quick_and_follow_the_option() -> None:
    from bench import __main__ as main
    assert main.settings_from(main.parse_args([])).rounds == 3
    assert main.settings_from(main.parse_args(["--quick"])).rounds == 1
    assert main.settings_from(main.parse_args(["--quick", "--rounds", "2"])).rounds == 2
    with pytest.raises(SystemExit):
        main.parse_args(["--rounds", "0"])


def _profile(name: str, owner: str | None, title: str | None, unit: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"suite": "profile", "name": name, "round": 0, "system": "inferd", "clients": 16,
                              "load": {"rps": 1000.0}, "machine_idle": 0.25, "threads": [
                                  {"tid": 7, "kind": "event loop", "cpu_s": 1.5, "busy": 0.5, "cpu_us_per_op": 60.0,
                                   "user_us_per_op": 50.0, "kernel_us_per_op": 10.0}]}
    for key, value in (("owner", owner), ("title", title), ("unit", unit)):
        if value is not None:
            record[key] = value
    return record


def test_each_profiled_run_gets_its_section_in_suite_order() -> None:
    records = [_profile("batching-x", "batching", "saturating load, x", "row"),
               _profile("protocol-get", "protocol", "redis-benchmark -P 16 GET", "request"),
               _profile("scoring-inferd-c16", None, None, None)]    # a record written before owners existed
    text = "\n".join(report.profile_tables(records))
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Where inferd's time goes (transaction scoring, 16 clients, profiled run)",
                        "## Where inferd's time goes (redis-benchmark -P 16 GET, profiled run)",
                        "## Where inferd's time goes (saturating load, x, profiled run)"]
    assert "1,000 rows/s while sampled" in text and "CPU µs per row" in text and "CPU µs per request" in text
    assert "The machine was 25% idle over the run" in text
    assert "| event loop (7) | 1.50 | 50% | 60.0 | 50.0 | 10.0 |" in text


def test_rerunning_one_suite_replaces_only_its_own_profile(tmp_path: Any) -> None:
    import json

    from bench import __main__ as main
    raw = tmp_path / "raw"
    raw.mkdir()
    for record in (_profile("protocol-get", "protocol", "p", "request"), _profile("scoring-inferd-c16", None, None,
                                                                                  None),
                   {"suite": "protocol", "name": "inferd-get-P16", "round": 0}):
        (raw / f"{record['suite']}-{record['name']}.json").write_text(json.dumps(record))
    kept = main.kept_records(tmp_path, {"protocol"})
    assert [r["name"] for r in kept] == ["scoring-inferd-c16"]
    assert sorted(p.name for p in raw.glob("*.json")) == ["profile-scoring-inferd-c16.json"]
