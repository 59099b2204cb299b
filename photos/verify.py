"""Check an image folder like fastai's ``verify_images``, but never delete.

Every file below the folder (recursively; names starting with ``.`` or
``_`` are skipped, so the quarantine and the reports are never re-checked)
is decoded fully with PIL. Then, in this order of precedence:

- undecodable files go to ``_quarantine/truncated/`` (PIL ran out of data)
  or ``_quarantine/corrupt/`` (anything else PIL rejects);
- exact duplicates (same SHA-256 of the file bytes) go to
  ``_quarantine/duplicate/``, keeping the first by sorted relative path;
- images whose shorter side is under ``min_size`` go to
  ``_quarantine/too-small/``;
- images not in RGB mode (palette, RGBA, grayscale, 16-bit, CMYK) are
  converted with the same rules the study's folder task applies
  (``kit.images.open_rgb``: alpha composited on white, 16-bit rescaled, EXIF
  orientation applied) and rewritten atomically; formats that cannot hold
  RGB (GIF) become PNG.

A quarantined file keeps its path relative to the folder:
``FOLDER/_quarantine/<reason>/<relative path>``. ``FOLDER/_verify.csv``
records one row per file (``REPORT_COLUMNS``).
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import os
import warnings
from pathlib import Path

from kit.images import ImageDecodeError, open_rgb
from kit.progress import progress_bar
from kit.store import atomic_write_bytes, atomic_write_csv

from photos.errors import PhotosError, check_number, ensure_writable_folder, folder_lock, relative

__all__ = ["QUARANTINE_DIR", "REPORT_NAME", "REPORT_COLUMNS", "REASONS", "FileCheck", "VerifySummary",
           "verify_folder", "verify_locked_folder", "list_images", "MAX_MIN_SIZE"]

QUARANTINE_DIR = "_quarantine"
REPORT_NAME = "_verify.csv"
REPORT_COLUMNS = ("file", "action", "reason", "detail", "format", "mode", "width", "height", "bytes", "sha256",
                  "moved_to")
REASONS = ("truncated", "corrupt", "duplicate", "too-small")
MAX_MIN_SIZE = 16384  # px: a --min-size above any photo's side would quarantine every file

# Save settings per decoded format for files rewritten as RGB; any other
# format (GIF: palette only) is rewritten as PNG.
_RGB_SAVE = {
    "JPEG": ("JPEG", {"quality": 95}),
    "MPO": ("JPEG", {"quality": 95}),
    "PNG": ("PNG", {}),
    "WEBP": ("WEBP", {"quality": 95}),
    "BMP": ("BMP", {}),
    "TIFF": ("TIFF", {}),
}


@dataclasses.dataclass
class FileCheck:
    """What verify found in one file and what it does (or would do) about it.

    Attributes:
        file: path relative to the verified folder (forward slashes).
        action: ``keep``, ``convert``, ``quarantine`` or ``skip`` (the file could not
            be read, or went away while verify ran: it is reported and left where it is).
        reason: quarantine reason (one of ``REASONS``), ``MODE -> RGB`` for ``convert``,
            ``unreadable`` for ``skip``; empty for ``keep``.
        detail: PIL's message for undecodable files, the kept original for duplicates.
        moved_to: after a move, the new path relative to the folder (or the
            new name of a converted GIF).
    """

    file: str
    action: str = "keep"
    reason: str = ""
    detail: str = ""
    format: str = ""
    mode: str = ""
    width: int = 0
    height: int = 0
    bytes: int = 0
    sha256: str = ""
    moved_to: str = ""


@dataclasses.dataclass
class VerifySummary:
    """The outcome of ``verify_folder``.

    Attributes:
        folder: the folder verified.
        checks: one per file, in sorted path order.
        dry_run: True when nothing was changed.
        report: path of ``_verify.csv`` (None on a dry run).
    """

    folder: Path
    checks: list[FileCheck]
    dry_run: bool = False
    report: Path | None = None

    def quarantined(self) -> collections.Counter:
        """Quarantined (or to-be-quarantined) files by reason."""
        return collections.Counter(c.reason for c in self.checks if c.action == "quarantine")

    def converted(self) -> int:
        return sum(c.action == "convert" for c in self.checks)

    def skipped(self) -> list[FileCheck]:
        """Files left alone because they could not be read."""
        return [c for c in self.checks if c.action == "skip"]

    def text(self, listed: int = 10) -> str:
        """A one-screen summary; a dry run lists every planned change instead of the first ``listed``."""
        would = "would be " if self.dry_run else ""
        bad = self.quarantined()
        skipped = self.skipped()
        usable = len(self.checks) - sum(bad.values()) - len(skipped)
        lines = [f"verify {self.folder}: {len(self.checks)} files{' (dry run: nothing changed)' if self.dry_run else ''}",
                 f"  usable            {usable:5d}  ({self.converted()} {would}converted to RGB)",
                 f"  quarantined       {sum(bad.values()):5d}"
                 + (f"  {_counts(bad)} -> {self.folder / QUARANTINE_DIR}" if bad else "")]
        if skipped:
            lines.append(f"  skipped           {len(skipped):5d}  (could not be read; left in place, not checked)")
            lines += [f"  skipped {check.file}: {check.detail}" for check in skipped[:listed]]
        if self.report:
            lines.append(f"  report            {self.report}")
        changes = [c for c in self.checks if c.action in ("convert", "quarantine")]
        shown = changes if self.dry_run else [c for c in changes if c.action == "quarantine"][:listed]
        for check in shown:
            verb = "quarantine" if check.action == "quarantine" else "convert"
            lines.append(f"  {'would ' if self.dry_run else ''}{verb} {check.file}: {check.reason}"
                         + (f" ({check.detail})" if check.detail else ""))
        hidden = sum(c.action == "quarantine" for c in changes) - len(shown)
        if not self.dry_run and hidden > 0:
            lines.append(f"  ... and {hidden} more in {REPORT_NAME}")
        return "\n".join(lines)


def _counts(counter: collections.Counter) -> str:
    return "(" + ", ".join(f"{key} {n}" for key, n in sorted(counter.items())) + ")" if counter else ""


def list_images(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted, skipping any path part starting with ``.`` or ``_``."""
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    )


