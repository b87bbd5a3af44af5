"""Snapshots: SAVE, BGSAVE, the save points and the shutdown save write a file that a restarted server loads whole;
a damaged file stops start-up and changes nothing; the snapshot's requests rebuild the same data in a real
redis-server. Servers run in-process (tests.conftest.RunningServer) or as ``python -m inferd``."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hiredis
import numpy as np
import pytest
import redis

from inferd import persistence
from inferd.server import StartupError
from tests.ai import models as ai_models
from tests.conftest import RunningServer, free_port
from tests.ops.helpers import REPO, onnx_doubler, wait_for

SCRIPT = b"def double(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return tensors[0] * 2\n"
LEGACY_SCRIPT = b"def triple(a):\n    return a * 3\n"
X = np.arange(8, dtype=np.float32).reshape(2, 4)


def populate_core(r: redis.Redis) -> None:
    """Every core type, chunked ones past persistence.CHUNK_ITEMS, odd bytes and scores, TTLs, two databases."""
    r.set("s:bin", b"a\r\nb\x00c\xff")
    r.set("s:empty", b"")
    r.hset("h", mapping={f"f{i}": i for i in range(2500)})
    r.hset("h:small", mapping={b"k\r\n": b"", b"": b"v"})
    r.rpush("l", *[b"x%d" % i for i in range(2500)])
    r.rpush("l:small", b"", b"\x00")
    r.sadd("set", *range(2100))
    r.zadd("z", {"inf": math.inf, "ninf": -math.inf, "tiny": 5e-324, "neg": -0.1, "third": 1 / 3,
                 "max": 1.7976931348623157e308, "zero": 0, "int": 42})
    r.zadd("z:big", {f"m{i}": i / 7 for i in range(2100)})
    r.set("ttl:s", "v", px=600_000)
    r.hset("ttl:h", "f", "v")
    r.pexpire("ttl:h", 900_000)
    r.set("gone", "v", px=1)
    db5 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=5, protocol=2)
    db5.set("in:db5", "five")
    db5.rpush("ttl:l5", "a")
    db5.pexpire("ttl:l5", 500_000)
    db5.close()
    time.sleep(0.01)   # "gone" has expired (and is not deleted yet: nothing read it)


def populate_ai(r: redis.Redis) -> None:
    """Tensors of every dtype (0-d, STRING, over 4 KB), models of three backends with every option, two scripts."""
    for dtype, values in (("FLOAT", [1.5, -2.25]), ("DOUBLE", [1e-300, 3.0]), ("INT8", [-128, 127]),
                          ("INT16", [-3, 4]), ("INT32", [-5, 6]), ("INT64", [-(2 ** 63), 2 ** 63 - 1]),
                          ("UINT8", [0, 255]), ("UINT16", [0, 65535]), ("BOOL", [0, 1]), ("FLOAT16", [0.5, 2.0]),
                          ("UINT32", [0, 2 ** 32 - 1]), ("UINT64", [0, 2 ** 64 - 1])):
        r.execute_command("AI.TENSORSET", f"t:{dtype}", dtype, 1, 2, "VALUES", *values)
    r.execute_command("AI.TENSORSET", "t:string", "STRING", 3, "BLOB", b"ab\0\0c d\0")
    r.execute_command("AI.TENSORSET", "t:scalar", "FLOAT", "VALUES", 7)
    r.execute_command("AI.TENSORSET", "t:big", "FLOAT", 4, 1000, "BLOB", np.arange(4000, dtype=np.float32).tobytes())
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 2, 4, "BLOB", X.tobytes())
    r.execute_command("AI.MODELSTORE", "m:onnx", "ONNX", "cpu", "TAG", "v\r\n1", "BATCHSIZE", 8, "MINBATCHSIZE", 2,
                      "MINBATCHTIMEOUT", 5, "BLOB", onnx_doubler())
    r.execute_command("AI.MODELSTORE", "m:plain", "ONNX", "CPU", "BLOB", onnx_doubler())
    r.execute_command("AI.MODELSTORE", "m:torch", "TORCH", "CPU", "BLOB", ai_models.torch_two_inputs())
    r.execute_command("AI.MODELSTORE", "m:tf", "TF", "CPU", "TAG", "graph", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c",
                      "BLOB", ai_models.tf_graphdef())
    r.execute_command("AI.SCRIPTSTORE", "sc", "CPU", "TAG", "s1", "ENTRY_POINTS", 1, "double", "SOURCE", SCRIPT)
    r.execute_command("AI.SCRIPTSET", "sc:legacy", "CPU", "SOURCE", LEGACY_SCRIPT)


READERS = {   # how to read each type back, as (command, extra arguments)
    b"string": ("GET",), b"hash": ("HGETALL",), b"list": ("LRANGE", 0, -1), b"set": ("SMEMBERS",),
    b"zset": ("ZRANGE", 0, -1, "WITHSCORES"), b"AI_TENSOR": ("AI.TENSORGET", "META", "BLOB"),
    b"AI__MODEL": ("AI.MODELGET", "META", "BLOB"), b"AI_SCRIPT": ("AI.SCRIPTGET", "META", "SOURCE"),
}


def dump(port: int, dbs: int = 16) -> dict[tuple[int, bytes], tuple[bytes, object, int]]:
    """Every key of every database: (type, value, absolute expiry in ms or -1); sets sorted."""
    out = {}
    for db in range(dbs):
        with redis.Redis(port=port, db=db, protocol=2) as c:
            for key in c.keys("*"):
                kind = c.type(key)
                name, *extra = READERS[kind]
                value = c.execute_command(name, key, *extra)
                out[(db, key)] = (kind, sorted(value) if kind == b"set" else value,
                                  c.execute_command("PEXPIRETIME", key))
    return out


def outputs(r: redis.Redis) -> list[object]:
    """What the stored models and scripts compute on fixed inputs."""
    r.execute_command("AI.TENSORSET", "a", "FLOAT", 2, 2, "VALUES", 1, 2, 3, 4)
    r.execute_command("AI.TENSORSET", "b", "FLOAT", 2, 2, "VALUES", 10, 20, 30, 40)
    results = []
    for model, inputs in (("m:onnx", ["x"]), ("m:plain", ["x"]), ("m:torch", ["a", "b"]), ("m:tf", ["a", "b"])):
        r.execute_command("AI.MODELEXECUTE", model, "INPUTS", len(inputs), *inputs, "OUTPUTS", 1, "out")
        results.append(r.execute_command("AI.TENSORGET", "out", "VALUES"))
    r.execute_command("AI.SCRIPTEXECUTE", "sc", "double", "INPUTS", 1, "a", "OUTPUTS", 1, "out")
    results.append(r.execute_command("AI.TENSORGET", "out", "VALUES"))
    r.execute_command("AI.SCRIPTRUN", "sc:legacy", "triple", "INPUTS", "a", "OUTPUTS", "out")
    results.append(r.execute_command("AI.TENSORGET", "out", "VALUES"))
    for key in ("a", "b", "out"):
        r.delete(key)
    return results


def snapshot_file(srv: RunningServer) -> str:
    return os.path.join(srv.config.dir, srv.config.dbfilename)


def persistence_info(r: redis.Redis) -> dict[str, object]:
    return r.info("persistence")


def raw_client(srv: RunningServer) -> redis.Redis:
    """A RESP2 client that gives BGSAVE's status text as it is (redis-py turns it into True)."""
    client = srv.client(protocol=2)
    client.set_response_callback("BGSAVE", lambda response, **_: response)
    return client


