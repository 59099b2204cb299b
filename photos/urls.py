"""URL lists (fastai ``download_images`` format) and the file names derived from them.

A URL list is UTF-8 text with one URL per line; blank lines and lines whose
first non-blank character is ``#`` are ignored. Every other line is an
*entry*; entries are numbered from 0 in file order, and entry ``i`` with URL
``u`` is saved as ``{i:05d}_{sha1(u)[:10]}.{ext}``. The hash part alone
identifies the URL, so a file is recognised even if the list was reordered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from photos.errors import PhotosError

__all__ = ["UrlEntry", "read_url_list", "url_key", "file_stem", "key_of_file"]

_KEY_CHARS = 10
_FILE_KEY = re.compile(rf"^\d+_([0-9a-f]{{{_KEY_CHARS}}})(?:\.|$)")


@dataclasses.dataclass(frozen=True)
class UrlEntry:
    """One non-blank, non-comment line of a URL list.

    Attributes:
        index: position among the entries (0-based), used in the file name.
        line: 1-based line number in the file (for messages).
        url: the stripped line.
        error: why the line is not a usable http(s) URL; empty when it is.
    """

    index: int
    line: int
    url: str
    error: str = ""

    @property
    def valid(self) -> bool:
        return not self.error


def _url_problem(url: str) -> str:
    """Empty when ``url`` is an absolute http(s) URL, else a short reason."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError as error:
        return f"malformed URL ({error})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an http(s) URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.hostname:
        return "URL has no host"
    if any(ch.isspace() for ch in url):
        return "URL contains whitespace"
    return ""


def read_url_list(path: str | Path) -> list[UrlEntry]:
    """Read a URL list; bad lines become entries with an ``error``, not exceptions.

    Args:
        path: UTF-8 text file, one URL per line (a BOM is allowed).

    Returns:
        the entries in file order.

    Raises:
        PhotosError: the file is missing, is a folder, cannot be read or is not UTF-8.
    """
    path = Path(path)
    if not path.exists():
        raise PhotosError(f"URL file {path}: not found")
    if path.is_dir():
        raise PhotosError(f"URL file {path}: is a folder; give a text file with one URL per line")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PhotosError(
            f"URL file {path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start});"
            " save it as UTF-8"
        ) from None
    except OSError as error:
        raise PhotosError(f"URL file {path}: cannot read ({error.strerror or error})") from None
    entries: list[UrlEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        url = raw.strip()
        if not url or url.startswith("#"):
            continue
        entries.append(UrlEntry(index=len(entries), line=number, url=url, error=_url_problem(url)))
    return entries


def url_key(url: str) -> str:
    """The first characters of the URL's SHA-1: its identity in file names."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:_KEY_CHARS]


def file_stem(entry: UrlEntry) -> str:
    """``{index:05d}_{url_key}``: the file name without extension."""
    return f"{entry.index:05d}_{url_key(entry.url)}"


def key_of_file(name: str) -> str | None:
    """The URL key in a file name written by ``fetch``, or None for other files."""
    match = _FILE_KEY.match(name)
    return match.group(1) if match else None
