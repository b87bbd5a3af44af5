"""The script value type: a TorchScript source as stored (kept for SCRIPTGET), its compiled program, AI.INFO stats.

Like a Model, a Script is immutable once stored except for its statistics; storing the key again stores a new
Script, so runs already queued finish on the program they were submitted with. ``call`` runs on device worker
threads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferd.store.model import RunStats


@dataclass(eq=False, slots=True)
class Script:
    """A stored script (``TYPE`` reports ``AI_SCRIPT``); ``entry_points`` is empty for an AI.SCRIPTSET script."""

    key: bytes
    device: str                  # as the client typed it (queues key on its upper-case form)
    tag: bytes
    source: bytes
    entry_points: list[str]
    program: Any                 # inferd.backends.torchscript.ScriptProgram (torch is imported only for scripts)
    stats: RunStats = field(default_factory=RunStats)

    redis_type = "AI_SCRIPT"
    ai_type = "SCRIPT"
    backend = "TORCH"

    def call(self, function: str, inputs: list[np.ndarray[Any, Any]], keys: list[str], args: list[str],
             n_outputs: int, host: Any = None) -> tuple[list[np.ndarray[Any, Any]], int]:
        """Run ``function`` (thread-safe): its outputs and the call's time in µs; CommandError with torch's text.

        ``host`` serves the script's ``redis.execute`` / ``redisAI.model_execute`` calls.
        """
        return self.program.call(function, function in self.entry_points, inputs, keys, args, n_outputs, host)

    @property
    def nbytes(self) -> int:
        """MEMORY USAGE's estimate: the source kept for SCRIPTGET (the compiled graph is not counted)."""
        return len(self.source)

    def meta(self) -> list[Any]:
        """SCRIPTGET META: device, tag and entry points, in RedisAI's order and with its literal field names."""
        return [b"device", self.device.encode(), b"tag", self.tag, b"Entry Points",
                [name.encode() for name in self.entry_points]]
