"""Which of inferd's Python modules setup.py compiles with mypyc, and the guard against a stale build.

The modules are the model-run path's: per request, the DAG's plan and run, the tensors and model arguments it parses,
and the scheduler's queues and batches. mypyc compiles them from their typed source as they are (no code of their
own), into one shared library, ``inferd._compiled__mypyc``, beside a small extension per module that Python imports
instead of the ``.py``. Built by ``pip install -e .`` (``make install``); without mypyc or a C compiler, or with
``BUILD_MYPYC=0`` at build time, the source runs.

The guard: a compiled module is imported in place of its source even after the source changed. So in a source tree
(setup.py beside the package, as with ``pip install -e .``), when any listed module's source is newer than its
compiled file or has none (a build that failed in part), :func:`prefer_source` (run by ``inferd/__init__.py``) has
every listed module loaded from its source (all or none: the compiled modules call one another directly inside their
one library) until the next build. An installed package (``pip install .``) is built and installed in one piece and is
not checked.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Any

MODULES = (
    "inferd.scheduler.batching",
    "inferd.scheduler.native",
    "inferd.scheduler.queues",
    "inferd.scheduler.schedulers",
    "inferd.scheduler.stats",
    "inferd.commands.dag",
    "inferd.commands.dag_plan",
    "inferd.commands.dag_run",
    "inferd.commands.tensors",
    "inferd.commands.model_args",
    "inferd.store.tensor",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# "compiled" (the build is there and current), "source (stale build)" or "source" (no build): set by prefer_source
state = "source"


def _paths(module: str) -> tuple[str, str | None]:
    """The module's source and its compiled file (None if there is none)."""
    base = os.path.join(ROOT, *module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + ".py", base + suffix
    return base + ".py", None


class _SourceFinder:
    """Finds the listed modules' source files ahead of their compiled ones."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:  # noqa: D102
        source = self.sources.get(name)
        return None if source is None else importlib.util.spec_from_file_location(name, source)


def prefer_source() -> str:
    """Load the listed modules from source when the build is older than any of them; returns (and sets) ``state``."""
    global state
    paths = {module: _paths(module) for module in MODULES}
    built = [(source, compiled) for source, compiled in paths.values() if compiled is not None]
    if not built:
        state = "source"
    elif len(built) == len(paths) and (not os.path.exists(os.path.join(ROOT, "setup.py")) or all(
            os.path.getmtime(compiled) >= os.path.getmtime(source) for source, compiled in built)):
        state = "compiled"
    else:
        state = "source (stale build)"
        sys.meta_path.insert(0, _SourceFinder({module: source for module, (source, _) in paths.items()}))
    return state
