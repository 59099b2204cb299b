"""Progress on a stream in one of four modes, for every long loop of the kit.

- ``bar``: a tqdm bar, redrawn in place (for a terminal).
- ``lines``: plain lines, for logs and pipes, where a bar's carriage-return
  redraws would pile up on one line: ``desc: 30% (300/1000)`` each time
  another tenth of the work is done.
- ``quiet``: nothing.
- ``auto``: ``bar`` when the stream is a terminal, else ``lines``.

``progress_bar`` (for work counted by hand) and ``progress_iter`` (for a
loop) choose the writer; ``bar`` is the one place a tqdm bar is made, for
callers that draw their own (``study.engine.progress`` nests per-batch bars).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, Literal, Protocol, TextIO, TypeVar, get_args

from tqdm.auto import tqdm

from kit.errors import ConfigError

__all__ = [
    "Bar",
    "ProgressMode",
    "PROGRESS_MODES",
    "Progress",
    "LineProgress",
    "resolve_mode",
    "bar",
    "progress_bar",
    "progress_iter",
]

ProgressMode = Literal["auto", "bar", "lines", "quiet"]
PROGRESS_MODES: tuple[str, ...] = get_args(ProgressMode)

T = TypeVar("T")
# The type ``bar`` returns, for annotations.
Bar = tqdm


class Progress(Protocol):
    """What every writer of ``progress_bar`` offers (the part of tqdm's interface the kit uses)."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...

    def write(self, s: str, file: TextIO | None = None) -> Any: ...

    def close(self) -> Any: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: Any) -> Any: ...


def resolve_mode(mode: str, stream: TextIO | None = None) -> str:
    """The concrete mode (``bar``, ``lines`` or ``quiet``) for ``mode`` on ``stream`` (default stderr).

    Raises:
        ConfigError: ``mode`` is not one of :data:`PROGRESS_MODES`.
    """
    if mode not in PROGRESS_MODES:
        raise ConfigError(f"progress mode {mode!r} is not one of: {', '.join(PROGRESS_MODES)}")
    if mode != "auto":
        return mode
    isatty = getattr(sys.stderr if stream is None else stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def bar(total: int | None, desc: str = "", unit: str = "it", stream: TextIO | None = None, *,
        leave: bool = True, position: int | None = None, iterable: Iterable[Any] | None = None) -> Bar:
    """A tqdm bar on ``stream`` (default stderr), whatever the stream is.

    Args:
        total: units of work (None: unknown).
        desc: label before the bar; may be empty.
        unit: what a unit is (``img``, ``cell``, ``epoch``).
        stream: where to draw.
        leave: keep the finished bar on screen (False for nested bars).
        position: the line of a nested bar (0 the outer one).
        iterable: wrap this iterable (the bar then advances as it is iterated).

    Returns:
        the bar (``update(n)``, ``set_postfix``, ``close()``; a context manager).
    """
    return tqdm(iterable, total=total, desc=desc or None, unit=unit, file=sys.stderr if stream is None else stream,
                leave=leave, position=position, dynamic_ncols=True)


class LineProgress:
    """``lines`` mode: prints ``desc: 30% (300/1000)`` each time another tenth of the work is done.

    Has the part of tqdm's interface the kit uses (``update``, ``write``,
    ``set_postfix_str``, ``close``, context manager). With an unknown total
    it prints one line at the end, ``desc: 4``; so does a loop that ends
    short of its total, with what was done.

    Args:
        total: units of work (None: unknown).
        desc: what is being done, e.g. ``"sampling"``; may be empty.
        stream: where the lines go (default stderr).
        steps: how many lines at most (one per ``1/steps`` of the total).
    """

    def __init__(self, total: int | None, desc: str = "", stream: TextIO | None = None, steps: int = 10) -> None:
        self.total = None if total is None else max(0, int(total))
        self.desc, self.steps = desc, steps
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self._printed_step = 0
        self._printed_done = 0

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done; print a line if that crossed another tenth."""
        self.done += n
        if not self.total:
            return
        step = min(self.steps, self.done * self.steps // self.total)
        if step > self._printed_step:  # one line per tenth crossed, however large the jump
            self._printed_step = step
            self._print()

    def _print(self) -> None:
        prefix = f"{self.desc}: " if self.desc else ""
        if self.total:
            state = f"{100 * self.done // self.total}% ({self.done}/{self.total})"
        else:
            state = str(self.done)
        print(prefix + state, file=self.stream, flush=True)
        self._printed_done = self.done

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Nothing: a line carries no running detail."""

    def write(self, s: str, file: TextIO | None = None) -> None:
        """Print a message line (to ``file``, default the progress stream)."""
        print(s, file=self.stream if file is None else file, flush=True)

    def close(self) -> None:
        """The last line, if the work ended where no line was printed (unknown or unmet total)."""
        if self.done and self.done != self._printed_done:
            self._print()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:  # an error or Ctrl-C reports itself; no progress line after it
            self.close()


def progress_bar(total: int, desc: str, unit: str = "it", mode: str = "auto",
                 stream: TextIO | None = None) -> Progress:
    """A progress writer for ``total`` units of work, counted by hand with ``update(n)``.

    Args:
        total: units of work; none (0) shows nothing.
        desc: label before the bar or at the start of each line.
        unit: what a unit is (``img``, ``url``, ``cell``), shown by the bar.
        mode: one of :data:`PROGRESS_MODES`.
        stream: where to write (default stderr).

    Returns:
        a tqdm bar, a ``LineProgress``, or a silent writer (``quiet``); use it as a context manager.

    Raises:
        ConfigError: unknown ``mode``.
    """
    resolved = resolve_mode(mode, stream)
    if resolved == "quiet" or total == 0:
        return tqdm(total=total, disable=True)
    if resolved == "bar":
        return bar(total, desc, unit, stream)
    return LineProgress(total, desc, stream)


def progress_iter(iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
                  mode: str = "auto", stream: TextIO | None = None) -> Iterator[T]:
    """Iterate ``iterable`` while showing progress (lines: at each tenth, and at the end if short).

    Args:
        iterable: the items.
        total: number of items (default: ``len(iterable)`` when it has one).
        desc: what is being done, e.g. ``"analysing cells"``.
        unit: what an item is, shown by the bar.
        mode: one of :data:`PROGRESS_MODES`.
        stream: where to write (default stderr).

    Returns:
        an iterator over the items of ``iterable``.

    Raises:
        ConfigError: unknown ``mode`` (raised at the call, before any item is read).
    """
    resolved = resolve_mode(mode, stream)
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if resolved == "quiet":
        return iter(iterable)
    if resolved == "bar":
        return iter(bar(total, desc, unit, stream, iterable=iterable))
    return _iterate_with_lines(iterable, LineProgress(total, desc, stream))


def _iterate_with_lines(iterable: Iterable[T], lines: LineProgress) -> Iterator[T]:
    for item in iterable:
        yield item
        lines.update(1)
    lines.close()
