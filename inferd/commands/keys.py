"""Generic key commands: DEL, EXISTS, TYPE, expiry, KEYS, SCAN, RENAME, COPY, OBJECT, MEMORY USAGE, SWAPDB..."""
from __future__ import annotations

import sys
from collections import deque
from typing import Any

from inferd import errors
from inferd.commands.args import parse_int, parse_int32
from inferd.commands.context import Client
from inferd.commands.scanning import KeySnapshot, compile_glob, parse_cursor, parse_scan_options
from inferd.commands.table import command
from inferd.errors import CommandError
from inferd.resp.encoder import OK, Status
from inferd.store.keyspace import Database, now_ms, type_name
from inferd.store.zset import ZSet

_LLONG_MAX = (1 << 63) - 1
_LLONG_MIN = -(1 << 63)
_INT_MAX = (1 << 31) - 1
_SNAPSHOTS = "scan-snapshots"


# ---- existence and deletion -----------------------------------------------------------------------------
def del_(c: Client, argv: list[bytes]) -> int:
    """DEL key [key ...]: the number of keys removed (UNLINK too)."""
    db = c.db
    delete = db.delete
    if not db.watched:
        return sum(1 for key in argv[1:] if delete(key))
    deleted = [key for key in argv[1:] if delete(key)]
    for key in deleted:   # only these are signalled to watchers, as Redis does (not every key named)
        db.touch(key)
    c.unchanged = True    # nothing more for the dispatcher to signal
    return len(deleted)


def exists(c: Client, argv: list[bytes]) -> int:
    """EXISTS key [key ...]: how many of the keys exist (a key named twice counts twice)."""
    get = c.db.get
    return sum(1 for key in argv[1:] if get(key) is not None)


def type_(c: Client, argv: list[bytes]) -> Status:
    """TYPE key: string, list, set, zset, hash, none, or an AI type name."""
    value = c.db.get(argv[1])
    return Status(b"none" if value is None else type_name(value).encode())


# ---- expiry ---------------------------------------------------------------------------------------------
def _expire_flags(argv: list[bytes]) -> set[bytes]:
    flags: set[bytes] = set()
    for raw in argv[3:]:
        word = raw.upper()
        if word not in (b"NX", b"XX", b"GT", b"LT"):
            raise CommandError(errors.UNSUPPORTED_OPTION.format(raw.decode("utf-8", "replace")))
        flags.add(word)
    if b"NX" in flags and len(flags) > 1:
        raise CommandError(errors.EXPIRE_NX_AND_OTHERS)
    if b"GT" in flags and b"LT" in flags:
        raise CommandError(errors.EXPIRE_GT_AND_LT)
    return flags


def _expire_generic(c: Client, argv: list[bytes], unit_ms: int, relative: bool) -> int:
    flags = _expire_flags(argv)
    when = parse_int(argv[2])
    invalid = CommandError(errors.INVALID_EXPIRE.format(argv[0].decode("utf-8", "replace").lower()))
    when *= unit_ms
    if when > _LLONG_MAX or when < _LLONG_MIN:
        raise invalid
    base = now_ms() if relative else 0
    if when > _LLONG_MAX - base:
        raise invalid
    when += base
    db = c.db
    key = argv[1]
    if db.get(key) is None:
        return 0
    if flags:
        current = db.expires.get(key, -1)
        if (b"NX" in flags and current != -1) or (b"XX" in flags and current == -1) or (
                b"GT" in flags and (current == -1 or when <= current)) or (
                b"LT" in flags and current != -1 and when >= current):
            return 0
    db.set_expiry(key, when)
    return 1


def expire(c: Client, argv: list[bytes]) -> int:
    """EXPIRE key seconds [NX|XX|GT|LT]."""
    return _expire_generic(c, argv, 1000, True)


def pexpire(c: Client, argv: list[bytes]) -> int:
    """PEXPIRE key milliseconds [NX|XX|GT|LT]."""
    return _expire_generic(c, argv, 1, True)


