"""A tiny progress bar with no dependency: one redrawn line on a terminal, a summary otherwise.

``progress(iterable)`` wraps an iterable; :class:`Progress` is the object behind it, for loops
that want to show extra values (``update(loss=0.12)``), such as a trainer.
:func:`notice_if_compiling` says why a call is taking long when numba is compiling kernels.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

__all__ = ["Progress", "notice_if_compiling", "progress"]

T = TypeVar("T")


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Progress:
    """Counts finished steps and reports count/total, rate, elapsed time, ETA and postfix.

    On a TTY ``file`` the line is redrawn (at most every ``min_interval`` seconds, and always
    at the end); otherwise nothing is drawn while running and :meth:`close` writes one summary
    line (unless ``summary=False``).

    Parameters
    ----------
    total : int, optional
        Number of steps expected (enables the percentage and the ETA).
    desc : str
        Label at the start of the line.
    file : text stream
        Where to write; ``sys.stderr`` by default.
    min_interval : float
        Seconds between redraws on a TTY.
    summary : bool
        Whether :meth:`close` writes a final line when ``file`` is not a TTY.
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        file: TextIO | None = None,
        min_interval: float = 0.1,
        summary: bool = True,
    ) -> None:
        self.total = total
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.min_interval = min_interval
        self.summary = summary
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self.start = time.perf_counter()
        self._last_draw = -float("inf")
        self._width = 0
        self._closed = False
        isatty = getattr(self.file, "isatty", None)
        self.tty = bool(isatty and isatty())

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Count ``n`` more finished steps and set/replace ``postfix`` values."""
        self.n += n
        self.postfix.update(postfix)
        now = time.perf_counter()
        done = self.total is not None and self.n >= self.total
        if self.tty and (done or now - self._last_draw >= self.min_interval):
            self._draw(now)

    def set_postfix(self, **postfix: Any) -> None:
        """Set/replace the values shown after the counts, without counting a step."""
        self.update(0, **postfix)

    def line(self, now: float | None = None) -> str:
        """The text of the bar: ``desc: 3/10 [30%] 2.0 it/s 00:01<00:03 key=value``."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: " if self.desc else ""]
        if self.total:
            parts.append(f"{self.n}/{self.total} [{100.0 * self.n / self.total:3.0f}%]")
        else:
            parts.append(f"{self.n}")
        parts.append(f" {rate:.3g} it/s {_fmt_time(elapsed)}")
        if self.total and rate > 0:
            parts.append(f"<{_fmt_time((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(" " + " ".join(f"{k}={_fmt_value(v)}" for k, v in self.postfix.items()))
        return "".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = max(0, self._width - len(text))
        self.file.write("\r" + text + " " * pad)
        self.file.flush()
        self._width = len(text)
        self._last_draw = now

    def write(self, message: str) -> None:
        """Print a message on its own line without breaking the bar."""
        if self.tty and self._width:
            self.file.write("\r" + " " * self._width + "\r")
        self.file.write(message.rstrip("\n") + "\n")
        if self.tty and self._width:
            self._draw(time.perf_counter())
        self.file.flush()

    def close(self) -> None:
        """Finish the bar: final redraw and newline on a TTY, else the summary line."""
        if self._closed:
            return
        self._closed = True
        if self.tty:
            self._draw(time.perf_counter())
            self.file.write("\n")
        elif self.summary:
            self.file.write(self.line() + "\n")
        self.file.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    file: TextIO | None = None,
    **kwargs: Any,
) -> Iterator[T]:
    """Yield the items of ``iterable``, counting each one on a :class:`Progress` bar.

    ``total`` defaults to ``len(iterable)`` when it has one; other keywords go to
    :class:`Progress`. The bar is closed when the loop ends or is left early.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    bar = Progress(total=total, desc=desc, file=file, **kwargs)
    try:
        for item in iterable:
            yield item
            bar.update()
    finally:
        bar.close()


#: Seconds into a call after which :func:`notice_if_compiling` speaks if numba is compiling.
SLOW_AFTER = 2.0

#: What the command line says when a warp or a training step compiles kernels for a while.
COMPILING = ("compiling warpkit's kernels on first use (once: numba keeps them on disk for "
             "the next runs)")


@contextlib.contextmanager
def notice_if_compiling(message: str, after: float | None = None,
                        file: TextIO | None = None,
                        write: Callable[[str], None] | None = None) -> Iterator[None]:
    """Write ``message`` once (one line, to ``file``, stderr by default) if numba is compiling
    ``after`` seconds (``SLOW_AFTER`` by default) into the ``with`` block, or starts to later
    in it, so that a first call that compiles kernels for a while does not look hung. A block
    that is slow for another reason, or compiles only briefly, says nothing. Compilations are
    seen through numba's event API (``"numba:compile"``, any thread's). ``write``, if given,
    prints the line instead of ``file``: pass a :class:`Progress` bar's ``write`` so that the
    notice does not land on the bar's line."""
    from numba.core import event

    if write is None:
        out = sys.stderr if file is None else file

        def write(line: str) -> None:
            out.write(line + "\n")
            out.flush()

    lock = threading.Lock()
    state = {"late": False, "spoken": False, "compiling": 0}

    def speak_if_due() -> None:  # called with the lock held
        if state["late"] and state["compiling"] and not state["spoken"]:
            state["spoken"] = True
            write(message.rstrip("\n"))

    def deadline() -> None:
        with lock:
            state["late"] = True
            speak_if_due()

    class Watch(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            with lock:
                state["compiling"] += 1
                speak_if_due()

        def on_end(self, ev: event.Event) -> None:
            with lock:
                state["compiling"] -= 1

    timer = threading.Timer(SLOW_AFTER if after is None else after, deadline)
    timer.daemon = True
    with event.install_listener("numba:compile", Watch()):
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
