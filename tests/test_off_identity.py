"""With the flag OFF our wasm32 artifacts are sha256-identical to unpatched ORT 1.21.0 built by ORT's own build.py.

Reads two real builds: $ORTWASM_HOME/out/wasm32 (patched tree, MEMFS OFF, our driver) and the output of
`python bench/upstream_identity.py` ($ORTWASM_HOME/build-buildpy/Release: the unpatched tree, ORT's
tools/ci_build/build.py, the same toolchain and dependency dirs). Skips loudly when either is missing.
"""

from __future__ import annotations

import json

import pytest

from ortwasm import paths
from ortwasm.digest import sha256_file

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
