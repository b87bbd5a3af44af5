"""The append-only file: every write acknowledged before a kill -9 is there after a restart, whatever wrote it (plain
commands, the C fast path's commands, transactions, blocked pops served later, model outputs, DAG PERSIST, model
stores); its requests are valid Redis (redis-server rebuilds the same data from them); a request cut short at the end
is dropped, damage before it stops start-up; BGREWRITEAOF compacts it without losing writes made meanwhile; a file
that cannot be written makes the server refuse writes until it can."""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import hiredis
import numpy as np
import pytest
import redis

from inferd import appendonly
from inferd.persistence import request as resp_request
from inferd.server import StartupError
from tests.ops.helpers import InferdProcess, onnx_doubler, wait_for
from tests.ops.test_persistence import _pings, dump, outputs, populate_ai, populate_core

AOF = "appendonly.aof"


def start(tmp_path: Path, **options: str) -> InferdProcess:
    config = tmp_path / "inferd.conf"
    config.touch()
    proc = InferdProcess(str(config), dir=str(tmp_path), appendonly="yes", **options)
    with redis.Redis(port=proc.port, protocol=2) as client:
        wait_for(lambda: _pings(client) or proc.proc.poll() is not None, "inferd to answer", timeout=120)
    assert proc.proc.poll() is None, proc.stderr()
    return proc


def kill(proc: InferdProcess) -> None:
    proc.proc.kill()   # SIGKILL: no shutdown, no save, nothing flushed after the last reply
    proc.wait()


def more_writes(port: int) -> None:
    """Writes whose replay is not the command as it came: pops of chosen members, relative TTLs, blocked pops served
    after their command returned, transactions, database moves, model outputs, DAG PERSIST, fast-path writes."""
    r = redis.Redis(port=port, protocol=2)
    r.sadd("pop:set", *range(50))
    r.spop("pop:set")
    r.spop("pop:set", 5)
    r.set("rel", "v", ex=3000)
    r.expire("h:small", 4000)
    r.incrbyfloat("float", 0.1)
    r.incrbyfloat("float", 1e-17)
    r.rpush("src", "a", "b", "c")
    r.blmove("src", "dst", 0, "LEFT", "RIGHT")
    r.zadd("zpop", {"a": 1, "b": 2})
    r.bzpopmin("zpop")
    r.blmpop(0, 1, "src", direction="RIGHT", count=1)
    pipe = r.pipeline(transaction=True)
    pipe.set("tx:a", 1).incr("tx:a").rpush("tx:l", "x").execute()
    r.move("rel", 7)
    r.swapdb(5, 6)
    with redis.Redis(port=port, db=9, protocol=2) as db9:
        db9.set("in:9", "x")
        db9.flushdb()
        db9.set("after:flush", "y")
    fast = r.pipeline(transaction=False)
    for i in range(300):   # plain SET/HSET/RPUSH: what the C fast path would run (off while the file is on)
        fast.set(f"fast:{i}", i).hset("fast:h", f"f{i}", i).rpush("fast:l", i)
    fast.execute()
    served = {}

    def blocked() -> None:
        with redis.Redis(port=port, protocol=2) as waiting:
            served["blpop"] = waiting.blpop(["queue:empty"], 30)
            served["brpoplpush"] = waiting.brpoplpush("queue:2", "queue:moved", 30)
    thread = threading.Thread(target=blocked)
    thread.start()
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, "the client to block")
    r.rpush("queue:empty", "first", "second")    # served: the blocked BLPOP pops "first"
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, "the client to block again")
    r.lpush("queue:2", "job")
    thread.join(30)
    assert served == {"blpop": (b"queue:empty", b"first"), "brpoplpush": b"job"}
    r.execute_command("AI.TENSORSET", "in", "FLOAT", 2, 4, "BLOB", np.arange(8, dtype=np.float32).tobytes())
    r.execute_command("AI.MODELEXECUTE", "m:onnx", "INPUTS", 1, "in", "OUTPUTS", 1, "doubled")
    r.execute_command("AI.DAGEXECUTE", "LOAD", 1, "in", "PERSIST", 1, "dag:out", "|>",
                      "AI.MODELEXECUTE", "m:plain", "INPUTS", 1, "in", "OUTPUTS", 1, "dag:out")
    r.execute_command("AI.SCRIPTEXECUTE", "sc", "double", "INPUTS", 1, "in", "OUTPUTS", 1, "script:out")
    r.execute_command("AI.MODELSTORE", "m:replaced", "ONNX", "CPU", "BLOB", onnx_doubler())
    r.execute_command("AI.MODELDEL", "m:replaced")
    r.close()


