"""Proof: the JS stage, on the unpatched tree with upstream's WebGPU glue, gives the official onnxruntime-web dist.

Not a test (it runs npm for about a minute): it builds onnxruntime-web with `ortwasm.js.web.build_js` from an
unpatched copy of the fetched ORT tree, with `ort-wasm-simd-threaded.jsep.mjs` taken from npm's onnxruntime-web of
the same version (the one input the build embeds), then compares every dist file with npm's, by sha256.
Writes bench/results/js-identity-<version>.json.

    python -m bench.js_identity
"""

from __future__ import annotations

import argparse
import hashlib

from bench.common import default_ort_source
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.js import web
from ortwasm.source.tree import prepare
from tests.harness.client import client_app, package_dist


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.js_identity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_dir(p)
    args = p.parse_args(argv)
    work = paths.ortwasm_home() / "js-identity"
    src = prepare(default_ort_source(), work, apply_patches=False)
    official = package_dist(client_app(f"official-{src.version}", f"onnxruntime-web@{src.version}"))
    built = web.build_js(src, work, work / "out", glues={web.JSEP_GLUE: official / web.JSEP_GLUE})
    ours = built.package_dir / "dist"
    rows = {}
    for f in sorted(official.iterdir()):
        if f.name.startswith("ort-wasm-simd-threaded"):
            continue  # the wasm pairs are the variant builds' business, not the JS stage's
        mine = ours / f.name
        theirs_sha = hashlib.sha256(f.read_bytes()).hexdigest()
        mine_sha = hashlib.sha256(mine.read_bytes()).hexdigest() if mine.exists() else None
        rows[f.name] = {"official": theirs_sha, "ours": mine_sha, "identical": mine_sha == theirs_sha}
        print(f"{'IDENTICAL' if mine_sha == theirs_sha else 'DIFFERENT'}  {f.name}")
    same = sum(1 for r in rows.values() if r["identical"])
    print(f"{same}/{len(rows)} dist files identical to npm's onnxruntime-web {src.version}")
    write_results("js-identity", src.version, {
        "what": "JS stage (unpatched tree, upstream JSEP glue) vs npm's onnxruntime-web dist",
        "version": src.version, "identical": same, "compared": len(rows), "files": rows, "machine": machine_info(),
    }, results_dir=args.results_dir)
    return 0 if same == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
