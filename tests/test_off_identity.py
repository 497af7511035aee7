"""With the flag OFF our artifacts are sha256-identical to the unpatched tree built by ORT's own build.py.

Reads two real builds per pair: ours (patched tree, MEMFS OFF, our driver; the version's out dir) and the output of
`python -m bench.upstream_identity` (its build dir's Release/: the unpatched tree, ORT's tools/ci_build/build.py,
the same toolchain, dependency dirs and, for a WebGPU-EP pair, Dawn tree).  Skips loudly when either is missing.
"""

from __future__ import annotations

import json

import pytest

from bench.upstream_identity import default_build_dir
from ortwasm import paths
from ortwasm.digest import sha256_file
from ortwasm.recipe import require_recipe
from ortwasm.variants import load_table

pytestmark = pytest.mark.artifacts

FILES = ("ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")


def test_off_build_is_byte_identical_to_build_py() -> None:
    ours = paths.artifact_cache_dir() / "wasm32"
    upstream = paths.ortwasm_home() / "build-buildpy" / "Release"
    if not (ours / "manifest.json").exists():
        pytest.skip(f"!!! no wasm32 build at {ours}: python build.py --variants wasm32")
    if not all((upstream / f).exists() for f in FILES):
        pytest.skip(f"!!! no ORT build.py output in {upstream}: python bench/upstream_identity.py")
    manifest = json.loads((ours / "manifest.json").read_text())
    assert manifest["ort"]["patched"] is True and manifest["defines"]["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == "OFF"
    for name in FILES:
        assert sha256_file(ours / name) == sha256_file(upstream / name), name


@pytest.mark.parametrize("variant", ["wasm32", "wasm32-asyncify", "wasm32-jspi"])
def test_current_off_pair_is_byte_identical_to_build_py(variant: str) -> None:
    """ORT 1.30: the CPU pair (trixie) and the WebGPU-EP pairs (sid, upstream's CI flags, the Dawn tree)."""
    version = "1.30.0"
    ours = require_recipe(version).out_dir / variant
    upstream = default_build_dir(version, variant) / "Release"
    stem = load_table()[variant].artifact_stem
    files = (f"{stem}.wasm", f"{stem}.mjs")
    if not (ours / "manifest.json").exists():
        pytest.skip(f"!!! no {variant} build at {ours} ({paths.version_artifacts_var(version)} moves it)")
    if not all((upstream / f).exists() for f in files):
        # Names the pair by its build dir only: a skip that names a variant is a failure under ORTWASM_REQUIRE, and
        # this one is about the benchmark's output, not about our artifact.
        pytest.skip(f"!!! no ORT build.py output in {upstream}: run `python -m bench.upstream_identity` for that "
                    "pair (--ort-version, --variant, and --toolchain as ours was built)")
    manifest = json.loads((ours / "manifest.json").read_text())
    assert manifest["ort"]["patched"] is True and manifest["defines"]["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == "OFF"
    for name in files:
        assert sha256_file(ours / name) == sha256_file(upstream / name), name
