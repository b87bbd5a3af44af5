"""The profile summary: py-spy raw stacks -> top functions of the event-loop thread; per-thread CPU from /proc."""
from __future__ import annotations

import os
import threading

from bench.profile import PERF_TOP, parse_perf_report, summarize_stacks, thread_ticks

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


PERF = """
    61.90%  libpython3.11.so.1.0                               [.] _PyEval_EvalFrameDefault
    13.20%  [kernel.kallsyms]                                  [k] _raw_spin_unlock_irqrestore


"""


def test_parse_perf_report_keeps_share_library_and_symbol() -> None:
    rows = parse_perf_report(PERF)
    assert rows == [{"where": "libpython3.11.so.1.0 [.] _PyEval_EvalFrameDefault", "share": 0.619},
                    {"where": "[kernel.kallsyms] [k] _raw_spin_unlock_irqrestore", "share": 0.132}]
    many = "\n".join(f"{50 - i:.2f}%  lib{i}.so" for i in range(PERF_TOP + 5))
    assert [row["where"] for row in parse_perf_report(many)] == [f"lib{i}.so" for i in range(PERF_TOP)]


def test_machine_ticks_count_idle_within_total() -> None:
    from bench.profile import machine_ticks
    idle, total = machine_ticks()
    assert 0 <= idle <= total
    later_idle, later_total = machine_ticks()
    assert later_idle >= idle and later_total >= total
