"""The Redis tools against inferd: redis-benchmark's suites run to completion, redis-cli's modes print what they
print against redis-server."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

BENCHMARK = shutil.which("redis-benchmark")
CLI = shutil.which("redis-cli")
DEFAULT_SUITE = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
                 "SPOP", "ZADD", "ZPOPMIN", "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                 "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
                 "LRANGE_600 (first 600 elements)", "MSET (10 keys)"]
PIPELINED_SUITE = ["SET", "GET", "LPUSH", "LPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
                   "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                   "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
                   "LRANGE_600 (first 600 elements)", "MSET (10 keys)"]
RESULT = re.compile(r"^(.+): ([0-9.]+) requests per second")


@pytest.fixture(autouse=True)
def _tools_installed():
    if BENCHMARK is None or CLI is None:
        pytest.fail("redis-tools are not installed: `make test` installs them")


def _benchmark(port: int, *extra: str) -> dict[str, float]:
    proc = subprocess.run([BENCHMARK, "-p", str(port), "-n", "2000", "-c", "10", "-q", *extra],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = [line.strip() for line in re.split(r"[\r\n]", proc.stdout) if line.strip()]
    assert not [line for line in lines if "error" in line.lower()], lines
    rates: dict[str, float] = {}
    for line in lines:
        match = RESULT.match(line)
        if match:
            rates[match.group(1)] = float(match.group(2))
    return rates


def test_redis_benchmark_default_suite(server):
    rates = _benchmark(server.port)
    assert list(rates) == DEFAULT_SUITE
    assert all(rate > 0 for rate in rates.values()), rates
    server.client().flushall()


def test_redis_benchmark_pipelined(server):
    rates = _benchmark(server.port, "-t", "set,get,lpush,lpop,sadd,hset,spop,zadd,zpopmin,lrange,mset", "-P", "16")
    assert list(rates) == PIPELINED_SUITE
    assert all(rate > 0 for rate in rates.values()), rates
    server.client().flushall()


def _cli(port: int, *args: str, stdin: str | None = None, returncode: int = 0) -> str:
    proc = subprocess.run([CLI, "-p", str(port), *args], capture_output=True, text=True, timeout=60, input=stdin)
    assert proc.returncode == returncode, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture
def ports(server, oracle):
    """Both servers' ports, flushed."""
    for client in (server.client(), oracle.client()):
        client.flushall()
        client.close()
    return server.port, oracle.port


@pytest.mark.parametrize("args", [
    ("SET", "a", "b"), ("GET", "a"), ("--no-raw", "GET", "a"), ("--raw", "GET", "a"), ("GET", "nokey"),
    ("-3", "HSET", "h", "f", "v"), ("-3", "HGETALL", "h"), ("HGETALL", "h"), ("-3", "ZADD", "z", "1.5", "m"),
    ("-3", "ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZSCORE", "z", "m"), ("-3", "ZSCORE", "z", "m"),
    ("-3", "SADD", "s", "x"), ("-3", "SMEMBERS", "s"), ("INCR", "a"), ("TYPE", "h"), ("RPUSH", "l", "1", "2"),
    ("LRANGE", "l", "0", "-1"), ("-3", "EXISTS", "nokey"), ("DEL", "a", "h"), ("--no-raw", "NOSUCH", "x"),
])
def test_redis_cli_one_shot_prints_what_redis_prints(ports, args):
    ours, theirs = (_cli(port, *args) for port in ports)
    assert ours == theirs


def test_redis_cli_pipe(ports):
    commands = "".join(f"SET key:{i} {i}\r\n" for i in range(50)) + "INCR key:1\r\nRPUSH l a b\r\nINCR l\r\n"
    for port in ports:
        out = _cli(port, "--pipe", stdin=commands, returncode=1)   # redis-cli exits 1 when a reply was an error
        assert "errors: 1, replies: 53" in out and "WRONGTYPE" in out, out
    assert _cli(ports[0], "GET", "key:1") == "2\n"


def _fill(port: int) -> None:
    data = ("SET s1 abc\r\nSET s2 abcdefgh\r\nRPUSH l a b c\r\nHSET h f v g w\r\nSADD st a b c d\r\n"
            "ZADD z 1 a 2 b 3 c 4 d 5 e\r\n" + "".join(f"SET k:{i} {i}\r\n" for i in range(30)))
    _cli(port, "--pipe", stdin=data)


def test_redis_cli_bigkeys(ports):
    summaries = []
    for port in ports:
        _fill(port)
        out = _cli(port, "--bigkeys")
        assert "Sampled 36 keys in the keyspace!" in out, out
        summaries.append(sorted(out.split("-------- summary -------", 1)[1].splitlines()))
    assert summaries[0] == summaries[1]


def test_redis_cli_scan(ports):
    results = []
    for port in ports:
        _fill(port)
        everything = sorted(_cli(port, "--scan").split())
        results.append((everything, sorted(_cli(port, "--scan", "--pattern", "k:1*").split())))
    assert results[0] == results[1]
    assert len(results[0][0]) == 36 and len(results[0][1]) == 11


def test_redis_cli_commands_on_stdin(ports):
    script = "SET a 1\nINCR a\nGET a\nHSET h f v\nHGETALL h\nLPUSH l x\nNOSUCH\nGET\n"
    outputs = [_cli(port, stdin=script) for port in ports]
    assert outputs[0] == outputs[1]
    assert "2\n" in outputs[0] and "f\nv\n" in outputs[0]


def _read_reply(fd: int, expected: bytes, prompt: bytes, deadline: float) -> bytes:
    """Terminal output until ``expected`` was printed and redis-cli shows its prompt again."""
    data = b""
    while not (expected in data and data.endswith(prompt)):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {expected!r}; got {data[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:   # the terminal closed
            break
        if not chunk:
            break
        data += chunk
        if b"\x1b[6n" in chunk:   # linenoise asks where the cursor is: answer like a 200-column terminal
            os.write(fd, b"\x1b[1;200R")
    return data


def test_redis_cli_interactive_session(server):
    """A real interactive session through a pseudo-terminal: redis-cli fetches COMMAND DOCS for its hints, prints
    each reply, and exits cleanly on QUIT."""
    pid, fd = pty.fork()
    if pid == 0:   # the child becomes redis-cli on the terminal
        os.execv(CLI, [CLI, "-p", str(server.port)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    prompt = f"127.0.0.1:{server.port}> ".encode()
    deadline = time.monotonic() + 60
    try:
        _read_reply(fd, b"", prompt, deadline)
        for line, expected in [(b"SET greeting hello", b"\r\nOK"), (b"GET greeting", b'"hello"'),
                               (b"HSET user:1 name ada", b"(integer) 1"), (b"HGETALL user:1", b'2) "ada"'),
                               (b"ZADD board 1.5 x", b"(integer) 1"), (b"ZRANGE board 0 -1 WITHSCORES", b'2) "1.5"'),
                               (b"NOSUCHCOMMAND", b"(error) ERR unknown command"), (b"HELLO 3", b"proto"),
                               (b"HGETALL user:1", b'1# "name" => "ada"'), (b"DEL greeting user:1 board",
                                                                          b"(integer) 3")]:
            os.write(fd, line + b"\r")
            _read_reply(fd, expected, prompt, deadline)
        os.write(fd, b"QUIT\r")
        _read_reply(fd, b"\xff", b"\xff", time.monotonic() + 20)   # reads until the terminal closes
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
