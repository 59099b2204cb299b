"""Progress reporting for long dataset runs: a tqdm bar on a terminal, sparse lines elsewhere.

A tqdm bar redraws itself with carriage returns, which turns a log file or a
CI console into one enormous line; when the stream is not a terminal we
print a plain line at every tenth of the work instead.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

__all__ = ["progress_bar", "LineProgress"]


class LineProgress:
    """Prints ``desc: 30% (300/1000)`` each time another tenth of the work is done.

    Has the part of tqdm's interface that the writers use (``update``,
    ``close``, context manager).

    Args:
        total: units of work (e.g. images).
        desc: what is being done, e.g. ``"sampling"``.
        stream: where the lines go.
        steps: how many lines at most (one per ``1/steps`` of the total).
    """

    def __init__(self, total: int, desc: str, stream: TextIO, steps: int = 10) -> None:
        self.total, self.desc, self.stream, self.steps = max(0, int(total)), desc, stream, steps
        self.done = 0
        self._printed_step = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.total == 0:
            return
        step = min(self.steps, self.done * self.steps // self.total)
        if step > self._printed_step:  # one line per tenth crossed, however large the jump
            self._printed_step = step
            percent = 100 * self.done // self.total
            print(f"{self.desc}: {percent}% ({self.done}/{self.total})", file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to tidy: every line is already complete."""

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def progress_bar(total: int, desc: str, enabled: bool = True, stream: TextIO | None = None) -> tqdm | LineProgress:
    """A progress reporter for ``total`` units of work on ``stream`` (default stderr).

    Args:
        total: units of work.
        desc: label shown before the bar or at the start of each line.
        enabled: False gives a silent reporter (``--quiet``).
        stream: output stream; a tqdm bar when it is a terminal, ``LineProgress`` otherwise.

    Returns:
        An object with ``update(n)`` and ``close()``.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(total=total, disable=True)
    is_terminal = getattr(stream, "isatty", lambda: False)()
    if is_terminal:
        return tqdm(total=total, desc=desc, unit="img", file=stream, dynamic_ncols=True)
    return LineProgress(total, desc, stream)
