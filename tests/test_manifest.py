"""manifest.json is the contract between the build and every later stage: read by one validating reader, written
back byte for byte, and naming the file and key when something is wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ortwasm.artifacts.manifest import FETCHCONTENT, MANIFEST_FORMAT, Manifest, ManifestError
from ortwasm.errors import CannotCheck

BUILT = {  # the shape artifacts.collect writes (values from a real wasm32-memfs build)
    "defines": {"CMAKE_BUILD_TYPE": "Release", "onnxruntime_ENABLE_WEBASSEMBLY_MEMFS": "ON"},
    "dependencies": {
        "abseil_cpp": {"patches": "", "source": "debian:abseil/trixie", "tarball": "abseil_20240722.0.orig.tar.gz",
                       "version": "20240722.0"},
        "date": {"patches": "cmake/patches/date/date.patch", "source": "git:https://github.com/HowardHinnant/date@v3.0.1",
                 "version": "v3.0.1", "commit": "0" * 40},
        "onnx": {"patches": "", "source": "pypi:onnx==1.22.0", "sdist": "onnx-1.22.0.tar.gz", "sha256": "a" * 64,
                 "version": "1.22.0"},
    },
    "files": [{"bytes": 77886, "name": "ort-wasm-simd-threaded.mjs", "sha256": "d8c097f868371364" + "0" * 48}],
    "format": MANIFEST_FORMAT,
    "glue_fix": {"applied": False, "reason": "wasm32: no 64-bit memory descriptor", "replaced": 0},
    "ort": {"commit": "", "patched": True, "patchset": "1.21.0-45d5bd178e91", "source": "/src", "version": "1.21.0"},
    "timings": {"build_s": 0.1, "ccache_hits": 0.0},
    "toolchain": {"emscripten": "3.1.69", "kind": "chroot", "proven": True, "provider": "trixie"},
    "variant": {"arch": "wasm32", "jsep": False, "memfs": True, "name": "wasm32-memfs", "simd": True, "threads": True},
}


BUILT_ORT: dict[str, object] = BUILT["ort"]  # type: ignore[assignment]


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    text = json.dumps(BUILT, indent=2, sort_keys=True) + "\n"
    (tmp_path / "manifest.json").write_text(text)
    m = Manifest.read(tmp_path / "manifest.json")
    m.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == text
    assert m.dependencies != FETCHCONTENT and not isinstance(m.dependencies, str) and m.dependencies is not None
    assert m.dependencies["onnx"].sha256 == "a" * 64 and m.dependencies["date"].commit == "0" * 40
    assert m.dependencies["abseil_cpp"].version == "20240722.0"


def test_minimal_and_fetchcontent_manifests_stay_minimal() -> None:
    small = {"format": 1, "variant": {"name": "wasm32", "arch": "wasm32", "memfs": False}, "dependencies": FETCHCONTENT}
    assert Manifest.from_json(small, "x").to_json() == small
    assert Manifest.from_json({"format": 1, "variant": None}, "x").to_json() == {"format": 1, "variant": None}


@pytest.mark.parametrize(("patch", "message"), [
    ({"files": [{"name": "a", "bytes": "1", "sha256": "x"}]}, "'files[0].bytes' must be an integer"),
    ({"dependencies": {"re2": {"version": 1, "source": "s"}}}, "'dependencies.re2.version' must be a string"),
    ({"toolchain": {"emscripten": "3.1.69", "kind": "chroot", "color": "red"}}, "unknown key 'toolchain.color'"),
    ({"format": MANIFEST_FORMAT + 1}, "written by a newer ortwasm"),
    ({"variant": {"name": "x", "arch": "wasm16", "memfs": True}}, "'variant' must hold name, arch"),
    ({"ort": {**BUILT_ORT, "patchset_version": "1.20.0"}}, "'ort.proven' must be false exactly when"),
    ({"ort": {**BUILT_ORT, "proven": False}}, "'ort.proven' must be false exactly when"),
    ({"ort": {**BUILT_ORT, "patchset_version": "1.21.0", "proven": False}}, "'ort.proven' must be false exactly"),
    ({"ort": {**BUILT_ORT, "proven": "no"}}, "'ort.proven' must be true or false"),
])
def test_errors_name_file_and_key(patch: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)) as err:
        Manifest.from_json({**BUILT, **patch}, "out/wasm32-memfs/manifest.json")
    assert "out/wasm32-memfs/manifest.json" in err.value.message and err.value.hint
    assert isinstance(err.value, CannotCheck)


@pytest.mark.parametrize(("ort", "recipe_version"), [
    ({"version": "1.22.0", "patchset_version": "1.21.0", "proven": False}, "1.21.0"),  # --allow-unproven-version
    ({"version": "1.21.0", "patchset_version": "1.21.0", "proven": True}, "1.21.0"),
    ({"version": "1.21.0"}, "1.21.0"),  # unpatched, and manifests from before the fields
])
def test_the_ort_record_says_whose_recipe_judges(ort: dict[str, object], recipe_version: str) -> None:
    data = {**BUILT, "ort": {**BUILT_ORT, **ort}}
    m = Manifest.from_json(data, "x")
    assert m.ort is not None and m.ort.recipe_version == recipe_version and m.ort.version == ort["version"]
    assert m.to_json() == data
