"""Benchmark/proof: unpatched ORT built by ORT's own tools/ci_build/build.py vs our MEMFS-OFF variant.

"With the flag OFF nothing changes" is only worth something against what ORT's maintainers would build. This runs
their driver on an unpatched, build-owned copy of the same tree, with the same emscripten and dependency dirs, and
compares the sha256 of the pair with ours (`$ORTWASM_HOME/out/<variant>` by default).  `--variant` picks the pair:
`wasm32` (the CPU pair, the default) or a MEMFS-OFF WebGPU-EP pair (`wasm32-asyncify`, `wasm32-jspi`), which build.py
gets with upstream's CI flags for it (the recipe's `[webgpu]` line) and the Dawn tree ours compiled
(ortwasm/upstream.py `for_variant`, which the CMakeCache comparison uses too).  It writes
bench/results/upstream-identity-<version>.json for `wasm32`, upstream-identity-<variant>-<version>.json otherwise.

Why the copy sits at <build-dir>/src/onnxruntime-<version>: ORT's compile lines name sources relative to the build
tree (the wasm's error strings carry `../src/onnxruntime-1.21.0/...`), so the same relative layout as ours is what
makes "same tree, same path" true.  With ccache on (the default here) the compile is mostly cache hits and the
link dominates; `--no-ccache` gives the cold figure.

    python -m bench.upstream_identity                  # build with build.py, compare with out/wasm32
    python -m bench.upstream_identity --no-ccache      # the same, cold (about 25 min on 2 cores)
    python -m bench.upstream_identity --ort-version 1.30.0
    python -m bench.upstream_identity --ort-version 1.30.0 --toolchain sid --variant wasm32-asyncify \
        --ours /var/cache/ortwasm/out-1.30.0-webgpu/wasm32-asyncify
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import log, paths
from ortwasm.digest import sha256_file
from ortwasm.errors import OrtWasmError, UsageError
from ortwasm.options import BuildOptions
from ortwasm.pipeline import dawn_for, variant_runner
from ortwasm.recipe import default_version, require_recipe
from ortwasm.source.tree import prepare
from ortwasm.toolchain.emscripten import PROVIDER_ENV, find_toolchain
from ortwasm.upstream import add_emsdk_shim, for_variant, no_counterpart
from ortwasm.variants import load_table

DEFAULT_VARIANT = "wasm32"


def compare_objects(ours: Path, theirs: Path) -> dict[str, Any]:
    """sha256 of every .o and .a below two CMake build dirs of the same pair, matched by path.

    Why: when the pairs differ, this says whether the compile or the link made the difference.  A path can hold its
    build dir's parent (ORT globs some sources by absolute path, and CMake names their objects after it), so that
    prefix is dropped before matching."""
    def walk(root: Path) -> dict[str, str]:
        prefix = str(root.parent).lstrip("/") + "/"
        return {str(f.relative_to(root)).replace(prefix, ""): sha256_file(f)
                for f in sorted(root.rglob("*")) if f.suffix in (".o", ".a") and f.is_file()}
    a, b = walk(ours), walk(theirs)
    both = sorted(a.keys() & b.keys())
    differ = [k for k in both if a[k] != b[k]]
    return {"ours_build_dir": str(ours), "compared": len(both), "same": len(both) - len(differ), "differ": differ,
            "only_ours": len(a.keys() - b.keys()), "only_build_py": len(b.keys() - a.keys())}


def default_build_dir(version: str, variant: str) -> Path:
    """build.py's build dir for one pair; its output is under ``Release/`` (tests/test_off_identity.py reads it).
    1.21.0's wasm32 keeps the dir its recorded figures used."""
    plain = variant == DEFAULT_VARIANT
    if plain and version == default_version():
        return paths.ortwasm_home() / "build-buildpy"
    return paths.ortwasm_home() / (f"build-buildpy-{version}" + ("" if plain else f"-{variant}"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.upstream_identity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-version", default=None,
                   help="the fetched tree of this version (fetch-sources --version); dirs from its recipe")
    p.add_argument("--build-dir", type=Path, default=None)
    p.add_argument("--ours", type=Path, default=None)
    p.add_argument("--no-ccache", action="store_true")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--variant", default=DEFAULT_VARIANT,
                   help="the MEMFS-OFF pair to compare: wasm32 (default), wasm32-asyncify, wasm32-jspi")
    p.add_argument("--toolchain", default=None, metavar="trixie|sid",
                   help="the provisioned emscripten, as build.py --toolchain (the one ours was built with)")
    p.add_argument("--relinks", type=int, default=0,
                   help="after the build, link build.py's pair again N times: is the link itself reproducible?")
    p.add_argument("--ours-build-dir", type=Path, default=None,
                   help="our build dir of the pair (e.g. $ORTWASM_HOME/build-1.30.0-sid/wasm32-jspi): compare every "
                        "compiled object and archive with build.py's, to tell a compile difference from a link one")
    add_results_dir(p)
    args = p.parse_args(argv)
    if args.toolchain is not None:
        os.environ[PROVIDER_ENV] = args.toolchain
    try:
        return run(args)
    except OrtWasmError as e:
        log.error(e.message, e.hint)
        return e.return_code


