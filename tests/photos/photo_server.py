"""Test images made with PIL and a local HTTP server (127.0.0.1 only) that serves them.

Kept out of conftest.py on purpose: tests/analysis imports names from its own
``conftest`` module, which another package's conftest.py would shadow.
"""

from __future__ import annotations

import collections
import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image


def image_bytes(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB", seed: int = 0) -> bytes:
    """A noise image (distinct per seed, so no accidental duplicates) encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "P":
        image = image.quantize(colors=16)
    elif mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# A route answers a request: (status, headers, body), or raises to drop the connection.
Route = Callable[[int], tuple[int, dict[str, str], bytes]]


class ImageServer:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> with per-path routes and request counts.

    Attributes:
        routes: path -> ``Route`` (called with the 1-based request number for that path).
        requests: path -> requests received so far.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with owner._lock:
                    owner.requests[self.path] += 1
                    number = owner.requests[self.path]
                route = owner.routes.get(self.path)
                status, headers, body = route(number) if route else (404, {}, b"not found")
                try:
                    self.send_response(status)
                    for key, value in {"Content-Length": str(len(body)), **headers}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the slow route): expected

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg") -> None:
        """Serve ``body`` with status 200 at ``path``."""
        self.routes[path] = lambda n: (200, {"Content-Type": content_type}, body)


def slow(body: bytes, delay: float) -> Route:
    """Answer after ``delay`` seconds."""

    def route(n: int) -> tuple[int, dict[str, str], bytes]:
        time.sleep(delay)
        return 200, {"Content-Type": "image/jpeg"}, body

    return route


def fail_first(body: bytes, status: int, failures: int = 1, headers: dict[str, str] | None = None) -> Route:
    """Answer ``status`` to the first ``failures`` requests, then ``body``."""

    def route(n: int) -> tuple[int, dict[str, str], bytes]:
        if n <= failures:
            return status, headers or {}, b"try again"
        return 200, {"Content-Type": "image/png"}, body

    return route


def redirect(location: str) -> Route:
    return lambda n: (302, {"Location": location}, b"")


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """An ``ImageServer`` running in a thread for one test."""
    server = ImageServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
