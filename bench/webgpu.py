"""Figures of the WebGPU variants (1.21's JSEP, 1.30's native WebGPU EP): how long each took to build, how big it
is next to the official pair of its kind, how much ccache it shared with the CPU builds, and what loading big
models on a real WebGPU adapter costs (headless Chromium on SwiftShader, through the official bundle of the same
version, and through our package), with upstream's own pair in the same run.

Usage: python -m bench.webgpu [--ort-version V] [--skip-runs | --only VARIANT,...] [--results-dir DIR]

Writes bench/results/webgpu-<version>.json; with --skip-runs it keeps the runs that file already has, with --only
it reruns the rows of those variants (``upstream``/``upstream-jspi`` included) and keeps the others.  Each row
records the 1-minute load average when it started: session times from a busy machine are not comparable.

Memory is the kernel's high-water mark (VmHWM) of each Chromium process, read when the run ends: the renderer
holds the wasm heap, the GPU process holds SwiftShader's buffers (on a real GPU those would be in VRAM).  Peak
heap is the wasm memory size after the session exists (the heap never shrinks, so that is its peak), read by the
harness page from the WebAssembly.Memory the glue creates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.build_figures import configure_seconds, file_facts, ninja_wall
from bench.results_io import add_results_dir, machine_info, result_path, write_results
from ortwasm import paths
from ortwasm.recipe import default_version, require_recipe
from ortwasm.variants import load_table

GIB = 1 << 30
# (variant, model case, client) per version.  "official" is npm's onnxruntime-web of the same version, through the
# bundle that loads the variant's kind (ENTRY), with wasmPaths at our pair: it fetches each file into one JS array,
# then mounts it.  "ours" is the drop-in package's entry for the variant (js-stream-external-data.patch hands the
# module the URL).  Variant "upstream" is npm's own pair of that kind, beside ours in the same run.
# 1.21 (JSEP): the >1 GiB model where wasm32 must hold it (the heap), and the far-offset file; npm's JS cannot run
# the wasm64 far-offset file (js-jsep-wasm64-heap.patch: it reads zeros), so that row is ours only.
# 1.30 (the native WebGPU EP): .asyncify on about 1 GiB in five files, one file past 4 GiB, and 5 GiB in four
# files; .jspi on the 1 GiB and the 5 GiB cases.  "upstream-jspi" is npm's .jspi pair (plain "upstream" is the
# version's UPSTREAM_KIND).  wasm64-jspi-memfs through our package (npm's JS drives it too: tests/test_webgpu.py) on
# the same two, and on what only it can load: big_gather_neg's 4.25 GiB Gather table pinned to the CPU
# (tests/harness/models.py WEBGPU_EP_OPTIONS), past 4 GiB of the wasm heap, with its Neg on the GPU; upstream's
# .jspi pair beside it.
RUNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "1.21.0": (("wasm32-jsep", "gather_1g25", "official"), ("wasm32-jsep-memfs", "gather_1g25", "official"),
               ("wasm32-jsep-memfs", "gather_1g25", "ours"), ("wasm32-jsep-memfs", "far_offset", "official"),
               ("wasm64-jsep-memfs", "far_offset", "ours")),
    "1.30.0": (("upstream", "gather_1g25", "official"), ("wasm32-asyncify", "gather_1g25", "official"),
               ("wasm32-asyncify-memfs", "gather_1g25", "official"), ("wasm32-asyncify-memfs", "gather_1g25", "ours"),
               ("upstream", "far_offset", "official"), ("wasm32-asyncify-memfs", "far_offset", "ours"),
               ("upstream", "mlp_5g_split", "official"), ("wasm32-asyncify-memfs", "mlp_5g_split", "ours"),
               ("upstream-jspi", "gather_1g25", "official"), ("wasm32-jspi", "gather_1g25", "official"),
               ("wasm32-jspi-memfs", "gather_1g25", "official"), ("wasm32-jspi-memfs", "gather_1g25", "ours"),
               ("upstream-jspi", "mlp_5g_split", "official"), ("wasm32-jspi-memfs", "mlp_5g_split", "ours"),
               ("wasm64-jspi-memfs", "gather_1g25", "ours"), ("wasm64-jspi-memfs", "mlp_5g_split", "ours"),
               ("upstream-jspi", "big_gather_neg", "official"), ("wasm64-jspi-memfs", "big_gather_neg", "ours")),
}
# the official bundle that loads each WebGPU kind's pair by name
ENTRY = {"jsep": "ort.webgpu.min.mjs", "asyncify": "ort.webgpu.min.mjs", "jspi": "ort.jspi.min.mjs"}
UPSTREAM_KIND = {"1.21.0": "jsep", "1.30.0": "asyncify"}


def build_rows(version: str) -> dict[str, Any]:
    recipe = require_recipe(version)
    rows: dict[str, Any] = {}
    for v in load_table().values():
        out = recipe.out_dir / v.name
        if v.ep == "cpu" or not (out / "manifest.json").exists():
            continue
        manifest = json.loads((out / "manifest.json").read_text())
        timings = manifest.get("timings", {})
        rows[v.name] = {
            "ninja": ninja_wall(recipe.build_dir / v.name),
            "configure_s": configure_seconds(recipe.build_dir / v.name),
            "build_s": timings.get("build_s"),
            "ccache": {k: int(val) for k, val in timings.items() if k.startswith("ccache_")},
            "files": {p.name: file_facts(p) for p in sorted(out.glob("ort-wasm*"))},
            "emscripten": manifest["toolchain"]["emscripten"],
        }
    return rows


def official_files(version: str) -> dict[str, Any]:
    dist = paths.ortwasm_home() / "clients" / f"official-{version}" / "node_modules" / "onnxruntime-web" / "dist"
    kinds = {v.webgpu or "jsep" for v in load_table().values()
             if v.ep != "cpu" and not v.unsupported_reason(version)}
    return {p.name: file_facts(p) for kind in sorted(kinds)
            for p in sorted(dist.glob(f"ort-wasm-simd-threaded.{kind}.*"))}


def our_package_dist(version: str) -> Path:
    """The drop-in package of what is built, npm-installed as onnxruntime-web (the tests' `our_app`)."""
    import tempfile

    from tests.harness.client import our_package_app, package_dist

    with tempfile.TemporaryDirectory() as tmp:
        out = require_recipe(version).out_dir
        return package_dist(our_package_app(out, Path(tmp), name=f"bench-ortwasm-{version}"))


def run_rows(version: str, only: set[str] | None = None, previous: list[dict[str, Any]] | None = None
             ) -> list[dict[str, Any]]:
    """``only``: rerun just these variants' rows, taking every other row from ``previous`` (the results file's)."""
    from tests.harness import models
    from tests.harness.client import client_app, package_dist, run_client_browser, webgpu_job
    from tests.harness.runtime import compare_outputs

    official = package_dist(client_app(f"official-{version}", f"onnxruntime-web@{version}"))
    table = load_table()
    ours: Path | None = None
    rows: list[dict[str, Any]] = []
    kept = {(r["variant"], r.get("model"), r.get("client")): r for r in previous or []}
    for variant, key, client in RUNS[version]:
        if only is not None and variant not in only:
            if (variant, key, client) in kept:
                rows.append(kept[(variant, key, client)])
            continue
        upstream = variant.startswith("upstream")
        kind = (variant.partition("-")[2] or UPSTREAM_KIND[version]) if upstream else (table[variant].webgpu or "jsep")
        where = None if upstream else require_recipe(version).out_dir / variant
        if where is not None and not (where / "manifest.json").exists():
            rows.append({"variant": variant, "model": key, "client": client, "skipped": f"no artifact at {where}"})
            continue
        case = models.cached_case(key)
        load = round(os.getloadavg()[0], 2)
        if client == "official":
            result = run_client_browser(webgpu_job(official, case, wasm_dir=where), official, ENTRY[kind])
        else:
            ours = ours or our_package_dist(version)
            result = run_client_browser(webgpu_job(ours, case), ours, f"ort.{variant}.min.mjs")
        hwm = {k: int(v) for k, v in (result.memory.get("hwm") or {}).items()}  # type: ignore[union-attr]
        weights = case.external_bytes
        placed = [line for line in result.raw.get("placements") or [] if "placed on" in line]
        both = (hwm.get("renderer", 0) + hwm.get("gpu-process", 0)) / GIB
        row: dict[str, Any] = {"variant": variant, "model": key, "client": client, "loadavg_1m": load, "ok": result.ok,
               "matches_native": result.ok and compare_outputs(result.outputs, case.expected, case.rtol,
                                                               case.atol) == [],
               "error": result.error,
               "weights_bytes": weights, "session_s": round(result.timings.get("session_ms", 0) / 1000, 2),
               "run_s": round(result.timings.get("run_ms", 0) / 1000, 2),
               "wasm_heap_bytes": result.memory.get("wasm_heap_bytes"), "vmhwm_bytes": hwm,
               "renderer_plus_gpu_gib": round(both, 3),
               "placements": [p.split("]", 2)[-1].strip() for p in placed][:4],
               "adapter": result.raw.get("adapter")}
        if weights and both:
            row["renderer_plus_gpu_x_weights"] = round(both * GIB / weights, 2)
        rows.append(row)
        print(f"{variant:20} {key:12} {client:8} ok={result.ok} matches={row['matches_native']} "
              f"session {row['session_s']:7.2f} s  wasm heap "
              f"{(row['wasm_heap_bytes'] or 0) / GIB:.2f} GiB  renderer+GPU VmHWM {row['renderer_plus_gpu_gib']:.2f} "
              f"GiB  {hwm}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.webgpu", description=__doc__.splitlines()[0])
    ap.add_argument("--ort-version", default=None)
    runs = ap.add_mutually_exclusive_group()
    runs.add_argument("--skip-runs", action="store_true", help="build figures only (no browser runs)")
    runs.add_argument("--only", default=None, help="comma-separated variants whose rows to rerun; the others are "
                      "kept from the results file")
    add_results_dir(ap)
    a = ap.parse_args(argv)
    a.ort_version = a.ort_version or default_version()
    results = result_path("webgpu", a.ort_version, a.results_dir)
    builds = build_rows(a.ort_version)
    official = official_files(a.ort_version)
    for name, row in builds.items():
        for fname, facts in row["files"].items():
            ref = official.get(fname)
            vs = f"  official {ref['bytes']:,} B ({facts['bytes'] / ref['bytes'] - 1:+.1%})" if ref else ""
            print(f"{name:20} {fname:38} {facts['bytes']:>12,} B  gzip {facts['gzip9']:>11,} B{vs}")
        # the manifest times the last build.py run, which may have had nothing to link (a re-collect); the link
        # itself is read from the build dir's .ninja_log, where only real steps are recorded
        link = (row["ninja"] or {}).get("link_s")
        print(f"{name:20} last link {link} s (.ninja_log); last build.py run {row['build_s']} s, "
              f"ccache {row['ccache']}")
    previous = json.loads(results.read_text()) if results.exists() else {}
    if a.ort_version not in RUNS:
        print(f"bench.webgpu: no runs for ONNX Runtime {a.ort_version} (known: {', '.join(RUNS)})", file=sys.stderr)
        return 2
    only = {v for v in a.only.split(",") if v} if a.only is not None else None
    known = {variant for variant, _, _ in RUNS[a.ort_version]}
    if only is not None and (not only or only - known):
        print(f"bench.webgpu: --only {a.only!r}: name rows' variants of {a.ort_version}: {', '.join(sorted(known))}",
              file=sys.stderr)
        return 2
    runs = previous.get("runs", []) if a.skip_runs else run_rows(a.ort_version, only, previous.get("runs"))
    write_results("webgpu", a.ort_version, {"machine": machine_info(), "ort_version": a.ort_version,
                                            "variants": builds, f"official_onnxruntime_web_{a.ort_version}": official,
                                            "runs": runs}, results_dir=a.results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
