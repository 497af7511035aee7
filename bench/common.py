"""What several benches share: the recipe and artifact dirs of an ORT version, the memory guard, ratios."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from ortwasm.recipe import default_version, require_recipe

GIB = 1024**3


REPO = Path(__file__).resolve().parents[1]


def default_ort_source() -> Path:
    """The fetched tree of the default version."""
    return require_recipe(default_version()).source_dir


def budgets_path(version: str) -> Path:
    """The version's size budgets (patches/<version>/budgets.toml, named by its recipe)."""
    return require_recipe(version).budgets_path


def out_dir_for(version: str) -> Path:
    """Where the version's finished variants are (the recipe's out dir; ORTWASM_ARTIFACTS moves the default one's,
    as for the tests)."""
    return require_recipe(version).out_dir


def ratio(v: object, ext: int) -> float | None:
    """`v` bytes as a multiple of `ext` (the weights), to 3 places; None when either is missing."""
    return round(float(v) / ext, 3) if isinstance(v, int | float) and ext else None


def comma(s: str) -> list[str]:
    return [x for x in s.split(",") if x]


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def descendants(root: int) -> list[int]:
    """Every process under `root` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


class Watchdog:
    """Kills this process's own children (by pid) when the machine runs short of memory; records that it did."""

    def __init__(self, kill_below: int = int(1.5 * GIB)) -> None:
        self.kill_below = kill_below
        self.fired: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            free = mem_available()
            if free < self.kill_below:
                for pid in descendants(os.getpid()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.fired = f"killed by the bench's watchdog: MemAvailable fell to {free / GIB:.2f} GiB"

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