def expireat(c: Client, argv: list[bytes]) -> int:
    """EXPIREAT key unix-time-seconds [NX|XX|GT|LT]."""
    return _expire_generic(c, argv, 1000, False)


def pexpireat(c: Client, argv: list[bytes]) -> int:
    """PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]."""
    return _expire_generic(c, argv, 1, False)


def ttl(c: Client, argv: list[bytes]) -> int:
    """TTL key: seconds left (rounded), -1 without expiry, -2 if missing."""
    left = c.db.ttl_ms(argv[1])
    return left if left < 0 else (left + 500) // 1000


def pttl(c: Client, argv: list[bytes]) -> int:
    """PTTL key: milliseconds left, -1 without expiry, -2 if missing."""
    return c.db.ttl_ms(argv[1])


def _expire_time(c: Client, key: bytes) -> int:
    if c.db.get(key) is None:
        return -2
    return c.db.expires.get(key, -1)


def expiretime(c: Client, argv: list[bytes]) -> int:
    """EXPIRETIME key: the absolute Unix time in seconds at which the key expires."""
    when = _expire_time(c, argv[1])
    return when if when < 0 else when // 1000


def pexpiretime(c: Client, argv: list[bytes]) -> int:
    """PEXPIRETIME key: the absolute Unix time in milliseconds at which the key expires."""
    return _expire_time(c, argv[1])


def persist(c: Client, argv: list[bytes]) -> int:
    """PERSIST key: 1 if a TTL was removed."""
    return int(c.db.persist(argv[1]))


# ---- iteration ------------------------------------------------------------------------------------------
def keys(c: Client, argv: list[bytes]) -> list[bytes]:
    """KEYS pattern (skips expired keys without deleting them, as Redis does)."""
    match = compile_glob(argv[1])
    db = c.db
    now = now_ms()
    expires = db.expires
    return [k for k in db.data if match(k) and not (k in expires and expires[k] <= now)]


