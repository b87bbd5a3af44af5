from __future__ import annotations

from tests.oracle import compare


def test_ping_set_get(r):
    assert r.ping() is True
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"


def test_oracle_errors(both):
    ours, theirs = both
    compare(ours, theirs, "GET")
    compare(ours, theirs, "NOSUCHCOMMAND", "a", "b")
    compare(ours, theirs, "SET", "a", "1")
    compare(ours, theirs, "INCR", "a")
