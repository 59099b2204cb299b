"""Download a URL list into a folder: parallel, retrying, resumable, bounded in time.

Each URL is fetched with ``urllib.request`` (redirects followed) in a
bounded thread pool. The socket timeout bounds each stall; each try also
has a total time limit (``max_time``) that holds whatever the server does,
because the try runs in a thread that is abandoned, its sockets shut, when
the limit passes. A try that times out, loses its connection or gets
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

The output folder must be new, empty, or one fetch made (only its files and
records in it): a folder of someone else's files is refused, never
quarantined or overwritten. A lock (``photos.errors.folder_lock``) keeps a
second fetch or verify out of the folder while one runs.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import http.client
import io
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from kit.progress import progress_bar
from kit.store import atomic_write_bytes

from photos.errors import LOCK_NAME, PhotosError, check_number, ensure_writable_folder, folder_lock, relative
from photos.manifest import MANIFEST_NAME, ManifestRow, read_manifest, write_manifest
from photos.urls import UrlEntry, file_stem, key_of_file, read_url_list, url_key
from photos.verify import MAX_MIN_SIZE, QUARANTINE_DIR, REPORT_NAME, VerifySummary, verify_locked_folder

__all__ = ["FetchOptions", "FetchSummary", "OPTION_RANGES", "fetch_urls", "download"]

# Many image hosts refuse urllib's default "Python-urllib/3.x" agent.
USER_AGENT = "Mozilla/5.0 (compatible; cnn-counting-study-photos/0.1)"
_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
               "TIFF": ".tif"}
_TOTAL_TIMEOUTS = 6  # default --max-time: this many --timeout (the socket timeout bounds each stall)
_MAX_DELAY = 60.0  # seconds: cap on one backoff or Retry-After wait
_MANIFEST_EVERY = 1.0  # seconds between manifest rewrites while downloading
_READ_CHUNK = 1 << 14  # bytes per body read: the size cap is checked this often
_MAX_REDIRECTS = urllib.request.HTTPRedirectHandler.max_redirections


@dataclasses.dataclass
class FetchOptions:
    """How to fetch (the ``python -m photos fetch`` flags).

    Attributes:
        workers: parallel requests.
        timeout: seconds a connection may stall (connect, or one read) before the try fails.
        max_time: seconds one try may take in all, whatever the server does (a
            trickled body or header, a redirect chain); None means ``6 * timeout``.
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
    max_time: float | None = None
    retries: int = 3
    backoff: float = 1.0
    max_bytes: int = 20 * 2**20
    min_size: int = 64
    verify: bool = True
    retry_failed: bool = False
    quiet: bool = False

    @property
    def try_seconds(self) -> float:
        """The total time limit of one try."""
        return self.max_time if self.max_time is not None else self.timeout * _TOTAL_TIMEOUTS

    def check(self) -> None:
        """Raises PhotosError naming the first option outside its range (``OPTION_RANGES``)."""
        values = {"--workers": self.workers, "--timeout": self.timeout, "--max-time": self.max_time,
                  "--retries": self.retries, "--backoff": self.backoff, "--max-mb": self.max_bytes / 2**20,
                  "--min-size": self.min_size}
        for flag, value in values.items():
            if value is not None:
                check_number(flag, value, **OPTION_RANGES[flag])


# The valid range of every numeric fetch flag, checked where the command line parses it and again
# by FetchOptions.check. The upper bounds keep absurd values from reaching the OS (a socket
# timeout of 1e300 s overflows), memory (bodies are held in memory) or the host (thousands of
# parallel requests); they are far above any useful setting.
OPTION_RANGES: dict[str, dict] = {
    "--workers": dict(low=1, high=64, integer=True, unit="parallel requests"),
    "--timeout": dict(low=0, high=3600, above_low=True, unit="seconds"),
    "--max-time": dict(low=0, high=86400, above_low=True, unit="seconds"),
    "--retries": dict(low=0, high=100, integer=True, unit="retries"),
    "--backoff": dict(low=0, high=_MAX_DELAY, unit="seconds"),
    "--max-mb": dict(low=0, high=1024, above_low=True, unit="MB"),
    "--min-size": dict(low=1, high=MAX_MIN_SIZE, integer=True, unit="pixels"),
}


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


