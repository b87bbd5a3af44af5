"""One table of options, read from a TOML file, then ``INFERD_*`` environment, then CLI flags.

The same table serves ``CONFIG GET``/``CONFIG SET`` and ``--help``; the result is a frozen :class:`Config`.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option: its Redis-style name, type, default, bounds and whether CONFIG SET may change it."""

    name: str
    kind: type
    default: Any
    help: str
    runtime: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[str], str] | None = None   # a text option's own validation: the value to keep, or ConfigError

    @property
    def field(self) -> str:
        """The attribute name on :class:`Config` (dashes become underscores)."""
        return self.name.replace("-", "_")


MB = 1024 * 1024


def save_points(text: str) -> list[tuple[int, int]]:
    """The ``save`` option's points: ``"seconds changes [seconds changes ...]"`` as (seconds, changes) pairs."""
    words = text.split()
    if len(words) % 2 or not all(w.isdigit() for w in words):
        raise ConfigError("Invalid save parameters")
    return [(int(words[i]), int(words[i + 1])) for i in range(0, len(words), 2)]


def _check_save(text: str) -> str:
    return " ".join(f"{s} {c}" for s, c in save_points(text))


def _check_dir(text: str) -> str:
    if text and not os.path.isdir(text):
        raise ConfigError(f"No such directory: {text}")
    return text


