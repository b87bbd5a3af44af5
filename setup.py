"""The compiled parts, both optional: without a C compiler inferd does the same in Python.

The dispatcher's fast path for plain PING/GET/SET/HGET/HSET/LPUSH/RPUSH/LPOP/RPOP/SADD/SPOP/MGET/MSET/INCR[BY]/
DECR[BY]/ZADD/ZPOPMIN/ZPOPMAX (and SPOP's draw from a set's table), and the connection's per-read work (the request
parser's inner loop, the read callback).
"""
from setuptools import Extension, setup

# inferd/_slots.h: what both share (attributes read and written at their __slots__ offsets)
COMMON = {"optional": True, "extra_compile_args": ["-O2"], "include_dirs": ["inferd"], "depends": ["inferd/_slots.h"]}

setup(ext_modules=[
    Extension("inferd.commands._fastpath", ["inferd/commands/_fastpath.c", "inferd/commands/_fastpath_sets.c",
                                             "inferd/commands/_fastpath_tensors.c"],
              **{**COMMON, "depends": [*COMMON["depends"], "inferd/commands/_fastpath.h"]}),
    Extension("inferd.resp._reads", ["inferd/resp/_reads.c"], **COMMON),
])
