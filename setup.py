"""The compiled parts, both optional: without a C compiler inferd does the same in Python.

The dispatcher's fast path for plain GET/SET/HGET/HSET/LPUSH/RPUSH, and the request parser's inner loop.
"""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("inferd.commands._fastpath", ["inferd/commands/_fastpath.c"], optional=True, extra_compile_args=["-O2"]),
    Extension("inferd.resp._drain", ["inferd/resp/_drain.c"], optional=True, extra_compile_args=["-O2"]),
])
