"""Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT."""
from __future__ import annotations

import time
from typing import Any

from inferd import errors
from inferd.commands import blocking
from inferd.commands.args import parse_int, parse_int32
from inferd.commands.context import REPLY_OFF, REPLY_ON, REPLY_SKIP, Client
from inferd.commands.table import Command, command
from inferd.errors import CommandError
from inferd.resp.encoder import OK, PONG, Status, Verbatim

REDIS_COMPAT_VERSION = "7.0.0"


def ping(c: Client, argv: list[bytes]) -> Any:
    """PING [message]."""
    if len(argv) > 2:
        raise errors.wrong_arity("ping")
    return PONG if len(argv) == 1 else argv[1]


def echo(c: Client, argv: list[bytes]) -> bytes:
    """ECHO message."""
    return argv[1]


def _check_password(c: Client, user: bytes, password: bytes) -> None:
    required = c.server.config.requirepass
    if user == b"default" and not required:   # the default user has no password: any password is accepted
        c.authenticated = True
        return
    if user != b"default" or password.decode("utf-8", "replace") != required:
        raise CommandError(errors.WRONGPASS)
    c.authenticated = True


def auth(c: Client, argv: list[bytes]) -> Any:
    """AUTH [username] password."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        if not c.server.config.requirepass:
            raise CommandError(errors.AUTH_NOT_SET)
        _check_password(c, b"default", argv[1])
    else:
        _check_password(c, argv[1], argv[2])
    return OK


def hello(c: Client, argv: list[bytes]) -> Any:
    """HELLO [protover [AUTH username password] [SETNAME clientname]]."""
    proto = None
    if len(argv) > 1:
        proto = parse_int(argv[1], "ERR Protocol version is not an integer or out of range")
        if proto not in (2, 3):
            raise CommandError(errors.NOPROTO)
    i = 2
    name = None
    while i < len(argv):
        word = argv[i].upper()
        if word == b"AUTH" and i + 2 < len(argv):
            _check_password(c, argv[i + 1], argv[i + 2])
            i += 3
        elif word == b"SETNAME" and i + 1 < len(argv):
            name = _valid_name(argv[i + 1])
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not c.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                           "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                           "select the RESP protocol version at the same time")
    if name is not None:
        c.name = name
    if proto is not None:
        c.resp3 = proto == 3
    return {b"server": b"redis", b"version": REDIS_COMPAT_VERSION.encode(), b"proto": 3 if c.resp3 else 2,
            b"id": c.id, b"mode": b"standalone", b"role": b"master", b"modules": []}


def select(c: Client, argv: list[bytes]) -> Any:
    """SELECT index."""
    index = parse_int32(argv[1])
    if not 0 <= index < len(c.server.keyspace.dbs):
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    c.select(index)
    return OK


def quit_(c: Client, argv: list[bytes]) -> Any:
    """QUIT: reply OK, then close the connection."""
    c.close_callback()
    return OK


def reset(c: Client, argv: list[bytes]) -> Any:
    """RESET: leave MULTI, unwatch, back to db 0, RESP2, no name, replies on, re-authentication required."""
    c.reset_transaction()
    c.select(0)
    c.resp3 = False
    c.name = b""
    c.reply_mode = REPLY_ON
    c.authenticated = not c.server.config.requirepass
    return Status(b"RESET")


def _valid_name(name: bytes) -> bytes:
    if any(ch <= 32 or ch >= 127 for ch in name):
        raise CommandError(errors.CLIENT_NAME_SPACES)
    return name


def client_info_line(c: Client, current: Client | None = None) -> str:
    """One CLIENT LIST / CLIENT INFO line, in Redis's field order."""
    now = time.monotonic()
    flags = ("x" if c.multi is not None else "") + ("d" if c.dirty_cas else "") or "N"
    multi = -1 if c.multi is None else len(c.multi)
    last = c.last_command.name if c.last_command is not None else "NULL"
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={c.name.decode('utf-8', 'replace')} "
            f"age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={flags} db={c.db.index} "
            f"sub=0 psub=0 ssub=0 multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 "
            f"oll=0 omem=0 tot-mem=0 events=r cmd={last} user=default "
            f"redir=-1 resp={3 if c.resp3 else 2} lib-name={c.lib_name.decode('utf-8', 'replace')} "
            f"lib-ver={c.lib_ver.decode('utf-8', 'replace')}\n")


def client_id(c: Client, argv: list[bytes]) -> int:
    """CLIENT ID."""
    return c.id


def client_getname(c: Client, argv: list[bytes]) -> bytes | None:
    """CLIENT GETNAME."""
    return c.name or None


def client_setname(c: Client, argv: list[bytes]) -> Any:
    """CLIENT SETNAME name."""
    c.name = _valid_name(argv[2])
    return OK


def client_setinfo(c: Client, argv: list[bytes]) -> Any:
    """CLIENT SETINFO LIB-NAME|LIB-VER value."""
    attr = argv[2].upper()
    if attr == b"LIB-NAME":
        c.lib_name = _valid_name(argv[3])
    elif attr == b"LIB-VER":
        c.lib_ver = _valid_name(argv[3])
    else:
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    return OK


