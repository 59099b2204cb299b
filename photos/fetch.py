"""Download a URL list into a folder: parallel, retrying, resumable.

Each URL is fetched with ``urllib.request`` (redirects followed) in a
bounded thread pool. A try that times out, loses its connection or gets
HTTP 5xx/408/429 is retried up to ``retries`` times after an exponential
backoff with jitter (``Retry-After`` honoured, capped); other HTTP errors
(404, 403...) are final at once. Bodies over the size cap are refused.
Bytes that PIL identifies as an image are saved atomically as
``{index:05d}_{sha1(url)[:10]}.{ext}`` (extension from the decoded format);
anything else goes to ``_quarantine/not-image/``. ``_manifest.csv`` records
every URL (``photos.manifest``) and is rewritten as results arrive.

Resuming: a URL whose file is already in the folder (or in its
``_quarantine``), or that the manifest says was fetched before (a file you
deleted while cleaning stays deleted), is not downloaded again; neither is
one that failed for good before (bad URL, 4xx, too large, not an image)
unless ``retry_failed``. Timeouts, connection errors and 5xx are retried.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import http.client
import io
import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from study.store import atomic_write_bytes

from photos.errors import PhotosError, ensure_writable_folder, relative
from photos.manifest import MANIFEST_NAME, ManifestRow, read_manifest, write_manifest
from photos.progress import progress_bar
from photos.urls import UrlEntry, file_stem, key_of_file, read_url_list, url_key
from photos.verify import QUARANTINE_DIR, VerifySummary, verify_folder

__all__ = ["FetchOptions", "FetchSummary", "fetch_urls", "download"]

# Many image hosts refuse urllib's default "Python-urllib/3.x" agent.
USER_AGENT = "Mozilla/5.0 (compatible; cnn-counting-study-photos/0.1)"
_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
               "TIFF": ".tif"}
_TOTAL_TIMEOUTS = 6  # a whole download may take this many --timeout (the socket timeout bounds each stall)
_MAX_DELAY = 60.0  # seconds: cap on one backoff or Retry-After wait
_MANIFEST_EVERY = 1.0  # seconds between manifest rewrites while downloading


@dataclasses.dataclass
class FetchOptions:
    """How to fetch (the ``python -m photos fetch`` flags).

    Attributes:
        workers: parallel requests.
        timeout: seconds a connection may stall before the try fails.
        retries: extra tries after a timeout, connection error or 5xx/408/429.
        backoff: first retry delay in seconds; doubles each retry, x1-1.5 jitter.
        max_bytes: size cap per file.
        min_size: passed to verify (smallest allowed shorter side).
        verify: run ``verify_folder`` on the folder afterwards.
        retry_failed: also retry URLs that failed for good on an earlier run.
        quiet: no progress bar.
    """

    workers: int = 8
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    max_bytes: int = 20 * 2**20
    min_size: int = 64
    verify: bool = True
    retry_failed: bool = False
    quiet: bool = False

    def check(self) -> None:
        """Raises PhotosError naming the first out-of-range option."""
        limits = [("--workers", self.workers, 1), ("--timeout", self.timeout, 1e-3), ("--retries", self.retries, 0),
                  ("--backoff", self.backoff, 0), ("--min-size", self.min_size, 1)]
        for flag, value, low in limits:
            if value < low:
                raise PhotosError(f"{flag} {value}: must be at least {low:g}")
        if self.max_bytes < 1:
            raise PhotosError(f"--max-mb {self.max_bytes / 2**20:g}: must be more than 0")


@dataclasses.dataclass
class FetchSummary:
    """What ``fetch_urls`` did.

    Attributes:
        folder: the output folder; manifest: its ``_manifest.csv``.
        urls: distinct URL entries in the list (repeated lines counted once).
        downloaded: saved as images by this run.
        skipped_existing: already in the folder or its quarantine.
        skipped_removed: fetched by an earlier run, file since removed.
        not_retried: failed for good on an earlier run, not tried again.
        repeated_lines: URL lines that repeat an earlier line.
        failed: final non-ok statuses of the list's URLs, by status.
        verify: the verify step's summary (None with ``verify=False``).
    """

    folder: Path
    manifest: Path
    urls: int = 0
    downloaded: int = 0
    skipped_existing: int = 0
    skipped_removed: int = 0
    not_retried: int = 0
    repeated_lines: int = 0
    failed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    verify: VerifySummary | None = None

    def text(self) -> str:
        """The printed summary: fetch counts, then verify's."""
        failed = ", ".join(f"{status} {n}" for status, n in sorted(self.failed.items()))
        lines = [
            f"fetch {self.folder}: {self.urls} URLs",
            f"  downloaded        {self.downloaded:5d}",
            f"  skipped-existing  {self.skipped_existing:5d}"
            + (f"  (+{self.skipped_removed} fetched before, file since removed)" if self.skipped_removed else ""),
            f"  failed            {sum(self.failed.values()):5d}{'  (' + failed + ')' if failed else ''}"
            + (f"  [{self.not_retried} from an earlier run, not retried]" if self.not_retried else ""),
            f"  manifest          {self.manifest}",
        ]
        if self.repeated_lines:
            lines.insert(1, f"  repeated lines    {self.repeated_lines:5d}  (fetched once)")
        if self.verify is not None:
            lines.append(self.verify.text())
        return "\n".join(lines)


