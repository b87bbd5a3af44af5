"""inferd: a standalone inference server that speaks the Redis protocol."""
from __future__ import annotations

from inferd import compiled

__version__ = "0.1.0"

compiled.prefer_source()   # the mypyc-compiled modules, unless their source changed since they were built