def scan(c: Client, argv: list[bytes]) -> list[Any]:
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] (see :mod:`inferd.commands.scanning`)."""
    cursor = parse_cursor(argv[1])
    match, count, kind = parse_scan_options(argv, 2, allow_type=True)
    db = c.db
    snapshots: dict[int, KeySnapshot] = c.server.extensions.setdefault(_SNAPSHOTS, {})
    snapshot = snapshots.get(db.index)
    if snapshot is None or cursor == 0:
        snapshot = snapshots[db.index] = KeySnapshot(db.data)
    next_cursor, found = snapshot.step(cursor, count)
    out: list[bytes] = []
    for key in found:
        value = db.get(key)
        if value is None or not match(key):
            continue
        if kind is not None and type_name(value).lower() != kind.decode("utf-8", "replace"):
            continue
        out.append(key)
    return [b"%d" % next_cursor, out]


def randomkey(c: Client, argv: list[bytes]) -> bytes | None:
    """RANDOMKEY: a random key, or nil when the database is empty."""
    return c.db.random_key()


# ---- renaming and copying -------------------------------------------------------------------------------
def _rename(c: Client, argv: list[bytes], nx: bool) -> Any:
    db = c.db
    src, dst = argv[1], argv[2]
    value = db.get(src)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    deadline = db.expires.get(src)
    if db.get(dst) is not None:
        if nx:
            return 0
        db.delete(dst)
    db.set(dst, value)
    if deadline is not None:
        db.expires[dst] = deadline
    db.delete(src)
    return 1 if nx else OK


def rename(c: Client, argv: list[bytes]) -> Any:
    """RENAME key newkey."""
    return _rename(c, argv, nx=False)


def renamenx(c: Client, argv: list[bytes]) -> Any:
    """RENAMENX key newkey: 1 if renamed, 0 if newkey exists."""
    return _rename(c, argv, nx=True)


def copy_value(value: Any) -> Any:
    """An independent copy of a stored value (strings are immutable and shared)."""
    cls = value.__class__
    if cls is bytes:
        return value
    if cls is dict:
        return dict(value)
    if cls is deque:
        return deque(value)
    if cls is set:
        return set(value)
    copier = getattr(value, "copy", None)
    return copier() if copier is not None else value


def _target_db(c: Client, raw: bytes) -> Database:
    index = parse_int32(raw)
    dbs = c.server.keyspace.dbs
    if not 0 <= index < len(dbs):
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    return dbs[index]


def copy(c: Client, argv: list[bytes]) -> int:
    """COPY source destination [DB destination-db] [REPLACE]."""
    dst_db = c.db
    replace = False
    i = 3
    while i < len(argv):
        word = argv[i].upper()
        if word == b"REPLACE":
            replace = True
        elif word == b"DB" and i + 1 < len(argv):
            dst_db = _target_db(c, argv[i + 1])
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    src, dst = argv[1], argv[2]
    if dst_db is c.db and src == dst:
        raise CommandError(errors.SAME_OBJECT)
    value = c.db.get(src)
    if value is None:
        return 0
    if dst_db.get(dst) is not None:
        if not replace:
            return 0
        dst_db.delete(dst)
    dst_db.set(dst, copy_value(value))
    deadline = c.db.expires.get(src)
    if deadline is not None:
        dst_db.expires[dst] = deadline
    if dst_db is not c.db:
        dst_db.touch(dst)
        _wake_elsewhere(c, dst_db, [dst])
    return 1


def move(c: Client, argv: list[bytes]) -> int:
    """MOVE key db: 1 if moved (with its TTL), 0 if missing here or present there."""
    dst_db = _target_db(c, argv[2])
    if dst_db is c.db:
        raise CommandError(errors.SAME_OBJECT)
    key = argv[1]
    value = c.db.get(key)
    if value is None or dst_db.get(key) is not None:
        return 0
    deadline = c.db.expires.get(key)
    dst_db.set(key, value)
    if deadline is not None:
        dst_db.expires[key] = deadline
    c.db.delete(key)
    dst_db.touch(key)   # (the dispatcher signals the key here, in the client's database)
    _wake_elsewhere(c, dst_db, [key])
    return 1


def _wake_elsewhere(c: Client, db: Database, keys: list[bytes]) -> None:
    """Clients blocked on ``keys`` of a database other than the client's (where the dispatcher wakes them) try."""
    if db.blocked and c.server.dispatcher is not None:
        c.server.dispatcher.wake_later(db, [key for key in keys if key in db.blocked])


def touch(c: Client, argv: list[bytes]) -> int:
    """TOUCH key [key ...]: how many of the keys exist."""
    return exists(c, argv)


def swapdb(c: Client, argv: list[bytes]) -> Any:
    """SWAPDB index1 index2: clients connected to either database see the other's data at once."""
    dbs = c.server.keyspace.dbs
    first = parse_int32(argv[1], errors.INVALID_FIRST_DB)
    second = parse_int32(argv[2], errors.INVALID_SECOND_DB)
    if not (0 <= first < len(dbs) and 0 <= second < len(dbs)):
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    a, b = dbs[first], dbs[second]
    if a is not b:
        a.data, b.data = b.data, a.data
        a.expires, b.expires = b.expires, a.expires
        for db in (a, b):
            for key in list(db.watched):
                db.touch(key)
            _wake_elsewhere(c, db, [key for key in db.blocked if key in db.data])
        snapshots = c.server.extensions.get(_SNAPSHOTS, {})
        snapshots.pop(first, None)
        snapshots.pop(second, None)
    return OK


# ---- OBJECT and MEMORY ----------------------------------------------------------------------------------
def _is_int_string(value: bytes) -> bool:
    try:
        parse_int(value)
    except CommandError:
        return False
    return True


def encoding(value: Any) -> bytes:
    """The encoding name Redis 7.0 would report for a value of this shape."""
    cls = value.__class__
    if cls is bytes:
        return b"int" if len(value) <= 20 and _is_int_string(value) else b"embstr" if len(value) <= 44 else b"raw"
    if cls is dict:
        small = len(value) <= 128 and all(len(k) <= 64 and len(v) <= 64 for k, v in value.items())
        return b"listpack" if small else b"hashtable"
    if cls is deque:
        return b"quicklist"
    if cls is set:
        return b"intset" if len(value) <= 512 and all(_is_int_string(m) for m in value) else b"hashtable"
    if cls is ZSet:
        return b"listpack" if len(value) <= 128 and all(len(m) <= 64 for m in value.scores) else b"skiplist"
    return str(getattr(value, "redis_encoding", "raw")).encode()


