"""Benchmark/proof: unpatched ORT built by ORT's own tools/ci_build/build.py vs our MEMFS-OFF variant.

"With the flag OFF nothing changes" is only worth something against what ORT's maintainers would build. This runs
their driver on an unpatched, build-owned copy of the same tree, with the same emscripten and dependency dirs, and
compares the sha256 of its `ort-wasm-simd-threaded.{wasm,mjs}` with ours (`$ORTWASM_HOME/out/wasm32` by default).
It writes bench/results/upstream-identity-<version>.json.

Why the copy sits at <build-dir>/src/onnxruntime-<version>: ORT's compile lines name sources relative to the build
tree (the wasm's error strings carry `../src/onnxruntime-1.21.0/...`), so the same relative layout as ours is what
makes "same tree, same path" true.  With ccache on (the default here) the compile is mostly cache hits and the
link dominates; `--no-ccache` gives the cold figure.

    python -m bench.upstream_identity                  # build with build.py, compare with out/wasm32
    python -m bench.upstream_identity --no-ccache      # the same, cold (about 25 min on 2 cores)
    python -m bench.upstream_identity --ort-version 1.30.0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.digest import sha256_file
from ortwasm.options import BuildOptions
from ortwasm.pipeline import build_env
from ortwasm.proc.runner import Runner
from ortwasm.recipe import default_version, require_recipe
from ortwasm.source.tree import prepare
from ortwasm.toolchain.emscripten import find_toolchain
from ortwasm.upstream import UpstreamBuild, add_emsdk_shim

FILES = ("ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.upstream_identity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-version", default=None,
                   help="the fetched tree of this version (fetch-sources --version); dirs from its recipe")
    p.add_argument("--build-dir", type=Path, default=None)
    p.add_argument("--ours", type=Path, default=None)
    p.add_argument("--no-ccache", action="store_true")
    p.add_argument("--jobs", type=int, default=2)
    add_results_dir(p)
    args = p.parse_args(argv)
    args.ort_version = args.ort_version or default_version()
    recipe = require_recipe(args.ort_version)
    default = args.ort_version == default_version()  # 1.21.0 keeps the build dir its recorded figures used
    args.build_dir = args.build_dir or paths.ortwasm_home() / (
        "build-buildpy" if default else f"build-buildpy-{args.ort_version}")
    args.ours = args.ours or recipe.out_dir / "wasm32"
    tc = find_toolchain()
    build_dir = args.build_dir.resolve()
    opts = BuildOptions(ort_source=recipe.source_dir, build_dir=build_dir,
                        out_dir=build_dir / "out", deps_dir=recipe.deps_dir,
                        use_ccache=not args.no_ccache, jobs=args.jobs)
    src = prepare(opts.ort_source, build_dir, apply_patches=False)
    add_emsdk_shim(src.path, tc)
    up = UpstreamBuild(src.path, build_dir, opts.deps_dir, jobs=args.jobs)
    exec_env = tc.exec_env.with_binds(build_dir, *([opts.deps_dir] if opts.deps_dir else []))
    runner = Runner(exec_env, build_env(tc, opts), build_dir / "build.log", "build.py")
    started = time.monotonic()
    seconds = runner.run(up.argv(build=True), "ORT build.py --update --build", cwd=src.path, progress=True,
                         link_output=FILES[1])
    theirs = {f: sha256_file(up.config_dir / f) for f in FILES}
    sizes = {f: (up.config_dir / f).stat().st_size for f in FILES}
    ours = {f: sha256_file(args.ours / f) for f in FILES if (args.ours / f).exists()}
    identical = bool(ours) and ours == theirs
    for f in FILES:
        print(f"{f:<30} build.py {theirs[f][:16]} ({sizes[f]:,} B)   ours {ours.get(f, 'missing')[:16]}")
    print("IDENTICAL" if identical else "DIFFERENT")
    write_results("upstream-identity", args.ort_version, {
        "what": "unpatched ORT via its own tools/ci_build/build.py vs our MEMFS-OFF wasm32",
        "ort_version": args.ort_version,
        "build_py_command": " ".join(up.argv(build=True)[2:]),
        "toolchain": tc.describe(), "ccache": not args.no_ccache, "seconds": round(seconds, 1),
        "wall_s": round(time.monotonic() - started, 1), "build_py": theirs, "build_py_bytes": sizes,
        "ours_dir": str(args.ours), "ours": ours, "identical": identical, "machine": machine_info(),
    }, results_dir=args.results_dir)
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
