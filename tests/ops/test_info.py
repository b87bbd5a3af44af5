"""INFO: Redis 7 field names (checked against redis-server), values that move, and the ``ai`` section."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
import redis

from tests.conftest import RunningServer
from tests.ops.helpers import REPO, wait_for


@pytest.fixture(scope="module")
def server(server_both_paths: RunningServer) -> RunningServer:
    """Every test here runs with the dispatcher's C fast path and without it (the bookkeeping is the same)."""
    return server_both_paths


# Fields inferd reports with Redis 7's names and meaning; each must exist in redis-server's INFO too.
SHARED_FIELDS = {
    "server": ["redis_version", "redis_git_sha1", "redis_mode", "os", "arch_bits", "monotonic_clock",
               "multiplexing_api", "process_id", "process_supervised", "run_id", "tcp_port", "server_time_usec",
               "uptime_in_seconds", "uptime_in_days", "hz", "configured_hz", "executable", "config_file",
               "io_threads_active"],
    "clients": ["connected_clients", "cluster_connections", "maxclients", "client_recent_max_input_buffer",
                "client_recent_max_output_buffer", "blocked_clients", "tracking_clients",
                "clients_in_timeout_table"],
    "memory": ["used_memory", "used_memory_human", "used_memory_rss", "used_memory_rss_human", "used_memory_peak",
               "used_memory_peak_human", "used_memory_peak_perc", "total_system_memory",
               "total_system_memory_human", "maxmemory", "maxmemory_human", "maxmemory_policy",
               "mem_fragmentation_ratio", "mem_allocator"],
    "persistence": ["loading", "async_loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress",
                    "rdb_last_save_time", "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "rdb_saves",
                    "aof_enabled", "aof_rewrite_in_progress", "aof_last_write_status"],
    "stats": ["total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
              "total_net_input_bytes", "total_net_output_bytes", "instantaneous_input_kbps",
              "instantaneous_output_kbps", "rejected_connections", "expired_keys", "evicted_keys",
              "evicted_clients", "keyspace_hits", "keyspace_misses", "pubsub_channels", "pubsub_patterns",
              "unexpected_error_replies", "total_error_replies"],
    "replication": ["role", "connected_slaves", "master_failover_state", "master_replid", "master_replid2",
                    "master_repl_offset", "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                    "repl_backlog_first_byte_offset", "repl_backlog_histlen"],
    "cpu": ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children",
            "used_cpu_sys_main_thread", "used_cpu_user_main_thread"],
    "cluster": ["cluster_enabled"],
}


