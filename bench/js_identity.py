"""Proof: the JS stage, on the unpatched tree with upstream's WebGPU glue, gives the official onnxruntime-web dist.

Not a test (it runs npm for about a minute): it builds onnxruntime-web with `ortwasm.js.web.build_js` from an
unpatched copy of the fetched ORT tree, with `ort-wasm-simd-threaded.jsep.mjs` taken from npm's onnxruntime-web of
the same version (the one input the build embeds), then compares every dist file with npm's, by sha256.
Writes bench/results/js-identity.json.

    python bench/js_identity.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from ortwasm import paths
from ortwasm.js import web
from ortwasm.source.tree import prepare
from tests.harness.client import client_app, package_dist

OUT = Path(__file__).resolve().parent / "results" / "js-identity.json"


def main() -> int:
    work = paths.ortwasm_home() / "js-identity"
    src = prepare(paths.default_ort_source(), work, apply_patches=False)
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
    same = sum(r["identical"] for r in rows.values())
    print(f"{same}/{len(rows)} dist files identical to npm's onnxruntime-web {src.version}")
    write_results(OUT, {"what": "JS stage (unpatched tree, upstream JSEP glue) vs npm's onnxruntime-web dist",
                        "version": src.version, "identical": same, "compared": len(rows), "files": rows,
                        "machine": machine_info()})
    return 0 if same == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