def test_every_acknowledged_write_survives_kill_9(tmp_path):
    first = start(tmp_path, appendfsync="always")
    r = redis.Redis(port=first.port, protocol=2)
    populate_core(r)
    populate_ai(r)
    more_writes(first.port)
    before = dump(first.port)
    assert before[(0, b"queue:empty")][1] == [b"second"] and (0, b"doubled") in before and (7, b"rel") in before
    computed = outputs(r)
    last = r.pipeline(transaction=False)
    for i in range(50):
        last.set(f"last:{i}", i)
    last.execute()
    kill(first)   # at once: the file had these writes before their replies were sent
    r.close()
    before.update({(0, b"last:%d" % i): (b"string", b"%d" % i, -1) for i in range(50)})

    second = start(tmp_path, appendfsync="always")
    try:
        assert dump(second.port) == before
        with redis.Redis(port=second.port, protocol=2) as r:
            assert outputs(r) == computed
            info = r.info("persistence")
            assert info["aof_enabled"] == 1 and info["aof_last_write_status"] == "ok"
            assert "cmdstat_set" not in r.info("commandstats")   # loading is not traffic
    finally:
        second.stop()
    assert "loaded the append-only file" in second.stderr()


def test_the_file_rebuilds_the_same_data_in_redis_server(start_server, oracle, tmp_path):
    """The append-only file, piped as it is into a real redis-server with redis-cli --pipe, gives the same keyspace."""
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    populate_core(r)
    r.sadd("pop:set", *range(20))
    r.spop("pop:set", 3)
    r.set("rel", "v", ex=3000)
    r.move("rel", 3)
    srv.call(lambda: srv.state.journal.flush())
    theirs = oracle.client(protocol=2)
    theirs.flushall()
    done = subprocess.run(["redis-cli", "-p", str(oracle.port), "--pipe"], input=(tmp_path / AOF).read_bytes(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and b"errors: 0" in done.stdout, done.stdout + done.stderr
    ours = dump(srv.port)
    ours.pop((0, b"gone"), None)   # expired in both (inferd has not deleted it yet; redis-server did at once)
    assert dump(oracle.port) == ours
    theirs.flushall()


def test_a_request_cut_short_at_the_end_is_dropped(start_server, tmp_path, caplog):
    first = start_server(dir=str(tmp_path), appendonly="yes")
    r = first.client(protocol=2)
    r.set("a", "1")
    r.rpush("l", "x", "y")
    r.close()
    first.stop()
    path = tmp_path / AOF
    whole = path.read_bytes()
    path.write_bytes(whole + b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\n12")   # a write cut short by a crash
    second = start_server(dir=str(tmp_path), appendonly="yes")
    assert dump(second.port) == {(0, b"a"): (b"string", b"1", -1), (0, b"l"): (b"list", [b"x", b"y"], -1)}
    assert "cut short" in caplog.text
    second.client(protocol=2).set("c", "3")
    second.stop()
    assert path.read_bytes().startswith(whole) and b"$5\r\n12" not in path.read_bytes()
    third = start_server(dir=str(tmp_path), appendonly="yes")
    assert third.client(protocol=2).get("c") == b"3"


@pytest.mark.parametrize("damage", ["not RESP", "not a command", "failing request"])
def test_damage_before_the_end_stops_start_up_with_the_reason(start_server, tmp_path, damage):
    path = tmp_path / AOF
    data = {"not RESP": b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n!!!garbage\r\n*1\r\n$4\r\nPING\r\n",
            "not a command": b":5\r\n*1\r\n$4\r\nPING\r\n",
            "failing request": b"*3\r\n$4\r\nSADD\r\n$1\r\nk\r\n$1\r\nm\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"}[damage]
    path.write_bytes(data)
    reason = {"not RESP": "damaged after byte 20", "not a command": "not an array of strings",
              "failing request": "request 2, INCR"}[damage]
    with pytest.raises(StartupError, match=reason):
        start_server(dir=str(tmp_path), appendonly="yes")
    assert path.read_bytes() == data   # nothing changed


def test_bgrewriteaof_compacts_the_file_and_keeps_the_writes_made_meanwhile(start_server, tmp_path):
    first = start_server(dir=str(tmp_path), appendonly="yes")
    r = first.client(protocol=2)
    r.set_response_callback("BGREWRITEAOF", lambda response, **_: response)
    pipe = r.pipeline(transaction=False)
    for _ in range(2000):
        pipe.incr("counter")
    pipe.execute()
    redis.Redis(port=first.port, db=4, protocol=2).set("in:4", "x")
    grown = os.path.getsize(tmp_path / AOF)
    replies = r.pipeline(transaction=False).execute_command("BGREWRITEAOF").incr("counter").set("during", "1") \
        .execute_command("BGREWRITEAOF").execute(raise_on_error=False)
    assert replies[0] == b"Background append only file rewriting started"
    assert "already in progress" in str(replies[3])
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, "the rewrite")
    r.set("after", "2")
    info = r.info("persistence")
    assert info["aof_last_bgrewrite_status"] == "ok" and info["aof_rewrite_in_progress"] == 0
    assert os.path.getsize(tmp_path / AOF) < grown // 10
    # the rewrite wrote the counter's value; only the INCR made while it ran follows
    assert (tmp_path / AOF).read_bytes().lower().count(b"incr") == 1
    assert not [name for name in os.listdir(tmp_path) if name.startswith("temp-")]
    before = dump(first.port)
    r.close()
    first.stop()
    second = start_server(dir=str(tmp_path), appendonly="yes")
    assert dump(second.port) == before
    assert before[(0, b"counter")][1] == b"2001" and (4, b"in:4") in before and (0, b"during") in before


def test_the_automatic_rewrite_starts_past_its_growth(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path), appendonly="yes", auto_aof_rewrite_min_size=1000)
    r = srv.client(protocol=2)
    r.config_set("auto-aof-rewrite-percentage", 100)
    for _ in range(200):
        r.set("k", "v" * 20)
    # (a rewrite may start while the writes go on, and another once they have grown the file again)
    wait_for(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0 and os.path.getsize(tmp_path / AOF) < 1000,
             "an automatic rewrite after the last write")
    assert r.info("persistence")["aof_rewrites"] >= 1


def test_with_no_file_yet_the_server_starts_from_the_snapshot_and_writes_the_file(start_server, tmp_path):
    first = start_server(dir=str(tmp_path))
    r = first.client(protocol=2)
    r.set("from:snapshot", "1")
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2)
    r.execute_command("SAVE")
    r.close()
    first.stop()
    second = start_server(dir=str(tmp_path), appendonly="yes")
    r = second.client(protocol=2)
    r.set("from:file", "2")
    r.close()
    second.stop()   # no save points: the snapshot is not written again
    (tmp_path / "dump.inferd").unlink()
    third = start_server(dir=str(tmp_path), appendonly="yes")
    assert set(dump(third.port)) == {(0, b"from:snapshot"), (0, b"t"), (0, b"from:file")}


