"""``_manifest.csv``: one row per URL, what fetching it gave.

Columns: ``url, file, sha256, bytes, status, error, attempts``. ``file`` is
relative to the folder (a ``_quarantine/not-image/...`` path for content
that is not an image). ``status`` is one of ``STATUSES``. The file is
rewritten whole and atomically as results come in, so an interrupted fetch
leaves a consistent manifest that the next run resumes from.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from kit.store import atomic_write_csv

from photos.errors import PhotosError

__all__ = ["MANIFEST_NAME", "COLUMNS", "STATUSES", "PERMANENT", "ManifestRow", "read_manifest", "write_manifest"]

MANIFEST_NAME = "_manifest.csv"
COLUMNS = ("url", "file", "sha256", "bytes", "status", "error", "attempts")

# ok: saved as an image file; invalid: the line is not an http(s) URL;
# http-error: an HTTP status >= 400 after retries; timeout / connection-error:
# the network failed after retries; too-large: over the size cap; not-image:
# bytes PIL cannot identify (kept under _quarantine/not-image/);
# pending: not tried yet (an interrupted run).
STATUSES = ("ok", "invalid", "http-error", "timeout", "connection-error", "too-large", "not-image", "pending")

# Failures a rerun does not retry unless asked (--retry-failed): retrying
# gives the same answer. Timeouts, connection errors and 5xx/429 (which end
# as http-error with a retryable code) are retried on the next run.
PERMANENT = ("invalid", "too-large", "not-image")


@dataclasses.dataclass
class ManifestRow:
    """One URL's outcome (see the module docstring for the columns)."""

    url: str
    file: str = ""
    sha256: str = ""
    bytes: int = 0
    status: str = "pending"
    error: str = ""
    attempts: int = 0

    @property
    def permanent_failure(self) -> bool:
        """True when fetching again cannot help: bad URL, too large, not an image, 4xx but 408/429."""
        if self.status in PERMANENT:
            return True
        code = self.error.split()[1] if self.error.startswith("HTTP ") else ""
        return self.status == "http-error" and code.isdigit() and 400 <= int(code) < 500 and int(code) not in (408, 429)


def read_manifest(path: Path) -> dict[str, ManifestRow]:
    """The rows of an existing manifest by URL (empty when there is none).

    Raises:
        PhotosError: the file exists but is not a manifest (wrong columns or values).
    """
    if not path.exists():
        return {}
    if not path.is_file():
        raise PhotosError(f"manifest {path}: is not a file; move it away to start afresh")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise PhotosError(f"manifest {path}: expected columns {','.join(COLUMNS)}; move it away to start afresh")
            rows = [
                ManifestRow(**{**record, "bytes": int(record["bytes"] or 0), "attempts": int(record["attempts"] or 0)})
                for record in reader
            ]
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as error:
        raise PhotosError(f"manifest {path}: unreadable ({error}); move it away to start afresh") from None
    except OSError as error:
        raise PhotosError(f"manifest {path}: cannot read ({error.strerror or type(error).__name__})") from None
    return {row.url: row for row in rows}


def write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    """Write ``rows`` (in the given order) to ``path`` atomically."""
    atomic_write_csv(path, (dataclasses.asdict(row) for row in rows), COLUMNS)
