"""Benchmark: our driver against ORT's own tools/ci_build/build.py, both cold, back to back, ccache off.

Why: "our build must not be slower than upstream's own driver" only means something when both build the same
tree, with the same emscripten and dependency dirs, from empty build dirs, one right after the other on the same
machine, with nothing cached.  Both runs build the wasm32 CPU variant (MEMFS OFF: ORT's own build.py builds that)
and are timed from the command's start to its exit, configure included.

Both use the same build-dir path, $ORTWASM_HOME/bench-speed/tree (removed before each run), so their outputs
must be sha256-identical (ORT's wasm embeds source paths): the timing is of two drivers doing the same work.
Each run waits (up to 5 min) for the 1-minute load average to fall below 0.5, so the previous run's load does
not count against the next; the results record it.  The wall time is split from the logs into configure
(cmake's own "Configuring done"), compiles and link (.ninja_log), and the per-step CPU time of the compile
steps both ran: the commands are identical, so a difference there is the machine, not the driver.

    python -m bench.driver_speed                 # ours, then build.py (about 2 x 31 min on 2 idle cores)
    python -m bench.driver_speed --order buildpy-first

Writes bench/results/driver-speed-<order>-<version>.json (1.21.0: the default tree build.py builds).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.digest import sha256_file
from ortwasm.proc.progress import ninja_log_steps
from ortwasm.recipe import default_version

ROOT = Path(__file__).resolve().parents[1]
WASM = "ort-wasm-simd-threaded.wasm"
BUSY = 0.5  # 1-minute load average above this at a run's start means the machine was not idle


def _wait_idle(limit_s: float = 300.0) -> float:
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] > BUSY and time.monotonic() < deadline:
        time.sleep(10)
    return os.getloadavg()[0]


def run_ours(work: Path, jobs: int) -> dict[str, object]:
    tree, out = work / "tree", work / "ours-out"
    for d in (tree, out):
        shutil.rmtree(d, ignore_errors=True)
    argv = [sys.executable, str(ROOT / "build.py"), "--variants", "wasm32", "--no-ccache", "--skip-js",
            "--jobs", str(jobs), "--build-dir", str(tree), "--out", str(out)]
    result = _timed("ours", argv, out / "wasm32" / WASM)
    return {**result, **_phases(tree / "wasm32" / "build.log", tree / "wasm32" / ".ninja_log")}


def run_buildpy(work: Path, jobs: int) -> dict[str, object]:
    """bench.upstream_identity runs ORT's build.py and compares with ours-out: exit 0 only when sha256-identical.

    With --order buildpy-first there is no ours-out yet, so its exit is 1 by design; main() compares the two
    runs' sha256 itself, which is what `identical_wasm` records.
    """
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    argv = [sys.executable, "-m", "bench.upstream_identity", "--no-ccache", "--jobs", str(jobs),
            "--build-dir", str(tree), "--ours", str(work / "ours-out" / "wasm32"),
            "--results-dir", str(work)]  # its upstream-identity-<version>.json there, not in bench/results
    result = _timed("ORT build.py", argv, tree / "Release" / WASM)
    return {**result, **_phases(tree / "build.log", tree / "Release" / ".ninja_log")}


def _phases(log: Path, ninja_log: Path) -> dict[str, object]:
    text = log.read_text(errors="replace") if log.exists() else ""
    configure = re.findall(r"-- Configuring done \(([0-9.]+)s\)", text)
    steps = {s.output: s for s in ninja_log_steps(ninja_log)}  # an output built twice: its newest step
    compiles = [s for s in steps.values() if not s.output.endswith(".mjs")]
    link = [s for s in steps.values() if s.output.endswith(".mjs")]
    return {"configure_s": float(configure[-1]) if configure else None,
            "compile_wall_s": round(max((s.end_ms for s in compiles), default=0) / 1000, 1),
            "link_s": round(link[0].seconds, 1) if link else None,
            "steps": {s.output: s.end_ms - s.start_ms for s in compiles}}


def _same_steps(a: dict[str, int], b: dict[str, int]) -> dict[str, object]:
    """The compile steps both builds ran (over 2 s in build.py's), ours' time over theirs: the machine's share."""
    common = [k for k in a if k in b and b[k] > 2000]
    ratios = sorted(a[k] / b[k] for k in common)
    return {"compile_steps_compared": len(common),
            "compile_cpu_s": {"ours": round(sum(a[k] for k in common) / 1000),
                              "buildpy": round(sum(b[k] for k in common) / 1000)},
            "median_step_ratio": round(ratios[len(ratios) // 2], 3) if ratios else None}


def _timed(name: str, argv: list[str], wasm: Path) -> dict[str, object]:
    load = _wait_idle()
    print(f"== {name}: {' '.join(argv)} (load average {load:.2f})", flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, check=False)
    wall = time.monotonic() - started
    print(f"== {name}: exit {proc.returncode} after {wall / 60:.1f} min", flush=True)
    return {"command": " ".join(argv[1:]), "exit": proc.returncode, "wall_s": round(wall, 1),
            "load_at_start": round(load, 2), "idle_at_start": load <= BUSY,
            "wasm_sha256": sha256_file(wasm) if wasm.exists() else None,
            "wasm_bytes": wasm.stat().st_size if wasm.exists() else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.driver_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--order", choices=("ours-first", "buildpy-first"), default="ours-first",
                   help="each order keeps its own result, driver-speed-<order>-<version>.json")
    p.add_argument("--jobs", type=int, default=2)
    add_results_dir(p)
    args = p.parse_args(argv)
    work = paths.ortwasm_home() / "bench-speed"
    work.mkdir(parents=True, exist_ok=True)
    runs = [("ours", run_ours), ("buildpy", run_buildpy)]
    if args.order == "buildpy-first":
        runs.reverse()
    results = {name: fn(work, args.jobs) for name, fn in runs}
    ours, theirs = results["ours"], results["buildpy"]
    built = ours["wasm_sha256"] is not None and theirs["wasm_sha256"] is not None
    ratio = round(float(ours["wall_s"]) / float(theirs["wall_s"]), 3) if built else None  # type: ignore[arg-type]
    steps = {name: r.pop("steps") for name, r in results.items()}  # per-step times: compared, not recorded
    same = _same_steps(steps["ours"], steps["buildpy"])  # type: ignore[arg-type]
    identical = built and ours["wasm_sha256"] == theirs["wasm_sha256"]
    print(f"ours {ours['wall_s']} s, ORT build.py {theirs['wall_s']} s, ratio ours/build.py {ratio}; "
          f"outputs identical: {identical}; identical compile steps took {same['median_step_ratio']}x (median)")
    write_results(f"driver-speed-{args.order}", default_version(), {
        "what": "cold wasm32 (MEMFS OFF) build, ccache off, same build-dir path, back to back: ours vs ORT build.py",
        "order": args.order, "jobs": args.jobs, "ours": ours, "buildpy": theirs, "identical_wasm": identical,
        "same_compile_steps": same, "ratio_ours_over_buildpy": ratio, "machine": machine_info(),
    }, results_dir=args.results_dir)
    return 0 if built and identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