def _file_name(option: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not text or os.sep in text:
            raise ConfigError(f"{option} can't be a path, just a filename")
        return text
    return check


OPTIONS: tuple[Option, ...] = (
    Option("bind", str, "127.0.0.1", "address to listen on"),
    Option("port", int, 6379, "TCP port (0 picks a free port)", minimum=0, maximum=65535),
    Option("unixsocket", str, "", "also listen on this Unix socket path"),
    Option("databases", int, 16, "number of logical databases", minimum=1, maximum=1 << 20),
    Option("fastpath", str, "yes", "parse reads, run plain PING, GET, SET, HGET, HSET, LPUSH, RPUSH, LPOP, RPOP, SADD, "
           "SPOP, MGET, MSET, INCR, DECR, INCRBY, DECRBY, ZADD, ZPOPMIN and ZPOPMAX, encode arrays of plain values "
           "and flush replies in C where that was built at install (no: all in Python; same behaviour)",
           choices=("yes", "no")),
    Option("requirepass", str, "", "password for AUTH (empty: no authentication)", runtime=True),
    Option("maxclients", int, 10000, "maximum simultaneous clients", runtime=True, minimum=1),
    Option("timeout", int, 0, "close idle clients after this many seconds (0: never)", runtime=True, minimum=0),
    Option("proto-max-bulk-len", int, 512 * MB, "largest bulk string a client may send", runtime=True,
           minimum=1024 * 1024),
    Option("client-query-buffer-limit", int, 1024 * MB, "largest pending request of one client", runtime=True,
           minimum=1024 * 1024),
    Option("client-output-buffer-limit-bytes", int, 4 * MB,
           "stop reading a client whose unsent replies pass this many bytes (new connections)", runtime=True,
           minimum=1024),
    Option("hz", int, 10, "active expiry cycles per second", runtime=True, minimum=1, maximum=500),
    Option("loglevel", str, "notice", "log level", runtime=True,
           choices=("debug", "verbose", "notice", "warning")),
    Option("logfile", str, "", "log to this file (empty: standard error)"),
    Option("slowlog-log-slower-than", int, 10000, "log commands slower than this many microseconds (-1: off)",
           runtime=True, minimum=-1),
    Option("slowlog-max-len", int, 128, "entries kept in the slow log", runtime=True, minimum=0),
    Option("metrics-port", int, 0, "Prometheus /metrics, /healthz, /readyz port (0: off)", minimum=0, maximum=65535),
    Option("metrics-bind", str, "127.0.0.1", "address of the metrics endpoint"),
    Option("threads-per-queue", int, 1, "worker threads per device queue", minimum=1, maximum=256),
    Option("intra-op-parallelism", int, 0, "threads inside one backend op (0: backend default)", minimum=0),
    Option("inter-op-parallelism", int, 0, "threads across backend ops (0: backend default)", minimum=0),
    Option("intra-op-spin-us", int, 5, "ONNX Runtime: µs an idle intra-op pool thread spins before it sleeps (0: "
           "sleep at once; models stored after a change get the new value)", runtime=True, minimum=0,
           maximum=100_000),
    Option("light-load-spin-us", int, 100, "ONNX Runtime: the same for a second session of each CPU model up to "
           "light-load-max-model-bytes (when ops run on more than one thread) that serves a lightly loaded queue's "
           "batches (while recent ones average at most 2.5 rows), keeping a core awake between requests (0: no "
           "second session; models stored after a change get the new value)", runtime=True, minimum=0,
           maximum=100_000),
    Option("light-load-max-model-bytes", int, 128 * MB, "ONNX Runtime: the largest model (bytes of its blob) that "
           "gets the light-load session, and the one-thread session of side batches (side-batch-min-row-us; built "
           "at the model's first side batch): each holds its weights once more (models stored after a change get "
           "the new value)", runtime=True, minimum=0),
    Option("light-load-intra-op-parallelism", int, 0, "ONNX Runtime: threads inside one op of the light-load "
           "session (0: as intra-op-parallelism). With threads-per-queue N and intra-op-parallelism 1, batches under "
           "load run side by side on one thread each while a lone request still runs on several (models stored "
           "after a change get the new value)", runtime=True, minimum=0),
    Option("model-chunk-size", int, 511 * MB, "MODELGET reply chunk size in bytes", runtime=True, minimum=1),
    Option("model-execution-timeout", int, 5000, "ONNX runs longer than this many ms are stopped (models stored "
           "after a change get the new limit)", runtime=True, minimum=1000),
    Option("queue-max-depth", int, 10000, "requests a device queue holds before refusing new ones", runtime=True,
           minimum=1),
    Option("inline-run-max-us", int, 500, "a batch of model runs runs on the event loop itself, without the thread "
           "hand-offs of a worker, when the model's runs of that batch size are expected to take at most this many "
           "µs (measured per power-of-two size of the batch's inputs in elements; a model's first run always goes to a "
           "worker; 0: every run on "
           "the queue's workers)",
           runtime=True, minimum=0, maximum=100_000),
    Option("lone-client-run-max-us", int, 2000, "while a single client is active (the server's other connections "
           "sent nothing for a second and wait on no model run), a lone request of that client (alone on its queue) "
           "runs on the event loop when its model's run is expected to take at most this many µs, also above "
           "inline-run-max-us: no other client waits for the loop, and a worker's thread hand-offs slow the run "
           "itself (0: inline-run-max-us alone decides)", runtime=True, minimum=0,
           maximum=100_000),
    Option("onnx-run-thread", str, "yes", "ONNX Runtime: a batch of a CPU model that would run on the event loop "
           "(inline-run-max-us) runs instead on the device queue's native thread, without the GIL, while the loop "
           "reads and answers other requests, once the queue's batches are large (onnx-run-thread-min-rows); and a "
           "batch that runs beside another (side-batch-min-row-us) runs on a native thread of its own rather than on a "
           "worker. The model's weights are held once more, up to light-load-max-model-bytes (models stored after a "
           "change get the new value)", runtime=True, choices=("yes", "no")),
    Option("onnx-run-thread-min-rows", int, 6, "onnx-run-thread: batches go to the native thread while the device "
           "queue's recent batches average at least this many rows and none of its batches is on a worker: at fewer "
           "the loop is not the bottleneck and the thread's wake-ups only delay the replies, and beside a worker's "
           "batch the thread takes its cores", runtime=True, minimum=0, maximum=100_000),
    Option("onnx-run-thread-spin-us", int, 100, "onnx-run-thread: µs the native thread waits awake for the next "
           "batch after one is done before it sleeps (a sleeping thread's wake-up delays the batch; 0: sleep at once)",
           runtime=True, minimum=0, maximum=100_000),
    Option("side-batch-min-row-us", int, 50, "while every worker of a device queue is busy, a batch of a model "
           "whose full batches (BATCHSIZE rows) are expected to take at least this many µs per row runs beside them "
           "on the queue's side worker, and batches run side by side on one intra-op thread each (ONNX models on the "
           "CPU: compute-bound models, whose backend rather than the event loop limits throughput; 0: never)",
           runtime=True, minimum=0),
    Option("backends-path", str, "", "accepted for RedisAI compatibility; backends come from installed packages",
           runtime=True),
    Option("save", str, "", "snapshot points 'seconds changes ...': a background save starts once that many seconds "
           "have passed since the last save with at least that many changes (empty: only SAVE, BGSAVE and "
           "SHUTDOWN SAVE write snapshots)", runtime=True, check=_check_save),
    Option("dir", str, "", "folder of the snapshot file (empty: the working directory); a snapshot there is loaded "
           "at start-up", runtime=True, check=_check_dir),
    Option("dbfilename", str, "dump.inferd", "snapshot file name, in 'dir'", runtime=True,
           check=_file_name("dbfilename")),
    Option("appendonly", str, "no", "keep an append-only file of every change in 'dir', written before each reply, "
           "and load it at start-up instead of the snapshot (CONFIG SET yes writes the file from the keyspace in a "
           "background rewrite)", runtime=True,
           choices=("yes", "no")),
    Option("appendfilename", str, "appendonly.aof", "append-only file name, in 'dir'",
           check=_file_name("appendfilename")),
    Option("appendfsync", str, "everysec", "when the append-only file is fsynced: always (before each reply), "
           "everysec (once a second, in a thread) or no (left to the OS)", runtime=True,
           choices=("always", "everysec", "no")),
    Option("auto-aof-rewrite-percentage", int, 100, "rewrite the append-only file once it has grown this many "
           "percent since its last rewrite (0: never by itself)", runtime=True, minimum=0),
    Option("auto-aof-rewrite-min-size", int, 64 * MB, "the automatic rewrite waits until the append-only file is at "
           "least this many bytes", runtime=True, minimum=0),
    Option("maxmemory", int, 0, "compatibility: reported, not enforced", runtime=True, minimum=0),
)
OPTIONS_BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


def _make_config_class() -> type:
    fields = [(o.field, o.kind, dataclasses.field(default=o.default)) for o in OPTIONS]
    fields.append(("preload", tuple, dataclasses.field(default=())))
    return dataclasses.make_dataclass("Config", fields, frozen=True, slots=True)


Config: Any = _make_config_class()
Config.__doc__ = "The complete, frozen server configuration (one attribute per :data:`OPTIONS` entry, plus preload)."


class ConfigError(ValueError):
    """A bad option name or value; the text is fit for a log line or CONFIG SET's error."""


def convert(option: Option, raw: object) -> Any:
    """Convert ``raw`` (text from a file, env, CLI or CONFIG SET) to the option's type, checking its bounds."""
    if option.kind is int:
        value: Any = _to_int(option, raw)
        if option.minimum is not None and value < option.minimum:
            raise ConfigError(f"argument must be between {int(option.minimum)} and "
                              f"{int(option.maximum) if option.maximum is not None else 'inf'} inclusive")
        if option.maximum is not None and value > option.maximum:
            raise ConfigError(f"argument must be between {int(option.minimum or 0)} and {int(option.maximum)} "
                              "inclusive")
        return value
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    if option.choices and value.lower() not in option.choices:
        raise ConfigError("argument(s) must be one of the following: " + ", ".join(option.choices))
    if option.check is not None:
        return option.check(value)
    return value.lower() if option.choices else value


_UNITS = {"k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3}


def _to_int(option: Option, raw: object) -> int:
    if isinstance(raw, bool):
        raise ConfigError("argument couldn't be parsed into an integer")
    if isinstance(raw, int):
        return raw
    text = (raw.decode() if isinstance(raw, bytes) else str(raw)).strip().lower()
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)].lstrip("-").isdigit():
            return int(text[: -len(suffix)]) * _UNITS[suffix]
    try:
        return int(text)
    except ValueError:
        raise ConfigError("argument couldn't be parsed into an integer") from None


