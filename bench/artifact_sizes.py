"""Measure the release variants a build left in OUT: the reference sizes budgets are set against.

Why a results file and not numbers in comments: budgets.toml's reference sizes and the tests' headroom check
used to carry figures copied by hand from some build, which drifted from what the artifacts measure.  This
writes what the check itself measures (raw, gzip -9 as ``ortwasm check`` computes it, sha256), per variant, with
the toolchain and patch set from each manifest, to ``bench/results/sizes-<version>.json``; the budgets' header
and ``tests/test_checks.py`` read that file.

Usage: python bench/artifact_sizes.py [--ort-version 1.21.0] [--out-dir OUT] [--results PATH]
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent))
import argparse
import sys
from pathlib import Path
from typing import Any

from _results import machine_info, write_results

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ortwasm import paths  # noqa: E402
from ortwasm.artifacts.manifest import Manifest  # noqa: E402
from ortwasm.checks.sizes import measure  # noqa: E402
from ortwasm.source.recipe import require_recipe  # noqa: E402
from ortwasm.variants import load_table, release_variants  # noqa: E402


def variant_sizes(d: Path) -> dict[str, Any]:
    m = Manifest.read(d / "manifest.json")
    files = {}
    for f in sorted(d.glob("*.wasm")) + sorted(d.glob("*.mjs")):
        s = measure(f, brotli_limit=0)
        files[f.name] = {"bytes": s.raw, "gzip9": s.gzip, "sha256": s.sha256}
    return {"files": files, "emscripten": m.toolchain.emscripten if m.toolchain else None,
            "patchset": m.ort.patchset if m.ort else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ort-version", default=paths.DEFAULT_VERSION)
    ap.add_argument("--out-dir", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=None)
    a = ap.parse_args()
    out = a.out_dir or require_recipe(a.ort_version).out_dir
    results = a.results or REPO / "bench" / "results" / f"sizes-{a.ort_version}.json"
    variants = {v.name: variant_sizes(out / v.name) for v in release_variants(load_table())
                if (out / v.name / "manifest.json").is_file()}
    write_results(results, {"command": " ".join(sys.argv), "ort_version": a.ort_version, "out": str(out),
                            "machine": machine_info(), "variants": variants})
    return 0


if __name__ == "__main__":
    sys.exit(main())
