"""The ``server`` fixture: a local image server, shut down after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from photo_server import ImageServer


@pytest.fixture
def server() -> Iterator[ImageServer]:
    server = ImageServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
