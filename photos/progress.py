"""A tqdm bar on stderr that stays readable in log files.

On a terminal it is an ordinary bar. When stderr is a file or a pipe (a
batch job's log), tqdm's carriage-return redraws would pile up on one line,
so the bar is redrawn only every ~10% and each redraw is its own line.
"""

from __future__ import annotations

import math
import sys
from typing import TextIO

from tqdm import tqdm

__all__ = ["progress_bar"]


class _LinePerUpdate:
    """A stream wrapper that turns tqdm's ``\\r`` redraws into whole lines."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.last_count = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        count = line.split("|")[-1].split("[")[0]  # " 10/10 ": close() redraws the last state once more
        if line and count != self.last_count:
            self.stream.write(line + "\n")
            self.last_count = count

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, desc: str, unit: str, quiet: bool = False, stream: TextIO | None = None) -> tqdm:
    """A tqdm bar over ``total`` items on ``stream`` (default stderr).

    Args:
        total: number of items.
        desc: label before the bar.
        unit: what an item is (``url``, ``img``).
        quiet: no output at all.
        stream: where to draw; a non-terminal gets one line per ~10%.

    Returns:
        the bar (use as a context manager; ``update(1)`` per item).
    """
    stream = stream or sys.stderr
    if quiet or total == 0:
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return tqdm(
        total=total, desc=desc, unit=unit, file=_LinePerUpdate(stream), ncols=80,
        miniters=max(1, math.ceil(total / 10)), mininterval=0, maxinterval=float("inf"),
    )