def _break_file(srv) -> tuple[appendonly.Journal, int, int]:
    """Make every write to the server's append-only file fail (no space left on device).

    Returns the journal, its file's descriptor and the failing one (for _mend_file).
    """
    journal = srv.state.journal
    good, full = journal.fd, os.open("/dev/full", os.O_WRONLY)
    srv.call(lambda: setattr(journal, "fd", full))
    return journal, good, full


def _mend_file(srv, journal: appendonly.Journal, good: int, full: int) -> None:
    srv.call(lambda: setattr(journal, "fd", good))
    os.close(full)


def _count_plain(journal: appendonly.Journal) -> list[bytes]:
    """The command names of the writes the C fast path hands ``journal`` from now on (Journal.plain)."""
    names: list[bytes] = []
    original = journal.plain

    def plain(client, db, request):
        reader = hiredis.Reader()
        reader.feed(request)
        argv = reader.gets()
        assert reader.gets() is False and request == b"".join(resp_request(*argv))   # one request, as Python encodes
        names.append(argv[0])
        original(client, db, request)

    journal.plain = plain   # type: ignore[method-assign]
    return names


def _request(port: int, *argv: str) -> socket.socket:
    """A connection that has sent one request (its reply is read with _reply)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    parts = [b"*%d\r\n" % len(argv)] + [b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in argv]
    sock.sendall(b"".join(parts))
    return sock


def _reply(sock: socket.socket, timeout: float) -> bytes | None:
    """The reply's bytes, or None when none came within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1024)
    except TimeoutError:
        return None