def raw_info(client: redis.Redis, section: str) -> str:
    """INFO's text as sent (redis-py's client parses it into a dict)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command("INFO", section)
        reply = conn.read_response()
    finally:
        client.connection_pool.release(conn)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


@pytest.mark.oracle
@pytest.mark.parametrize("section", sorted(SHARED_FIELDS))
def test_section_fields_match_redis(both, section):
    ours, theirs = both
    for client in (ours, theirs):
        fields = client.info(section)
        missing = [f for f in SHARED_FIELDS[section] if f not in fields]
        assert not missing, (client, missing)
    # Section titles, as Redis writes them ("# CPU", "# Server", ...)
    assert raw_info(ours, section).split("\r\n")[0] == raw_info(theirs, section).split("\r\n")[0]


@pytest.mark.oracle
def test_counters_move_like_redis(both):
    deltas = []
    for client in both:
        before = client.info("stats")
        client.ping()
        client.set("k", "v")
        client.get("k")
        client.get("missing")
        after = client.info("stats")
        deltas.append((after["total_commands_processed"] - before["total_commands_processed"],
                       after["total_net_input_bytes"] > before["total_net_input_bytes"],
                       after["total_net_output_bytes"] > before["total_net_output_bytes"]))
    assert deltas[0] == deltas[1] == (5, True, True)   # the first INFO counts once it has run, as in Redis


@pytest.mark.oracle
def test_keyspace_commandstats_errorstats_like_redis(both):
    views = []
    for client in both:
        client.config_resetstat()
        client.set("a", "1")
        client.set("b", "2", ex=100)
        client.execute_command("SELECT", "2")
        client.set("c", "x")
        with pytest.raises(redis.ResponseError):
            client.execute_command("INCR", "c")
        client.execute_command("SELECT", "0")
        keyspace = {db: (v["keys"], v["expires"]) for db, v in client.info("keyspace").items()}
        cmd = client.info("commandstats")
        errors = client.info("errorstats")
        views.append((keyspace, cmd["cmdstat_set"]["calls"], cmd["cmdstat_incr"]["failed_calls"],
                      cmd["cmdstat_select"]["calls"], errors))
    assert views[0] == views[1]
    assert views[0][0] == {"db0": (2, 1), "db2": (1, 0)}


@pytest.mark.oracle
def test_connected_clients_like_redis(both):
    counts = []
    for client in both:
        kwargs = client.connection_pool.connection_kwargs
        extra = [redis.Redis(host=kwargs["host"], port=kwargs["port"], protocol=2) for _ in range(3)]
        base = client.info("clients")["connected_clients"]
        for e in extra:
            e.ping()
        grown = client.info("clients")["connected_clients"]
        for e in extra:
            e.close()
        counts.append(grown - base)
    assert counts == [3, 3]


def test_instantaneous_ops_per_sec_moves(r):
    def busy() -> bool:
        pipe = r.pipeline(transaction=False)
        for _ in range(200):
            pipe.ping()
        pipe.execute()
        return r.info("stats")["instantaneous_ops_per_sec"] > 0
    wait_for(busy, "instantaneous_ops_per_sec to move")


def test_ai_section(r):
    ai = r.info("ai")
    assert ai["ai_backend_onnx_version"] == importlib.metadata.version("onnxruntime")
    assert "ONNX" in ai["ai_backends_available"]   # redis-py splits "ONNX,TORCH,..." into a list
    assert ai["ai_threads_per_queue"] == 1
    assert ai["ai_queues"] >= 1
    cpu = ai["ai_queue_CPU"]
    assert {"depth", "threads", "busy", "batches", "requests", "rows", "refused", "timed_out", "cancelled",
            "queue_wait_usec", "compute_usec"} <= set(cpu)
    assert cpu["threads"] == 1 and cpu["depth"] == 0
    for name in ("ai_models", "ai_scripts", "ai_tensors"):
        assert isinstance(ai[name], int)
    assert "ai_queues" in r.info("everything") and "ai_queues" in r.info("modules")
    assert "ai_queues" not in r.info()          # like Redis's module sections: not in the default set
    assert "# AI\r\n" in raw_info(r, "ai")


def test_ai_section_imports_no_framework():
    """Versions come from package metadata: building the section imports neither torch nor tensorflow."""
    code = ("import sys; from inferd import info_ai; "
            "v = [info_ai.backend_version(b) for b in info_ai.BACKEND_PACKAGES]; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules); "
            "print(v)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert importlib.metadata.version("torch") in out.stdout


def _lookups(client) -> tuple[int, int]:
    stats = client.info("stats")
    return int(stats["keyspace_hits"]), int(stats["keyspace_misses"])


def test_keyspace_hits_and_misses_move_like_redis(both):
    ours, theirs = both
    deltas = []
    for client in (ours, theirs):
        client.set("a", "1")
        client.hset("h", "f", "v")
        client.rpush("l", "x")
        before = _lookups(client)
        client.get("a")
        client.get("missing")
        client.mget("a", "missing", "a")
        client.hget("h", "f")
        client.hget("nohash", "f")
        client.lrange("l", 0, -1)
        client.incr("counter")          # a write: not a read lookup
        after = _lookups(client)
        deltas.append((after[0] - before[0], after[1] - before[1]))
    assert deltas[0] == deltas[1] == (5, 3)
