"""The profile summary: py-spy raw stacks -> top functions of the event-loop thread; per-thread CPU from /proc."""
from __future__ import annotations

import os
import threading

from bench.profile import summarize_stacks, thread_ticks

RAW = """thread (100): MainThread;run (inferd/server.py:1);data_received (inferd/resp/connection.py:9) 6
thread (100): MainThread;run (inferd/server.py:1);_write (inferd/resp/connection.py:20) 3
thread (100): MainThread;run (inferd/server.py:1) 1
thread (0x7f): worker;_work (inferd/scheduler/queues.py:5) 50
"""


def test_summarize_stacks_counts_only_the_event_loop_thread() -> None:
    summary = summarize_stacks(RAW, pid=100)
    assert summary["loop_samples"] == 10
    assert summary["python_threads"] == [100, 0x7F]
    top = {row["function"]: row["share"] for row in summary["top_self"]}
    assert top == {"data_received (inferd/resp/connection.py:9)": 0.6, "_write (inferd/resp/connection.py:20)": 0.3,
                   "run (inferd/server.py:1)": 0.1}
    inclusive = {row["function"]: row["share"] for row in summary["top_inclusive"]}
    assert inclusive["data_received (inferd/resp/connection.py:9)"] == 0.6
    assert "run (inferd/server.py:1)" not in inclusive  # the entry frames are in every stack: no information


def test_summarize_stacks_of_nothing() -> None:
    summary = summarize_stacks("", pid=1)
    assert summary["loop_samples"] == 0 and summary["top_self"] == []


def test_thread_ticks_lists_every_thread_of_this_process() -> None:
    stop = threading.Event()
    extra = threading.Thread(target=stop.wait)
    extra.start()
    try:
        ticks = thread_ticks(os.getpid())
        assert os.getpid() in ticks and extra.native_id in ticks
        assert all(user >= 0 and kernel >= 0 for user, kernel in ticks.values())
    finally:
        stop.set()
        extra.join()
