"""Ninja's `[N/M]` lines turned into a per-variant progress display with ETA.

On a TTY one line is redrawn in place; in CI logs (not a TTY) a plain line is
printed every 5 % or every 60 s, so logs stay readable and grep-able.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Progress:
    label: str
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    _last_pct: int = -100
    _last_print: float = 0.0
    _first_step_at: float | None = None
    _first_step_n: int = 0

    @property
    def tty(self) -> bool:
        return self.stream.isatty()

    def eta(self, now: float) -> float | None:
        """Rate measured from the first step we saw, so a resumed build's instant no-op steps don't skew it."""
        if self._first_step_at is None or self.done <= self._first_step_n or self.total == 0:
            return None
        rate = (now - self._first_step_at) / (self.done - self._first_step_n)
        return rate * (self.total - self.done)

    def feed(self, line: str) -> None:
        match = NINJA_STEP.match(line)
        if not match:
            return
        self.done, self.total = int(match[1]), int(match[2])
        now = time.monotonic()
        if self._first_step_at is None:
            self._first_step_at, self._first_step_n = now, self.done
        pct = 100 * self.done // max(self.total, 1)
        if self.tty:
            self._draw(now, pct, end="\r")
        elif pct >= self._last_pct + 5 or now - self._last_print >= 60 or self.done == self.total:
            self._draw(now, pct, end="\n")

    def _draw(self, now: float, pct: int, end: str) -> None:
        eta = self.eta(now)
        eta_txt = fmt_duration(eta) if eta is not None else "?"
        self.stream.write(f"  {self.label:<14} [{self.done}/{self.total}] {pct:3d}%  "
                          f"elapsed {fmt_duration(now - self.started)}  ETA {eta_txt}{end}")
        self.stream.flush()
        self._last_pct, self._last_print = pct, now

    def finish(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