class _TrySockets:
    """The sockets one try opened, to be shut when its time limit passes.

    ``shut_all`` shuts them down: a read blocked in the abandoned try's thread
    returns at once, so the thread ends instead of lingering.
    """

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._lock = threading.Lock()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self._expired
        if expired:
            _shut(sock)

    def shut_all(self) -> None:
        with self._lock:
            self._expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its owner


def _tracked(connection_class: type[http.client.HTTPConnection], sockets: _TrySockets):
    """A connection factory for urllib that registers each socket it opens in ``sockets``."""

    def make(*args, **kwargs) -> http.client.HTTPConnection:
        connection = connection_class(*args, **kwargs)
        create = connection._create_connection  # socket.create_connection; https wraps its result in TLS

        def create_tracked(*c_args, **c_kwargs) -> socket.socket:
            sock = create(*c_args, **c_kwargs)
            sockets.track(sock)
            return sock

        connection._create_connection = create_tracked
        return connection

    return make


class _TrackedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: _TrySockets):
        super().__init__()
        self.sockets = sockets

    def http_open(self, request):
        return self.do_open(_tracked(http.client.HTTPConnection, self.sockets), request)


class _TrackedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: _TrySockets):
        super().__init__()
        self.sockets = sockets

    def https_open(self, request):
        return self.do_open(_tracked(http.client.HTTPSConnection, self.sockets), request, context=self._context)


