"""bench/scoring_cost.py: the in-process scoring harness runs real DAGs to the right scores, and its check bites."""
from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from bench import scoring, scoring_cost


def test_measures_the_loop_cpu_of_correct_scoring_replies() -> None:
    us = asyncio.run(asyncio.wait_for(scoring_cost.measure(clients=3, rounds=5, repeat=1, hidden=8), 60))
    assert math.isfinite(us) and us > 0


def test_a_wrong_score_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    right = scoring.expected_score
    monkeypatch.setattr(scoring, "expected_score", lambda *args: right(*args) + np.float32(0.5))
    with pytest.raises(AssertionError):
        asyncio.run(asyncio.wait_for(scoring_cost.measure(clients=2, rounds=1, repeat=1, hidden=8), 60))
