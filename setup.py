"""The one compiled part: the dispatcher's C fast path (optional; without a compiler inferd runs it in Python)."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("inferd.commands._fastpath", ["inferd/commands/_fastpath.c"], optional=True,
                             extra_compile_args=["-O2"])])
