"""inferd: a standalone inference server that speaks the Redis protocol."""
from __future__ import annotations

__version__ = "0.1.0"
