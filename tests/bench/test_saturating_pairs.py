"""bench/saturating_pairs.py: two server configurations in turn under the saturating load, each beside the raw call."""
from __future__ import annotations

from bench import saturating_pairs

WORKER = ["--inline-run-max-us", "0", "--lone-client-run-max-us", "0"]   # every batch on the queue's worker


def test_pairs_alternate_and_each_side_gets_its_options() -> None:
    records = saturating_pairs.compare(WORKER, pairs=2, clients=8, seconds=0.5, layers=2, width=16, batchsize=4,
                                       raw_batch=4)
    assert [r["options"] for r in records] == [[], WORKER, WORKER, []]
    for record in records:
        assert record["rows_per_s"] > 0 and record["p99_ms"] > 0 and record["server_cpu_us"] > 0
        assert record["batches"] > 10 and record["raw_rows_per_s"] > 0
        assert record["ratio"] == round(record["rows_per_s"] / record["raw_rows_per_s"], 3)
        assert record["loop_cpu_us_per_op"] > 0 and record["client_cpu_us"] > 0 and record["threads_cpu_us_per_op"] >= 0
    # with every batch on the worker, the server's CPU beyond its loop is that thread's
    assert all(r["threads_cpu_us_per_op"] > 0 for r in records if r["options"] == WORKER)
    # the defaults run a model this small on the loop or its native thread (but the first batches of each size, measured
    # on a worker), and the other side's options reached its server: none there
    assert all(0 <= r["side_by_side"] <= r["batches"] for r in records)
    assert all(r["on_loop"] + r["on_thread"] >= 0.9 * r["batches"] for r in records if r["options"] == [])
    assert all(r["on_loop"] == r["on_thread"] == 0 for r in records if r["options"] == WORKER)
