"""INFO: one builder per section, each returning ``(name, [(field, value), ...])`` from live server state.

Subsystems (the scheduler, the model store) add sections through ``ServerState.extensions['info_sections']``.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from inferd import __version__
from inferd.commands.context import ServerState
from inferd.commands.table import unique_commands

Section = list[tuple[str, Any]]
REDIS_COMPAT_VERSION = "7.0.0"


def server_section(s: ServerState) -> Section:
    """INFO server."""
    uptime = int(time.monotonic() - s.stats.started_monotonic)
    return [("redis_version", REDIS_COMPAT_VERSION), ("inferd_version", __version__), ("redis_mode", "standalone"),
            ("redis_git_sha1", "00000000"), ("redis_git_dirty", 0),
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64 if sys.maxsize > 2 ** 32 else 32), ("monotonic_clock", "POSIX clock_gettime"),
            ("multiplexing_api", "uvloop"), ("python_version", platform.python_version()),
            ("process_id", os.getpid()), ("process_supervised", "systemd" if os.environ.get("NOTIFY_SOCKET") else "no"),
            ("run_id", s.run_id), ("tcp_port", s.bound_port), ("server_time_usec", time.time_ns() // 1000),
            ("uptime_in_seconds", uptime), ("uptime_in_days", uptime // 86400), ("hz", s.config.hz),
            ("configured_hz", s.config.hz), ("executable", os.path.abspath(sys.argv[0]) if sys.argv[0] else ""),
            ("config_file", s.extensions.get("config_file", "")), ("io_threads_active", 0)]


def clients_section(s: ServerState) -> Section:
    """INFO clients."""
    blocked = s.extensions.get("blocked_clients")
    waiting = blocked() if blocked is not None else sum(1 for c in list(s.clients.values()) if c.in_flight)
    return [("connected_clients", len(s.clients)), ("cluster_connections", 0), ("maxclients", s.config.maxclients),
            ("client_recent_max_input_buffer", 0), ("client_recent_max_output_buffer", 0),
            ("blocked_clients", waiting), ("tracking_clients", 0), ("clients_in_timeout_table", 0)]


def rss_bytes() -> int:
    """The process's resident set size in bytes (``/proc/self/statm``; peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_section(s: ServerState) -> Section:
    """INFO memory (Python cannot account per value; RSS is the honest figure)."""
    rss = rss_bytes()
    peak = max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    total = _total_system_memory()
    return [("used_memory", rss), ("used_memory_human", _human(rss)), ("used_memory_rss", rss),
            ("used_memory_rss_human", _human(rss)), ("used_memory_peak", peak),
            ("used_memory_peak_human", _human(peak)), ("used_memory_peak_perc", f"{100.0 * rss / peak:.2f}%"),
            ("total_system_memory", total),
            ("total_system_memory_human", _human(total)), ("maxmemory", s.config.maxmemory),
            ("maxmemory_human", _human(s.config.maxmemory)), ("maxmemory_policy", "noeviction"),
            ("mem_fragmentation_ratio", "1.00"), ("mem_allocator", "libc")]


def _total_system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def persistence_section(s: ServerState) -> Section:
    """INFO persistence: snapshots (inferd.persistence) and the append-only file (inferd.appendonly)."""
    snaps = s.extensions.get("snapshots")
    child = snaps is not None and snaps.child is not None
    current = round(time.monotonic() - snaps.child_started) if snaps is not None and child else -1
    return [("loading", 0), ("async_loading", 0), ("rdb_changes_since_last_save", s.stats.dirty),
            ("rdb_bgsave_in_progress", int(child)),
            ("rdb_last_save_time", int(snaps.last_save if snaps is not None else s.stats.started_at)),
            ("rdb_last_bgsave_status", snaps.last_status if snaps is not None else "ok"),
            ("rdb_last_bgsave_time_sec", snaps.last_duration_s if snaps is not None else -1),
            ("rdb_current_bgsave_time_sec", current), ("rdb_saves", snaps.saves if snaps is not None else 0),
            *_aof_fields(s), ("module_fork_in_progress", 0)]


def _aof_fields(s: ServerState) -> Section:
    appendonly = s.extensions.get("appendonly")
    if appendonly is not None:
        return appendonly.info()   # type: ignore[no-any-return]
    return [("aof_enabled", 0), ("aof_rewrite_in_progress", 0), ("aof_rewrite_scheduled", 0),
            ("aof_last_rewrite_time_sec", -1), ("aof_current_rewrite_time_sec", -1),
            ("aof_last_bgrewrite_status", "ok"), ("aof_rewrites", 0), ("aof_last_write_status", "ok")]