def load(file: str | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, object] | None = None) -> Any:
    """Build the Config: defaults < TOML ``file`` < ``INFERD_*`` variables in ``env`` < ``overrides`` (CLI)."""
    values: dict[str, Any] = {}
    preload: tuple[dict[str, Any], ...] = ()
    if file:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
        preload = _preload_entries(data.pop("model", []), data.pop("data", []))
        _apply(values, data, f"config file {file}")
    env = os.environ if env is None else env
    from_env = {k[len("INFERD_"):].lower(): v for k, v in env.items() if k.startswith("INFERD_")}
    _apply(values, from_env, "environment")
    _apply(values, dict(overrides or {}), "command line")
    config = Config(preload=preload, **values)
    if config.metrics_port and config.metrics_port == config.port:
        raise ConfigError(f"metrics-port {config.port} is the Redis port: give the metrics endpoint its own")
    return config


def _apply(values: dict[str, Any], source: Mapping[str, object], where: str) -> None:
    for key, raw in source.items():
        name = key.replace("_", "-")
        option = OPTIONS_BY_NAME.get(name)
        if option is None:
            raise ConfigError(f"{where}: unknown option '{key}'")
        try:
            values[option.field] = convert(option, raw)
        except ConfigError as exc:
            raise ConfigError(f"{where}: option '{name}': {exc}") from None


def _preload_entries(models: object, data: object) -> tuple[dict[str, Any], ...]:
    if not isinstance(models, list) or not isinstance(data, list):
        raise ConfigError("config file: [[model]] and [[data]] must be arrays of tables")
    return tuple({"kind": "model", **m} for m in models) + tuple({"kind": "data", **d} for d in data)


def get_matching(config: Any, pattern: str) -> dict[str, str]:
    """CONFIG GET: every option whose name matches the glob ``pattern``, as text."""
    out: dict[str, str] = {}
    for option in OPTIONS:
        if fnmatch.fnmatchcase(option.name, pattern.lower()):
            out[option.name] = str(getattr(config, option.field))
    return out


def with_values(config: Any, changes: Mapping[str, object]) -> Any:
    """CONFIG SET: a new Config with ``changes`` applied (all or nothing); raises ConfigError naming the option."""
    updates: dict[str, Any] = {}
    for name, raw in changes.items():
        option = OPTIONS_BY_NAME.get(name.lower())
        if option is None or not option.runtime:
            raise ConfigError(name)
        updates[option.field] = convert(option, raw)
    return dataclasses.replace(config, **updates)
