"""bench/scoring_pairs.py: two server configurations in turn, each scored under load, with what INFO ai says."""
from __future__ import annotations

from bench import scoring_pairs

WORKER = ["--inline-run-max-us", "0", "--lone-client-run-max-us", "0"]   # every batch on the queue's worker


def test_pairs_alternate_and_each_side_gets_its_options_and_model() -> None:
    records = scoring_pairs.compare(WORKER, pairs=2, clients=4, seconds=0.5, users=100, hidden=16, other_hidden=8)
    assert [(r["options"], r["hidden"]) for r in records] == [([], 16), (WORKER, 8), (WORKER, 8), ([], 16)]
    for record in records:
        assert record["throughput"] > 0 and record["p99_ms"] >= record["p50_ms"] > 0
        assert record["server_cpu_us"] > 0 and record["model_run_us_per_row"] > 0
        assert record["batches"] > 10 and record["rows_per_batch"] >= 1
    # the defaults run a small model's batches on the loop or, batched, on the native thread (all but the first of
    # each batch size, which a worker runs while no run of that size has been measured); the other side's options
    # reached its server: none there
    assert all(r["batches_on_loop"] + r["batches_on_thread"] >= 0.95 for r in records if r["options"] == [])
    assert all(r["batches_on_loop"] == r["batches_on_thread"] == 0 for r in records if r["options"] == WORKER)