def stats_section(s: ServerState) -> Section:
    """INFO stats."""
    st = s.stats
    rates = s.extensions.get("instantaneous")   # inferd.info_ai.RateSampler, started by the metrics subsystem
    ops, kbps_in, kbps_out = rates.rates() if rates is not None else (0, 0.0, 0.0)
    return [("total_connections_received", st.connections_received),
            ("total_commands_processed", s.dispatcher.commands_processed() if s.dispatcher else 0),
            ("instantaneous_ops_per_sec", ops), ("total_net_input_bytes", st.net_input_bytes),
            ("total_net_output_bytes", st.net_output_bytes), ("instantaneous_input_kbps", f"{kbps_in:.2f}"),
            ("instantaneous_output_kbps", f"{kbps_out:.2f}"), ("rejected_connections", st.rejected_connections),
            ("expired_keys", st.expired_keys), ("evicted_keys", 0), ("evicted_clients", 0),
            ("keyspace_hits", st.keyspace_hits), ("keyspace_misses", st.keyspace_misses), ("pubsub_channels", 0),
            ("pubsub_patterns", 0), ("unexpected_error_replies", 0), ("total_error_replies", st.total_error_replies)]


def cpu_section(s: ServerState) -> Section:
    """INFO cpu."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: Section = [("used_cpu_sys", f"{ru.ru_stime:.6f}"), ("used_cpu_user", f"{ru.ru_utime:.6f}"),
                    ("used_cpu_sys_children", f"{ch.ru_stime:.6f}"), ("used_cpu_user_children", f"{ch.ru_utime:.6f}")]
    if hasattr(resource, "RUSAGE_THREAD"):   # INFO runs on the event loop thread: that is the main thread's share
        th = resource.getrusage(resource.RUSAGE_THREAD)
        out += [("used_cpu_sys_main_thread", f"{th.ru_stime:.6f}"), ("used_cpu_user_main_thread", f"{th.ru_utime:.6f}")]
    return out


def replication_section(s: ServerState) -> Section:
    """INFO replication (inferd runs standalone)."""
    return [("role", "master"), ("connected_slaves", 0), ("master_failover_state", "no-failover"),
            ("master_replid", s.run_id), ("master_replid2", "0" * 40), ("master_repl_offset", 0),
            ("second_repl_offset", -1), ("repl_backlog_active", 0), ("repl_backlog_size", 0),
            ("repl_backlog_first_byte_offset", 0), ("repl_backlog_histlen", 0)]


def commandstats_section(s: ServerState) -> Section:
    """INFO commandstats: one line per command (and subcommand) that was called."""
    assert s.dispatcher is not None
    out: Section = []
    for cmd in unique_commands(s.dispatcher.table):
        for c in [cmd, *cmd.subcommands.values()]:
            st = c.stats
            if st.calls or st.rejected_calls:
                per = st.usec / st.calls if st.calls else 0.0
                out.append((f"cmdstat_{c.name}", f"calls={st.calls},usec={st.usec},usec_per_call={per:.2f},"
                                                  f"rejected_calls={st.rejected_calls},failed_calls={st.failed_calls}"))
    return out


def errorstats_section(s: ServerState) -> Section:
    """INFO errorstats."""
    return [(f"errorstat_{prefix}", f"count={n}") for prefix, n in sorted(s.stats.error_replies.items())]


def cluster_section(s: ServerState) -> Section:
    """INFO cluster."""
    return [("cluster_enabled", 0)]


def keyspace_section(s: ServerState) -> Section:
    """INFO keyspace: one line per non-empty database."""
    return [(f"db{db.index}", f"keys={len(db.data)},expires={len(db.expires)},avg_ttl=0")
            for db in s.keyspace.dbs if db.data]


BUILTIN_SECTIONS: dict[str, Callable[[ServerState], Section]] = {
    "server": server_section, "clients": clients_section, "memory": memory_section,
    "persistence": persistence_section, "stats": stats_section, "replication": replication_section,
    "cpu": cpu_section, "commandstats": commandstats_section, "errorstats": errorstats_section,
    "cluster": cluster_section, "keyspace": keyspace_section,
}
DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "errorstats",
                    "cluster", "keyspace")


def all_sections(s: ServerState) -> dict[str, Callable[[ServerState], Section]]:
    """Built-in sections plus those subsystems registered (e.g. ``ai``)."""
    return {**BUILTIN_SECTIONS, **s.extensions.get("info_sections", {})}


def render(s: ServerState, requested: list[str]) -> str:
    """The INFO text for the requested section names (``default``, ``all``, ``everything``, ``modules`` or names).

    Sections that subsystems register (``ai``) are not in the default set, as Redis keeps module sections out of
    it: ``INFO ai``, ``INFO modules`` and ``INFO everything`` show them (``ai`` counts AI values over the keyspace).
    """
    sections = all_sections(s)
    names: list[str] = []
    for word in requested or ["default"]:
        word = word.lower()
        if word == "default":
            names += [n for n in DEFAULT_SECTIONS if n in sections]
        elif word == "modules":
            names += [n for n in sections if n not in BUILTIN_SECTIONS]
        elif word in ("all", "everything"):
            names += list(sections)
        elif word in sections:
            names.append(word)
    seen: set[str] = set()
    parts: list[str] = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        lines = "".join(f"{k}:{v}\r\n" for k, v in sections[name](s))
        parts.append(f"# {_title(name)}\r\n{lines}")
    return "\r\n".join(parts)


def _title(name: str) -> str:
    return _TITLES.get(name, name.capitalize())


_TITLES = {"cpu": "CPU", "commandstats": "Commandstats", "errorstats": "Errorstats", "ai": "AI"}


def _human(n: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024:
            return f"{n:.2f}{unit}" if unit != "B" else f"{n}B"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.2f}T"
