"""Benchmark: how fast and how big is loading external data into a session, per artifact variant.

Not a test: it prints figures and writes bench/results/runtime-load.json for the notes on issues 4 and 7.
For each variant directory and model it runs the Node harness once (a fresh process per run, so peak RSS is
that run's own) and records:
  - load_ms: bytes already in JS -> session ready (mount + model copy + OrtCreateSession), and GB/s over it;
  - peak RSS, peak wasm heap (wasm memory never shrinks, so the final size is the peak);
  - RSS after the session exists with the files unmounted and a full GC (the "1x after load" goal).
Reading the files from disk (read_ms) is reported apart: it is the host's cost, not the artifact's.

    python bench/runtime_load.py --variants wasm32,wasm32-memfs,wasm64,wasm64-memfs
    python bench/runtime_load.py --official            # onnxruntime-web 1.21.0's own dist, as a baseline
    python bench/runtime_load.py --dirs /some/dir --cases gather_256m --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ortwasm import models, runtime

GIB = 1024**3
DEFAULT_CASES = ("gather_256m", "gather_2g5")
BIG_CASES = ("far_offset", "big_gather")  # > 4 GiB: meaningful on MEMFS and wasm64 builds
UNKNOWN_CASES = ("gather_2g5_one",)  # one 2.5 GiB tensor: wasm32 fails (SafeInt); recorded, not judged
OUT = Path(__file__).resolve().parent / "results" / "runtime-load.json"


def _targets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for v in filter(None, args.variants.split(",")):
        found.append((v, runtime.artifact_dir_for(v)))
    found += [(Path(d).name, Path(d)) for d in args.dirs]
    if args.official:
        dist = runtime.official_dist(fetch=True)
        if dist is None:
            sys.exit("onnxruntime-web 1.21.0 dist not available (npm pack failed)")
        found.append(("official-1.21.0", dist))
    return found


def _cases_for(name: str, wasm64: bool, memfs: bool, args: argparse.Namespace) -> list[str]:
    cases = list(args.cases.split(",")) if args.cases else list(DEFAULT_CASES)
    if not args.cases and not args.no_big:
        if memfs or wasm64:
            cases.append("far_offset")
        if wasm64:
            cases.append("big_gather")
    return cases


def _one(name: str, where: Path, key: str, threads: int, mount: runtime.Mount, browser: bool) -> dict[str, Any]:
    case = models.cached_case(key)
    job = runtime.RunJob(
        where,
        case.model,
        case.inputs,
        list(case.expected),
        case.external,
        mount=mount,
        num_threads=threads,
        timeout_s=3600,
    )
    t0 = time.perf_counter()
    r = runtime.run_browser(job) if browser else runtime.run_node(job)
    wall = time.perf_counter() - t0
    ext = int(r.raw.get("external_bytes") or case.external_bytes)
    load_ms = float(r.timings.get("mount_ms", 0.0)) + float(r.timings.get("session_ms", 0.0))
    mismatches = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok else []
    return {
        "variant": name,
        "dir": str(where),
        "case": key,
        "threads": threads,
        "mount": mount,
        "runner": "browser" if browser else "node",
        "ok": r.ok and not mismatches,
        "error": r.error,
        "stage": r.stage,
        "mismatches": mismatches,
        "external_bytes": ext,
        "read_ms": r.timings.get("read_ms"),
        "load_ms": load_ms if r.ok else None,
        "create_session_ms": r.timings.get("create_session_ms"),
        "run_ms": r.timings.get("run_ms"),
        "gb_per_s": (ext / 1e9) / (load_ms / 1e3) if r.ok and load_ms > 0 else None,
        "peak_rss": r.memory.get("peak_rss"),
        "peak_wasm_heap": r.memory.get("wasm_heap_bytes"),
        "rss_after_session_unmounted": r.memory.get("rss_after_session"),
        "peak_rss_over_external": (r.memory.get("peak_rss") or 0) / ext if ext else None,
        "wall_s": wall,
        "glue": r.raw.get("glue"),
    }


def _fmt(row: dict[str, Any]) -> str:
    def gib(v: object) -> str:
        return f"{v / GIB:6.2f}G" if isinstance(v, int | float) and v else "     -"

    head = f"{row['variant']:>16} {row['case']:>11} t={row['threads']} {row['mount']:>13}"
    if not row["ok"]:
        why = row["error"] or "; ".join(row["mismatches"])
        return f"{head}  FAILED at {row['stage']}: {str(why)[:160]}"
    return (
        f"{head}  ext {gib(row['external_bytes'])}  load {row['load_ms']:9.0f} ms  {row['gb_per_s']:6.2f} GB/s"
        f"  peakRSS {gib(row['peak_rss'])}  heap {gib(row['peak_wasm_heap'])}"
        f"  RSS after {gib(row['rss_after_session_unmounted'])}  (read {row['read_ms']:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="", help="comma list of variants under the artifact cache")
    p.add_argument("--dirs", nargs="*", default=[], help="artifact directories (name = directory name)")
    p.add_argument("--official", action="store_true", help="also run onnxruntime-web 1.21.0's dist")
    p.add_argument("--cases", default="", help=f"comma list from {sorted(models.GENERATORS)}")
    p.add_argument("--no-big", action="store_true", help="skip the > 4 GiB models")
    p.add_argument("--threads", default="2", help="comma list of thread counts")
    p.add_argument("--mount", default="api", choices=["api", "fs", "mounted-files"])
    p.add_argument("--browser", action="store_true", help="run in headless Chromium instead of Node")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    targets = _targets(args)
    if not targets:
        p.error("give --variants, --dirs or --official")
    rows: list[dict[str, Any]] = []
    for name, where in targets:
        mjs = where / runtime.DEFAULT_MJS
        if not mjs.exists():
            print(f"{name:>16}  SKIPPED: no artifact at {mjs}", flush=True)
            rows.append({"variant": name, "dir": str(where), "skipped": f"no artifact at {mjs}"})
            continue
        wasm64 = runtime.glue_ptr_size(mjs) == 8
        memfs = "/dev/tty1" in mjs.read_text(errors="replace")
        for key in _cases_for(name, wasm64, memfs, args):
            for threads in (int(t) for t in args.threads.split(",")):
                row = _one(name, where, key, threads, args.mount, args.browser)
                # past 4 GiB only MEMFS builds can load; OFF builds must fail, cleanly (that is a result too)
                row["expect_ok"] = None if key in UNKNOWN_CASES else (memfs or key not in BIG_CASES)
                rows.append(row)
                print(_fmt(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    surprises = [r for r in rows if not r.get("skipped") and r["expect_ok"] is not None and r["ok"] != r["expect_ok"]]
    for r in surprises:
        print(f"UNEXPECTED: {r['variant']} {r['case']}: ok={r['ok']} expected {r['expect_ok']}")
    return 1 if surprises else 0


if __name__ == "__main__":
    raise SystemExit(main())
