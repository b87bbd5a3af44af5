"""Logs: nothing per request at the default level; the level follows CONFIG SET loglevel."""
from __future__ import annotations

import logging

import pytest
import redis

from inferd.cli import LOG_LEVELS
from tests.ops.helpers import onnx_doubler


def test_no_log_line_per_request_at_default_level(start_server, caplog):
    srv = start_server()
    r = srv.client(protocol=2)
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_doubler())
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "VALUES", 1, 2, 3, 4)
    caplog.clear()
    with caplog.at_level(LOG_LEVELS["notice"]):
        for i in range(100):
            r.set(f"k{i}", i)
            r.get(f"k{i}")
            r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
            with pytest.raises(redis.ResponseError):
                r.execute_command("INCR", "x")
    assert [rec for rec in caplog.records if rec.name.startswith("inferd")] == []


def test_loglevel_follows_config_set(start_server):
    srv = start_server()
    r = srv.client(protocol=2)
    root = logging.getLogger()
    saved = root.level
    try:
        r.config_set("loglevel", "warning")
        assert root.level == logging.WARNING
        r.config_set("loglevel", "debug")
        assert root.level == logging.DEBUG
        with pytest.raises(redis.ResponseError):
            r.config_set("loglevel", "chatty")
        assert root.level == logging.DEBUG
    finally:
        r.config_set("loglevel", "notice")
        root.setLevel(saved)