def _object_value(c: Client, key: bytes) -> Any:
    return c.db.get(key)


def object_encoding(c: Client, argv: list[bytes]) -> bytes | None:
    """OBJECT ENCODING key."""
    value = _object_value(c, argv[2])
    return None if value is None else encoding(value)


def object_freq(c: Client, argv: list[bytes]) -> Any:
    """OBJECT FREQ key: inferd never evicts, so (like Redis without an LFU policy) frequency is not tracked."""
    if _object_value(c, argv[2]) is None:
        return None
    raise CommandError(errors.OBJECT_FREQ_NO_LFU)


def object_idletime(c: Client, argv: list[bytes]) -> int | None:
    """OBJECT IDLETIME key: inferd does not track access times; 0 for an existing key."""
    return None if _object_value(c, argv[2]) is None else 0


def object_refcount(c: Client, argv: list[bytes]) -> int | None:
    """OBJECT REFCOUNT key: 1 (Redis reports INT_MAX for its shared small integers)."""
    value = _object_value(c, argv[2])
    if value is None:
        return None
    shared = value.__class__ is bytes and _is_int_string(value) and 0 <= int(value) < 10000
    return _INT_MAX if shared else 1


_OBJECT_HELP = [
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Prints this help.",
]


def object_help(c: Client, argv: list[bytes]) -> list[Status]:
    """OBJECT HELP."""
    return [Status(line) for line in _OBJECT_HELP]


def memory_usage(c: Client, argv: list[bytes]) -> int | None:
    """MEMORY USAGE key [SAMPLES count]: an estimate of the bytes the key and its value take."""
    if len(argv) == 5 and argv[3].upper() == b"SAMPLES":
        parse_int(argv[4])
    elif len(argv) != 3:
        raise CommandError(errors.SYNTAX)
    value = c.db.get(argv[2])
    if value is None:
        return None
    return 16 + sys.getsizeof(argv[2]) + value_size(value)


def value_size(value: Any) -> int:
    """Approximate bytes held by a value (containers include their elements)."""
    cls = value.__class__
    if cls is bytes:
        return sys.getsizeof(value)
    if cls is dict:
        return sys.getsizeof(value) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    if cls is deque or cls is set:
        return sys.getsizeof(value) + sum(sys.getsizeof(m) for m in value)
    if cls is ZSet:
        return sys.getsizeof(value.scores) + sys.getsizeof(value.items) + sum(
            sys.getsizeof(m) + 80 for m in value.scores)
    nbytes = getattr(value, "nbytes", None)
    return sys.getsizeof(value) + (int(nbytes) if isinstance(nbytes, int) else 0)


def _obj(name: str, handler: Any, arity: int, summary: str, flags: str = "readonly",
         keys: tuple[int, int, int] = (2, 2, 1), arguments: str = "key", since: str = "2.2.3") -> Any:
    return command(name, handler, arity, flags, keys=keys, group="generic", summary=summary, arguments=arguments,
                   since=since)