def test_a_file_that_cannot_be_written_holds_the_replies_it_lacks_and_refuses_writes(start_server, tmp_path):
    """Nothing acknowledged is lost: a change the file could not take gets no reply until the file has it."""
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    r.set("a", "1")
    popper = _request(srv.port, "BLPOP", "q", "0")
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, "the BLPOP to wait")
    journal, good, full = _break_file(srv)
    writer = _request(srv.port, "RPUSH", "q", "x", "y")
    assert _reply(writer, 0.5) is None   # run, kept in memory for the retry, not acknowledged
    assert _reply(popper, 0.2) is None   # nor the pop it served; this client leaves: nothing is sent to it
    popper.close()
    for write in (("SET", "c", "3"), ("MSET", "c", "3"), ("ZADD", "c", "1", "m"), ("INCR", "c"),
                  ("HSET", "c", "f", "v"), ("RPUSH", "c", "x")):   # the C fast path's writes refused too
        with pytest.raises(redis.ResponseError, match="MISCONF Errors writing to the AOF file"):
            r.execute_command(*write)
    assert not r.exists("c")
    assert r.get("a") == b"1" and r.lrange("q", 0, -1) == [b"y"]   # reads go on: this client owes the file nothing
    info = r.info("persistence")
    assert info["aof_last_write_status"] == "err" and info["aof_buffer_length"] > 0
    _mend_file(srv, journal, good, full)
    assert _reply(writer, 10) == b":2\r\n"   # the retry wrote it: now acknowledged
    writer.close()
    assert r.info("persistence")["aof_last_write_status"] == "ok" and not journal.waiting
    r.set("c", "3")
    r.close()
    srv.stop()
    again = start_server(dir=str(tmp_path), appendonly="yes")
    assert {key: value[1] for (_, key), value in dump(again.port).items()} == {b"a": b"1", b"q": [b"y"], b"c": b"3"}


def test_a_connection_whose_own_reply_gets_the_file_written_sends_each_reply_once(start_server, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(appendonly, "RETRY_WRITE_S", 1e9)   # no timed retry: only a reply's write retries the file
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    big = b"x" * 70_000   # a reply past what a connection holds for the write batch: it flushes at once
    r.set("big", big)
    journal, good, full = _break_file(srv)
    sock = _request(srv.port, "INCR", "n")
    assert _reply(sock, 0.5) is None
    _mend_file(srv, journal, good, full)
    sock.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")   # its flush writes the file, which releases the INCR
    want = b":1\r\n$70000\r\n" + big + b"\r\n"
    got = b""
    while len(got) < len(want):
        chunk = _reply(sock, 10)
        assert chunk
        got += chunk
    assert got == want and _reply(sock, 0.3) is None   # in order, once
    sock.close()
    r.close()


def test_a_change_in_a_file_since_closed_holds_no_reply(start_server, tmp_path):
    """A client whose last change went to the file before a CONFIG SET appendonly no / yes owes the new file nothing."""
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    earlier = _request(srv.port, "SET", "k", "v")   # this connection's last change goes to the first file
    assert _reply(earlier, 10) == b"+OK\r\n"
    r.config_set("appendonly", "no")
    r.config_set("appendonly", "yes")   # a new file, written from the keyspace
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, "the new file")
    journal, good, full = _break_file(srv)
    writer = _request(srv.port, "SET", "new", "1")
    assert _reply(writer, 0.5) is None
    earlier.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    assert _reply(earlier, 2) == b"$1\r\nv\r\n"   # answered: its change is in the new file's base
    earlier.close()
    _mend_file(srv, journal, good, full)
    assert _reply(writer, 10) == b"+OK\r\n"
    writer.close()


