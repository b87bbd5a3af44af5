"""The command table: one :class:`Command` per name, declared by each command module and merged explicitly."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, list[bytes]], Any]

# Flags understood by the dispatcher.
WRITE = "write"
READONLY = "readonly"
DENYOOM = "denyoom"
ADMIN = "admin"
NOAUTH = "no-auth"          # allowed before AUTH
NOMULTI = "no-multi"        # runs at once even inside MULTI (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET)
DENYMULTI = "deny-multi"    # refused inside MULTI, which EXEC then aborts (CLIENT REPLY would corrupt EXEC's reply)
RUNS_MODEL = "runs-model"   # may wait on a device queue: refused inside MULTI with RedisAI's text
WAITS = "waits"             # the handler may return a Future (e.g. a model loading off the loop): refused in EXEC
FAST = "fast"
LOADING = "loading"
STALE = "stale"
PUBSUB = "pubsub"
NOSCRIPT = "noscript"


@dataclass(slots=True)
class CommandStats:
    """Per-command counters for INFO commandstats."""

    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0


@dataclass(frozen=True, slots=True)
class Command:
    """One command: what the dispatcher needs to check and call it, and what COMMAND/COMMAND DOCS report."""

    name: str
    handler: Handler | None
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    step: int
    group: str
    summary: str
    arguments: str = ""
    since: str = "1.0.0"
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    stats: CommandStats = field(default_factory=CommandStats, compare=False)
    # Flags the dispatcher tests on every call, precomputed from ``flags``.
    is_write: bool = False
    no_auth: bool = False
    no_multi: bool = False
    deny_multi: bool = False
    counts_hits: bool = False     # a read-only command with key arguments: INFO keyspace_hits/misses
    waits: bool = False           # may return a Future: cannot run inside EXEC

    def arity_name(self, typed: bytes) -> str:
        """The name in an arity error: as typed for AI.* commands (RedisAI), the registered name otherwise."""
        if self.name.startswith("ai."):
            return typed.decode("utf-8", "replace")
        return self.name

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of a call, from the table's key positions."""
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key > 0 else len(argv) + self.last_key
        return argv[self.first_key:last + 1:self.step]


def command(name: str, handler: Handler | None, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0),
            group: str = "generic", summary: str = "", arguments: str = "", since: str = "1.0.0",
            subcommands: Iterable[Command] = ()) -> Command:
    """Build a :class:`Command`; ``flags`` is a space-separated list, ``keys`` is (first, last, step)."""
    subs = {c.name.split("|", 1)[1].encode(): c for c in subcommands}
    flag_set = frozenset(flags.split())
    return Command(name=name, handler=handler, arity=arity, flags=flag_set, first_key=keys[0],
                   last_key=keys[1], step=keys[2], group=group, summary=summary, arguments=arguments, since=since,
                   subcommands=subs, is_write=WRITE in flag_set, no_auth=NOAUTH in flag_set,
                   no_multi=NOMULTI in flag_set, deny_multi=DENYMULTI in flag_set,
                   counts_hits=READONLY in flag_set and keys[0] > 0,
                   waits=WAITS in flag_set or RUNS_MODEL in flag_set)


def keyed_commands(group: str, since: str = "1.0.0") -> Callable[..., Command]:
    """The table helper of a data-type module: ``(name, handler, arity, flags, summary, arguments[, since][, keys])``.

    Commands of ``group`` whose key is argument 1 unless ``keys`` says otherwise; ``since`` is the group's usual
    version.
    """
    group_since = since

    def build(name: str, handler: Handler, arity: int, flags: str, summary: str, arguments: str,
              since: str = group_since, keys: tuple[int, int, int] = (1, 1, 1)) -> Command:
        return command(name, handler, arity, flags, keys=keys, group=group, summary=summary, arguments=arguments,
                       since=since)
    return build


def merge_tables(*tables: Iterable[Command]) -> dict[bytes, Command]:
    """Merge the modules' tables into one lookup keyed by lower- and upper-case name; refuses duplicates."""
    merged: dict[bytes, Command] = {}
    for table in tables:
        for cmd in table:
            key = cmd.name.encode()
            if key in merged:
                raise ValueError(f"command {cmd.name!r} is declared twice")
            merged[key] = cmd
    for key, cmd in list(merged.items()):
        merged.setdefault(key.upper(), cmd)
    return merged


def unique_commands(table: dict[bytes, Command]) -> list[Command]:
    """Each command once, in name order."""
    return sorted({id(c): c for c in table.values()}.values(), key=lambda c: c.name)
