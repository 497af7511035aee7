"""Ninja's `[N/M]` lines turned into a per-variant progress display with ETA.

On a TTY one line is redrawn in place; in CI logs (not a TTY) a plain line is
printed every 5 % or every 60 s, so logs stay readable and grep-able.

The link of onnxruntime_webassembly (wasm-ld with LTO, then closure, then
wasm-opt) is one Ninja step that takes 4-6 minutes and prints nothing.  While
Ninja is silent, `phase()` is fed the tool that is running (read from the
process tree by `running_tools`) and the ETA takes the link's duration from the
previous run's `.ninja_log`, so neither the line nor the ETA stands still.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..log import fmt_duration

__all__ = ["NinjaStep", "Progress", "fmt_duration", "last_step_seconds", "link_phase", "ninja_log_steps",
           "running_tools"]

NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")

# What emcc runs during a link, in the order it runs them; the latest one running names the phase (link_phase).
LINK_TOOLS: tuple[tuple[str, str], ...] = (
    ("wasm-ld", "wasm-ld (LTO code generation + link)"),
    ("wasm-emscripten-finalize", "wasm-emscripten-finalize"),
    ("wasm-metadce", "wasm-metadce"),
    ("closure-compiler", "closure compiler"),
    ("acorn-optimizer", "JS optimizer"),
    ("wasm-opt", "wasm-opt"),
    ("wasm_post_build", "post-build script"),
)


def running_tools(root_pid: int, proc: Path = Path("/proc")) -> list[str]:
    """Command lines of every live descendant of root_pid (chroot children included: same /proc)."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, str] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        cmdlines[int(entry.name)] = cmd
    out: list[str] = []
    todo = list(children.get(root_pid, []))
    while todo:
        pid = todo.pop()
        out.append(cmdlines.get(pid, ""))
        todo.extend(children.get(pid, []))
    return out


_SHELLS = {"sh", "bash", "dash"}
_INTERPRETERS = {"python", "python3", "node", "nodejs", "java"}


def program_of(cmdline: str) -> str | None:
    """The program a process is, by name: the binary, or the script an interpreter runs; None for shells.

    Shells are skipped because the link's `sh -c "emcc ... && node wasm_post_build.js"` names every phase at once.
    """
    tokens = cmdline.split()
    if not tokens:
        return None
    prog = tokens[0].rsplit("/", 1)[-1]
    if prog in _SHELLS:
        return None
    if prog in _INTERPRETERS or prog.startswith("python3."):
        script = next((t for t in tokens[1:] if not t.startswith("-")), None)
        return script.rsplit("/", 1)[-1] if script else prog
    return prog


def link_phase(cmdlines: list[str]) -> str | None:
    """The link tool running now: the latest phase (in LINK_TOOLS order) any non-shell descendant is."""
    programs = [p for p in (program_of(c) for c in cmdlines) if p]
    found = None
    for needle, name in LINK_TOOLS:
        if any(needle in p for p in programs):
            found = name
    return found


@dataclass(frozen=True)
class NinjaStep:
    output: str
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def ninja_log_steps(ninja_log: Path) -> list[NinjaStep]:
    """Every step `.ninja_log` (v5/v6: start end mtime output hash) records, in its order: an output built again
    appears again, later.  The one reader of that file (progress, benchmarks)."""
    if not ninja_log.exists():
        return []
    steps = []
    for line in ninja_log.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0].isdigit() and parts[1].isdigit():
            steps.append(NinjaStep(parts[3], int(parts[0]), int(parts[1])))
    return steps


def last_step_seconds(ninja_log: Path, output_suffix: str) -> float | None:
    """How long the newest recorded step producing `*output_suffix` took."""
    found = [s for s in ninja_log_steps(ninja_log) if s.output.endswith(output_suffix)]
    return found[-1].seconds if found else None


def link_estimate(build_dirs: tuple[Path, ...], output_suffix: str) -> float | None:
    """The previous link of the first build dir that recorded one: a variant that never linked (its first build,
    or one that stopped before the link) borrows the time of a peer with the same kind of link, rather than showing
    an ETA of seconds for a link of half an hour."""
    for build_dir in build_dirs:
        found = last_step_seconds(build_dir / ".ninja_log", output_suffix)
        if found is not None:
            return found
    return None


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
    link_estimate_s: float | None = None  # the previous run's link, from its .ninja_log
    _phase: str | None = None
    _phase_since: float = 0.0

    @property
    def tty(self) -> bool:
        return self.stream.isatty()

    def eta(self, now: float) -> float | None:
        """Rate measured from the first step we saw, so a resumed build's instant no-op steps don't skew it."""
        if self._first_step_at is None or self.done <= self._first_step_n or self.total == 0:
            return None
        rate = (now - self._first_step_at) / (self.done - self._first_step_n)
        if self.link_estimate_s is None:  # no link on record: the link's minutes are not in this figure
            return None if self._phase is not None else rate * (self.total - self.done)
        if self._phase is not None:  # in the link: what the last link took, less what has passed
            return max(0.0, self.link_estimate_s - (now - self._phase_since))
        return rate * max(0, self.total - self.done - 1) + self.link_estimate_s

    def feed(self, line: str) -> None:
        match = NINJA_STEP.match(line)
        if not match:
            return
        self.done, self.total = int(match[1]), int(match[2])
        self._phase = None
        now = time.monotonic()
        if self._first_step_at is None:
            self._first_step_at, self._first_step_n = now, self.done
        pct = 100 * self.done // max(self.total, 1)
        if self.tty:
            self._draw(now, pct, end="\r")
        elif pct >= self._last_pct + 5 or now - self._last_print >= 60 or self.done == self.total:
            self._draw(now, pct, end="\n")

    def phase(self, name: str | None, now: float | None = None) -> None:
        """A silent step is running `name` (None: nothing recognised); redraw at most every 15 s off a TTY."""
        now = time.monotonic() if now is None else now
        if name is not None and self._phase is None:
            self._phase_since = now
        changed = name != self._phase
        self._phase = name if name is not None else self._phase
        if name is None:
            return
        pct = 100 * self.done // max(self.total, 1)
        if self.tty:
            self._draw(now, pct, end="\r")
        elif changed or now - self._last_print >= 15:
            self._draw(now, pct, end="\n")

    def _draw(self, now: float, pct: int, end: str) -> None:
        eta = self.eta(now)
        eta_txt = fmt_duration(eta) if eta is not None else "?"
        if eta is not None and self.link_estimate_s is None:
            eta_txt += " + link"  # a first build: no .ninja_log (own or a peer's) says how long the link takes
        link = f"  link: {self._phase} {fmt_duration(now - self._phase_since)}" if self._phase else ""
        pad = "\x1b[K" if end == "\r" else ""
        self.stream.write(f"  {self.label:<14} [{self.done}/{self.total}] {pct:3d}%  "
                          f"elapsed {fmt_duration(now - self.started)}  ETA {eta_txt}{link}{pad}{end}")
        self.stream.flush()
        self._last_pct, self._last_print = pct, now

    def finish(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