COMMANDS = [
    command("del", del_, -2, "write", keys=(1, -1, 1), summary="Deletes one or more keys.", arguments="key..."),
    command("unlink", del_, -2, "write fast", keys=(1, -1, 1), since="4.0.0", arguments="key...",
            summary="Asynchronously deletes one or more keys."),
    command("exists", exists, -2, "readonly fast", keys=(1, -1, 1), arguments="key...",
            summary="Determines whether one or more keys exist."),
    command("type", type_, 2, "readonly fast", keys=(1, 1, 1), arguments="key",
            summary="Determines the type of value stored at a key."),
    command("expire", expire, -3, "write fast", keys=(1, 1, 1), arguments="key seconds [condition]",
            summary="Sets the expiration time of a key in seconds."),
    command("pexpire", pexpire, -3, "write fast", keys=(1, 1, 1), arguments="key milliseconds [condition]",
            since="2.6.0", summary="Sets the expiration time of a key in milliseconds."),
    command("expireat", expireat, -3, "write fast", keys=(1, 1, 1), arguments="key unix-time-seconds [condition]",
            since="1.2.0", summary="Sets the expiration time of a key to a Unix timestamp."),
    command("pexpireat", pexpireat, -3, "write fast", keys=(1, 1, 1), since="2.6.0",
            arguments="key unix-time-milliseconds [condition]",
            summary="Sets the expiration time of a key to a Unix milliseconds timestamp."),
    command("ttl", ttl, 2, "readonly fast", keys=(1, 1, 1), arguments="key",
            summary="Returns the expiration time in seconds of a key."),
    command("pttl", pttl, 2, "readonly fast", keys=(1, 1, 1), arguments="key", since="2.6.0",
            summary="Returns the expiration time in milliseconds of a key."),
    command("expiretime", expiretime, 2, "readonly fast", keys=(1, 1, 1), arguments="key", since="7.0.0",
            summary="Returns the expiration time of a key as a Unix timestamp."),
    command("pexpiretime", pexpiretime, 2, "readonly fast", keys=(1, 1, 1), arguments="key", since="7.0.0",
            summary="Returns the expiration time of a key as a Unix milliseconds timestamp."),
    command("persist", persist, 2, "write fast", keys=(1, 1, 1), arguments="key", since="2.2.0",
            summary="Removes the expiration time of a key."),
    command("keys", keys, 2, "readonly", arguments="pattern", summary="Returns all key names that match a pattern."),
    command("scan", scan, -2, "readonly", arguments="cursor [pattern] [count] [type]", since="2.8.0",
            summary="Iterates over the key names in the database."),
    command("randomkey", randomkey, 1, "readonly", summary="Returns a random key name from the database."),
    command("rename", rename, 3, "write", keys=(1, 2, 1), arguments="key newkey", summary="Renames a key and "
            "overwrites the destination."),
    command("renamenx", renamenx, 3, "write fast", keys=(1, 2, 1), arguments="key newkey",
            summary="Renames a key only when the target key name doesn't exist."),
    command("copy", copy, -3, "write denyoom", keys=(1, 2, 1), arguments="source destination [destination-db] "
            "[replace]", since="6.2.0", summary="Copies the value of a key to a new key."),
    command("move", move, 3, "write fast", keys=(1, 1, 1), arguments="key db", since="1.0.0",
            summary="Moves a key to another database."),
    command("touch", touch, -2, "readonly fast", keys=(1, -1, 1), arguments="key...", since="3.2.1",
            summary="Returns the number of existing keys out of those specified after updating the time they were "
            "last accessed."),
    command("swapdb", swapdb, 3, "write fast", arguments="index1 index2", since="4.0.0",
            summary="Swaps two Redis databases."),
    command("object", None, -2, "", summary="A container for object introspection commands.", since="2.2.3",
            subcommands=[
                _obj("object|encoding", object_encoding, 3, "Returns the internal encoding of a Redis object."),
                _obj("object|freq", object_freq, 3, "Returns the logarithmic access frequency counter of a Redis "
                     "object.", since="4.0.0"),
                _obj("object|idletime", object_idletime, 3, "Returns the time since the last access to a Redis "
                     "object."),
                _obj("object|refcount", object_refcount, 3, "Returns the reference count of a value of a key."),
                _obj("object|help", object_help, 2, "Returns helpful text about the different subcommands.",
                     flags="loading stale", keys=(0, 0, 0), arguments="", since="6.2.0"),
            ]),
    command("memory", None, -2, "", summary="A container for memory diagnostics commands.", since="4.0.0",
            subcommands=[
                _obj("memory|usage", memory_usage, -3, "Estimates the memory usage of a key.",
                     arguments="key [count]", since="4.0.0"),
            ]),
]
