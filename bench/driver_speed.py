#!/usr/bin/env python3
"""Benchmark: our driver against ORT's own tools/ci_build/build.py, both cold, back to back, ccache off.

Why: "our build must not be slower than upstream's own driver" only means something when both build the same
tree, with the same emscripten and dependency dirs, from empty build dirs, one right after the other on the same
machine, with nothing cached.  Both runs build the wasm32 CPU variant (MEMFS OFF: ORT's own build.py builds that)
and are timed from the command's start to its exit, configure included.

The figures depend on what else the machine does, so the results file records the load average before each
run; a run that starts on a busy machine is marked.  Each run gets a fresh build dir under
$ORTWASM_HOME/bench-speed/ (removed first), so neither warms the other's objects.

    python bench/driver_speed.py                 # ours, then build.py (about 2 x 25 min on 2 idle cores)
    python bench/driver_speed.py --order buildpy-first
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from ortwasm import paths
from ortwasm.digest import sha256_file

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "results" / "driver-speed.json"
WASM = "ort-wasm-simd-threaded.wasm"
BUSY = 0.5  # 1-minute load average above this at a run's start means the machine was not idle


def _load() -> float:
    return os.getloadavg()[0]


def run_ours(work: Path, jobs: int) -> dict[str, object]:
    build, out = work / "ours", work / "ours-out"
    for d in (build, out):
        shutil.rmtree(d, ignore_errors=True)
    argv = [sys.executable, str(ROOT / "build.py"), "--variants", "wasm32", "--no-ccache", "--skip-js",
            "--jobs", str(jobs), "--build-dir", str(build), "--out", str(out)]
    return _timed("ours", argv, out / "wasm32" / WASM)


def run_buildpy(work: Path, jobs: int) -> dict[str, object]:
    build = work / "buildpy"
    shutil.rmtree(build, ignore_errors=True)
    argv = [sys.executable, str(ROOT / "bench" / "upstream_identity.py"), "--no-ccache", "--jobs", str(jobs),
            "--build-dir", str(build), "--out", str(work / "upstream-identity-cold.json")]
    return _timed("ORT build.py", argv, build / "Release" / WASM)


def _timed(name: str, argv: list[str], wasm: Path) -> dict[str, object]:
    load = _load()
    print(f"== {name}: {' '.join(argv)} (load average {load:.2f})", flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, check=False)
    wall = time.monotonic() - started
    print(f"== {name}: exit {proc.returncode} after {wall / 60:.1f} min", flush=True)
    return {"command": " ".join(argv[1:]), "exit": proc.returncode, "wall_s": round(wall, 1),
            "load_at_start": round(load, 2), "idle_at_start": load <= BUSY,
            "wasm_sha256": sha256_file(wasm) if wasm.exists() else None,
            "wasm_bytes": wasm.stat().st_size if wasm.exists() else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--order", choices=("ours-first", "buildpy-first"), default="ours-first")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    work = paths.ortwasm_home() / "bench-speed"
    work.mkdir(parents=True, exist_ok=True)
    runs = [("ours", run_ours), ("buildpy", run_buildpy)]
    if args.order == "buildpy-first":
        runs.reverse()
    results = {name: fn(work, args.jobs) for name, fn in runs}
    ours, theirs = results["ours"], results["buildpy"]
    ok = ours["exit"] == 0 and theirs["exit"] == 0
    ratio = round(float(ours["wall_s"]) / float(theirs["wall_s"]), 3) if ok else None  # type: ignore[arg-type]
    print(f"ours {ours['wall_s']} s, ORT build.py {theirs['wall_s']} s, ratio ours/build.py {ratio}")
    write_results(args.out, {
        "what": "cold wasm32 (MEMFS OFF) build, ccache off, fresh build dirs, back to back: ours vs ORT build.py",
        "order": args.order, "jobs": args.jobs, "ours": ours, "buildpy": theirs,
        "ratio_ours_over_buildpy": ratio, "machine": machine_info(),
    })
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
