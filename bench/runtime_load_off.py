"""Benchmark: 2.5 GiB and more of external data on the builds without heap-backed files (issue #13), in Node.

Not a test: it prints figures and writes bench/results/runtime-load-off.json.  Side by side in one run, each row a
fresh Node 24 process through onnxruntime-web's public API (bench/runtime_load.py's row): our MEMFS-OFF builds
(`onnxruntime-web/wasm32`, `onnxruntime-web/wasm64`), npm's official onnxruntime-web 1.21.0 with its own dist, and
the MEMFS builds (heap-backed) as the reference; external data given as bytes already in JS and as a file path.
Where a build cannot load, the row keeps ORT's or onnxruntime-web's message verbatim: that is the figure.

Cases: `gather_2g5` (2.5 GiB in two 1.25 GiB initializers), `gather_3g25` (3.25 GiB in two 1.625 GiB
initializers, generated here once: every tensor stays under the 2 GiB per-tensor limit, so a failure is about the
total) and `big_gather` (4.25 GiB in one initializer).

Why a memory guard: a path load on the OFF builds peaked at 4x the weights (17.14 GiB for 4.25 GiB) and this
machine is shared.  A row is skipped, with the reason recorded, when MemAvailable is under its expected peak plus
2 GiB; a watchdog kills the row's own Node process (by pid) if MemAvailable falls under 1.5 GiB while it runs.

    python bench/runtime_load_off.py
    python bench/runtime_load_off.py --cases gather_3g25 --builds ours-wasm32,official
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from bench.runtime_load import _fmt, _row
from bench.runtime_load_browser import mem_available
from bench.runtime_load_heap import _app
from ortwasm.paths import artifact_cache_dir
from tests.harness import models
from tests.harness.client import ClientJob, app_entry, client_app, package_dist

GIB = 1024**3
OUT = Path(__file__).resolve().parent / "results" / "runtime-load-off.json"
BUILDS = ("ours-wasm32", "ours-wasm64", "official", "ours-wasm32-memfs", "ours-wasm64-memfs")
CASES = ("gather_2g5", "gather_3g25", "big_gather")
# expected peak RSS over the weights (runtime-load.json, runtime-load-heap.json, issue #13's table)
EXPECTED_X = {("bytes", False): 2.1, ("path", False): 4.1, ("bytes", True): 2.1, ("path", True): 1.1}
MARGIN = 2 * GIB
KILL_BELOW = int(1.5 * GIB)


def gather_3g25() -> models.ModelCase:
    """3.25 GiB in two initializers, cached beside the harness's cases (generation writes 3.5 GB once)."""
    where = models.models_cache_dir() / "bench-gather_3g25"
    if (where / "complete").exists():
        return models._load_case(where)
    case = models.gather_rows(where, 212_992, 4096, name="gather_3g25", parts=2)
    models._save_case(case, where)
    return case


def load_case(key: str) -> models.ModelCase:
    return gather_3g25() if key == "gather_3g25" else models.cached_case(key)


def _descendants(root: int) -> list[int]:
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

    def __init__(self) -> None:
        self.fired: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            free = mem_available()
            if free < KILL_BELOW:
                for pid in _descendants(os.getpid()):
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builds", default=",".join(BUILDS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--data-as", default="bytes,path")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    ours = _app(artifact_cache_dir(), "ortwasm")
    official = client_app("official-1.21.0", "onnxruntime-web@1.21.0")
    entries: dict[str, tuple[Path, Path | None]] = {
        f"ours-{v}": (app_entry(ours, f"onnxruntime-web/{v}"), None)
        for v in ("wasm32", "wasm64", "wasm32-memfs", "wasm64-memfs")}
    entries["official"] = (app_entry(official), package_dist(official))
    rows: list[dict[str, Any]] = []
    for key in args.cases.split(","):
        case = load_case(key)
        for data_as in args.data_as.split(","):
            for build in args.builds.split(","):
                entry, wasm_dir = entries[build]
                client, variant = ("official", "npm-dist") if build == "official" else ("ours", build[5:])
                need = EXPECTED_X[(data_as, variant.endswith("memfs"))] * case.external_bytes + MARGIN
                free = mem_available()
                if free < need:
                    row: dict[str, Any] = {"client": client, "variant": variant, "case": key, "data_as": data_as,
                                           "ok": False, "external_bytes": case.external_bytes,
                                           "skipped": f"MemAvailable {free / GIB:.1f} GiB < expected peak + 2 GiB "
                                                      f"= {need / GIB:.1f} GiB"}
                    rows.append(row)
                    print(f"{client:>8} {variant:>13} {key:>11} {data_as:>5}  SKIPPED: {row['skipped']}", flush=True)
                    continue
                job = ClientJob(entry, case.model, case.inputs, list(case.expected), case.external,
                                data_as="path" if data_as == "path" else "bytes", wasm_dir=wasm_dir,
                                timeout_s=1800)
                with Watchdog() as dog:
                    row = _row(client, variant, key, data_as, 1, job, case)
                row["mem_available_before"] = free
                if dog.fired:
                    row["ok"], row["error"] = False, dog.fired
                rows.append(row)
                print(_fmt(row), flush=True)
    write_results(args.out, {"machine": machine_info(), "rows": rows})
    print("\n| build | weights | source | session | GB/s | peak RSS | RSS after session | failure (verbatim) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        label = f"{r['client']} {r['variant']}"
        w = f"{r['external_bytes'] / GIB:.2f} GiB ({r['case']})"
        if r["ok"]:
            print(f"| {label} | {w} | {r['data_as']} | {r['session_ms'] / 1e3:.2f} s | {r['gb_per_s']} | "
                  f"{r['peak_rss_x']}x | {r['rss_after_session_x']}x | |")
        else:
            why = r.get("skipped") or f"at {r.get('stage')}: {r.get('error') or r.get('mismatches')}"
            peak = f"{r['peak_rss_x']}x" if r.get("peak_rss_x") else ""
            print(f"| {label} | {w} | {r['data_as']} | | | {peak} | | {str(why).replace('|', '/')[:300]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
