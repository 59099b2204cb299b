"""photos.fetch against a local server: statuses, files, quarantine, retries, resume."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photos.errors import PhotosError
from photos.fetch import FetchOptions, _Failure, download, fetch_urls
from photos.urls import url_key

from photo_server import ImageServer, fail_first, image_bytes, redirect, server, slow  # noqa: F401 - server is a fixture

GOOD_JPG = image_bytes(96, 80, "JPEG", seed=1)
GOOD_PNG = image_bytes(100, 90, "PNG", seed=2)
FLAKY_PNG = image_bytes(70, 70, "PNG", seed=3)
REDIRECTED_PNG = image_bytes(72, 90, "PNG", seed=4)
TINY_PNG = image_bytes(8, 8, "PNG", seed=5)
TRUNCATED_JPG = image_bytes(128, 128, "JPEG", seed=6)[:1500]
CORRUPT = np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes()

# The slow route sleeps past --timeout on every try. The timeout is 1.5 s, not less, so that
# the fast routes never time out on a loaded CI machine; reruns use no retries to stay quick.
FAST = dict(workers=4, timeout=1.5, retries=1, backoff=0.01, quiet=True)
RERUN = {**FAST, "retries": 0}


def _serve_all(server: ImageServer) -> list[str]:
    """Register every route; return the URL-list lines (in order, with comments and bad lines)."""
    server.add("/good.jpg", GOOD_JPG)
    server.add("/good.png", GOOD_PNG, "image/png")
    server.add("/corrupt.jpg", CORRUPT)
    server.add("/truncated.jpg", TRUNCATED_JPG)
    server.routes["/slow.jpg"] = slow(GOOD_JPG, delay=2.5)
    server.routes["/flaky.png"] = fail_first(FLAKY_PNG, 500)
    server.routes["/redirect"] = redirect("/redirected.png")
    server.add("/redirected.png", REDIRECTED_PNG, "image/png")
    server.add("/dup.jpg", GOOD_JPG)
    server.add("/tiny.png", TINY_PNG, "image/png")
    paths = ["/good.jpg", "/good.png", "/corrupt.jpg", "/truncated.jpg", "/slow.jpg", "/missing.jpg",
             "/flaky.png", "/redirect", "/dup.jpg", "/tiny.png"]
    return ["# cats, one URL per line", ""] + [server.url(p) for p in paths] + ["ftp://example.org/cat.jpg"]


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "_manifest.csv", newline="") as handle:
        return {row["url"]: row for row in csv.DictReader(handle)}


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def fetched_once(tmp_path_factory):
    """One full fetch of every route (its slow route makes it the module's costliest step)."""
    server = ImageServer()
    server.thread.start()
    folder = tmp_path_factory.mktemp("fetch")
    urls = folder / "urls.txt"
    urls.write_text("\n".join(_serve_all(server)) + "\n")
    summary = fetch_urls(urls, folder / "cat", FetchOptions(**FAST))
    yield server, urls, folder / "cat", summary, dict(server.requests)
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def fetched(fetched_once, tmp_path: Path):
    """A private copy of the fetched folder (tests change it); the server is shared."""
    server, urls, out, summary, requests = fetched_once
    copy = tmp_path / "cat"
    shutil.copytree(out, copy)
    return server, urls, copy, summary, requests


def test_fetch_statuses_files_and_quarantine(fetched) -> None:
    server, _, out, summary, requests = fetched
    rows = _manifest(out)
    status = {url.rsplit("/", 1)[-1]: (row["status"], row["attempts"]) for url, row in rows.items()}
    assert status == {
        "good.jpg": ("ok", "1"), "good.png": ("ok", "1"), "corrupt.jpg": ("not-image", "1"),
        "truncated.jpg": ("ok", "1"), "slow.jpg": ("timeout", "2"), "missing.jpg": ("http-error", "1"),
        "flaky.png": ("ok", "2"), "redirect": ("ok", "1"), "dup.jpg": ("ok", "1"), "tiny.png": ("ok", "1"),
        "cat.jpg": ("invalid", "0"),
    }
    assert rows[server.url("/missing.jpg")]["error"].startswith("HTTP 404")
    assert "not an http(s) URL" in rows["ftp://example.org/cat.jpg"]["error"]
    assert rows[server.url("/corrupt.jpg")]["error"] == "image/jpeg: no image format PIL knows"
    # requests: the 404 is not retried, the 500 is retried once, the slow one 1 + 1 retry
    assert requests["/missing.jpg"] == 1 and requests["/flaky.png"] == 2
    assert requests["/slow.jpg"] == 2 and requests["/redirected.png"] == 1
    key = {name: url_key(server.url("/" + name)) for name in ("good.jpg", "good.png", "corrupt.jpg", "truncated.jpg",
                                                                "flaky.png", "redirect", "dup.jpg", "tiny.png")}
    # names: entry index (comments and blanks not counted) + URL hash + the decoded format's extension
    assert _tree(out) == {
        "_manifest.csv", "_verify.csv",
        f"00000_{key['good.jpg']}.jpg", f"00001_{key['good.png']}.png", f"00006_{key['flaky.png']}.png",
        f"00007_{key['redirect']}.png",
        f"_quarantine/not-image/00002_{key['corrupt.jpg']}.bin",
        f"_quarantine/truncated/00003_{key['truncated.jpg']}.jpg",
        f"_quarantine/duplicate/00008_{key['dup.jpg']}.jpg",
        f"_quarantine/too-small/00009_{key['tiny.png']}.png",
    }
    saved = out / f"00007_{key['redirect']}.png"
    assert saved.read_bytes() == REDIRECTED_PNG  # the redirect target's bytes, unchanged
    assert rows[server.url("/redirect")]["sha256"] == hashlib.sha256(REDIRECTED_PNG).hexdigest()
    assert summary.downloaded == 7 and summary.skipped_existing == 0
    assert dict(summary.failed) == {"not-image": 1, "timeout": 1, "http-error": 1, "invalid": 1}
    assert dict(summary.verify.quarantined()) == {"truncated": 1, "duplicate": 1, "too-small": 1}
    text = summary.text()
    assert "downloaded            7" in text and "http-error 1" in text and "duplicate 1" in text
    for path in out.glob("0*"):  # what stays in the class folder is decodable RGB, big enough
        with Image.open(path) as image:
            image.load()
            assert image.mode == "RGB" and min(image.size) >= 64


def test_rerun_downloads_nothing_new(fetched) -> None:
    server, urls, out, _, _ = fetched
    before, statuses = dict(server.requests), {url: row["status"] for url, row in _manifest(out).items()}
    summary = fetch_urls(urls, out, FetchOptions(**RERUN))
    assert {url: row["status"] for url, row in _manifest(out).items()} == statuses
    new = {path: n - before.get(path, 0) for path, n in server.requests.items() if n != before.get(path, 0)}
    assert new == {"/slow.jpg": 1}  # only the transient failure is tried again; the 404 is final
    assert summary.downloaded == 0 and summary.skipped_existing == 8  # 4 kept + 3 quarantined + not-image
    assert summary.not_retried == 1  # the 404
    assert _manifest(out)[server.url("/good.jpg")]["status"] == "ok"


def test_resume_without_manifest_and_after_manual_cleaning(fetched) -> None:
    server, urls, out, _, _ = fetched
    good_png = next(out.glob("00001_*.png"))
    good_png.unlink()  # cleaned by hand: must stay deleted
    before = dict(server.requests)
    summary = fetch_urls(urls, out, FetchOptions(**RERUN, verify=False))
    assert server.requests["/good.png"] == before["/good.png"] and not good_png.exists()
    assert summary.skipped_removed == 1
    (out / "_manifest.csv").unlink()  # files alone are enough to recognise what was fetched
    before = dict(server.requests)
    fetch_urls(urls, out, FetchOptions(**RERUN, verify=False))
    rebuilt = _manifest(out)
    assert rebuilt[server.url("/corrupt.jpg")]["status"] == "not-image"
    assert rebuilt[server.url("/dup.jpg")]["file"].startswith("_quarantine/duplicate/")
    for path in ("/good.jpg", "/truncated.jpg", "/dup.jpg", "/corrupt.jpg", "/redirect"):
        assert server.requests[path] == before[path], path
    assert server.requests["/good.png"] == before["/good.png"] + 1  # no file and no record: fetched again
    assert _manifest(out)[server.url("/good.jpg")]["status"] == "ok"


def test_download_retry_rules(server: ImageServer) -> None:
    server.routes["/busy"] = fail_first(FLAKY_PNG, 429, failures=2, headers={"Retry-After": "0"})
    server.routes["/forbidden"] = fail_first(FLAKY_PNG, 403)
    server.add("/big", GOOD_PNG, "image/png")
    options = FetchOptions(**{**FAST, "retries": 2})
    body, _, attempts = download(server.url("/busy"), options)
    assert body == FLAKY_PNG and attempts == 3
    with pytest.raises(_Failure) as failure:
        download(server.url("/forbidden"), options)
    assert failure.value.status == "http-error" and failure.value.attempts == 1 and server.requests["/forbidden"] == 1
    with pytest.raises(_Failure) as failure:
        download(server.url("/big"), FetchOptions(**FAST, max_bytes=1000))
    assert failure.value.status == "too-large" and failure.value.attempts == 1
    with pytest.raises(_Failure) as failure:
        download(server.url("/forbidden").replace(str(server.server.server_address[1]), "1"), options)
    assert failure.value.status == "connection-error" and failure.value.attempts == 3  # nothing listens on port 1


def test_bad_options_and_url_file(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:1/a.jpg\n")
    with pytest.raises(PhotosError, match="--workers 0"):
        fetch_urls(urls, tmp_path / "out", FetchOptions(workers=0))
    with pytest.raises(PhotosError, match="--max-mb 0: expected a number of MB > 0"):
        fetch_urls(urls, tmp_path / "out", FetchOptions(max_bytes=0))
    with pytest.raises(PhotosError, match="missing.txt: not found"):
        fetch_urls(tmp_path / "missing.txt", tmp_path / "out")


def test_an_abandoned_try_shuts_its_connection(server: ImageServer) -> None:
    # The try is abandoned at --max-time; its socket is shut, so the server's writes fail and the
    # hostile handler ends at once instead of trickling on for a minute.
    from photo_server import trickle_body

    ended = threading.Event()
    trickle = trickle_body(GOOD_JPG * 40)

    def route(stream, n, stopped):
        try:
            trickle(stream, n, stopped)
        finally:
            ended.set()

    server.raw["/trickle"] = route
    with pytest.raises(_Failure) as failure:
        download(server.url("/trickle"), FetchOptions(timeout=5, max_time=0.5, retries=0))
    assert (failure.value.status, failure.value.attempts) == ("timeout", 1)
    assert "not done within 0.5s" in failure.value.message
    assert ended.wait(20)  # well before the route's own one-minute limit


@pytest.mark.parametrize("field, value, words", [
    ("timeout", float("nan"), "--timeout nan"), ("max_time", float("inf"), "--max-time inf"),
    ("retries", 10**9, "--retries 1000000000"), ("workers", 0, "--workers 0"),
    ("max_bytes", 2**60, "--max-mb 1.09951e+12"), ("min_size", 10**6, "--min-size 1000000"),
])
def test_options_are_checked_through_the_api_too(tmp_path: Path, field, value, words) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("ftp://example.org/a.jpg\n")
    with pytest.raises(PhotosError, match=re.escape(words)):
        fetch_urls(urls, tmp_path / "out", FetchOptions(**{field: value}))
    assert not (tmp_path / "out").exists()
