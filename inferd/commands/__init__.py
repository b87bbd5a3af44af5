"""Command groups, one module each; :func:`build_table` merges their tables explicitly."""
from __future__ import annotations

from inferd.commands import (
    ai_admin,
    connection,
    dag,
    hashes,
    introspection,
    keys,
    lists,
    models,
    server,
    sets,
    strings,
    tensors,
    transactions,
    zsets,
)
from inferd.commands.table import Command, merge_tables

GROUPS = (connection, server, introspection, transactions, strings, tensors, models, ai_admin, keys, hashes, lists,
          sets, zsets, dag)


def build_table() -> dict[bytes, Command]:
    """The merged command table of every group (a name declared twice is an error)."""
    return merge_tables(*(group.COMMANDS for group in GROUPS))
