"""Protocol: redis-benchmark against inferd and a real redis-server in the same run, with server CPU per operation.

For each test (SET, GET, HSET, LPUSH) and pipeline depth (-P 1, -P 16), redis-benchmark runs once against each
server, alternating, with -c 50 and -r 100000 (random keys). The server's utime+stime delta from /proc/<pid>/stat
over that run, divided by the requests, gives the CPU time per operation. SET also runs against
bench/uvloop_floor.py, a uvloop server that only counts the requests of each read and writes as many +OK: the floor
of any Python server on this event loop, in the same run.

Beside the issue's four tests, two with long array replies, as redis-benchmark's own LRANGE_100 and LRANGE_600 tests
(the first 100 and 600 elements of a list of 3-byte strings), run as custom commands on a list filled beforehand so
that the CPU per operation is the LRANGE's alone: what a reply of many elements costs, which the four do not show.
They are not targets.

The rest of redis-benchmark's default suite follows (PING_INLINE, PING_MBULK, INCR, RPUSH, LPOP, RPOP, SADD, SPOP,
ZADD, ZPOPMIN, MSET of 10 keys), in its order, so that each pop finds what the pushes and adds before it left: what a
user running redis-benchmark with no options sees. They are not targets either.
"""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
from typing import Any

from bench import profile, summary
from bench.harness import Context
from bench.procs import BenchError, ServerProcess, resp_call, short_error

SUITE = "protocol"
TESTS = tuple(test.lower() for test in summary.PROTOCOL_TARGET_TESTS)   # the (its -P 1 and -P 16 targets)
ARRAY_LIST = "bench:list"
ARRAY_TESTS = {"lrange_100": ["LRANGE", ARRAY_LIST, "0", "99"], "lrange_600": ["LRANGE", ARRAY_LIST, "0", "599"]}
ARRAY_LENGTH, ARRAY_ELEMENT = 600, "xxx"   # redis-benchmark's LRANGE list: 3-byte elements (its -d default)
ARRAY_REQUESTS_SHARE = 4   # the array tests send this fraction of the requests (their replies are 100-600 times longer)
DEFAULT_TESTS = ("ping_inline", "ping_mbulk", "incr", "rpush", "lpop", "rpop", "sadd", "spop", "zadd", "zpopmin",
                 "mset")   # redis-benchmark's defaults besides TESTS and the LRANGEs, in its order (-t names)
PIPELINES = (1, 16)
RANDOM_KEYS = 100_000
FLOOR_TEST = "set"     # the floor server answers +OK to any 3-argument request
PROFILE_TEST = "get"   # profiled at -P 16: the test furthest below redis-server there in the published runs


def redis_benchmark(port: int, test: str, requests: int, clients: int, pipeline: int) -> dict[str, float]:
    """Run one redis-benchmark test (a ``-t`` name or one of ARRAY_TESTS); return its CSV row as numbers (rps and
    latencies in ms)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise BenchError("redis-benchmark is not installed (make system-deps)")
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-n", str(requests), "-c", str(clients),
            "-P", str(pipeline), "-r", str(RANDOM_KEYS), "--csv"]
    argv += ARRAY_TESTS[test] if test in ARRAY_TESTS else ["-t", test]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"redis-benchmark -t {test} timed out") from exc
    rows = [row for row in csv.reader(io.StringIO(done.stdout)) if row and row[0] != "test"]
    if done.returncode != 0 or not rows:
        raise BenchError(f"redis-benchmark -t {test}: {(done.stderr + done.stdout).strip()[-300:]}")
    header = ["test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
              "p99_latency_ms", "max_latency_ms"]
    return {key: float(value) for key, value in zip(header[1:], rows[-1][1:], strict=False)}


def _measure(ctx: Context, server: ServerProcess, system: str, test: str, pipeline: int) -> None:
    s = ctx.settings
    requests = s.protocol_requests if pipeline == 1 else s.protocol_requests_pipelined
    if test in ARRAY_TESTS:
        requests //= ARRAY_REQUESTS_SHARE
    name = f"{system}-{test}-P{pipeline}"
    base = {"system": system, "test": test.upper(), "pipeline": pipeline, "clients": s.protocol_clients,
            "requests": requests}
    before = server.cpu_seconds()
    try:
        row = redis_benchmark(server.port, test, requests, s.protocol_clients, pipeline)
    except BenchError as exc:
        ctx.record(SUITE, name, {**base, "error": short_error(exc)})
        return
    cpu = server.cpu_seconds() - before
    ctx.record(SUITE, name, {**base, **row, "server_cpu_s": round(cpu, 3),
                             "server_cpu_us_per_op": round(cpu / requests * 1e6, 3)})


def _profile(ctx: Context, inferd: ServerProcess) -> None:
    """inferd under redis-benchmark -P 16 GET (the keys are there from the measured runs), sampled."""
    s = ctx.settings
    # redis-benchmark sends a fixed count: enough for the sampling time at this round's measured rate
    measured = [r.get("rps") or 0 for r in ctx.records if r.get("suite") == SUITE and r.get("round") == ctx.round
                and r.get("name") == f"inferd-{PROFILE_TEST}-P16"]
    requests = max(s.protocol_requests_pipelined, int(max(measured, default=0) * (s.duration_s + 1)))

    def load() -> dict[str, Any]:
        row = redis_benchmark(inferd.port, PROFILE_TEST, requests, s.protocol_clients, 16)
        return {"requests": requests, "rps": row["rps"]}

    profile.profile_run(ctx, inferd, f"protocol-inferd-{PROFILE_TEST}-P16",
                        {"owner": SUITE, "title": f"redis-benchmark -P 16 {PROFILE_TEST.upper()}, "
                         f"-c {s.protocol_clients}, -r {RANDOM_KEYS}", "unit": "request",
                         "clients": s.protocol_clients}, load)


def fill_array_list(port: int) -> None:
    """The list the array tests read: ARRAY_LENGTH elements of ARRAY_ELEMENT (the random-key tests never touch it)."""
    resp_call(port, "DEL", ARRAY_LIST)
    resp_call(port, "RPUSH", ARRAY_LIST, *[ARRAY_ELEMENT] * ARRAY_LENGTH)


def run(ctx: Context) -> None:
    """Both servers up, every (test, pipeline) measured on each, alternating."""
    redis_server = ctx.procs.start_redis()
    inferd = ctx.procs.start_inferd(*ctx.settings.inferd_args)
    floor = ctx.procs.start_floor()
    for server in (redis_server, inferd):
        fill_array_list(server.port)
    for pipeline in PIPELINES:
        for test in (*TESTS, *ARRAY_TESTS, *DEFAULT_TESTS):
            _measure(ctx, redis_server, "redis-server", test, pipeline)
            _measure(ctx, inferd, "inferd", test, pipeline)
            if test == FLOOR_TEST:
                _measure(ctx, floor, "uvloop-floor", test, pipeline)
    if ctx.settings.profile and ctx.round == ctx.settings.rounds - 1:   # once, after the last round's measurements
        _profile(ctx, inferd)
    ctx.procs.stop_all()
