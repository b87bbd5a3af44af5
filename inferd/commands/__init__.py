"""Command groups, one module each; :func:`build_table` merges their tables explicitly.

The groups are imported when the table is built, not when this package is imported, so that the value types in
``store/`` can use the argument parsers in :mod:`inferd.commands.args` without pulling every command group in.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from inferd.commands.table import Command, merge_tables

GROUP_NAMES = ("connection", "server", "introspection", "transactions", "strings", "bitmaps", "keys", "hashes", "lists",
               "sets", "zsets", "zset_algebra", "tensors", "models", "scripts", "ai_admin", "dag")


def groups() -> list[ModuleType]:
    """Every command group module, in table order."""
    return [importlib.import_module(f"inferd.commands.{name}") for name in GROUP_NAMES]


def build_table() -> dict[bytes, Command]:
    """The merged command table of every group (a name declared twice is an error)."""
    return merge_tables(*(group.COMMANDS for group in groups()))
