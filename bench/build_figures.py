"""Figures of real ORT builds: compile+link wall time per variant (from Ninja's own log), configure time
(from the driver's build.log), artifact sizes (raw, gzip -9) and sha256, and the OFF-identity comparison.

Usage: python -m bench.build_figures [--ort-version 1.30.0] [--build-dir build] [--out OUT]
       [--baseline-build build-upstream --baseline-out OUT-upstream] [--results-dir DIR] [--section KEY]

Writes bench/results/build-<version>.json.

--ort-version takes the build and out dirs from patches/<version>/recipe.toml, and compares sizes with npm's
onnxruntime-web of the same version (installed by the client tests under $ORTWASM_HOME/clients).

--section KEY writes under that key of the file and keeps the rest: another toolchain's builds of the same version
(`--section emscripten-6.0.5 --build-dir ... --out ...`) sit beside the default toolchain's, in one file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.artifacts.manifest import Manifest
from ortwasm.proc.progress import ninja_log_steps
from ortwasm.recipe import default_version, require_recipe


def ninja_wall(build_dir: Path) -> dict[str, float | int] | None:
    rows = ninja_log_steps(build_dir / ".ninja_log")
    if not rows:
        return None
    link = [r for r in rows if r.output.endswith(".mjs")]
    return {"steps": len(rows),
            "compile_link_s": round((max(r.end_ms for r in rows) - min(r.start_ms for r in rows)) / 1000, 1),
            "link_s": round(link[-1].seconds, 1) if link else 0.0}


def configure_seconds(build_dir: Path) -> list[float]:
    log = build_dir / "build.log"
    if not log.exists():
        return []
    return [float(m) for m in re.findall(r"### configure exit 0 after ([\d.]+)s", log.read_text())]


def file_facts(path: Path) -> dict[str, object]:
    data = path.read_bytes()
    return {"bytes": len(data), "gzip9": len(gzip.compress(data, 9, mtime=0)),
            "sha256": hashlib.sha256(data).hexdigest()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.build_figures", description=__doc__.splitlines()[0])
    ap.add_argument("--ort-version", default=None)
    ap.add_argument("--build-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--baseline-build", type=Path, default=Path("build-upstream"))
    ap.add_argument("--baseline-out", type=Path, default=Path("/var/cache/ortwasm/out-upstream"))
    ap.add_argument("--section", default="", help="write under this key, keeping the rest (another toolchain's "
                    "builds: emscripten-X.Y.Z)")
    add_results_dir(ap)
    a = ap.parse_args(argv)
    a.ort_version = a.ort_version or default_version()
    recipe = require_recipe(a.ort_version)
    a.build_dir = a.build_dir or recipe.build_dir
    a.out = a.out or recipe.out_dir
    variants: dict[str, object] = {}
    for name in ("wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs"):
        out = a.out / name
        if not (out / "manifest.json").exists():
            continue
        m = Manifest.read(out / "manifest.json")
        manifest = m.to_json()
        assert m.toolchain is not None and m.ort is not None and m.timings is not None, out
        variants[name] = {
            "ninja": ninja_wall(a.build_dir / name),
            "configure_s": configure_seconds(a.build_dir / name),
            "files": {p.name: file_facts(p) for p in sorted(out.glob("ort-wasm*"))},
            "emscripten": m.toolchain.emscripten,
            "patchset": m.ort.patchset,
            "glue_fix": manifest.get("glue_fix"),
            "toolchain": manifest["toolchain"],
            "ort_commit": m.ort.commit or "",
            "ccache": {k: int(v) for k, v in m.timings.items() if k.startswith("ccache_")},
        }
    identity: dict[str, object] = {}
    base = a.baseline_out / "wasm32"
    if (base / "manifest.json").exists() and "wasm32" in variants:
        for p in sorted(base.glob("ort-wasm*")):
            ours = a.out / "wasm32" / p.name
            identity[p.name] = {"upstream_sha256": file_facts(p)["sha256"],
                                "ours_off_sha256": file_facts(ours)["sha256"] if ours.exists() else None}
            identity[p.name]["identical"] = identity[p.name]["upstream_sha256"] == identity[p.name]["ours_off_sha256"]  # type: ignore[index]
        identity["baseline_ninja"] = ninja_wall(a.baseline_build / "wasm32")
    official_dist = (paths.ortwasm_home() / "clients" / f"official-{a.ort_version}" / "node_modules" /
                     "onnxruntime-web" / "dist")
    official = {p.name: file_facts(p) for p in sorted(official_dist.glob("ort-wasm-simd-threaded.*"))
                if p.suffix in (".wasm", ".mjs")}
    result = {"machine": machine_info(), "ort_version": a.ort_version,
              "variants": variants, "off_identity_vs_unpatched": identity,
              f"official_onnxruntime_web_{a.ort_version}": official}
    print(json.dumps(result, indent=2))
    write_results("build", a.ort_version, result, results_dir=a.results_dir, section=a.section or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
