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
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64 if sys.maxsize > 2 ** 32 else 32), ("multiplexing_api", "uvloop"),
            ("python_version", platform.python_version()), ("process_id", os.getpid()), ("run_id", s.run_id),
            ("tcp_port", s.bound_port), ("server_time_usec", time.time_ns() // 1000),
            ("uptime_in_seconds", uptime), ("uptime_in_days", uptime // 86400), ("hz", s.config.hz),
            ("executable", sys.argv[0]), ("config_file", s.extensions.get("config_file", ""))]


def clients_section(s: ServerState) -> Section:
    """INFO clients."""
    return [("connected_clients", len(s.clients)), ("maxclients", s.config.maxclients),
            ("blocked_clients", s.extensions.get("blocked_clients", lambda: 0)()),
            ("tracking_clients", 0), ("clients_in_timeout_table", 0)]


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_section(s: ServerState) -> Section:
    """INFO memory (Python cannot account per value; RSS is the honest figure)."""
    rss = _rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return [("used_memory", rss), ("used_memory_human", _human(rss)), ("used_memory_rss", rss),
            ("used_memory_rss_human", _human(rss)), ("used_memory_peak", peak), ("used_memory_peak_human", _human(peak)),
            ("maxmemory", s.config.maxmemory), ("maxmemory_policy", "noeviction"), ("mem_allocator", "libc")]


def persistence_section(s: ServerState) -> Section:
    """INFO persistence (inferd keeps its data in memory only)."""
    return [("loading", 0), ("async_loading", 0), ("rdb_changes_since_last_save", 0), ("rdb_bgsave_in_progress", 0),
            ("rdb_last_save_time", int(s.stats.started_at)), ("rdb_last_bgsave_status", "ok"),
            ("aof_enabled", 0), ("aof_rewrite_in_progress", 0)]


def stats_section(s: ServerState) -> Section:
    """INFO stats."""
    st = s.stats
    return [("total_connections_received", st.connections_received),
            ("total_commands_processed", s.dispatcher.commands_processed() if s.dispatcher else 0), ("instantaneous_ops_per_sec", 0),
            ("total_net_input_bytes", st.net_input_bytes), ("total_net_output_bytes", st.net_output_bytes),
            ("rejected_connections", st.rejected_connections), ("expired_keys", st.expired_keys),
            ("evicted_keys", 0), ("keyspace_hits", st.keyspace_hits), ("keyspace_misses", st.keyspace_misses),
            ("pubsub_channels", 0), ("pubsub_patterns", 0), ("total_error_replies", st.total_error_replies)]


def cpu_section(s: ServerState) -> Section:
    """INFO cpu."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return [("used_cpu_sys", f"{ru.ru_stime:.6f}"), ("used_cpu_user", f"{ru.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{ch.ru_stime:.6f}"), ("used_cpu_user_children", f"{ch.ru_utime:.6f}")]


def replication_section(s: ServerState) -> Section:
    """INFO replication (inferd runs standalone)."""
    return [("role", "master"), ("connected_slaves", 0)]


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
    """The INFO text for the requested section names (``default``, ``all``, ``everything`` or names)."""
    sections = all_sections(s)
    names: list[str] = []
    for word in requested or ["default"]:
        word = word.lower()
        if word == "default":
            names += [n for n in DEFAULT_SECTIONS if n in sections] + [n for n in sections if n not in BUILTIN_SECTIONS]
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
        parts.append(f"# {name.capitalize() if name not in ('commandstats', 'errorstats') else _title(name)}\r\n"
                     f"{lines}")
    return "\r\n".join(parts)


def _title(name: str) -> str:
    return {"commandstats": "Commandstats", "errorstats": "Errorstats"}[name]


def _human(n: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024:
            return f"{n:.2f}{unit}" if unit != "B" else f"{n}B"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.2f}T"
