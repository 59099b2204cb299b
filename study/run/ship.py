"""Shipping a finished cell folder from a worker node to the driver's run folder.

On a cluster without a shared file system a cell trains in a folder local to
its worker node; ``pack_cell`` turns that folder into one uncompressed tar
(bytes, every file byte for byte), the bytes travel back to the driver (Ray's
object store, or a storage URI through fsspec), and ``install_cell`` puts
them into the run folder the way a local cell appears: unpacked into a staging
folder next to the target, then renamed into place. A reader of the run folder
therefore sees the old cell folder or the whole new one, never half of one; a
driver killed between the two renames leaves no folder, i.e. a ``pending``
cell that the next run reruns.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import uuid
from pathlib import Path

from study.errors import ConfigError

__all__ = [
    "DEFAULT_SHIP_LIMIT_MB",
    "ShipError",
    "pack_cell",
    "install_cell",
    "node_cache_dir",
    "storage_filesystem",
]

# A cell folder holds a checkpoint (ResNet-34: ~85 MB), tables and a log; anything far beyond
# this is a sign of a mistake (a dataset written into the cell) and would strain the object store.
DEFAULT_SHIP_LIMIT_MB = 1024.0
SHIPPING_DIR = ".shipping"  # in the run folder: cell folders being unpacked or replaced
# Where a worker node caches datasets (by spec hash) when the sweep runs without a shared file system.
NODE_CACHE_ENV = "STUDY_NODE_CACHE"


class ShipError(RuntimeError):
    """A finished cell folder could not be brought back to the driver (too large, storage or connection lost)."""


def pack_cell(folder: Path, limit_mb: float = DEFAULT_SHIP_LIMIT_MB) -> bytes:
    """The cell folder as an uncompressed tar, its members named relative to the folder.

    Args:
        folder: the finished (or failed) cell folder on the worker node.
        limit_mb: refuse folders larger than this (files' sizes summed).

    Returns:
        The tar's bytes.

    Raises:
        ShipError: the folder is larger than ``limit_mb``, naming its size and the largest file.
    """
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    if size > limit_mb * 2**20:
        largest = max(files, key=lambda path: path.stat().st_size)
        raise ShipError(
            f"the cell folder is {size / 2**20:.0f} MB (largest: {largest.relative_to(folder)}, "
            f"{largest.stat().st_size / 2**20:.0f} MB), over the {limit_mb:g} MB limit for shipping it back; "
            "raise --ship-limit-mb or run on a shared file system"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in files:
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def install_cell(target: Path, payload: bytes) -> None:
    """Put a shipped cell folder at ``target`` atomically (staging folder, then rename).

    An earlier attempt's folder at ``target`` (failed, skipped, interrupted) is
    replaced. The staging and the discarded folders live in ``.shipping/``
    beside ``cells/`` (the same file system, so the renames are atomic, and
    outside ``cells/``, so a driver killed mid-install leaves nothing there
    that looks like a cell; ``.shipping/`` may be deleted whenever no sweep runs).

    Args:
        target: the cell folder in the run folder (``runs/NAME/cells/<id>``).
        payload: ``pack_cell``'s bytes.

    Raises:
        ShipError: the payload is not a tar, or names a path outside the folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    shipping = target.parent.parent / SHIPPING_DIR  # beside cells/, so a leftover is never taken for a cell
    shipping.mkdir(exist_ok=True)
    staging = shipping / f"{target.name}-{token}"
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as archive:
            archive.extractall(staging, filter="data")  # "data": refuses absolute paths, .. and links out
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ShipError(f"the shipped cell folder could not be unpacked ({type(error).__name__}: {error})") from None
    staging.mkdir(exist_ok=True)  # an empty folder packs to an empty tar
    discarded = shipping / f"{target.name}-{token}-old"
    with contextlib.suppress(FileNotFoundError):
        os.rename(target, discarded)
    os.rename(staging, target)
    shutil.rmtree(discarded, ignore_errors=True)


def node_cache_dir() -> Path:
    """The dataset cache of this node: ``$STUDY_NODE_CACHE``, else ``~/.cache/cnn-counting-study/datasets``."""
    configured = os.environ.get(NODE_CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "cnn-counting-study" / "datasets"


def storage_filesystem(uri: str) -> tuple[object, str]:
    """The fsspec file system and root path of a storage URI (``s3://bucket/tmp``, ``gs://``, ``file:///``).

    Raises:
        ConfigError: fsspec, or the library of the URI's protocol (s3fs, gcsfs...), is not installed.
    """
    try:
        import fsspec
    except ImportError:
        raise ConfigError(f"--ship-uri {uri}: fsspec is not installed; pip install fsspec "
                          "(and the library of the storage, e.g. s3fs or gcsfs)") from None
    try:
        filesystem, root = fsspec.core.url_to_fs(uri)
    except ImportError as error:
        raise ConfigError(f"--ship-uri {uri}: the library for this storage is missing "
                          f"({str(error).splitlines()[0]})") from None
    except ValueError as error:
        raise ConfigError(f"--ship-uri {uri}: {str(error).splitlines()[0]}; "
                          "expected e.g. s3://bucket/prefix, gs://bucket/prefix or file:///shared/tmp") from None
    return filesystem, root
