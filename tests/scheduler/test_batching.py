"""Pure unit tests of batch formation: composition, caps, MINBATCHSIZE/MINBATCHTIMEOUT, mismatches, splitting."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from inferd import errors
from inferd.errors import CommandError
from inferd.scheduler.batching import (
    Batch,
    RunRequest,
    concat_inputs,
    dead,
    form_batch,
    outcomes,
    split_outputs,
    totals,
)


@dataclass(eq=False)
class FakeModel:
    """Only the batching attributes matter to batch formation (no backend is called here)."""

    batchsize: int = 0
    minbatchsize: int = 0
    minbatchtimeout: int = 0
    key: bytes = b"m"


class FakeFuture:
    def __init__(self, done: bool = False) -> None:
        self._done = done

    def done(self) -> bool:
        return self._done


def req(model: Any, *shapes: tuple[int, ...], dtype: str = "float32", t: float = 0.0, done: bool = False,
        deadline: float | None = None) -> RunRequest:
    inputs = [np.zeros(s, dtype=dtype) for s in shapes]
    return RunRequest(FakeFuture(done), model=model, inputs=inputs, enqueued=t, deadline=deadline)


def test_request_rows_size_and_inner():
    m = FakeModel(batchsize=8)
    a = req(m, (3, 2), (3,))
    assert (a.rows, a.size) == (3, 9)
    assert a.inner == ((np.dtype("float32"), (2,)), (np.dtype("float32"), ()))
    assert req(m, (3, 2), (2, 2)).rows == 0            # dim0 disagrees: runs alone
    assert req(m, (3, 2), (2, 2), (3, 1)).rows == 0    # ... even when a later input agrees with the first again
    assert req(m, (), (3, 2)).rows == 0                # 0-d
    assert req(m, (3, 2), ()).rows == 0
    assert req(m, (0, 2), (0, 2)).rows == 0            # no rows at all
    assert req(m).rows == 0 and req(m).size == 0
    call = RunRequest(FakeFuture(), fn=lambda: 1)
    assert (call.rows, call.size, call.inner, call.inputs) == (0, 0, (), [])


def test_unbatched_model_runs_one_request_at_a_time():
    m = FakeModel(batchsize=0)
    a, b = req(m, (1, 4)), req(m, (1, 4))
    batch, wake = form_batch([a, b], 1.0)
    assert batch is not None and batch.requests == [a] and wake is None


def test_compatible_requests_share_a_batch_in_order():
    m = FakeModel(batchsize=8)
    a, b, c = req(m, (1, 4)), req(m, (2, 4)), req(m, (3, 4))
    batch, _ = form_batch([a, b, c], 1.0)
    assert batch is not None and batch.requests == [a, b, c] and batch.rows == 6


def test_other_models_and_mismatches_are_skipped_not_merged():
    m, other = FakeModel(batchsize=8), FakeModel(batchsize=8)
    a = req(m, (1, 4))
    items = [a, req(other, (1, 4)), req(m, (1, 5)), req(m, (1, 4), dtype="float64"), req(m, (1, 4), (1, 2)),
             req(m, (1, 4, 1))]
    b = req(m, (2, 4))
    batch, _ = form_batch([*items, b], 1.0)
    assert batch is not None and batch.requests == [a, b] and batch.rows == 3


def test_same_model_object_required_not_equal_attributes():
    a, b = req(FakeModel(batchsize=4), (1, 2)), req(FakeModel(batchsize=4), (1, 2))
    batch, _ = form_batch([a, b], 0.0)
    assert batch is not None and batch.requests == [a]


def test_cap_is_never_exceeded_and_later_small_requests_fill_the_gap():
    m = FakeModel(batchsize=4)
    a, b, c, d = req(m, (2, 1)), req(m, (3, 1)), req(m, (1, 1)), req(m, (1, 1))
    batch, _ = form_batch([a, b, c, d], 0.0)
    assert batch is not None and batch.requests == [a, c, d] and batch.rows == 4
    batch, _ = form_batch([b, req(m, (2, 1))], 0.0)
    assert batch is not None and batch.requests == [b] and batch.rows == 3


def test_max_rows_caps_a_batch_below_batchsize():
    m = FakeModel(batchsize=16)
    items = [req(m, (1, 4)) for _ in range(6)]
    batch, _ = form_batch(items, 0.0, max_rows=4)
    assert batch is not None and batch.requests == items[:4] and batch.rows == 4
    big = req(m, (5, 4))
    batch, _ = form_batch([big, *items], 0.0, max_rows=4)     # a head already past the cap runs alone
    assert batch is not None and batch.requests == [big]
    batch, _ = form_batch(items, 0.0, max_rows=32)            # BATCHSIZE still applies
    assert batch is not None and batch.rows == 6


def test_request_larger_than_batchsize_runs_alone():
    m = FakeModel(batchsize=4)
    big, small = req(m, (6, 1)), req(m, (1, 1))
    batch, _ = form_batch([big, small], 0.0)
    assert batch is not None and batch.requests == [big] and batch.rows == 6
    full = req(m, (4, 1))
    batch, _ = form_batch([full, small], 0.0)
    assert batch is not None and batch.requests == [full]


def test_mismatched_dim0_across_inputs_runs_alone():
    m = FakeModel(batchsize=8)
    odd, a = req(m, (2, 3), (1, 3)), req(m, (2, 3), (2, 3))
    batch, _ = form_batch([odd, a], 0.0)
    assert batch is not None and batch.requests == [odd] and batch.rows == 0
    batch, _ = form_batch([a, odd, req(m, (1, 3), (1, 3))], 0.0)
    assert batch is not None and len(batch.requests) == 2 and odd not in batch.requests


def test_minbatchsize_waits_without_timeout():
    m = FakeModel(batchsize=8, minbatchsize=4)
    a, b = req(m, (1, 2), t=0.0), req(m, (2, 2), t=0.5)
    assert form_batch([a, b], 1000.0) == (None, None)
    c = req(m, (1, 2), t=0.7)
    batch, _ = form_batch([a, b, c], 1000.0)
    assert batch is not None and batch.requests == [a, b, c] and batch.rows == 4


def test_minbatchtimeout_counts_from_first_request():
    m = FakeModel(batchsize=8, minbatchsize=4, minbatchtimeout=100)
    a, b = req(m, (1, 2), t=10.0), req(m, (1, 2), t=10.05)
    batch, wake = form_batch([a, b], 10.06)
    assert batch is None and wake == pytest.approx(10.1)
    batch, wake = form_batch([a, b], 10.1)
    assert batch is not None and batch.requests == [a, b]


def test_waiting_group_does_not_block_other_models():
    waiting = FakeModel(batchsize=8, minbatchsize=4, minbatchtimeout=50)
    other = FakeModel(batchsize=0)
    a, b = req(waiting, (1, 2), t=1.0), req(other, (1, 2), t=1.01)
    batch, wake = form_batch([a, b], 1.02)
    assert batch is not None and batch.requests == [b] and wake == pytest.approx(1.05)


def test_minbatchsize_above_batchsize_is_capped():
    m = FakeModel(batchsize=2, minbatchsize=5)
    a, b = req(m, (1, 1)), req(m, (1, 1))
    batch, _ = form_batch([a, b], 0.0)
    assert batch is not None and batch.requests == [a, b]


def test_cancelled_and_expired_requests_are_skipped_and_reported():
    m = FakeModel(batchsize=8)
    gone, late, live = req(m, (1, 1), done=True), req(m, (1, 1), deadline=5.0), req(m, (1, 1), deadline=50.0)
    batch, _ = form_batch([gone, late, live], 10.0)
    assert batch is not None and batch.requests == [live]
    assert dead([gone, late, live], 10.0) == ([gone], [late])


def test_calls_run_alone():
    m = FakeModel(batchsize=8)
    call = RunRequest(FakeFuture(), fn=lambda: 1)
    a = req(m, (1, 1))
    batch, _ = form_batch([call, a], 0.0)
    assert batch is not None and batch.requests == [call]


def test_concat_and_split_are_one_concatenate_and_views():
    m = FakeModel(batchsize=8)
    a = RunRequest(FakeFuture(), model=m, inputs=[np.arange(2 * 3).reshape(2, 3), np.ones((2,))])
    b = RunRequest(FakeFuture(), model=m, inputs=[np.arange(3 * 3).reshape(3, 3) + 100, np.zeros((3,))])
    batch = Batch([a, b], 5)
    x, y = concat_inputs(batch)
    assert x.shape == (5, 3) and y.tolist() == [1, 1, 0, 0, 0]
    out = x * 2
    parts = split_outputs(batch, [out, y])
    assert np.array_equal(parts[0][0], a.inputs[0] * 2) and np.array_equal(parts[1][0], b.inputs[0] * 2)
    assert parts[0][0].base is out and parts[1][0].base is out
    assert parts[1][1].tolist() == [0, 0, 0]


def test_single_request_is_zero_copy_and_not_checked():
    m = FakeModel(batchsize=8)
    a = RunRequest(FakeFuture(), model=m, inputs=[np.ones((2, 3))])
    batch = Batch([a], 2)
    assert concat_inputs(batch)[0] is a.inputs[0]
    weird = [np.ones((7,))]
    assert split_outputs(batch, weird) == [weird]


@pytest.mark.parametrize("bad", [np.ones((4, 1)), np.float32(1.0)])
def test_wrong_output_batch_size_is_an_error_for_the_batch(bad):
    m = FakeModel(batchsize=8)
    a, b = req(m, (2, 1)), req(m, (3, 1))
    with pytest.raises(CommandError) as info:
        split_outputs(Batch([a, b], 5), [np.ones((5, 2)), bad])
    assert info.value.text == errors.AI_BATCH_SIZE


def test_outcomes_share_duration_by_rows():
    m = FakeModel(batchsize=8)
    a, b = req(m, (1, 1)), req(m, (3, 1))
    batch = Batch([a, b], 4)
    split = split_outputs(batch, [np.ones((4, 2))])
    first, second = outcomes(batch, 1000, split, None)
    assert (first.duration_us, second.duration_us) == (250, 750)
    assert (first.samples, second.samples) == (1, 3)
    failed = outcomes(batch, 1000, None, "ERR x")
    assert [o.error for o in failed] == ["ERR x", "ERR x"] and failed[0].samples == 0


@pytest.mark.parametrize("seed", range(20))
def test_totals_are_the_sums_of_the_outcomes(seed):
    """What a model is charged for a batch at once equals what its requests' outcomes add up to."""
    rng = random.Random(seed)
    m = FakeModel(batchsize=64)
    batch = Batch([req(m, (rng.randint(1, 7), 2)) for _ in range(rng.randint(1, 6))], 0)
    batch.rows = sum(r.rows for r in batch.requests)
    duration = rng.randint(0, 5000)
    for outputs in ([np.ones((batch.rows, 3)), np.ones((batch.rows,))], []):
        split = split_outputs(batch, outputs)
        each = outcomes(batch, duration, split, None)
        assert totals(batch, duration, split) == (sum(o.samples for o in each), sum(o.duration_us for o in each))
    each = outcomes(batch, duration, None, "ERR x")
    assert totals(batch, duration, None) == (sum(o.samples for o in each), sum(o.duration_us for o in each))