def client_list(c: Client, argv: list[bytes]) -> Verbatim:
    """CLIENT LIST [TYPE normal] [ID id...]."""
    clients = list(c.server.clients.values())
    if len(argv) > 2:
        word = argv[2].upper()
        if word == b"ID" and len(argv) > 3:
            ids = {parse_int(a, "ERR Invalid client ID") for a in argv[3:]}
            clients = [x for x in clients if x.id in ids]
        elif word == b"TYPE" and len(argv) == 4:
            kind = argv[3].lower()
            if kind not in (b"normal", b"master", b"replica", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{argv[3].decode('utf-8', 'replace')}'")
            clients = clients if kind == b"normal" else []
        else:
            raise CommandError(errors.SYNTAX)
    return Verbatim("".join(client_info_line(x) for x in clients).encode())


def client_info(c: Client, argv: list[bytes]) -> Verbatim:
    """CLIENT INFO."""
    return Verbatim(client_info_line(c).encode())


def client_unblock(c: Client, argv: list[bytes]) -> int:
    """CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: end a client's blocking pop; 1 if it was blocked."""
    if len(argv) > 4:   # (the subcommand's own check, after the table's arity: Redis's wording, the name as typed)
        raise CommandError(errors.SUBCOMMAND_SYNTAX.format(argv[1].decode("utf-8", "replace"), "CLIENT"))
    error = len(argv) == 4 and argv[3].upper() == b"ERROR"
    if len(argv) == 4 and not error and argv[3].upper() != b"TIMEOUT":
        raise CommandError(errors.UNBLOCK_REASON)
    return int(blocking.unblock(c.server.keyspace.dbs, parse_int(argv[2]), error))


def client_kill(c: Client, argv: list[bytes]) -> Any:
    """CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [USER u] [SKIPME yes|no]."""
    clients = list(c.server.clients.values())
    if len(argv) == 3:
        target = argv[2].decode("utf-8", "replace")
        for other in clients:
            if other.addr == target:
                other.close_callback()
                return OK
        raise CommandError(errors.CLIENT_NO_SUCH)
    if len(argv) % 2 != 0:
        raise CommandError(errors.SYNTAX)
    skipme = True
    for i in range(2, len(argv), 2):
        word, value = argv[i].upper(), argv[i + 1]
        if word == b"ID":
            wanted = parse_int(value, "ERR client-id should be greater than 0")
            clients = [x for x in clients if x.id == wanted]
        elif word == b"ADDR":
            clients = [x for x in clients if x.addr == value.decode()]
        elif word == b"LADDR":
            clients = [x for x in clients if x.laddr == value.decode()]
        elif word == b"USER":
            clients = clients if value == b"default" else []
        elif word == b"SKIPME":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(errors.SYNTAX)
            skipme = value.lower() == b"yes"
        elif word == b"TYPE":
            clients = clients if value.lower() == b"normal" else []
        else:
            raise CommandError(errors.SYNTAX)
    killed = 0
    for other in clients:
        if other is c and skipme:
            continue
        other.close_callback()
        killed += 1
    return killed


def client_reply(c: Client, argv: list[bytes]) -> Any:
    """CLIENT REPLY ON|OFF|SKIP."""
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = REPLY_ON
        return OK
    if mode in (b"off", b"skip"):
        c.reply_mode = REPLY_OFF if mode == b"off" else REPLY_SKIP
        return OK
    raise CommandError(errors.SYNTAX)


def client_no_evict(c: Client, argv: list[bytes]) -> Any:
    """CLIENT NO-EVICT ON|OFF (accepted: inferd never evicts clients)."""
    if argv[2].lower() not in (b"on", b"off"):
        raise CommandError(errors.SYNTAX)
    return OK


def _sub(name: str, handler: Any, arity: int, summary: str, flags: str = "no-auth stale loading",
         arguments: str = "") -> Command:
    return command(f"client|{name}", handler, arity, flags, group="connection", summary=summary, since="2.4.0",
                   arguments=arguments)


COMMANDS = [
    command("ping", ping, -1, "fast stale", group="connection", summary="Returns the server's liveliness response.",
            arguments="[message]"),
    command("echo", echo, 2, "fast stale", group="connection", summary="Returns the given string.",
            arguments="message"),
    command("hello", hello, -1, "no-auth fast stale loading", group="connection", since="6.0.0",
            summary="Handshakes with the server.", arguments="[protover]"),
    command("auth", auth, -2, "no-auth fast stale loading", group="connection", summary="Authenticates the connection.",
            arguments="[username] password"),
    command("select", select, 2, "fast loading stale", group="connection", summary="Changes the selected database.",
            arguments="index"),
    command("quit", quit_, -1, "no-auth fast stale loading no-multi", group="connection",
            summary="Closes the connection."),
    command("reset", reset, 1, "no-auth fast stale loading no-multi", group="connection", since="6.2.0",
            summary="Resets the connection."),
    command("client", None, -2, "", group="connection", since="2.4.0",
            summary="A container for client connection commands.", subcommands=[
                _sub("id", client_id, 2, "Returns the unique client ID of the connection."),
                _sub("getname", client_getname, 2, "Returns the name of the connection."),
                _sub("setname", client_setname, 3, "Sets the connection name.", arguments="connection-name"),
                _sub("setinfo", client_setinfo, 4, "Sets information specific to the client or connection.",
                     arguments="attr value"),
                _sub("list", client_list, -2, "Lists open connections.", flags="admin stale loading"),
                _sub("info", client_info, 2, "Returns information about the connection."),
                _sub("kill", client_kill, -3, "Terminates open connections.", flags="admin stale loading",
                     arguments="filter..."),
                _sub("reply", client_reply, 3, "Instructs the server whether to reply to commands (refused inside "
                     "MULTI, whose EXEC reply it would break).",
                     flags="no-auth stale loading deny-multi", arguments="mode"),
                _sub("no-evict", client_no_evict, 3, "Sets the client eviction mode of the connection.",
                     arguments="enabled"),
                _sub("unblock", client_unblock, -3, "Unblocks a client blocked by a blocking command from a "
                     "different connection.", flags="admin stale loading", arguments="client-id [TIMEOUT|ERROR]"),
            ]),
]