def _read_file(path: Path) -> bytes:
    """The file's bytes (one place to read, so tests can make a file unreadable even as root)."""
    return path.read_bytes()


def _unreadable(path: Path, folder: Path, error: OSError | ImageDecodeError) -> FileCheck:
    """The check of a file that could not be read: reported and left alone, never judged corrupt."""
    reason = "gone (moved or deleted while verify ran)" if isinstance(error, FileNotFoundError) else (
        getattr(error, "strerror", None) or str(error) or type(error).__name__)
    return FileCheck(file=relative(path, folder), action="skip", reason="unreadable", detail=reason)


def _inspect(path: Path, folder: Path, min_size: int) -> FileCheck:
    """Decode one file fully and decide keep / convert / quarantine / skip (duplicates come later)."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = _read_file(path)
    except OSError as error:  # permission, I/O error, gone: not the file's content, so not a quarantine
        return _unreadable(path, folder, error)
    check = FileCheck(file=relative(path, folder), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBomb/EXIF warnings: the decode result is what matters
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a full decode: truncated files fail here, not at open
                check.format, check.mode = image.format or "", image.mode
                check.width, check.height = image.size
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, EOFError... for bad files
        message = "no image format PIL knows" if isinstance(error, UnidentifiedImageError) else (
            str(error) or type(error).__name__)
        check.action, check.detail = "quarantine", message
        check.reason = "truncated" if "truncat" in message.lower() or isinstance(error, EOFError) else "corrupt"
        return check
    if min(check.width, check.height) < min_size:
        check.action, check.reason = "quarantine", "too-small"
        check.detail = f"{check.width}x{check.height}, shorter side < {min_size}"
    elif check.mode != "RGB":
        check.action, check.reason = "convert", f"{check.mode} -> RGB"
    return check


def _mark_duplicates(checks: list[FileCheck]) -> None:
    """Quarantine every decodable file whose bytes equal an earlier (sorted) one's."""
    first: dict[str, str] = {}
    for check in checks:
        if check.action == "skip" or (check.action == "quarantine" and check.reason in ("truncated", "corrupt")):
            continue
        if check.sha256 in first:
            check.action, check.reason, check.detail = "quarantine", "duplicate", f"same bytes as {first[check.sha256]}"
        else:
            first[check.sha256] = check.file


