"""Time `ortwasm package` on the artifacts present; target < 10 s for the four release variants.

Why split the time: packaging first re-runs the full check on every variant (gzip -9 of each wasm is most
of it) and then writes two archives (deflate level 6, tarball and wheel at once).  Both scale with the wasm
bytes, so when fewer than four variants are present (a cold ORT build takes an hour per variant) the
four-variant figure is extrapolated from the bytes per second measured here, and labelled as such.

Usage: python -m bench.package_speed [OUT] [--repeat N] [--ort-version V] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from bench.common import budgets_path
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.checks.sizes import load_budgets
from ortwasm.package import build_packages, collect
from ortwasm.recipe import default_version

REPO = Path(__file__).resolve().parents[1]

TARGET_S_FOUR = 10.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.package_speed", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, nargs="?", default=paths.artifact_cache_dir(),
                    help="OUT dir with <variant>/ subdirs (default: the artifact cache)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--ort-version", default=None, help="the ORT version of the artifacts in OUT")
    add_results_dir(ap)
    args = ap.parse_args(argv)
    args.ort_version = args.ort_version or default_version()

    variants = collect(args.dir)
    wasm_bytes = sum(len(v.data["wasm"]) for v in variants)
    budgets = load_budgets(budgets_path(args.ort_version))
    best: dict[str, float] = {}
    sizes: dict[str, int] = {}
    digests: set[tuple[str, str]] = set()
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory(prefix="ortwasm-bench-") as tmp:
            start = time.perf_counter()
            res = build_packages(args.dir, Path(tmp), budgets=budgets)
            wall = time.perf_counter() - start
            for k, v in {**res.seconds, "wall_s": wall}.items():
                best[k] = min(best.get(k, float("inf")), v)
            sizes = {res.tgz.name: res.tgz.stat().st_size, res.wheel.name: res.wheel.stat().st_size}
            digests.add((_sha(res.tgz), _sha(res.wheel)))
    per_variant_bytes = wasm_bytes / len(variants)
    four = best["wall_s"] * (4 * per_variant_bytes) / wasm_bytes
    measured_four = len(variants) >= 4
    verdict = "meets" if four < TARGET_S_FOUR else "MISSES"
    print(f"{args.dir}: {len(variants)} variant(s) ({', '.join(v.name for v in variants)}), {wasm_bytes:,} B of wasm")
    print(f"  check {best['check_s']:.2f} s + write {best['write_s']:.2f} s = {best['wall_s']:.2f} s (best of "
          f"{args.repeat}); reproducible across runs: {len(digests) == 1}")
    for name, size in sizes.items():
        print(f"  {name}: {size:,} B")
    label = "measured" if measured_four else f"extrapolated from {len(variants)} by wasm bytes"
    print(f"  four variants: {four:.2f} s ({label}); target < {TARGET_S_FOUR} s: {verdict}")
    data = {"dir": str(args.dir), "variants": [v.name for v in variants], "wasm_bytes": wasm_bytes,
            "seconds": {k: round(v, 3) for k, v in best.items()}, "repeat": args.repeat, "outputs": sizes,
            "reproducible": len(digests) == 1, "four_variants_s": round(four, 2), "four_variants": label,
            "target_s_four_variants": TARGET_S_FOUR, "meets_target": four < TARGET_S_FOUR,
            "machine": machine_info()}
    write_results("package", args.ort_version, data, results_dir=args.results_dir)
    return 0


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