def run(args: argparse.Namespace) -> int:
    args.ort_version = args.ort_version or default_version()
    recipe = require_recipe(args.ort_version)
    table = load_table()
    if args.variant not in table:
        raise UsageError(f"no variant {args.variant!r}", f"pick one of {', '.join(table)}")
    variant = table[args.variant]
    refusal = no_counterpart(variant, args.ort_version)
    if refusal is not None:
        raise refusal
    if args.ours_build_dir is not None and not args.ours_build_dir.is_dir():
        raise UsageError(f"--ours-build-dir {args.ours_build_dir}: no such build dir",
                         f"pass our CMake build dir of {variant.name}: $ORTWASM_HOME/build-<version>/{variant.name}")
    stem = variant.artifact_stem
    files = (f"{stem}.wasm", f"{stem}.mjs")
    plain = variant.name == DEFAULT_VARIANT
    args.build_dir = args.build_dir or default_build_dir(args.ort_version, variant.name)
    args.ours = args.ours or recipe.out_dir / variant.name
    tc = find_toolchain()
    build_dir = args.build_dir.resolve()
    opts = BuildOptions(ort_source=recipe.source_dir, build_dir=build_dir,
                        out_dir=build_dir / "out", deps_dir=recipe.deps_dir,
                        use_ccache=not args.no_ccache, jobs=args.jobs)
    src = prepare(opts.ort_source, build_dir, apply_patches=False)
    dawn = dawn_for(src) if variant.webgpu else None
    add_emsdk_shim(src.path, tc)
    up = for_variant(variant, src.path, build_dir, opts, tc, dawn, jobs=args.jobs)
    runner = variant_runner(opts, tc, build_dir, "build.py", dawn)
    started = time.monotonic()
    seconds = runner.run(up.argv(build=True), "ORT build.py --update --build", cwd=src.path, progress=True,
                         link_output=files[1])
    theirs = {f: sha256_file(up.config_dir / f) for f in files}
    sizes = {f: (up.config_dir / f).stat().st_size for f in files}
    ours = {f: sha256_file(args.ours / f) for f in files if (args.ours / f).exists()}
    identical = bool(ours) and ours == theirs
    for f in files:
        print(f"{f:<30} build.py {theirs[f][:16]} ({sizes[f]:,} B)   ours {ours.get(f, 'missing')[:16]}")
    print("IDENTICAL" if identical else "DIFFERENT")
    extra: dict[str, object] = {}
    if args.ours_build_dir is not None:
        o = extra["objects"] = compare_objects(args.ours_build_dir.resolve(), up.config_dir)
        print(f"compiled objects and archives: {o['same']} of {o['compared']} identical, "
              f"{len(o['differ'])} differ, {o['only_ours'] + o['only_build_py']} unmatched")
    relinks = []
    for i in range(args.relinks):  # the link alone again, from the same objects and flags
        for f in files:
            (up.config_dir / f).unlink()
        runner.run(["cmake", "--build", str(up.config_dir), "--target", "onnxruntime_webassembly"],
                   f"relink {i + 1} of {args.relinks}", cwd=up.config_dir, progress=True, link_output=files[1])
        relinks.append({f: sha256_file(up.config_dir / f) for f in files})
        print(f"relink {i + 1}: " + "  ".join(f"{f} {h[:16]}" for f, h in relinks[-1].items()))
    if relinks:
        extra["relinks"] = relinks
        extra["link_reproducible"] = all(r == theirs for r in relinks)
        print("build.py's link is " + ("reproducible" if extra["link_reproducible"] else
                                      "NOT reproducible: the same objects and flags link to other bytes"))
    write_results("upstream-identity" + ("" if plain else f"-{variant.name}"), args.ort_version, {
        "what": f"unpatched ORT via its own tools/ci_build/build.py vs our MEMFS-OFF {variant.name}",
        "ort_version": args.ort_version, "variant": variant.name,
        "build_py_command": " ".join(up.argv(build=True)[2:]),
        "toolchain": tc.describe(), "ccache": not args.no_ccache, "seconds": round(seconds, 1),
        "wall_s": round(time.monotonic() - started, 1), "build_py": theirs, "build_py_bytes": sizes,
        "ours_dir": str(args.ours), "ours": ours, "identical": identical, **extra, "machine": machine_info(),
    }, results_dir=args.results_dir)
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
