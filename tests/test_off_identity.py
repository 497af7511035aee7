"""With the flag OFF our wasm32 artifacts are sha256-identical to unpatched ORT 1.21.0 built the same way.

Reads two cached real builds: $ORTWASM_HOME/out/wasm32 (patched tree, MEMFS OFF) and
$ORTWASM_HOME/out-upstream/wasm32 (`python build.py --no-patches --variants wasm32 --build-dir build-upstream
--out $ORTWASM_HOME/out-upstream`). Skips loudly when either is missing.
"""

from __future__ import annotations

import json

import pytest

from ortwasm import paths
from ortwasm.deps import sha256_file

pytestmark = pytest.mark.artifacts


def test_off_build_is_byte_identical_to_unpatched() -> None:
    ours = paths.artifact_cache_dir() / "wasm32"
    upstream = paths.ortwasm_home() / "out-upstream" / "wasm32"
    for d in (ours, upstream):
        if not (d / "manifest.json").exists():
            pytest.skip(f"!!! no cached build at {d}: see this test's docstring for the command")
    assert json.loads((upstream / "manifest.json").read_text())["ort"]["patched"] is False
    assert json.loads((ours / "manifest.json").read_text())["ort"]["patched"] is True
    for name in ("ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"):
        assert sha256_file(ours / name) == sha256_file(upstream / name), name