def test_turning_the_file_off_lets_the_held_replies_go(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    journal, good, full = _break_file(srv)
    writer = _request(srv.port, "RPUSH", "l", "x")
    assert _reply(writer, 0.5) is None
    srv.call(lambda: setattr(journal, "fd", os.dup(full)))   # closing the file closes this one; ours stays open
    os.close(good)
    r.config_set("appendonly", "no")
    assert _reply(writer, 10) == b":1\r\n"
    os.close(full)
    writer.close()


def test_options_and_commands(start_server, tmp_path):
    off = start_server(dir=str(tmp_path))
    r = off.client(protocol=2)
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.info("persistence")["aof_enabled"] == 0
    r.config_set("appendonly", "no")   # no change
    with pytest.raises(redis.ResponseError, match="the append-only file is off"):
        r.execute_command("BGREWRITEAOF")
    assert not (tmp_path / AOF).exists()
    assert off.state.dispatcher.fast_run is not None and b"set" in off.state.dispatcher._fast_kinds
    on = start_server(dir=str(tmp_path), appendonly="yes", appendfilename="other.aof")
    r = on.client(protocol=2)
    plain = _count_plain(on.state.journal)
    r.config_set("appendfsync", "always")
    assert on.state.journal.fsync == "always"
    with pytest.raises(redis.ResponseError, match="appendfsync"):
        r.config_set("appendfsync", "sometimes")
    fast = r.pipeline(transaction=False)
    for name in ("k", "h", "l", "r"):
        fast.set(name + ":s", "v").hset(name + ":h", "f", "v").lpush(name + ":l", "v").rpush(name + ":r", "v")
    odd = bytes(range(256)) * 40   # CR, LF, NUL: the fast path's encoding is checked against Python's
    fast.set("bin", odd).rpush("empty", "").get("k:s").hget("k:h", "f").mget("k:s", "k:h")
    fast.execute_command("INCR", "n").incr("n", 5).execute_command("DECR", "n").decr("m", 2)   # redis-py: INCRBY
    fast.mset({"ms:1": "a", "ms:2": odd}).zadd("zs", {"a": 1, odd: 2.5})
    fast.sadd("ss", "only").lpop("k:l").rpop("h:r").spop("ss").ping()   # SPOP: Python's, journaled as its SREM
    fast.zpopmin("zs")
    assert fast.execute()[-15:] == [b"v", b"v", [b"v", None], 1, 6, 5, -2, True, 2, 1, b"v", b"v", b"only", True,
                                    [(b"a", 1.0)]]
    # the C fast path journaled each write, and no read
    assert plain == [b"SET", b"HSET", b"LPUSH", b"RPUSH"] * 4 + [b"SET", b"RPUSH", b"INCR", b"INCRBY", b"DECR",
                                                                 b"DECRBY", b"MSET", b"ZADD", b"SADD", b"LPOP",
                                                                 b"RPOP", b"ZPOPMIN"]
    written = (tmp_path / "other.aof").read_bytes()
    assert all(b"%s:%s" % (n, t) in written for n in (b"k", b"h", b"l", b"r") for t in (b"s", b"h", b"l", b"r"))
    assert b"*5\r\n$4\r\nMSET\r\n$4\r\nms:1\r\n$1\r\na\r\n$4\r\nms:2\r\n$10240\r\n%s\r\n" % odd in written
    assert b"*3\r\n$4\r\nSREM\r\n$2\r\nss\r\n$4\r\nonly\r\n" in written and b"SPOP" not in written
    assert b"*6\r\n$4\r\nZADD\r\n$2\r\nzs\r\n$1\r\n1\r\n$1\r\na\r\n$3\r\n2.5\r\n$10240\r\n%s\r\n" % odd in written
    with pytest.raises(redis.ResponseError):
        r.config_set("appendfilename", "x.aof")   # start-up only


def test_a_first_rewrite_that_fails_turns_the_file_off_again(start_server, tmp_path, monkeypatch):
    def fails(*_args):
        raise OSError("no space left on device")

    monkeypatch.setattr(appendonly, "write_body", fails)   # in the forked child
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    r.set("k", "v")
    r.config_set("appendonly", "yes")
    wait_for(lambda: r.info("persistence")["aof_enabled"] == 0, "the file turned off")
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "err" and srv.state.journal is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # no file, no temp file left
    r.set("k2", "v")   # writes go on, without the file
    assert r.get("k2") == b"v"


def test_a_first_rewrite_that_cannot_fork_fails_the_switch_or_turns_the_file_off(start_server, tmp_path, monkeypatch):
    def refused(_work):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(appendonly, "fork_child", refused)   # the rewrite's fork only (BGSAVE forks on)
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    r.set_response_callback("BGSAVE", lambda response, **_: response)
    r.set("k", "v")
    with pytest.raises(redis.ResponseError, match="appendonly.*Resource temporarily unavailable"):
        r.config_set("appendonly", "yes")   # refused at once: nothing changes
    assert r.config_get("appendonly") == {"appendonly": "no"} and srv.state.journal is None
    replies = r.pipeline(transaction=False).execute_command("BGSAVE").config_set("appendonly", "yes").execute()
    assert replies == [b"Background saving started", True]   # the rewrite waits for the save, then cannot fork
    wait_for(lambda: r.info("persistence")["aof_enabled"] == 0, "the file turned off")
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "err" and not (tmp_path / AOF).exists()


def test_effects_of_blocking_pops_and_spop():
    """The requests written for pops whose replay must not depend on chance or on waiting."""
    effects = appendonly.effect_requests
    assert effects([b"SPOP", b"s"], b"m") == [[b"SREM", b"s", b"m"]]
    assert effects([b"SPOP", b"s", b"2"], {b"a"}) == [[b"SREM", b"s", b"a"]]
    assert effects([b"SPOP", b"s"], None) == [] and effects([b"SPOP", b"s", b"3"], set()) == []
    assert effects([b"BLPOP", b"a", b"b", b"0"], [b"b", b"v"]) == [[b"LPOP", b"b"]]
    assert effects([b"BRPOP", b"a", b"0"], [b"a", b"v"]) == [[b"RPOP", b"a"]]
    assert effects([b"BZPOPMAX", b"z", b"0"], [b"z", b"m", 1.5]) == [[b"ZREM", b"z", b"m"]]
    assert effects([b"BLMOVE", b"s", b"d", b"LEFT", b"RIGHT", b"0"], b"v") == [[b"LMOVE", b"s", b"d", b"LEFT",
                                                                               b"RIGHT"]]
    assert effects([b"BRPOPLPUSH", b"s", b"d", b"0"], b"v") == [[b"RPOPLPUSH", b"s", b"d"]]
    assert effects([b"BLMPOP", b"0", b"2", b"a", b"b", b"RIGHT", b"COUNT", b"5"], [b"b", [b"1", b"2"]]) == \
        [[b"RPOP", b"b", b"2"]]
    assert effects([b"BZMPOP", b"0", b"1", b"z", b"MIN"], [b"z", [[b"m", 1.0], [b"n", 2.0]]]) == \
        [[b"ZREM", b"z", b"m", b"n"]]
    assert effects([b"BLPOP", b"a", b"0"], None) == []   # timed out (or in MULTI): nothing taken


@pytest.mark.parametrize("how", ["MOVE", "SWAPDB"])
def test_a_pop_served_by_a_write_to_another_database_comes_after_it(start_server, tmp_path, how):
    """A client blocked in database 1 is served by MOVE or SWAPDB run from database 0: the file has the write first."""
    first = start_server(dir=str(tmp_path), appendonly="yes")
    r = first.client(protocol=2)
    served = {}

    def blocked() -> None:
        with redis.Redis(port=first.port, db=1, protocol=2) as waiting:
            served["reply"] = waiting.blpop(["q"], 30)
    thread = threading.Thread(target=blocked)
    thread.start()
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, "the client to block")
    r.rpush("q", "a", "b")
    if how == "MOVE":
        assert r.move("q", 1)
    else:
        r.swapdb(0, 1)
    thread.join(30)
    assert served["reply"] == (b"q", b"a")
    before = dump(first.port)
    assert before == {(1, b"q"): (b"list", [b"b"], -1)}
    r.close()
    first.stop()
    second = start_server(dir=str(tmp_path), appendonly="yes")
    assert dump(second.port) == before


