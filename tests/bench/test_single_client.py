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