def test_save_then_restart_loads_every_type_ttl_and_database(start_server, tmp_path):
    first = start_server(dir=str(tmp_path))
    r = first.client(protocol=2)
    populate_core(r)
    populate_ai(r)
    before = dump(first.port)
    computed = outputs(r)
    assert r.execute_command("SAVE") is True
    assert persistence_info(r)["rdb_changes_since_last_save"] == 0
    r.close()
    first.stop()

    second = start_server(dir=str(tmp_path))
    after = dump(second.port)
    assert after == before
    requests = list(persistence.snapshot_requests(snapshot_file(second)))
    assert not [argv for argv in requests if b"gone" in argv]   # expired before the save: not written
    r = second.client(protocol=2)
    info = r.info("commandstats")
    assert "cmdstat_hset" not in info and "cmdstat_ai.modelstore" not in info   # loading is not traffic
    assert persistence_info(r)["rdb_changes_since_last_save"] == 0
    assert outputs(r) == computed


def test_snapshot_requests_rebuild_the_same_data_in_redis_server(start_server, oracle, tmp_path):
    """The snapshot's body, piped as it is into a real redis-server with redis-cli --pipe, gives the same keyspace."""
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    populate_core(r)
    r.execute_command("SAVE")
    data = Path(snapshot_file(srv)).read_bytes()
    reader = hiredis.Reader()
    reader.feed(data[:200])
    header = b"".join(persistence.request(*reader.gets()))
    body = data[len(header):-persistence.TRAILER_BYTES]
    theirs = oracle.client(protocol=2)
    theirs.flushall()
    done = subprocess.run(["redis-cli", "-p", str(oracle.port), "--pipe"], input=body, capture_output=True,
                          timeout=60)
    assert done.returncode == 0 and b"errors: 0" in done.stdout, done.stdout + done.stderr
    assert dump(oracle.port) == dump(srv.port)
    theirs.flushall()


