"""The mypyc-compiled modules (inferd/compiled.py): built by the install, and never run stale."""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

from inferd import compiled

ROOT = Path(compiled.ROOT)
# prints the guard's state, then the kind of file (py or so) each listed module was imported from
PROBE = ("import importlib, inferd.compiled as c; print(c.state); "
         "print(*(importlib.import_module(m).__file__.rsplit('.', 1)[-1] for m in c.MODULES))")


def test_the_install_compiled_every_listed_module():
    """`make test` installs mypy and builds them: the test run imports the compiled modules, not their source."""
    assert compiled.state == "compiled"
    for name in compiled.MODULES:
        module = importlib.import_module(name)
        assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), name
    assert "inferd._compiled__mypyc" in sys.modules   # their one shared library


def _copy_tree(tmp_path: Path) -> Path:
    """The package with its compiled files and setup.py, times kept (a source tree as `pip install -e .` leaves it)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "inferd", tree / "inferd", copy_function=shutil.copy2,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "setup.py", tree / "setup.py")
    return tree


def _expect(tree: Path, state: str, kind: str) -> None:
    """A fresh interpreter in ``tree`` reports ``state`` and imports every listed module from a ``kind`` file."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split("\n")
    assert (out[0], out[1].split()) == (state, [kind] * len(compiled.MODULES))


def _edit_after_build(tree: Path) -> None:
    """queues.py changed after the build: its time past every compiled file's."""
    later = max(p.stat().st_mtime for p in (tree / "inferd").rglob("*.so")) + 10
    os.utime(tree / "inferd" / "scheduler" / "queues.py", (later, later))


def test_a_current_build_is_used(tmp_path):
    _expect(_copy_tree(tmp_path), "compiled", "so")


def test_a_source_changed_after_the_build_runs_as_source_with_the_others(tmp_path):
    """One edited module sends every listed module to its source (they call one another inside their library)."""
    tree = _copy_tree(tmp_path)
    _edit_after_build(tree)
    _expect(tree, "source (stale build)", "py")


def test_a_build_missing_a_module_runs_as_source(tmp_path):
    """A build that failed in part (each extension is optional) is not mixed with source: all run from source."""
    tree = _copy_tree(tmp_path)
    for path in (tree / "inferd" / "commands").glob("dag_run.*.so"):
        path.unlink()
    _expect(tree, "source (stale build)", "py")


def test_an_installed_package_is_not_checked(tmp_path):
    """Without setup.py beside the package (site-packages), file times are the install's, not the build's."""
    tree = _copy_tree(tmp_path)
    (tree / "setup.py").unlink()
    _edit_after_build(tree)
    _expect(tree, "compiled", "so")


def test_without_a_build_the_source_runs(tmp_path):
    tree = _copy_tree(tmp_path)
    for path in (tree / "inferd").rglob("*.so"):
        path.unlink()
    _expect(tree, "source", "py")
