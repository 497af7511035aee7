"""Time `ortwasm check` on a directory of artifacts; target < 1 s per 10 MB of wasm.

Why three timings: parsing (the wasm section walker and glue patterns) is
meant to be nearly free; compression is where the time goes.  A full check
with the default brotli limit (brotli-11 only on files <= 1 MiB) is the
number the target is about; ``--brotli-all`` shows what brotli-11 on the
wasm would cost.  No size cache is used, so every run is cold.

Usage: python -m bench.check_speed DIR [--brotli-all] [--repeat N] [--ort-version V] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import budgets_path
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm.checks import glue, wasm
from ortwasm.checks.rules import check_dir, discover, load_budgets
from ortwasm.checks.sizes import DEFAULT_BROTLI_LIMIT, brotli_available
from ortwasm.recipe import default_version

REPO = Path(__file__).resolve().parents[1]

TARGET_S_PER_10MB = 1.0


def _time(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.check_speed", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--brotli-all", action="store_true", help="also time a check with brotli-11 on every file")
    ap.add_argument("--repeat", type=int, default=1, help="best of N per timing (default 1)")
    ap.add_argument("--ort-version", default=None, help="the ORT version of the artifacts in DIR")
    add_results_dir(ap)
    args = ap.parse_args(argv)
    args.ort_version = args.ort_version or default_version()

    pairs = discover(args.dir)
    wasm_bytes = sum((d / f"{s}.wasm").stat().st_size for d, s in pairs)
    budgets = load_budgets(budgets_path(args.ort_version))
    per10 = 10 * 10**6 / wasm_bytes

    def parse_only() -> None:
        for d, s in pairs:
            wasm.parse_file(d / f"{s}.wasm")
            glue.parse_file(d / f"{s}.mjs")

    runs = [("parse only (wasm sections + glue)", _time(parse_only, args.repeat))]
    runs.append((f"full check, brotli <= {DEFAULT_BROTLI_LIMIT:,} B", _time(
        lambda: check_dir(args.dir, expect=None, budgets=budgets, baseline=None), args.repeat)))
    if args.brotli_all:
        runs.append(("full check, brotli-11 on every file", _time(
            lambda: check_dir(args.dir, expect=None, budgets=budgets, baseline=None, brotli_limit=None), 1)))

    print(f"{args.dir}: {len(pairs)} artifact(s), {wasm_bytes:,} B of wasm; target < {TARGET_S_PER_10MB} s per 10 MB")
    results = []
    for label, secs in runs:
        rate = secs * per10
        verdict = "meets" if rate < TARGET_S_PER_10MB else "MISSES"
        print(f"  {label:45s} {secs:8.3f} s  = {rate:6.3f} s per 10 MB  ({verdict} target)")
        results.append({"mode": label, "seconds": round(secs, 4), "seconds_per_10MB": round(rate, 4),
                        "meets_target": rate < TARGET_S_PER_10MB})
    data = {"dir": str(args.dir), "artifacts": [f"{d.name}/{s}" for d, s in pairs], "wasm_bytes": wasm_bytes,
            "target_seconds_per_10MB": TARGET_S_PER_10MB, "runs": results, "repeat": args.repeat,
            "machine": machine_info(brotli_module=brotli_available())}
    write_results("check-speed", args.ort_version, data, results_dir=args.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
