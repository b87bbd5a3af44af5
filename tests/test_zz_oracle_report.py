"""Runs last (by file name): reports which commands the differential tests proved identical to redis-server's."""
from __future__ import annotations

import pytest

from tests.oracle import DIFFERENT, IDENTICAL


def test_oracle_report(capsys: pytest.CaptureFixture[str]) -> None:
    names = sorted(IDENTICAL)
    with capsys.disabled():
        print(f"\n{len(names)} commands proven identical to redis-server: {' '.join(names)}")
        for name, detail in sorted(DIFFERENT.items()):
            print(f"DIFFERENT {name}: {detail}")
    assert not DIFFERENT, f"commands whose replies differ from redis-server's: {sorted(DIFFERENT)}"
