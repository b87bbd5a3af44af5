"""The compiled parts, all optional: without a C compiler (or without mypyc) inferd does the same in Python.

* Hand-written C: the dispatcher's fast path for plain PING/GET/SET/HGET/HSET/LPUSH/RPUSH/LPOP/RPOP/SADD/SPOP/MGET/
  MSET/INCR[BY]/DECR[BY]/ZADD/ZPOPMIN/ZPOPMAX (and SPOP's draw from a set's table), and the connection's per-read
  work (the request parser's inner loop, the read callback).
* mypyc: the model-run path's Python modules (inferd/compiled.py lists them: the scheduler, the DAG, tensors and
  model arguments), compiled from their typed source as they are. Classes the hand-written C reads at their slots'
  offsets (Client, Database, Connection...) stay interpreted, as mypyc's classes keep their attributes elsewhere.
"""
import importlib.util
import os
import sys

from setuptools import Extension, setup

# inferd/_slots.h: what both share (attributes read and written at their __slots__ offsets)
COMMON = {"optional": True, "extra_compile_args": ["-O2"], "include_dirs": ["inferd"], "depends": ["inferd/_slots.h"]}


def mypyc_extensions() -> list[Extension]:
    """The modules inferd/compiled.py names, compiled by mypyc; none when mypyc is missing or BUILD_MYPYC=0."""
    if os.environ.get("BUILD_MYPYC", "1") == "0" or importlib.util.find_spec("mypyc") is None:
        return []
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "inferd"))
    from compiled import MODULES  # inferd/compiled.py, read without importing the package
    from mypyc.build import mypycify
    try:
        extensions = mypycify([m.replace(".", "/") + ".py" for m in MODULES], opt_level="3",
                              group_name="inferd._compiled")
    except BaseException as exc:   # mypyc reports a type error by exiting
        print(f"setup.py: mypyc failed ({exc!r}); those modules stay Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True   # a failed build leaves the Python source in use
    return extensions


setup(ext_modules=[
    Extension("inferd.commands._fastpath", ["inferd/commands/_fastpath.c", "inferd/commands/_fastpath_sets.c",
                                             "inferd/commands/_fastpath_tensors.c"],
              **{**COMMON, "depends": [*COMMON["depends"], "inferd/commands/_fastpath.h"]}),
    Extension("inferd.resp._reads", ["inferd/resp/_reads.c", "inferd/resp/_reads_reply.c"],
              **{**COMMON, "depends": [*COMMON["depends"], "inferd/resp/_reads.h"]}),
    Extension("inferd.backends._ortrun", ["inferd/backends/_ortrun.c", "inferd/backends/_ortrun_executor.c"],
              depends=["inferd/backends/_ortrun.h"], optional=True, extra_compile_args=["-O2"]),
    *mypyc_extensions(),
])
