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

# A raw route writes the whole answer itself, bytes on the wire (for hostile servers):
# called with the response stream, the request number and an event set when the server stops.
RawRoute = Callable[[io.BufferedIOBase, int, threading.Event], None]

# A hostile route gives up after this long even if the client never does, so no test leaves a
# thread writing forever.
HOSTILE_LIMIT_S = 60.0


class ImageServer:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> with per-path routes and request counts.

    Attributes:
        routes: path -> ``Route`` (called with the 1-based request number for that path).
        raw: path -> ``RawRoute`` (writes its own status line, headers and body).
        requests: path -> requests received so far.
        stopped: set when the server shuts down (hostile routes stop writing).
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.raw: dict[str, RawRoute] = {}
        self.stopped = threading.Event()
        self.requests: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with owner._lock:
                    owner.requests[self.path] += 1
                    number = owner.requests[self.path]
                if self.path in owner.raw:
                    try:
                        owner.raw[self.path](self.wfile, number, owner.stopped)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up: what a hostile route waits for
                    self.close_connection = True
                    return
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


def add_redirect_chain(server: "ImageServer", prefix: str, length: int = 50) -> str:
    """Register ``prefix0 -> prefix1 -> ...``, longer than any client follows; returns the first path."""
    for k in range(length):
        server.routes[f"{prefix}{k}"] = redirect(f"{prefix}{k + 1}")
    return f"{prefix}0"


def _trickle(stream, data: bytes, every: float, stopped: threading.Event, step: int = 1) -> None:
    """Write ``data`` ``step`` bytes at a time, one write per ``every`` s: never a stall, never done soon."""
    end = time.monotonic() + HOSTILE_LIMIT_S
    for start in range(0, len(data), step):
        if stopped.is_set() or time.monotonic() > end:
            return
        stream.write(data[start : start + step])
        stream.flush()
        time.sleep(every)


def trickle_body(body: bytes, every: float = 0.05) -> RawRoute:
    """Honest headers, then the body 2 bytes at a time (the "2 bytes a second" server, faster)."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        stream.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        _trickle(stream, body, every, stopped, step=2)

    return route


def trickle_headers(every: float = 0.05) -> RawRoute:
    """A status line, then header lines one byte at a time, hundreds of them (each line does end)."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        stream.write(b"HTTP/1.1 200 OK\r\n")
        _trickle(stream, b"".join(b"X-Slow-%d: y\r\n" % i for i in range(90)), every, stopped)

    return route


def endless_header_line(every: float = 0.05) -> RawRoute:
    """A status line, then one header line that never ends."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        stream.write(b"HTTP/1.1 200 OK\r\nX-Never-Ends: ")
        _trickle(stream, b"a" * 60_000, every, stopped, step=4)

    return route


def endless_status_line(every: float = 0.05) -> RawRoute:
    """Not even a status line: bytes that never reach a line end."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        _trickle(stream, b"HTTP/1.1 200 " + b"O" * 60_000, every, stopped, step=4)

    return route


def headers_then_silence(body_length: int = 5000) -> RawRoute:
    """Headers promising a body, then nothing: the connection stalls (a socket timeout's case)."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        stream.write(f"HTTP/1.1 200 OK\r\nContent-Length: {body_length}\r\n\r\n".encode())
        stream.flush()
        stopped.wait(HOSTILE_LIMIT_S)

    return route


def silence() -> RawRoute:
    """Accept the request and never answer."""

    def route(stream, n: int, stopped: threading.Event) -> None:
        stopped.wait(HOSTILE_LIMIT_S)

    return route


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """An ``ImageServer`` running in a thread for one test."""
    server = ImageServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.stopped.set()
        server.server.shutdown()
        server.server.server_close()