def _free_path(path: Path) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``... whichever does not exist yet."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _quarantine(folder: Path, check: FileCheck) -> None:
    target = _free_path(folder / QUARANTINE_DIR / check.reason / check.file)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder / check.file, target)  # same file system: a rename, never a copy + delete
    check.moved_to = relative(target, folder)


def _convert(folder: Path, check: FileCheck) -> None:
    """Rewrite one file as 8-bit RGB, atomically; a format without RGB becomes PNG."""
    source = folder / check.file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = open_rgb(source)  # the folder task's own rules, so training sees exactly these pixels
    save_format, options = _RGB_SAVE.get(check.format, ("PNG", {}))
    target = source if check.format in _RGB_SAVE else _free_path(source.with_suffix(".png"))
    buffer = io.BytesIO()
    rgb.save(buffer, format=save_format, **options)
    atomic_write_bytes(target, buffer.getvalue())
    if target != source:
        source.unlink()
        check.moved_to = relative(target, folder)


def _write_report(path: Path, checks: list[FileCheck]) -> None:
    atomic_write_csv(path, (dataclasses.asdict(check) for check in checks), REPORT_COLUMNS)


def verify_folder(folder: str | Path, min_size: int = 64, dry_run: bool = False, quiet: bool = False) -> VerifySummary:
    """Decode, convert and quarantine the images below ``folder`` (see the module docstring).

    The folder is locked for the run (``photos.errors.folder_lock``), so a
    second verify or fetch on it stops with "in use by pid N" instead of
    moving the same files. A dry run takes the lock when it can (so its
    plan is not read from files being moved) but runs without one in a
    folder where it cannot write.

    Args:
        folder: a class folder, or a task root with one sub-folder per class.
        min_size: smallest allowed shorter side, in pixels (1 to ``MAX_MIN_SIZE``).
        dry_run: decide everything but change nothing and write no report.
        quiet: no progress bar.

    Returns:
        a ``VerifySummary`` (``.text()`` is the printed summary).

    Raises:
        PhotosError: the folder is missing, is a file, is in use by another run, (unless
            ``dry_run``) is not writable, or holds a ``_verify.csv`` that verify did not write.
    """
    folder = Path(folder)
    if not folder.exists():
        raise PhotosError(f"folder {folder}: not found")
    if not folder.is_dir():
        raise PhotosError(f"folder {folder}: is a file; give the folder that holds the images")
    check_number("--min-size", min_size, 1, MAX_MIN_SIZE, integer=True, unit="pixels")
    if not dry_run:
        ensure_writable_folder(folder, "folder")
    with folder_lock(folder, "verify", required=not dry_run):
        return verify_locked_folder(folder, min_size, dry_run, quiet)


def _check_report_is_ours(report: Path) -> None:
    """Refuse to overwrite a ``_verify.csv`` that is not verify's report."""
    if not report.exists():
        return
    try:
        with open(report, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        header = []
    if tuple(header) != REPORT_COLUMNS:
        raise PhotosError(f"report {report}: exists and is not a photos verify report; move it away first")


def verify_locked_folder(folder: Path, min_size: int = 64, dry_run: bool = False, quiet: bool = False,
                         ) -> VerifySummary:
    """``verify_folder`` for a folder the caller has checked and locked (fetch verifies its own)."""
    report = folder / REPORT_NAME
    if not dry_run:
        _check_report_is_ours(report)
    files = list_images(folder)
    checks = []
    with progress_bar(len(files), f"verify {folder.name}", "img", "quiet" if quiet else "auto") as bar:
        for path in files:
            checks.append(_inspect(path, folder, min_size))
            bar.update(1)
    _mark_duplicates(checks)
    if dry_run:
        return VerifySummary(folder, checks, dry_run=True)
    for check in checks:
        try:
            if check.action == "quarantine":
                _quarantine(folder, check)
            elif check.action == "convert":
                _convert(folder, check)
        except (OSError, ImageDecodeError) as error:  # gone, unreadable or rewritten since it was read: leave it
            skipped = _unreadable(folder / check.file, folder, error)
            check.action, check.reason, check.detail = skipped.action, skipped.reason, skipped.detail
    _write_report(report, checks)
    return VerifySummary(folder, checks, report=report)
