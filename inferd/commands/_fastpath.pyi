"""The dispatcher's C fast path (_fastpath.c): its interface, for type checkers."""
from typing import Any

class Runner:
    def __init__(self, kinds: dict[bytes, int], cmds: tuple[Any, ...], server_stats: Any, dispatcher: Any,
                 reply_on: Any, deque_type: type, zset_type: type, /) -> None: ...
    def run(self, client: Any, requests: list[list[bytes]], start: int, out: list[bytes], /) -> int: ...
