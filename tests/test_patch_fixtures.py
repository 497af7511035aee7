"""Every patch set applied to the upstream files it touches, committed as fixtures (CI has no big trees).

What must hold for each version: the patch set applies with no fuzz, a second application is a no-op, a tree
that differs in one patched line is refused naming the file, and the fixtures cover every file a patch edits
(a new patch without its upstream file fails here, not in a user's build).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ortwasm.errors import PatchError
from ortwasm.recipe import supported as supported_versions
from ortwasm.source.patchset import find_patchset
from ortwasm.source.tree import STAMP, origin_fingerprint, patched_files, prepare

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERSIONS = [v for v in supported_versions() if (FIXTURES / f"ort-{v}").is_dir()]


def test_every_version_without_a_fetched_tree_has_fixtures() -> None:
    """1.21.0 is tested on its real tree (test_patches.py); every later version needs fixtures."""
    assert [v for v in supported_versions() if v != "1.21.0" and v not in VERSIONS] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_fixtures_cover_every_edited_file(version: str) -> None:
    patchset = find_patchset(version)
    assert patchset is not None
    tree = FIXTURES / f"ort-{version}"
    created = {rel for patch in patchset.patches for rel in _created(patch)} | {d for d, _ in patchset.runtime_files}
    missing = [rel for rel in patched_files(patchset) if rel not in created and not (tree / rel).is_file()]
    assert missing == [], f"run: python tests/fixtures/update.py {version} <unpatched tree>"


@pytest.mark.parametrize("version", VERSIONS)
def test_applies_without_fuzz_and_is_idempotent(version: str, tmp_path: Path) -> None:
    tree = FIXTURES / f"ort-{version}"
    before = origin_fingerprint(tree)
    src = prepare(tree, tmp_path)
    assert src.patched and src.version == version
    wasm = (src.path / "cmake" / "onnxruntime_webassembly.cmake").read_text()
    assert "onnxruntime_ENABLE_WEBASSEMBLY_MEMFS" in wasm and "MEMORY64" in wasm
    assert (src.path / "onnxruntime" / "wasm" / "pre-memfs.js").is_file()
    stamp = (src.path / STAMP).stat().st_mtime_ns
    assert prepare(tree, tmp_path) == src and (src.path / STAMP).stat().st_mtime_ns == stamp
    assert origin_fingerprint(tree) == before  # the fixtures themselves are never written


@pytest.mark.parametrize("version", VERSIONS)
def test_already_patched_tree_is_accepted(version: str, tmp_path: Path) -> None:
    src = prepare(FIXTURES / f"ort-{version}", tmp_path / "a")
    again = prepare(src.path, tmp_path / "b")  # a tree that already carries the patches
    rel = "onnxruntime/core/framework/tensorprotoutils.cc"
    assert (again.path / rel).read_bytes() == (src.path / rel).read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_close_tree_is_refused_not_fuzzed(version: str, tmp_path: Path) -> None:
    """One changed context line next to a hunk: patch would place it with fuzz 2; we refuse."""
    tree = tmp_path / "user"
    shutil.copytree(FIXTURES / f"ort-{version}", tree)
    rel = tree / "onnxruntime" / "core" / "framework" / "tensorprotoutils.cc"
    lines = rel.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("static Status GetFileContent("))
    lines[at + 1] = lines[at + 1].rstrip("\n") + "  // local edit\n"
    rel.write_text("".join(lines))
    with pytest.raises(PatchError) as err:
        prepare(tree, tmp_path / "build")
    assert "tensorprotoutils.cc" in err.value.message
    assert not (tmp_path / "build" / "src" / f"onnxruntime-{version}").exists()


def _created(patch: Path) -> list[str]:
    lines = patch.read_text(errors="replace").splitlines()
    return [lines[i + 1][6:] for i, line in enumerate(lines[:-1])
            if line.startswith("--- /dev/null") and lines[i + 1].startswith("+++ b/")]


@pytest.mark.parametrize("version", VERSIONS)
def test_cpp_patch_shifts_no_lines(version: str, tmp_path: Path) -> None:
    """The OFF build compiles tensorprotoutils.cc too: its __LINE__ values must not move."""
    tree = FIXTURES / f"ort-{version}"
    src = prepare(tree, tmp_path)
    rel = Path("onnxruntime/core/framework/tensorprotoutils.cc")
    assert len((tree / rel).read_text().splitlines()) == len((src.path / rel).read_text().splitlines())
