"""Where a run's numbers came from: config, seeds, versions, device, commit, data.

Everything here is read at report time without importing the heavy packages
(versions come from ``importlib.metadata``, the commit from ``git``), so a
report builds on a machine that lacks torch.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["provenance", "package_versions", "git_commit", "PACKAGES"]

# Distributions whose versions decide the numbers (or the report's look).
PACKAGES = (
    "torch", "torchvision", "timm", "captum", "numpy", "scipy", "scikit-learn", "pandas",
    "matplotlib", "seaborn", "pillow", "jinja2", "fpdf2", "cnn-counting-study",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution, or "not installed"."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(folder: Path) -> str:
    """The commit checked out in ``folder``'s repository, "+ uncommitted changes" if dirty, else "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = head.stdout.strip()
    return commit + (" + uncommitted changes" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _datasets(run_dir: Path, cells: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Dataset identities: cached dataset files (named by spec hash) and each cell's spec hash."""
    from study.spec import spec_hash

    found = []
    cache = run_dir / ".cache"
    if cache.is_dir():
        for path in sorted(cache.glob("*.pt")):
            found.append({"what": f".cache/{path.name}", "hash": path.stem.rsplit("-", 1)[-1],
                          "detail": f"{path.stat().st_size / 1e6:.1f} MB cached dataset"})
    for cell_id, cell in cells.items():
        if isinstance(cell.get("spec"), dict):
            found.append({"what": f"cell {cell_id}", "hash": spec_hash(cell["spec"])[:16],
                          "detail": "sha256 of spec.json: regenerates the cell's images (study.tasks.build_task)"})
    return found


def provenance(run_dir: Path, rows: list[dict[str, str]], cells: dict[str, dict[str, Any]],
               sweep: dict[str, Any]) -> dict[str, Any]:
    """The provenance section's data.

    Args:
        run_dir: the run folder as the user named it (used in the command).
        rows: results rows; seeds and devices are read from them.
        cells: per-cell files from ``reports.collect``.
        sweep: the sweep.toml text and parse.
    """
    code_dir = Path(__file__).resolve().parent
    return {
        "sweep_toml": sweep.get("text"),
        "seeds": sorted({row["seed"] for row in rows if row.get("seed", "") != ""}, key=lambda s: (len(s), s)),
        "devices": sorted({row["device"] for row in rows if row.get("device")}),
        "versions": package_versions(),
        "platform": f"{platform.platform()} ({sys.implementation.name})",
        "commit": git_commit(code_dir),
        "datasets": _datasets(run_dir, cells),
        "command": f"python -m study.sweep --config {run_dir / 'sweep.toml'} --out {run_dir}",
        "report_command": f"python -m reports {run_dir}",
    }
