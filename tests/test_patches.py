"""Patch set application on the real ONNX Runtime 1.21.0 tree: atomic, idempotent, refusing conflicts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ortwasm.errors import PatchError, SourceError
from ortwasm.recipe import default_version, require_recipe
from ortwasm.recipe import supported as supported_versions
from ortwasm.source.patchset import find_patchset
from ortwasm.source.tree import STAMP, origin_fingerprint, prepare
from tests.harness.trees import minimal_ort_tree

ORT = require_recipe(default_version()).source_dir


@pytest.fixture(scope="module")
def ort_tree() -> Path:
    if not (ORT / "VERSION_NUMBER").exists():
        pytest.skip(f"!!! real ORT 1.21.0 tree not found at {ORT}: run `bash ci/fetch-sources.sh` (CI does)")
    return ORT


def test_patchset_exists_for_1_21_0() -> None:
    ps = find_patchset("1.21.0")
    assert ps is not None and len(ps.patches) >= 3
    assert "1.21.0" in supported_versions()


def test_prepare_applies_and_is_idempotent(ort_tree: Path, tmp_path: Path) -> None:
    before = origin_fingerprint(ort_tree)
    src = prepare(ort_tree, tmp_path)
    assert src.patched and src.version == "1.21.0"
    wasm_cmake = (src.path / "cmake" / "onnxruntime_webassembly.cmake").read_text()
    assert "onnxruntime_ENABLE_WEBASSEMBLY_MEMFS" in wasm_cmake and "nsync_cpp" not in wasm_cmake
    assert "enable_wasm_memfs" in (src.path / "tools" / "ci_build" / "build.py").read_text()
    assert (src.path / "onnxruntime" / "wasm" / "pre-memfs.js").exists()
    stamp_mtime = (src.path / STAMP).stat().st_mtime_ns
    again = prepare(ort_tree, tmp_path)
    assert again == src and (src.path / STAMP).stat().st_mtime_ns == stamp_mtime  # second run: no-op
    assert origin_fingerprint(ort_tree) == before  # the user's tree was never written


def test_cpp_patch_shifts_no_lines(ort_tree: Path, tmp_path: Path) -> None:
    """OFF objects stay byte-identical only if __LINE__ values in compiled files do not move."""
    src = prepare(ort_tree, tmp_path)
    rel = Path("onnxruntime/core/framework/tensorprotoutils.cc")
    up = (ort_tree / rel).read_text().splitlines()
    ours = (src.path / rel).read_text().splitlines()
    assert len(up) == len(ours)
    changed = [i for i, (a, b) in enumerate(zip(up, ours, strict=True)) if a != b]
    assert len(changed) == 2 and all(ours[i].startswith("#if") for i in changed)


def test_unpatched_copy_is_identical(ort_tree: Path, tmp_path: Path) -> None:
    src = prepare(ort_tree, tmp_path, apply_patches=False)
    assert not src.patched
    rel = "cmake/onnxruntime_webassembly.cmake"
    assert (src.path / rel).read_bytes() == (ort_tree / rel).read_bytes()


def test_conflicting_edit_is_refused_and_nothing_changes(ort_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "user"
    shutil.copytree(ort_tree, tree, symlinks=True)
    target = tree / "cmake" / "onnxruntime_webassembly.cmake"
    target.write_text(target.read_text().replace('"SHELL:-s FILESYSTEM=0"', '"SHELL:-s FILESYSTEM=1"'))
    build = tmp_path / "build"
    good = prepare(ort_tree, build)  # an earlier good copy must survive the failed attempt
    before = origin_fingerprint(tree)
    with pytest.raises(PatchError) as err:
        prepare(tree, build)
    assert "onnxruntime_webassembly.cmake" in err.value.message
    assert origin_fingerprint(tree) == before
    assert (good.path / STAMP).exists()
    assert "pre-memfs" in (good.path / "cmake/onnxruntime_webassembly.cmake").read_text()
    leftovers = [p for p in (build / "src").iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert not leftovers  # no temp dirs left


def test_already_patched_tree_is_accepted(ort_tree: Path, tmp_path: Path) -> None:
    once = prepare(ort_tree, tmp_path / "a")
    twice = prepare(once.path, tmp_path / "b")
    assert twice.patched


@pytest.mark.parametrize(("version", "nearest"), [("1.99.0", "1.30.0"), ("1.25.0", "1.21.0"), ("1.29.1", "1.30.0")])
def test_unknown_version_names_the_nearest_supported(tmp_path: Path, version: str, nearest: str) -> None:
    """A 1.2x tree between the supported versions: the error lists them, names the nearest, says how to add one."""
    with pytest.raises(SourceError) as err:
        prepare(minimal_ort_tree(tmp_path / "ort", version), tmp_path / "b")
    assert version in err.value.message and "1.21.0, 1.30.0" in err.value.message
    assert f"nearest: {nearest}" in err.value.message
    assert f"patches/{version}/" in err.value.hint and "docs/new-version.md" in err.value.hint
    assert not (tmp_path / "b" / "src" / f"onnxruntime-{version}").exists()


def test_not_an_ort_tree(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not an ONNX Runtime source tree"):
        prepare(tmp_path, tmp_path / "b")
    with pytest.raises(SourceError, match="not a directory"):
        prepare(tmp_path / "nope", tmp_path / "b")


def test_new_patch_set_keeps_mtimes_of_unchanged_patched_files(ort_tree: Path, tmp_path: Path) -> None:
    """One more patch (here: a copy of the set plus a JS-only patch) must not make Ninja rebuild C++ files."""
    root = tmp_path / "patches"
    shutil.copytree(Path(__file__).resolve().parents[1] / "patches", root)
    js_patches = sorted((root / "1.21.0").glob("js-wasm64.patch"))
    series = root / "1.21.0" / "series"
    full = series.read_text()
    for p in js_patches:
        p.unlink()
        series.write_text(series.read_text().replace(f"\n{p.name}\n", "\n"))
    first = prepare(ort_tree, tmp_path / "b", patch_root=root)
    tpu = first.path / "onnxruntime" / "core" / "framework" / "tensorprotoutils.cc"
    before = tpu.stat().st_mtime_ns
    shutil.copy(Path(__file__).resolve().parents[1] / "patches" / "1.21.0" / js_patches[0].name, root / "1.21.0")
    series.write_text(full)
    second = prepare(ort_tree, tmp_path / "b", patch_root=root)
    assert second.patchset != first.patchset
    assert tpu.stat().st_mtime_ns == before, "an unchanged patched C++ file got a new mtime"
    wasm_utils = second.path / "js" / "web" / "lib" / "wasm" / "wasm-utils.ts"
    assert "toPtrArg" in wasm_utils.read_text()
