"""bench.scoring.batch_figures: how one load run was batched, from inferd's counters before and after it."""
from __future__ import annotations

from bench.scoring import batch_figures


def test_figures_are_the_differences_over_the_run() -> None:
    # (batches, rows, batches on the loop, on the native thread, model run µs, model rows) before and after
    before, after = (10, 40, 9, 0, 1_000, 40), (110, 1_540, 39, 60, 16_000, 1_540)
    assert batch_figures(before, after) == {"batches": 100, "rows_per_batch": 15.0, "batches_on_loop": 0.3,
                                            "batches_on_thread": 0.6, "model_run_us_per_row": 10.0}


def test_no_figures_without_counters_or_batches() -> None:
    assert batch_figures(None, (1, 1, 1, 1, 1, 1)) == {}
    assert batch_figures((1, 1, 1, 1, 1, 1), None) == {}
    assert batch_figures((5, 5, 5, 0, 50, 5), (5, 5, 5, 0, 50, 5)) == {}   # nothing ran (the run failed early)
