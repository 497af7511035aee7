"""The one writer of benchmark results, and what every result records beside its figures.

Why one writer: a result's file name is ``<bench>-<ORT version>.json``, derived here from the bench's name and the
version it measured, so no script spells a file name and two versions' figures never share one.  Each write is
atomic (a temporary file, then a rename) and stamps ``measured_at`` and ``command`` (the ``python -m bench.X ...``
line that made it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_BENCH = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def machine_info(**extra: Any) -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "zlib": zlib.ZLIB_RUNTIME_VERSION, **extra}


def result_name(bench: str, ort_version: str) -> str:
    if not _BENCH.match(bench):
        raise ValueError(f"bench name {bench!r}: lower-case words joined by '-'")
    if not _VERSION.match(ort_version):
        raise ValueError(f"ORT version {ort_version!r}: MAJOR.MINOR.PATCH")
    return f"{bench}-{ort_version}.json"


def result_path(bench: str, ort_version: str, results_dir: Path | None = None) -> Path:
    return (results_dir or RESULTS_DIR) / result_name(bench, ort_version)


def add_results_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                   help="write the result here instead of bench/results (its name is <bench>-<version>.json)")


def command_line(argv: list[str] | None = None) -> str:
    """``python -m bench.X args``: how the running bench was started (argv[0] is the module's file under -m)."""
    argv = list(sys.argv if argv is None else argv)
    head = Path(argv[0]) if argv else Path("?")
    if head.suffix == ".py" and head.resolve().parent == Path(__file__).resolve().parent:
        return shlex.join(["python", "-m", f"bench.{head.stem}", *argv[1:]])
    return shlex.join(["python", *argv])


def write_results(bench: str, ort_version: str, data: dict[str, Any], *, results_dir: Path | None = None,
                  section: str | None = None) -> Path:
    """Write `data` as ``<results_dir>/<bench>-<ort_version>.json``; with `section`, under that key of the file,
    keeping the rest (the file's own ``measured_at`` stays that of the run that wrote it)."""
    if "command" in data or "measured_at" in data:
        raise ValueError("the writer records 'command' and 'measured_at' itself")
    path = result_path(bench, ort_version, results_dir)
    record = {**data, "command": command_line(), "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if section:
        payload = json.loads(path.read_text()) if path.exists() else {}
        payload[section] = record
    else:
        payload = record
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}" + (f" ({section!r})" if section else ""))
    return path