def test_a_rewrite_takes_what_the_failing_file_could_not(start_server, tmp_path):
    """Changes kept in memory while the file failed are in the rewritten file once, not appended again after it."""
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    r.set_response_callback("BGREWRITEAOF", lambda response, **_: response)
    r.incr("n")
    journal, good, full = _break_file(srv)
    held = _request(srv.port, "INCR", "n")   # run, kept in memory: the file failed; no reply yet
    assert _reply(held, 0.5) is None
    assert r.info("persistence")["aof_last_write_status"] == "err"
    assert r.execute_command("BGREWRITEAOF") == b"Background append only file rewriting started"
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, "the rewrite")
    assert _reply(held, 10) == b":2\r\n"   # the rewritten file has it
    held.close()
    info = r.info("persistence")
    assert info["aof_last_write_status"] == "ok" and info["aof_buffer_length"] == 0
    r.incr("n")
    os.close(good)
    srv.call(lambda: None)
    r.close()
    srv.stop()
    again = start_server(dir=str(tmp_path), appendonly="yes")
    assert again.client(protocol=2).get("n") == b"3"


def test_one_child_at_a_time_with_bgsave(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path), appendonly="yes")
    r = srv.client(protocol=2)
    for name in ("BGSAVE", "BGREWRITEAOF"):
        r.set_response_callback(name, lambda response, **_: response)
    r.set("k", "v")
    replies = r.pipeline(transaction=False).execute_command("BGSAVE").execute_command("BGREWRITEAOF") \
        .execute(raise_on_error=False)
    assert replies == [b"Background saving started", b"Background append only file rewriting scheduled"]
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, "the scheduled rewrite after the save")
    assert r.info("persistence")["rdb_saves"] == 1
    replies = r.pipeline(transaction=False).execute_command("BGREWRITEAOF").execute_command("BGSAVE") \
        .execute_command("BGSAVE", "SCHEDULE").execute(raise_on_error=False)
    assert replies[0] == b"Background append only file rewriting started"
    assert "Another child process is active" in str(replies[1])
    assert replies[2] == b"Background saving scheduled"
    wait_for(lambda: r.info("persistence")["rdb_saves"] == 2, "the scheduled save after the rewrite")
    assert r.info("persistence")["aof_rewrites"] == 2


