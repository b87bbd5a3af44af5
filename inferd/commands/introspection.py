"""COMMAND, COMMAND COUNT|INFO|LIST|DOCS|GETKEYS: generated from the merged command tables, never written twice."""
from __future__ import annotations

import fnmatch
from typing import Any

from inferd import errors
from inferd.commands.context import Client
from inferd.commands.table import Command, command, unique_commands
from inferd.errors import CommandError
from inferd.resp.encoder import Status

_FLAG_NAMES = {"no-auth": "no_auth", "no-multi": "no_multi", "deny-multi": "no_multi", "runs-model": "blocking",
               "waits": "blocking"}
_GROUP_ACL = {"string": "@string", "bitmap": "@bitmap", "hash": "@hash", "list": "@list", "set": "@set",
              "sorted-set": "@sortedset", "generic": "@keyspace", "connection": "@connection", "server": "@admin",
              "transactions": "@transaction", "module": "@module"}


def _info(cmd: Command) -> list[Any]:
    acl = [Status(b"@write" if "write" in cmd.flags else b"@read"), Status(_GROUP_ACL.get(cmd.group, "@all").encode())]
    if "fast" in cmd.flags:
        acl.append(Status(b"@fast"))
    key_specs: list[Any] = []
    if cmd.first_key > 0:
        key_specs.append({b"flags": [Status(b"RW" if "write" in cmd.flags else b"RO")],
                          b"begin_search": {b"type": b"index", b"spec": {b"index": cmd.first_key}},
                          b"find_keys": {b"type": b"range", b"spec": {b"lastkey": cmd.last_key if cmd.last_key < 0
                                                                      else cmd.last_key - cmd.first_key,
                                                                      b"keystep": cmd.step, b"limit": 0}}})
    return [cmd.name.encode(), cmd.arity, [Status(_FLAG_NAMES.get(f, f).encode()) for f in sorted(cmd.flags)],
            cmd.first_key, cmd.last_key, cmd.step, acl, [], key_specs,
            [_info(sub) for sub in cmd.subcommands.values()]]


def _arguments(syntax: str) -> list[dict[bytes, Any]]:
    args: list[dict[bytes, Any]] = []
    for token in syntax.split():
        optional = token.startswith("[") and token.endswith("]")
        name = token.strip("[]")
        multiple = name.endswith("...")
        name = name.rstrip(".")
        kind = b"key" if name == "key" or name.endswith("key") else (
            b"integer" if name in ("count", "index", "numkeys", "seconds", "milliseconds", "timeout") else b"string")
        entry: dict[bytes, Any] = {b"name": name.encode(), b"type": kind}
        if kind == b"key":
            entry[b"key_spec_index"] = 0
        flags = ([Status(b"optional")] if optional else []) + ([Status(b"multiple")] if multiple else [])
        if flags:
            entry[b"flags"] = flags
        args.append(entry)
    return args


def _docs(cmd: Command) -> dict[bytes, Any]:
    doc: dict[bytes, Any] = {b"summary": cmd.summary.encode(), b"since": cmd.since.encode(),
                             b"group": cmd.group.encode(), b"complexity": b"O(1)" if "fast" in cmd.flags else b"O(N)",
                             b"arguments": _arguments(cmd.arguments)}
    if cmd.subcommands:
        doc[b"subcommands"] = {sub.name.encode(): _docs(sub) for sub in cmd.subcommands.values()}
    return doc


def _commands(c: Client) -> list[Command]:
    assert c.server.dispatcher is not None
    return unique_commands(c.server.dispatcher.table)


def _find(c: Client, name: bytes) -> Command | None:
    assert c.server.dispatcher is not None
    table = c.server.dispatcher.table
    if b"|" in name:
        parent, sub = name.lower().split(b"|", 1)
        found = table.get(parent)
        return found.subcommands.get(sub) if found else None
    return table.get(name.lower())


def command_all(c: Client, argv: list[bytes]) -> list[Any]:
    """COMMAND: details about every command."""
    return [_info(cmd) for cmd in _commands(c)]


def command_count(c: Client, argv: list[bytes]) -> int:
    """COMMAND COUNT."""
    return len(_commands(c))


def command_info(c: Client, argv: list[bytes]) -> list[Any]:
    """COMMAND INFO [name ...]: nil for unknown names."""
    if len(argv) == 2:
        return command_all(c, argv)
    return [_info(cmd) if (cmd := _find(c, name)) else None for name in argv[2:]]


def command_docs(c: Client, argv: list[bytes]) -> dict[bytes, Any]:
    """COMMAND DOCS [name ...]: complete docs (summary, since, group, arguments) for every command asked."""
    cmds = _commands(c) if len(argv) == 2 else [cmd for name in argv[2:] if (cmd := _find(c, name))]
    return {cmd.name.encode(): _docs(cmd) for cmd in cmds}


def command_list(c: Client, argv: list[bytes]) -> list[bytes]:
    """COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]."""
    names = [cmd.name for cmd in _commands(c)]
    if len(argv) == 2:
        return [n.encode() for n in names]
    if len(argv) != 5 or argv[2].upper() != b"FILTERBY":
        raise CommandError(errors.SYNTAX)
    kind, value = argv[3].upper(), argv[4].decode("utf-8", "replace")
    if kind == b"PATTERN":
        return [n.encode() for n in names if fnmatch.fnmatchcase(n, value.lower())]
    if kind == b"ACLCAT":
        return [cmd.name.encode() for cmd in _commands(c) if _GROUP_ACL.get(cmd.group, "") == "@" + value.lower()]
    if kind == b"MODULE":
        return []
    raise CommandError(errors.SYNTAX)


def command_getkeys(c: Client, argv: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS command [arg ...]."""
    assert c.server.dispatcher is not None
    found = c.server.dispatcher.lookup(argv[2:])
    if isinstance(found, CommandError):
        raise CommandError("ERR Invalid command specified" if "unknown" in found.text else
                           "ERR Invalid number of arguments specified for command")
    keys = found.keys(argv[2:])
    if not keys:
        raise CommandError("ERR The command has no key arguments")
    return keys


def _sub(name: str, handler: Any, arity: int, summary: str, arguments: str = "") -> Command:
    return command(f"command|{name}", handler, arity, "loading stale", group="server", since="2.8.13",
                   summary=summary, arguments=arguments)


def _command_container(c: Client, argv: list[bytes]) -> Any:
    return command_all(c, argv)


COMMANDS = [
    command("command", _command_container, -1, "loading stale", group="server", since="2.8.13",
            summary="Returns detailed information about all commands.", subcommands=[
                _sub("count", command_count, 2, "Returns a count of commands."),
                _sub("info", command_info, -2, "Returns information about one, multiple or all commands.",
                     "[command-name...]"),
                _sub("docs", command_docs, -2, "Returns documentary information about commands.",
                     "[command-name...]"),
                _sub("list", command_list, -2, "Returns a list of command names.", "[filterby]"),
                _sub("getkeys", command_getkeys, -3, "Extracts the key names from an arbitrary command.",
                     "command [arg...]"),
            ]),
]
