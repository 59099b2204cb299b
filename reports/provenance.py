"""Where a run's numbers came from: machine, package versions, commit, commands.

This is the one place the report shows the platform string and paths, and
every path is relative to the run folder (``RUN`` in the commands stands for
the folder that holds the report). Everything is read without importing the
heavy packages (versions from ``importlib.metadata``, the commit from
``git``), so a report builds on a machine that lacks torch.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from kit.formatting import duration
from study.run.runfolder import RunFolder

from kit.records import to_float

__all__ = ["provenance", "package_versions", "git_commit", "cpu_model", "PACKAGES"]

# Distributions whose versions decide the numbers (or the report's look).
PACKAGES = ("torch", "torchvision", "timm", "captum", "numpy", "scipy", "pandas", "matplotlib", "pillow",
            "fpdf2", "cnn-counting-study")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of Python and of each distribution ("not installed" when absent)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(folder: Path) -> str:
    """The commit checked out in ``folder``'s repository ("+ uncommitted changes" if dirty), else "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(run: RunFolder, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The Methods and provenance facts as (what, value) pairs, in reading order.

    Args:
        run: the run folder (only file names under it are shown).
        rows: results rows (devices, precisions, weights used, seeds and training time come from them).
    """
    devices = sorted({str(row["device"]) for row in rows if row.get("device")})
    precisions = sorted({str(row["precision"]) for row in rows if row.get("precision")})
    weights = sorted({str(row["weights_used"]) for row in rows if row.get("weights_used")})
    seeds = sorted({str(row["seed"]) for row in rows if str(row.get("seed", "")) != ""}, key=lambda s: (len(s), s))
    seconds = sum(to_float(row.get("seconds")) or 0.0 for row in rows)
    cached = sorted(path.name for path in run.cache_dir.glob("*.pt")) if run.cache_dir.is_dir() else []
    versions = package_versions()
    return [
        ("Cells ran on", ", ".join(devices) or "–"),
        ("Precision", ", ".join(f"{p} autocast + channels_last" if p == "bf16" else p for p in precisions) or "–"),
        ("Weights used", ", ".join(weights) or "–"),
        ("Seeds", ", ".join(seeds) or "–"),
        ("Training time", f"{duration(seconds)} (sum over cells)"),
        ("Report built on", f"{platform.platform()}; CPU {cpu_model()}"),
        ("Versions", ", ".join(f"{name} {version}" for name, version in versions.items())),
        ("Code commit", f"{git_commit(Path(__file__).resolve().parent)} (at report time)"),
        ("Cached datasets", ", ".join(f"{RunFolder.CACHE}/{name}" for name in cached) or "none"),
        ("Reproduce", f"python -m study.sweep --config RUN/{RunFolder.SWEEP} --out RUN"),
        ("Rebuild this report", "python -m analysis RUN && python -m reports RUN"),
        ("RUN", f"the folder that holds this report ({run.path.name}); cell folders are under "
                f"RUN/{RunFolder.CELLS}/, analysis tables under RUN/{RunFolder.ANALYSIS}/"),
    ]
