"""Every command test runs twice: with the dispatcher's C fast path and with every command in Python."""
from __future__ import annotations

import pytest

from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def server(server_both_paths: RunningServer) -> RunningServer:
    return server_both_paths
