"""Measure the release variants a build left in OUT: the reference sizes budgets are set against.

Why a results file and not numbers in comments: budgets.toml's reference sizes and the tests' headroom check
used to carry figures copied by hand from some build, which drifted from what the artifacts measure.  This
writes what the check itself measures (raw, gzip -9 as ``ortwasm check`` computes it, sha256), per variant, with
the toolchain and patch set from each manifest, to ``bench/results/sizes-<version>.json``; the budgets' header
and ``tests/test_checks.py`` read that file.

Usage: python -m bench.artifact_sizes [--ort-version 1.21.0] [--out-dir OUT] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm.artifacts.manifest import Manifest
from ortwasm.checks.sizes import measure
from ortwasm.recipe import default_version, require_recipe
from ortwasm.variants import load_table, release_variants


def variant_sizes(d: Path) -> dict[str, Any]:
    m = Manifest.read(d / "manifest.json")
    files = {}
    for f in sorted(d.glob("*.wasm")) + sorted(d.glob("*.mjs")):
        s = measure(f, brotli_limit=0)
        files[f.name] = {"bytes": s.raw, "gzip9": s.gzip, "sha256": s.sha256}
    return {"files": files, "emscripten": m.toolchain.emscripten if m.toolchain else None,
            "patchset": m.ort.patchset if m.ort else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.artifact_sizes", description=__doc__.splitlines()[0])
    ap.add_argument("--ort-version", default=None)
    ap.add_argument("--out-dir", type=Path, default=None)
    add_results_dir(ap)
    a = ap.parse_args(argv)
    a.ort_version = a.ort_version or default_version()
    out = a.out_dir or require_recipe(a.ort_version).out_dir
    variants = {v.name: variant_sizes(out / v.name) for v in release_variants(load_table())
                if (out / v.name / "manifest.json").is_file()}
    write_results("sizes", a.ort_version, {"ort_version": a.ort_version, "out": str(out), "machine": machine_info(),
                                           "variants": variants}, results_dir=a.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