def test_config_set_turns_the_file_on_and_off(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    r.set("before", "1")
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2)
    gone = tmp_path / "gone"
    gone.mkdir()
    r.config_set("dir", str(gone))
    gone.rmdir()
    with pytest.raises(redis.ResponseError, match="appendonly.*No such file or directory"):
        r.config_set("appendonly", "yes")
    assert r.config_get("appendonly") == {"appendonly": "no"} and srv.state.journal is None
    r.config_set("dir", str(tmp_path))
    aof = srv.state.extensions["appendonly"]
    r.config_set("appendonly", "yes")   # the file is written from the keyspace by a child, as by BGREWRITEAOF
    plain = _count_plain(srv.state.journal)
    fast = r.pipeline(transaction=False)
    for i in range(20):   # plain SETs on a connection the fast path served before the switch
        fast.set(f"on:{i}", i)
    fast.execute()
    # the file is there only once the rewrite is done (never empty or partial); the writes made meanwhile are in it
    running, there = srv.call(lambda: (aof.child is not None, (tmp_path / AOF).exists()))
    assert running != there and r.info("persistence")["aof_enabled"] == 1
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1, "the file's first rewrite")
    assert len(plain) == 20 and b"on:19" in (tmp_path / AOF).read_bytes()
    r.config_set("appendonly", "no")
    assert r.info("persistence")["aof_enabled"] == 0
    r.set("after", "2")   # not in the file
    r.close()
    srv.stop()
    again = start_server(dir=str(tmp_path), appendonly="yes")
    keys = {key for (_, key) in dump(again.port)}
    assert keys == {b"before", b"t"} | {b"on:%d" % i for i in range(20)}
