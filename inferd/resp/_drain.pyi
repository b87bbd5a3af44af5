"""The request parser's inner loop in C (_drain.c): its interface, for type checkers."""
from typing import Any

def drain(reader: Any, requests: list[list[bytes]], /) -> tuple[Any, int, Any, BaseException | None]: ...
