"""Keep local paths out of the report: paths become relative to the run folder.

Error messages and analysis sentences can carry absolute paths (the run
folder, a photo data folder, the torch weights cache). A report is shared, so
every string read from a run goes through ``PathScrubber.text`` before it is
shown: a path inside the run folder becomes relative to it ("cells/x/log.txt"),
the run folder itself becomes "RUN" (as in the report's commands), and any
other absolute path keeps only its last component ("…/paintings").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["PathScrubber"]

# An absolute POSIX path (/a/b, ~/a) or Windows path (C:\a\b) of two or more components.
# The look-behind keeps URLs (https://host/...), ratios (3/4) and relative paths (data/x) intact.
_POSIX = r"(?<![\w.~/:\\-])(?:~/|/)(?:[^\s/\\'\"<>:;,()\[\]{}|]+/)+[^\s/\\'\"<>:;,()\[\]{}|]*"
_WINDOWS = r"(?<![\w])[A-Za-z]:\\(?:[^\s\\'\"<>:;,()\[\]{}|]+\\)*[^\s\\'\"<>:;,()\[\]{}|]*"
ABSOLUTE_PATH = re.compile(f"{_POSIX}|{_WINDOWS}")


class PathScrubber:
    """Rewrites absolute paths in text shown to readers.

    Args:
        run_dir: the run folder; paths under it are shown relative to it.
    """

    def __init__(self, run_dir: Path) -> None:
        roots = {str(run_dir.absolute()), str(run_dir.resolve())}
        self.roots = sorted(roots, key=len, reverse=True)  # longest first: a symlinked path is not cut short

    def text(self, value: Any) -> str:
        """``value`` as text with every absolute path made relative or cut to its last component."""
        text = "" if value is None else str(value)
        for root in self.roots:
            text = text.replace(root + "/", "").replace(root, "RUN")
        return ABSOLUTE_PATH.sub(_last_component, text)

    def tree(self, value: Any) -> Any:
        """A JSON-like value with every string scrubbed (dict keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(item) for item in value]
        return value


def _last_component(match: re.Match[str]) -> str:
    parts = [part for part in re.split(r"[/\\]", match.group(0)) if part]
    return "…/" + (parts[-1] if parts else "")