class _Failure(Exception):
    """One failed try: a manifest status, a message, and whether trying again may help."""

    def __init__(self, status: str, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.message, self.retryable, self.retry_after = status, message, retryable, retry_after
        self.attempts = 0


def _retry_after(value: str | None) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (HTTP dates are ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _read_body(response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Failure("too-large", f"Content-Length {declared} bytes > cap {max_bytes}", retryable=False)
    chunks, size = [], 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
        if size > max_bytes:
            raise _Failure("too-large", f"body over the cap of {max_bytes} bytes", retryable=False)
        if time.monotonic() > deadline:
            raise _Failure("timeout", "download still running after its total time limit", retryable=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _attempt(url: str, timeout: float, max_bytes: int) -> tuple[bytes, str]:
    """One GET. Returns ``(body, content type)``; raises ``_Failure``."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = _read_body(response, max_bytes, time.monotonic() + timeout * _TOTAL_TIMEOUTS)
            return body, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        retryable = error.code >= 500 or error.code in (408, 429)
        after = _retry_after(error.headers.get("Retry-After")) if error.headers else None
        raise _Failure("http-error", f"HTTP {error.code} {error.reason}", retryable, after) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _Failure("timeout", f"no answer within {timeout:g}s", retryable=True) from None
        raise _Failure("connection-error", str(error.reason), retryable=True) from None
    except TimeoutError:
        raise _Failure("timeout", f"stalled for {timeout:g}s", retryable=True) from None
    except (OSError, http.client.HTTPException) as error:
        raise _Failure("connection-error", f"{type(error).__name__}: {error}", retryable=True) from None
    except ValueError as error:  # urllib rejects some URLs only when opening them (bad port...)
        raise _Failure("invalid", str(error), retryable=False) from None


def download(url: str, options: FetchOptions, stop: threading.Event | None = None) -> tuple[bytes, str, int]:
    """GET ``url`` with retries and backoff.

    Args:
        url: an http(s) URL.
        options: timeout, retries, backoff and size cap.
        stop: when set (Ctrl-C), no further retry is started.

    Returns:
        ``(body, content type, tries used)``.

    Raises:
        _Failure: the last try's failure, with ``attempts`` set.
    """
    stop = stop or threading.Event()
    attempt = 0
    while True:
        attempt += 1
        try:
            body, content_type = _attempt(url, options.timeout, options.max_bytes)
            return body, content_type, attempt
        except _Failure as failure:
            if not failure.retryable or attempt > options.retries or stop.is_set():
                failure.attempts = attempt
                raise
            delay = failure.retry_after if failure.retry_after is not None else options.backoff * 2 ** (attempt - 1)
            stop.wait(min(delay, _MAX_DELAY) * random.uniform(1.0, 1.5))  # jitter: spread retries to one host


def _fetch_one(entry: UrlEntry, folder: Path, options: FetchOptions, stop: threading.Event) -> ManifestRow:
    """Download one entry and save it (image) or quarantine it (not an image). Runs in a worker."""
    from PIL import Image, UnidentifiedImageError

    try:
        body, content_type, attempts = download(entry.url, options, stop)
    except _Failure as failure:
        return ManifestRow(entry.url, status=failure.status, error=failure.message, attempts=failure.attempts)
    row = ManifestRow(entry.url, sha256=hashlib.sha256(body).hexdigest(), bytes=len(body), attempts=attempts)
    try:
        with Image.open(io.BytesIO(body)) as image:  # header only: verify does the full decode
            image_format = image.format or ""
    except Exception as error:  # noqa: BLE001 - PIL signals "not an image" with several types
        path = folder / QUARANTINE_DIR / "not-image" / f"{file_stem(entry)}.bin"
        reason = "no image format PIL knows" if isinstance(error, UnidentifiedImageError) else str(error)
        row.status, row.error = "not-image", f"{content_type or 'no Content-Type'}: {reason}"
    else:
        path = folder / f"{file_stem(entry)}{_EXTENSIONS.get(image_format, '.' + image_format.lower())}"
        row.status = "ok"
    atomic_write_bytes(path, body)
    row.file = relative(path, folder)
    return row


def _files_on_disk(folder: Path) -> dict[str, Path]:
    """URL key -> file, for files ``fetch`` named, in the folder or anywhere in its quarantine."""
    quarantine = folder / QUARANTINE_DIR
    candidates = [p for p in folder.iterdir() if p.is_file()]
    candidates += sorted(p for p in quarantine.rglob("*") if p.is_file()) if quarantine.is_dir() else []
    found: dict[str, Path] = {}
    for path in candidates:
        key = key_of_file(path.name)
        if key:
            found.setdefault(key, path)
    return found


def _row_for_file(entry: UrlEntry, path: Path, folder: Path) -> ManifestRow:
    """A manifest row rebuilt from a file on disk (the manifest was lost or never written)."""
    data = path.read_bytes()
    not_image = path.parent == folder / QUARANTINE_DIR / "not-image"
    return ManifestRow(entry.url, file=relative(path, folder), sha256=hashlib.sha256(data).hexdigest(),
                       bytes=len(data), status="not-image" if not_image else "ok",
                       error="found on disk; not downloaded again" if not_image else "")


def _plan(entries: list[UrlEntry], folder: Path, options: FetchOptions, summary: FetchSummary,
          ) -> tuple[dict[str, ManifestRow], list[UrlEntry]]:
    """Manifest rows for every URL (old ones kept) and the entries still to download."""
    previous = read_manifest(folder / MANIFEST_NAME)
    on_disk = _files_on_disk(folder)
    rows: dict[str, ManifestRow] = {}
    todo: list[UrlEntry] = []
    for entry in entries:
        if entry.url in rows:
            summary.repeated_lines += 1
            continue
        old, found = previous.get(entry.url), on_disk.get(url_key(entry.url))
        if not entry.valid:
            rows[entry.url] = ManifestRow(entry.url, status="invalid", error=f"line {entry.line}: {entry.error}")
        elif found is not None:
            summary.skipped_existing += 1
            rows[entry.url] = old if old and old.status in ("ok", "not-image") else _row_for_file(entry, found, folder)
        elif old and old.status == "ok":
            summary.skipped_removed += 1
            rows[entry.url] = old
        elif old and old.permanent_failure and not options.retry_failed:
            summary.not_retried += 1
            rows[entry.url] = old
        else:
            rows[entry.url] = ManifestRow(entry.url, attempts=old.attempts if old else 0)
            todo.append(entry)
    summary.urls = len(rows)
    extra = {url: row for url, row in previous.items() if url not in rows}  # no longer listed: keep the record
    return {**rows, **extra}, todo


def fetch_urls(url_file: str | Path, out: str | Path, options: FetchOptions | None = None) -> FetchSummary:
    """Download every URL of a list into ``out``, then verify the folder.

    Args:
        url_file: UTF-8 text, one URL per line (see ``photos.urls``).
        out: the class folder to fill (created if needed).
        options: see ``FetchOptions``.

    Returns:
        a ``FetchSummary`` (``.text()`` is the printed summary).

    Raises:
        PhotosError: bad URL file, options or output folder.
        KeyboardInterrupt: after saving the manifest, so a rerun resumes.
    """
    options = options or FetchOptions()
    options.check()
    entries = read_url_list(url_file)
    out = Path(out)
    ensure_writable_folder(out, "--out")
    summary = FetchSummary(folder=out, manifest=out / MANIFEST_NAME)
    rows, todo = _plan(entries, out, options, summary)
    write_manifest(summary.manifest, list(rows.values()))
    stop = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="photos-fetch")
    try:
        futures = [pool.submit(_fetch_one, entry, out, options, stop) for entry in todo]
        last_write = time.monotonic()
        with progress_bar(len(todo), f"fetch {out.name}", "url", quiet=options.quiet) as bar:
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                rows[row.url] = row
                summary.downloaded += row.status == "ok"
                bar.update(1)
                if time.monotonic() - last_write > _MANIFEST_EVERY:
                    write_manifest(summary.manifest, list(rows.values()))
                    last_write = time.monotonic()
    finally:
        stop.set()  # on Ctrl-C: running tries finish (bounded by --timeout), no new ones start
        pool.shutdown(wait=True, cancel_futures=True)
        write_manifest(summary.manifest, list(rows.values()))
    listed = {entry.url for entry in entries}
    summary.failed = collections.Counter(r.status for url, r in rows.items() if url in listed and r.status != "ok")
    if options.verify:
        summary.verify = verify_folder(out, min_size=options.min_size, quiet=options.quiet)
    return summary