def _read_body(response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Failure("too-large", f"Content-Length {declared} bytes > cap {max_bytes}", retryable=False)
    chunks, size = [], 0
    while chunk := response.read(_READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise _Failure("too-large", f"body over the cap of {max_bytes} bytes", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


def _get(url: str, timeout: float, max_bytes: int, sockets: _TrySockets) -> tuple[bytes, str]:
    """One GET whose sockets are registered in ``sockets``. Raises ``_Failure``."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"})
    opener = urllib.request.build_opener(_TrackedHTTPHandler(sockets), _TrackedHTTPSHandler(sockets))
    try:
        with opener.open(request, timeout=timeout) as response:
            return _read_body(response, max_bytes), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:  # urllib gave up following a redirect chain (too long, or a loop)
            raise _Failure("http-error", f"HTTP {error.code}: more than {_MAX_REDIRECTS} redirects, or a loop",
                           retryable=False) from None
        retryable = error.code >= 500 or error.code in (408, 429)
        after = _retry_after(error.headers.get("Retry-After")) if error.headers else None
        reason = str(error.reason).splitlines()[0] if error.reason else ""
        raise _Failure("http-error", f"HTTP {error.code} {reason}".rstrip(), retryable, after) from None
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


def _attempt(url: str, timeout: float, max_bytes: int, max_time: float) -> tuple[bytes, str]:
    """One GET that ends within ``max_time`` seconds, whatever the server does.

    The socket timeout bounds each stall, but a server that trickles a byte
    at a time (in the body, or in a header line that never ends) never
    stalls. So the GET runs in its own thread, and this one waits at most
    ``max_time``: past it the try is abandoned as a timeout and its sockets
    are shut down, which ends the thread's blocked read.

    Returns:
        ``(body, content type)``.

    Raises:
        _Failure: the try failed or ran out of time.
    """
    sockets = _TrySockets()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = _get(url, timeout, max_bytes, sockets)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="photos-try", daemon=True)
    worker.start()
    worker.join(max_time)
    if worker.is_alive():
        sockets.shut_all()
        raise _Failure("timeout", f"not done within {max_time:g}s (--max-time)", retryable=True)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


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
            body, content_type = _attempt(url, options.timeout, options.max_bytes, options.try_seconds)
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
        elif old and old.permanent_failure and old.status != "invalid" and not options.retry_failed:
            # "invalid" is judged afresh from the line each run: an old one came from a line since fixed
            # (or from a bad option of an older version), so it is tried.
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
        PhotosError: bad URL file, options or output folder (a file, not writable, holding files
            fetch did not make, or in use by another run).
        KeyboardInterrupt: after saving the manifest, so a rerun resumes.
    """
    options = options or FetchOptions()
    options.check()
    entries = read_url_list(url_file)
    out = Path(out)
    _check_out_is_ours(out)
    ensure_writable_folder(out, "--out")
    with folder_lock(out, "fetch"):
        return _fetch_locked(entries, out, options)


# What fetch and verify write in a folder; a non-empty --out holding anything else is someone else's.
_OUR_NAMES = (MANIFEST_NAME, REPORT_NAME, QUARANTINE_DIR, LOCK_NAME)


def _check_out_is_ours(out: Path) -> None:
    """Refuse a non-empty ``--out`` that fetch did not make, before anything is written there.

    Verify would quarantine or rewrite whatever it finds, and a user's own
    ``_manifest.csv`` would be read as fetch's. Like ``rsync --delete`` or
    ``pip install --target``, a tool that manages a folder's contents should
    only do so in a folder it made: an empty or new one, or one whose every
    entry is a fetched file (``00012_ab12cd34ef.jpg``), fetch's own records,
    or a hidden temporary file.

    Raises:
        PhotosError: naming up to three foreign entries.
    """
    if not out.is_dir():
        return  # missing (made later) or a file (ensure_writable_folder says so)
    try:
        names = [p.name for p in out.iterdir()]
    except OSError as error:
        raise PhotosError(f"--out {out}: cannot list it ({error.strerror or type(error).__name__})") from None
    foreign = sorted(name for name in names if not (name in _OUR_NAMES or name.startswith(".") or key_of_file(name)))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise PhotosError(f"--out {out}: not empty and not a folder photos fetch made (it holds {shown}); "
                          "choose a new or empty folder, or one an earlier fetch filled")
    if (out / MANIFEST_NAME).exists():
        read_manifest(out / MANIFEST_NAME)  # a file of that name that is not fetch's is refused, never overwritten


def _fetch_locked(entries: list[UrlEntry], out: Path, options: FetchOptions) -> FetchSummary:
    """``fetch_urls`` once the URL list is read and the folder is checked and locked."""
    summary = FetchSummary(folder=out, manifest=out / MANIFEST_NAME)
    rows, todo = _plan(entries, out, options, summary)
    write_manifest(summary.manifest, list(rows.values()))
    stop = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="photos-fetch")
    try:
        futures = [pool.submit(_fetch_one, entry, out, options, stop) for entry in todo]
        last_write = time.monotonic()
        with progress_bar(len(todo), f"fetch {out.name}", "url", "quiet" if options.quiet else "auto") as bar:
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                rows[row.url] = row
                summary.downloaded += row.status == "ok"
                bar.update(1)
                if time.monotonic() - last_write > _MANIFEST_EVERY:
                    write_manifest(summary.manifest, list(rows.values()))
                    last_write = time.monotonic()
    finally:
        stop.set()  # on Ctrl-C: running tries finish (each bounded by --max-time), no new ones start
        pool.shutdown(wait=True, cancel_futures=True)
        write_manifest(summary.manifest, list(rows.values()))
    listed = {entry.url for entry in entries}
    summary.failed = collections.Counter(r.status for url, r in rows.items() if url in listed and r.status != "ok")
    if options.verify:
        summary.verify = verify_locked_folder(out, min_size=options.min_size, quiet=options.quiet)
    return summary
