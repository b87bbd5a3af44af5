"""bench/single_client.py: paired single-client servers, each measured, and where their runs went as INFO ai says."""
from __future__ import annotations

import math

from bench import single_client

OFF = ["--inline-run-max-us", "0", "--lone-client-run-max-us", "0"]


def test_pairs_alternate_and_report_where_the_runs_went() -> None:
    records = single_client.compare(OFF, pairs=2, layers=1, width=8, seconds=0.3)
    assert [r["options"] for r in records] == [[], OFF, OFF, []]
    for record in records:
        assert record["modelexecute_p50_us"] > record["ping_p50_us"] > 0
        assert math.isfinite(record["ratio"]) and record["raw_p50_us"] > 0 and record["run_inside_us"] > 0
        assert record["batches"] > 10
    # defaults: a small model's lone runs on the loop, all but the few before its first run was measured
    # (bench.batching.load_inferd's); OFF: every one on the worker
    assert all(r["batches"] - r["on_loop"] <= 3 for r in records if r["options"] == [])
    assert all(r["on_loop"] == 0 for r in records if r["options"] == OFF)


def test_idle_connections_are_held_and_leave_the_lone_client_on_the_loop() -> None:
    model = single_client.models.dense_model(1, 8)
    # the runs qualify for the loop only by lone-client-run-max-us; the PING run (1.2 s) leaves the 3 others idle
    lone = single_client.measure(["--inline-run-max-us", "0"], model, 8, 1.2, idle_connections=3)
    off = single_client.measure(OFF, model, 8, 1.2, idle_connections=3)
    assert lone["batches"] > 10 and lone["batches"] - lone["on_loop"] <= 3
    assert off["batches"] > 10 and off["on_loop"] == 0