def test_bgsave_writes_the_keyspace_as_it_was_when_the_reply_came(start_server, tmp_path):
    first = start_server(dir=str(tmp_path))
    r = raw_client(first)
    r.set("before", "1")
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2)
    replies = r.pipeline(transaction=False).execute_command("BGSAVE").set("after", "2").set("before", "changed") \
        .execute_command("BGSAVE").execute_command("BGSAVE", "SCHEDULE").execute(raise_on_error=False)
    assert replies[0] == b"Background saving started"
    assert str(replies[3]) == "Background save already in progress"   # the first child is not reaped yet
    assert replies[4] == b"Background saving scheduled"
    assert persistence_info(r)["rdb_bgsave_in_progress"] == 1
    wait_for(lambda: persistence_info(r)["rdb_saves"] == 2, "the first and the scheduled background saves")
    info = persistence_info(r)
    assert info["rdb_bgsave_in_progress"] == 0 and info["rdb_last_bgsave_status"] == "ok"
    assert r.lastsave().timestamp() >= time.time() - 60
    r.close()
    first.stop()
    second = start_server(dir=str(tmp_path))   # the scheduled save came after the writes: it has them
    assert dump(second.port)[(0, b"before")][1] == b"changed"
    assert not [name for name in os.listdir(tmp_path) if name.startswith("temp-")]


def test_bgsave_image_is_the_fork_time_keyspace(start_server, tmp_path):
    first = start_server(dir=str(tmp_path))
    r = raw_client(first)
    r.set("before", "1")
    replies = r.pipeline(transaction=False).execute_command("BGSAVE").set("after", "2").set("before", "x").execute()
    assert replies[0] == b"Background saving started"
    wait_for(lambda: persistence_info(r)["rdb_bgsave_in_progress"] == 0, "the background save")
    r.close()
    first.stop()   # no save points: the shutdown does not save
    second = start_server(dir=str(tmp_path))
    assert {key: v[1] for (_, key), v in dump(second.port).items()} == {b"before": b"1"}


def test_save_points_start_background_saves_and_count_every_write(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path), save="1 3")
    r = srv.client(protocol=2)
    assert r.config_get("save") == {"save": "1 3"}
    r.set("a", 1)   # the C fast path's write
    r.hset("h", "f", "v")
    r.incr("n")     # the dispatcher's
    assert persistence_info(r)["rdb_changes_since_last_save"] == 3
    wait_for(lambda: persistence_info(r)["rdb_saves"] == 1, "a save at the save point", timeout=20)
    assert persistence_info(r)["rdb_changes_since_last_save"] == 0
    r.get("a")
    r.hget("h", "f")
    assert persistence_info(r)["rdb_changes_since_last_save"] == 0   # reads are no changes
    assert os.path.exists(snapshot_file(srv))


