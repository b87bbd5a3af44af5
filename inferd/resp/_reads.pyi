"""A connection's per-read work in C (_reads.c): its interface, for type checkers."""
from collections.abc import Callable
from typing import Any

def drain(reader: Any, requests: list[list[bytes]], /) -> tuple[Any, int, Any, BaseException | None, int]: ...

class QuickRead:
    def __init__(self, connection: Any, parser: Any, run: Callable[..., int], stats: Any, writes: Any,
                 call_soon: Callable[..., Any], flush: Callable[[], None], hold_max: int, /) -> None: ...
    def __call__(self, data: bytes, /) -> None: ...
