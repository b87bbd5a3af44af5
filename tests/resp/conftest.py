"""The wire and write-batch tests run twice: with the compiled read, drain, flush and bulk replies (``_reads.c``) and
the dispatcher's C fast path, and with all of it in Python."""
from __future__ import annotations

import pytest

from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def server(server_both_paths: RunningServer) -> RunningServer:
    return server_both_paths