def test_shutdown_saves_with_save_points_and_not_with_nosave(tmp_path):
    def run(shutdown: str = "", save: str = "") -> set[bytes]:
        port = free_port()
        with open(tmp_path / "log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "inferd", "--port", str(port), "--dir", str(tmp_path),
                                     "--save", save], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        with redis.Redis(port=port, protocol=2) as client:
            wait_for(lambda: _pings(client), "inferd to answer")
            keys = set(client.keys("*"))
            client.set(f"key{len(keys)}", "v")   # acknowledged after every earlier save
            if shutdown:
                client.shutdown(save=shutdown == "SAVE", nosave=shutdown == "NOSAVE")
            else:
                proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, (tmp_path / "log").read_text()
        return keys

    assert run("NOSAVE", save="3600 1") == set()     # nothing saved
    assert run("SAVE") == set()                      # no points, but SHUTDOWN SAVE: key0 saved
    assert run(save="3600 1") == {b"key0"}           # SIGTERM with points: key1 saved
    assert run() == {b"key0", b"key1"}               # no points, plain SIGTERM: key2 not saved
    assert run() == {b"key0", b"key1"}


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_shutdown_that_cannot_save_is_refused_and_the_server_stays_up(start_server, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    srv = start_server(dir=str(gone), save="3600 1")
    r = srv.client(protocol=2)
    r.set("k", "v")
    gone.rmdir()
    with pytest.raises(redis.ResponseError, match="Errors trying to SHUTDOWN. Check logs."):
        r.execute_command("SHUTDOWN")
    assert r.get("k") == b"v"
    with pytest.raises(redis.ResponseError, match="snapshot not saved: .*No such file or directory"):
        r.execute_command("SAVE")
    assert persistence_info(r)["rdb_last_bgsave_status"] == "err"
    r.config_set("save", "")   # the test's own stop must not try to save either


def test_failed_save_keeps_the_previous_snapshot_and_leaves_no_temp_file(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    r.set("k", "old")
    r.execute_command("SAVE")
    kept = Path(snapshot_file(srv)).read_bytes()
    r.set("k", "new")
    (tmp_path / "folder").mkdir()
    r.config_set("dbfilename", "folder")   # renaming a file over a folder fails after the whole write
    with pytest.raises(redis.ResponseError, match="snapshot not saved"):
        r.execute_command("SAVE")
    assert sorted(os.listdir(tmp_path)) == ["dump.inferd", "folder"]
    assert Path(snapshot_file(srv)).read_bytes() == kept
    assert persistence_info(r)["rdb_changes_since_last_save"] == 1


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "not a snapshot", "bad request"])
def test_a_damaged_snapshot_stops_start_up_with_the_reason(start_server, tmp_path, damage):
    srv = start_server(dir=str(tmp_path), databases=32)
    r = srv.client(protocol=2)
    r.set("k", "v" * 100)
    redis.Redis(port=srv.port, db=20, protocol=2).set("in:db20", "x")
    r.execute_command("SAVE")
    r.close()
    srv.stop()
    path = tmp_path / "dump.inferd"
    data = bytearray(path.read_bytes())
    options = {}
    if damage == "flipped byte":
        data[60] ^= 1
        reason = "checksum mismatch"
    elif damage == "truncated":
        del data[-30:]
        reason = "no INFERD-END trailer"
    elif damage == "not a snapshot":
        data = bytearray(b"SET k v\r\n" * 20)
        reason = "no INFERD-SNAPSHOT header"
    else:
        options["databases"] = 16   # the snapshot's SELECT 20 fails on this server
        reason = "a request failed: ERR DB index is out of range"
    path.write_bytes(bytes(data))
    with pytest.raises(StartupError, match=reason):
        start_server(dir=str(tmp_path), **options)


def test_damaged_snapshot_exits_1_with_the_reason(tmp_path):
    (tmp_path / "dump.inferd").write_bytes(b"*1\r\n$4\r\nPING\r\n")
    done = subprocess.run([sys.executable, "-m", "inferd", "--port", "0", "--dir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "snapshot" in done.stderr and "not an inferd snapshot" in done.stderr


def test_model_blobs_are_written_in_chunks(start_server, tmp_path, monkeypatch):
    monkeypatch.setattr(persistence, "MODEL_CHUNK_BYTES", 100)
    first = start_server(dir=str(tmp_path))
    r = first.client(protocol=2)
    blob = onnx_doubler()
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blob)
    r.execute_command("SAVE")
    requests = list(persistence.snapshot_requests(snapshot_file(first)))
    store = next(argv for argv in requests if argv[0] == b"AI.MODELSTORE")
    chunks = store[store.index(b"BLOB") + 1:]
    assert len(chunks) == -(-len(blob) // 100) and b"".join(chunks) == blob
    first.stop()
    second = start_server(dir=str(tmp_path))
    assert second.client(protocol=2).execute_command("AI.MODELGET", "m", "BLOB") == blob


def test_config_checks_the_persistence_options(start_server, tmp_path):
    srv = start_server(dir=str(tmp_path))
    r = srv.client(protocol=2)
    for name, value, why in (("save", "60", "Invalid save parameters"), ("save", "a b", "Invalid save parameters"),
                             ("dir", str(tmp_path / "missing"), "No such directory"),
                             ("dbfilename", "a/b", "dbfilename can't be a path")):
        with pytest.raises(redis.ResponseError, match=why):
            r.config_set(name, value)
    r.config_set("save", " 900  1 300 10 ")
    assert r.config_get("save") == {"save": "900 1 300 10"}
    assert r.config_get("dbfilename") == {"dbfilename": "dump.inferd"}
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("BGSAVE", "NOW")
    with pytest.raises(redis.ResponseError, match="not allowed inside a transaction"):
        pipe = r.pipeline(transaction=True)
        pipe.execute_command("SAVE")
        pipe.execute()
    r.config_set("save", "")
