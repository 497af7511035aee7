"""Dawn as a pinned, patched source tree for ORT's WebGPU EP (ortwasm.fetch.dawn), on tiny local repositories.

Why these cases: the tree feeds an hour-long build through ``onnxruntime_CUSTOM_DAWN_SRC_PATH``, where ORT applies
nothing, so what matters is that it is exactly the pinned tag with ORT's patches in ORT's order, that no half
tree or user's directory is ever taken for it, that a second run is a no-op, and that every refusal names the
problem and the fix.  One test runs the real thing: the google/dawn mirror and the fetched ORT 1.30 tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from ortwasm.digest import sha256_file
from ortwasm.errors import DependencyError
from ortwasm.fetch import dawn
from ortwasm.fetch.dawn import (
    CMAKE_VAR,
    EXCLUDED,
    STAMP,
    DawnPin,
    PatchRecord,
    dawn_cmake_defines,
    dawn_manifest_entry,
    ort_dawn_patches,
    patches_digest,
    prepare_dawn,
    read_dawn_pin,
    read_dawn_stamp,
)
from ortwasm.recipe import require_recipe
from tests.harness.gitrepo import GIT_ENV, git, make_repo

TAG = "v20990101.000000"
URL = f"https://github.com/google/dawn/archive/refs/tags/{TAG}.zip"
WEBGPU_CPP = "third_party/emdawnwebgpu/pkg/webgpu/src/webgpu.cpp"

REAL_MIRROR = Path("/work/.mirror/google+dawn/repo")
REAL_ORT = require_recipe("1.30.0").source_dir  # the fetched, pristine tree (read only here)
REAL_COMMIT = "0b66dc1aa0102b0147962820d372bd2eb3a329b4"
REAL_PATCHES = ["dawn_destroy_buffer_on_destructor.patch", "dawn_binskim.patch", "safari_polyfill.patch",
                "dawn_device_lost_keepalive.patch", "dawn_dxc_output_dir.patch", "dawn_parallel_build_fix.patch"]

DAWN_FILES = {
    "CMakeLists.txt": "project(Dawn)\n",
    "src/emdawnwebgpu/CMakeLists.txt": "add_library(emdawnwebgpu_c)\n",
    WEBGPU_CPP: "// webgpu.cpp\nint webgpu();\nint after();\n",
    "third_party/emdawnwebgpu/pkg/webgpu/src/library_webgpu.js": "var LibraryWebGPU = {};\n",
    "third_party/gn/keep.gn": "kept\n",
    "test/x": "a test\n",
    "test/deep/y": "another test\n",
    "third_party/gn/webgpu-cts/y": "cts\n",
    "testing/z": "not test/, kept\n",
}

# The first patch adds a line; the second edits that line, so it applies only after the first: the order is tested.
FIRST = f"""--- a/{WEBGPU_CPP}
+++ b/{WEBGPU_CPP}
@@ -1,3 +1,4 @@
 // webgpu.cpp
 int webgpu();
+// patched-1
 int after();
"""
SECOND = f"""--- a/{WEBGPU_CPP}
+++ b/{WEBGPU_CPP}
@@ -1,4 +1,4 @@
 // webgpu.cpp
 int webgpu();
-// patched-1
+// patched-2
 int after();
"""
NEVER = """--- a/CMakeLists.txt
+++ b/CMakeLists.txt
@@ -1 +1 @@
-project(NotDawn)
+project(Never)
"""


def patch_command(names: list[str], extra_step: str = "") -> str:
    """An excerpt of ORT's onnxruntime_external_deps.cmake, comments (with parentheses and "patch") included."""
    steps = "\n".join(
        f"          # The {n} contains the following changes (see the patch):\n"
        f"          #   - (private) patch ${{Patch_EXECUTABLE}} things < patches/dawn/decoy.patch &&\n"
        f"          ${{Patch_EXECUTABLE}} --binary --ignore-whitespace -p1 < "
        f"${{PROJECT_SOURCE_DIR}}/patches/dawn/{n} &&\n" for n in names)
    return f"""  if (onnxruntime_USE_WEBGPU)
    if (onnxruntime_CUSTOM_DAWN_SRC_PATH)
      set(DAWN_FETCH_DEPENDENCIES OFF CACHE BOOL "" FORCE)
      onnxruntime_fetchcontent_declare(dawn SOURCE_DIR ${{onnxruntime_CUSTOM_DAWN_SRC_PATH}} EXCLUDE_FROM_ALL)
    else()
      #[[ a bracket comment: ${{Patch_EXECUTABLE}} -p1 < patches/dawn/bracket-decoy.patch && ) ]]
      SET(ONNXRUNTIME_Dawn_PATCH_COMMAND
{steps}{extra_step}
          # Remove the test folder (70k+ files not needed for build).
          ${{CMAKE_COMMAND}} -E rm -rf <SOURCE_DIR>/test)
      onnxruntime_fetchcontent_declare(dawn URL ${{DEP_URL_dawn}} URL_HASH SHA1=${{DEP_SHA1_dawn}}
        PATCH_COMMAND ${{ONNXRUNTIME_Dawn_PATCH_COMMAND}} EXCLUDE_FROM_ALL)
    endif()
  endif()
"""


def make_dawn(path: Path, tag: str = TAG) -> str:
    """A Dawn-shaped checkout with ``tag`` on its first commit, and a later commit (webgpu.cpp rewritten, which
    ORT's patches would not apply to) a prepare must not see."""
    return make_repo(path, DAWN_FILES, tag, later={WEBGPU_CPP: "// after the tag\n"})


def make_ort(path: Path, patches: dict[str, str] | None = None, order: list[str] | None = None,
             tag: str = TAG, sha1: str = "a" * 40, extra_step: str = "") -> Path:
    """An ORT tree with what ortwasm.fetch.dawn reads: deps.txt, the PATCH_COMMAND excerpt, the patch files."""
    patches = {"zz_first.patch": FIRST, "aa_second.patch": SECOND} if patches is None else patches
    order = list(patches) if order is None else order
    (path / "cmake" / "external").mkdir(parents=True)
    (path / "cmake" / "deps.txt").write_text(
        "# name;url;sha1\n"
        "abseil_cpp;https://github.com/abseil/abseil-cpp/archive/refs/tags/x.zip;" + "b" * 40 + "\n"
        f"dawn;https://github.com/google/dawn/archive/refs/tags/{tag}.zip;{sha1}\n")
    (path / "cmake" / "external" / "onnxruntime_external_deps.cmake").write_text(patch_command(order, extra_step))
    (path / "cmake" / "patches" / "dawn").mkdir(parents=True)
    for name, text in patches.items():
        (path / "cmake" / "patches" / "dawn" / name).write_text(text)
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_dawn(tmp_path / "dawn-repo")
    return tmp_path / "dawn-repo"


@pytest.fixture
def ort(tmp_path: Path) -> Path:
    return make_ort(tmp_path / "ort")


# --- the pin and the patch order ------------------------------------------------------------------------------


def test_the_pin_is_the_dawn_line_of_deps_txt(ort: Path) -> None:
    assert read_dawn_pin(ort) == DawnPin(TAG, URL, "a" * 40)
    assert DawnPin(TAG, URL, "a" * 40).archive_root_names == (f"dawn-{TAG}", "dawn-20990101.000000")


@pytest.mark.parametrize("line", ["dawn;https://example.com/dawn.zip;" + "a" * 40,
                                  f"dawn;{URL};not-a-sha1", f"dawn;{URL}"])
def test_a_pin_of_another_form_is_refused(tmp_path: Path, line: str) -> None:
    ort = make_ort(tmp_path / "ort")
    (ort / "cmake" / "deps.txt").write_text(line + "\n")
    with pytest.raises(DependencyError, match="is not `dawn;<github tag zip url>;<sha1>`") as err:
        read_dawn_pin(ort)
    assert "ortwasm/fetch/dawn.py" in err.value.hint


def test_no_deps_txt_is_no_ort_tree(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match=r"has no cmake/deps\.txt"):
        read_dawn_pin(tmp_path)


def test_the_patch_order_is_ort_s_patch_command_not_the_file_names(ort: Path) -> None:
    assert ort_dawn_patches(ort) == ["zz_first.patch", "aa_second.patch"]  # comments' decoy.patch is not read


@pytest.mark.parametrize("step", [
    "          ${Patch_EXECUTABLE} --binary --ignore-whitespace --fuzz=0 -p1 < "
    "${PROJECT_SOURCE_DIR}/patches/dawn/zz_first.patch &&",
    "          ${CMAKE_COMMAND} -E rm -rf <SOURCE_DIR>/third_party &&",
])
def test_a_patch_command_step_ortwasm_does_not_know_is_refused(tmp_path: Path, step: str) -> None:
    ort = make_ort(tmp_path / "ort", extra_step=step)
    with pytest.raises(DependencyError, match="has a step ortwasm does not know") as err:
        ort_dawn_patches(ort)
    assert "teach ortwasm/fetch/dawn.py" in err.value.hint


def test_a_listed_patch_missing_from_the_tree_is_refused(tmp_path: Path, repo: Path) -> None:
    ort = make_ort(tmp_path / "ort", order=["zz_first.patch", "gone.patch"])
    with pytest.raises(DependencyError, match=r"applies gone\.patch, which is not in"):
        prepare_dawn(repo, ort, tmp_path / "out" / "dawn")
    assert not (tmp_path / "out").exists()


def test_the_real_ort_tree_s_patch_order() -> None:
    """Parsing only (fast): the order the research notes measured, from ORT 1.30's own file."""
    if not (REAL_ORT / "cmake" / "deps.txt").is_file():
        pytest.skip(f"!!! no fetched ORT 1.30.0 tree at {REAL_ORT}: run `bash ci/fetch-sources.sh --version "
                    "1.30.0`; the real patch-order parse did NOT run")
    assert ort_dawn_patches(REAL_ORT) == REAL_PATCHES
    assert read_dawn_pin(REAL_ORT).tag == "v20260817.213942"


# --- prepare from git -----------------------------------------------------------------------------------------


def test_prepare_from_a_checkout_exports_the_tag_without_tests_and_patches_in_order(
        tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "out" / "dawn"
    got = prepare_dawn(repo, ort, dest)
    assert got.fresh and got.path == dest
    assert files_under(dest) == {
        "CMakeLists.txt", "src/emdawnwebgpu/CMakeLists.txt", WEBGPU_CPP,
        "third_party/emdawnwebgpu/pkg/webgpu/src/library_webgpu.js", "third_party/gn/keep.gn", "testing/z", STAMP}
    assert (dest / WEBGPU_CPP).read_text() == "// webgpu.cpp\nint webgpu();\n// patched-2\nint after();\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dawn"]  # no .partial, no lock left

    stamp = json.loads((dest / STAMP).read_text())
    tagged = git(repo, "rev-parse", f"{TAG}^{{commit}}")
    assert stamp["tag"] == TAG and stamp["commit"] == tagged
    assert stamp["tree"] == git(repo, "rev-parse", f"{TAG}^{{tree}}")
    assert (stamp["input_kind"], stamp["input_path"]) == ("git", str(repo.resolve()))
    assert (stamp["archive_sha1"], stamp["archive_sha256"], stamp["warning"]) == ("", "", "")
    assert stamp["excluded"] == list(EXCLUDED)
    patch_dir = ort / "cmake" / "patches" / "dawn"
    assert stamp["patches"] == [{"name": n, "sha256": sha256_file(patch_dir / n)}
                                for n in ("zz_first.patch", "aa_second.patch")]
    assert stamp["pin"] == {"tag": TAG, "url": URL, "sha1": "a" * 40}
    assert [o["name"] for o in stamp["patch_output"]] == ["zz_first.patch", "aa_second.patch"]
    assert stamp["patch_output"][0]["output"] == f"patching file {WEBGPU_CPP}"
    assert read_dawn_stamp(dest) == got.stamp


def test_a_second_prepare_does_nothing(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    first = prepare_dawn(repo, ort, dest)
    before = (dest / STAMP).stat().st_mtime_ns
    (dest / "CMakeLists.txt").write_text("project(Dawn) # touched by the user\n")
    time.sleep(0.01)
    second = prepare_dawn(repo, ort, dest)
    assert not second.fresh and second.stamp == first.stamp
    assert second.stamp.patch_output == first.stamp.patch_output  # read back from the stamp
    assert (dest / STAMP).stat().st_mtime_ns == before
    assert "touched by the user" in (dest / "CMakeLists.txt").read_text()  # not re-exported


def test_prepare_from_a_bare_mirror(tmp_path: Path, repo: Path, ort: Path) -> None:
    """Like /work/.mirror/<owner>+<name>/repo: a git dir with no work tree and no config file."""
    mirror = tmp_path / "mirror" / "repo"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(mirror)], check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV})
    (mirror / "config").unlink()
    got = prepare_dawn(mirror, ort, tmp_path / "dawn")
    assert got.stamp.commit == git(repo, "rev-parse", f"{TAG}^{{commit}}")
    assert "// patched-2" in (tmp_path / "dawn" / WEBGPU_CPP).read_text()


def test_a_missing_tag_is_refused_naming_it_and_how_to_get_it(tmp_path: Path, ort: Path) -> None:
    make_dawn(tmp_path / "untagged", tag="")
    with pytest.raises(DependencyError, match=f"has no tag {TAG}") as err:
        prepare_dawn(tmp_path / "untagged", ort, tmp_path / "out" / "dawn")
    assert f"fetch https://github.com/google/dawn tag {TAG}" in err.value.hint and URL in err.value.hint
    assert not (tmp_path / "out").exists()


def test_a_directory_that_is_no_repository_is_refused(tmp_path: Path, ort: Path) -> None:
    (tmp_path / "unpacked").mkdir()
    with pytest.raises(DependencyError, match="is a directory but not a git repository") as err:
        prepare_dawn(tmp_path / "unpacked", ort, tmp_path / "out" / "dawn")
    assert URL in err.value.hint


def test_a_tag_of_another_commit_than_expected_is_refused(tmp_path: Path, repo: Path, ort: Path) -> None:
    with pytest.raises(DependencyError, match=f"tag {TAG} is commit [0-9a-f]{{40}}, not {'c' * 40}") as err:
        prepare_dawn(repo, ort, tmp_path / "out" / "dawn", expect_commit="c" * 40)
    assert "not upstream's" in err.value.hint
    tagged = git(repo, "rev-parse", f"{TAG}^{{commit}}")
    assert prepare_dawn(repo, ort, tmp_path / "dawn", expect_commit=tagged).stamp.commit == tagged


def test_a_patch_that_does_not_apply_leaves_nothing(tmp_path: Path, repo: Path) -> None:
    ort = make_ort(tmp_path / "ort", {"zz_first.patch": FIRST, "never.patch": NEVER, "aa_second.patch": SECOND})
    out = tmp_path / "out"
    with pytest.raises(DependencyError, match=r"ORT's Dawn patch never\.patch does not apply") as err:
        prepare_dawn(repo, ort, out / "dawn")
    assert "FAILED" in err.value.message and "CMakeLists.txt" in err.value.message
    assert "google/dawn" in err.value.hint
    assert not out.exists() or list(out.iterdir()) == []  # no dawn, no dawn.partial, no lock


def test_the_order_matters_so_the_fixture_proves_it(tmp_path: Path, repo: Path) -> None:
    ort = make_ort(tmp_path / "ort", order=["aa_second.patch", "zz_first.patch"])
    with pytest.raises(DependencyError, match=r"patch aa_second\.patch does not apply"):
        prepare_dawn(repo, ort, tmp_path / "out" / "dawn")


def test_a_killed_run_s_partial_dir_is_replaced(tmp_path: Path, repo: Path, ort: Path) -> None:
    (tmp_path / "dawn.partial" / "junk").mkdir(parents=True)
    prepare_dawn(repo, ort, tmp_path / "dawn")
    assert not (tmp_path / "dawn.partial").exists() and not (tmp_path / "dawn" / "junk").exists()


# --- existing directories -------------------------------------------------------------------------------------


def test_a_directory_ortwasm_did_not_write_is_refused_and_kept(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    dest.mkdir()
    (dest / "mine.txt").write_text("the user's\n")
    with pytest.raises(DependencyError, match=f"{dest} exists and was not prepared by ortwasm") as err:
        prepare_dawn(repo, ort, dest)
    assert f"remove {dest}" in err.value.hint
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]


def test_a_tree_prepared_otherwise_is_refused_not_overwritten(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    before = (dest / STAMP).read_text()
    other = make_ort(tmp_path / "ort2", {"zz_first.patch": FIRST})
    with pytest.raises(DependencyError, match="holds another Dawn preparation than this run's") as err:
        prepare_dawn(repo, other, dest)
    assert "patches: zz_first.patch@" in err.value.message and f"remove {dest}" in err.value.hint
    assert (dest / STAMP).read_text() == before


def test_a_prepared_tree_that_lost_a_key_file_is_refused(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    (dest / WEBGPU_CPP).unlink()
    with pytest.raises(DependencyError, match=f"was prepared by ortwasm but lacks {WEBGPU_CPP} now") as err:
        prepare_dawn(repo, ort, dest)
    assert f"remove {dest}" in err.value.hint
    with pytest.raises(DependencyError, match="lacks"):
        dawn_cmake_defines(dest, ort)


def test_an_unreadable_stamp_is_refused(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    (dest / STAMP).write_text("{not json")
    with pytest.raises(DependencyError, match="is unreadable") as err:
        prepare_dawn(repo, ort, dest)
    assert f"remove {dest}" in err.value.hint


# --- what a build takes ---------------------------------------------------------------------------------------


def test_the_defines_name_the_tree_once_it_matches_the_pin(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    assert dawn_cmake_defines(dest, ort) == {CMAKE_VAR: str(dest.resolve())}
    assert CMAKE_VAR == "onnxruntime_CUSTOM_DAWN_SRC_PATH"


def test_the_defines_refuse_a_tree_of_another_tag(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    newer = make_ort(tmp_path / "newer", tag="v20991231.000000")
    with pytest.raises(DependencyError, match=f"{dest} is Dawn {TAG}; .* pins Dawn v20991231.000000") as err:
        dawn_cmake_defines(dest, newer)
    assert f"remove {dest}" in err.value.hint


def test_the_defines_refuse_a_tree_with_other_patches(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    prepare_dawn(repo, ort, dest)
    other = make_ort(tmp_path / "other", {"zz_first.patch": FIRST, "aa_second.patch": SECOND + " \n"})
    with pytest.raises(DependencyError, match="has the Dawn patches"):
        dawn_cmake_defines(dest, other)


def test_the_defines_refuse_a_dir_without_stamp_and_an_ort_without_the_option(
        tmp_path: Path, repo: Path, ort: Path) -> None:
    with pytest.raises(DependencyError, match="was not prepared by ortwasm"):
        dawn_cmake_defines(tmp_path, ort)
    old = make_ort(tmp_path / "old")
    cmake = old / "cmake" / "external" / "onnxruntime_external_deps.cmake"
    cmake.write_text(cmake.read_text().replace(CMAKE_VAR, "SOMETHING_ELSE"))
    with pytest.raises(DependencyError, match=f"does not read {CMAKE_VAR}"):
        dawn_cmake_defines(tmp_path, old)


def test_the_manifest_entry(tmp_path: Path, repo: Path, ort: Path) -> None:
    dest = tmp_path / "dawn"
    got = prepare_dawn(repo, ort, dest)
    patch_dir = ort / "cmake" / "patches" / "dawn"
    digest = patches_digest([PatchRecord(n, sha256_file(patch_dir / n)) for n in ort_dawn_patches(ort)])
    assert dawn_manifest_entry(dest) == {"tag": TAG, "commit": got.stamp.commit, "tree": got.stamp.tree,
                                         "patches": digest, "input": "git"}


# --- prepare from GitHub's release archives -------------------------------------------------------------------


def archive(repo: Path, out: Path, fmt: str, prefix: str = "dawn-20990101.000000") -> Path:
    """What GitHub serves for a tag: ``git archive`` of it under ``dawn-<tag without v>/``."""
    git(repo, "archive", f"--format={fmt}", f"--prefix={prefix}/", "-o", str(out), TAG)
    return out


def test_prepare_from_the_zip_checks_its_sha1(tmp_path: Path, repo: Path) -> None:
    zipped = archive(repo, tmp_path / "dawn-20990101.000000.zip", "zip")
    ort = make_ort(tmp_path / "ort", sha1=dawn._hashes(zipped)[0])
    got = prepare_dawn(zipped, ort, tmp_path / "dawn")
    stamp = got.stamp
    assert (stamp.input_kind, stamp.archive_sha1, stamp.warning) == ("zip", dawn._hashes(zipped)[0], "")
    assert stamp.archive_sha256 == sha256_file(zipped) and stamp.tree == ""
    assert stamp.commit == git(repo, "rev-parse", f"{TAG}^{{commit}}")  # the zip's own comment says so
    assert files_under(tmp_path / "dawn") == files_under(prepare_dawn(repo, ort, tmp_path / "from-git").path)
    assert "// patched-2" in (tmp_path / "dawn" / WEBGPU_CPP).read_text()


def test_a_zip_of_another_sha1_is_refused(tmp_path: Path, repo: Path, ort: Path) -> None:
    zipped = archive(repo, tmp_path / "dawn.zip", "zip")
    with pytest.raises(DependencyError, match=f"has sha1 [0-9a-f]{{40}}; .* pins {'a' * 40} for Dawn {TAG}") as err:
        prepare_dawn(zipped, ort, tmp_path / "out" / "dawn")
    assert URL in err.value.hint
    assert not (tmp_path / "out").exists()


def test_prepare_from_a_tar_gz_records_its_sha256_and_warns(tmp_path: Path, repo: Path, ort: Path) -> None:
    tgz = archive(repo, tmp_path / "dawn.tar.gz", "tar.gz")
    stamp = prepare_dawn(tgz, ort, tmp_path / "dawn").stamp
    assert (stamp.input_kind, stamp.archive_sha256) == ("tar", sha256_file(tgz))
    assert "the pin could not be checked" in stamp.warning
    assert stamp.commit == git(repo, "rev-parse", f"{TAG}^{{commit}}")
    assert "third_party/gn/keep.gn" in files_under(tmp_path / "dawn")
    assert not (tmp_path / "dawn" / "test").exists()
    assert not (tmp_path / "dawn" / "third_party" / "gn" / "webgpu-cts").exists()


def test_an_archive_of_another_tag_is_refused(tmp_path: Path, repo: Path, ort: Path) -> None:
    tgz = archive(repo, tmp_path / "dawn.tar.gz", "tar.gz", prefix="dawn-20980101.000000")
    with pytest.raises(DependencyError, match=f"holds dawn-20980101.000000, but ONNX Runtime pins Dawn {TAG}"):
        prepare_dawn(tgz, ort, tmp_path / "out" / "dawn")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_zip_member_outside_the_tree_is_refused(tmp_path: Path, ort: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("dawn-20990101.000000/CMakeLists.txt", "x")
        zf.writestr("dawn-20990101.000000/../escape", "x")
    ort = make_ort(tmp_path / "ort2", sha1=dawn._hashes(bad)[0])
    with pytest.raises(DependencyError, match="unsafe member"):
        prepare_dawn(bad, ort, tmp_path / "out" / "dawn")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out" / "dawn").exists()


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path, ort: Path) -> None:
    (tmp_path / "dawn.zip").write_text("not a zip")
    with pytest.raises(DependencyError, match=r"neither a git repository nor a \.zip or \.tar\.gz"):
        prepare_dawn(tmp_path / "dawn.zip", ort, tmp_path / "out")


# --- the real thing -------------------------------------------------------------------------------------------


def test_real_dawn_pin_from_the_mirror(tmp_path: Path) -> None:
    """The google/dawn mirror and ORT 1.30's own pin and patches: 4,855 files, 56 MB, into tmp_path.

    Fast tier, like the other tests of fetched trees: it needs no toolchain, and it measured 1.5 s."""
    missing = [f"{what} at {where}" for what, where in (("the google/dawn mirror", REAL_MIRROR / "HEAD"),
                                                        ("the fetched ORT 1.30.0 tree", REAL_ORT / "cmake"))
               if not where.exists()]
    if missing:
        pytest.skip(f"!!! no {' and no '.join(missing)} (fetch github:google/dawn; bash ci/fetch-sources.sh "
                    "--version 1.30.0): the real Dawn preparation did NOT run")
    dest = tmp_path / "dawn"
    start = time.monotonic()
    got = prepare_dawn(REAL_MIRROR, REAL_ORT, dest, expect_commit=REAL_COMMIT)
    took = time.monotonic() - start
    stamp = got.stamp
    assert stamp.commit == REAL_COMMIT and stamp.tag == "v20260817.213942"
    assert stamp.tree == git(REAL_MIRROR, "rev-parse", f"{REAL_COMMIT}^{{tree}}")
    assert [p.name for p in stamp.patches] == REAL_PATCHES
    assert [n for n, _ in stamp.patch_output] == REAL_PATCHES
    for key in ("src/emdawnwebgpu/CMakeLists.txt", WEBGPU_CPP,
                "third_party/emdawnwebgpu/pkg/webgpu/src/library_webgpu.js", "generator/dawn_json_generator.py"):
        assert (dest / key).is_file(), key
    assert not (dest / "test").exists() and not (dest / "third_party" / "gn" / "webgpu-cts").exists()
    assert not list(dest.rglob("*.orig")) and not list(dest.rglob("*.rej"))
    assert "WGPUBufferImpl::~WGPUBufferImpl()" in (dest / WEBGPU_CPP).read_text()  # destroy_buffer landed
    assert dawn_cmake_defines(dest, REAL_ORT) == {CMAKE_VAR: str(dest.resolve())}
    entry = dawn_manifest_entry(dest)
    assert entry["commit"] == REAL_COMMIT and entry["tree"].startswith("74cb5548")
    again = time.monotonic()
    assert not prepare_dawn(REAL_MIRROR, REAL_ORT, dest, expect_commit=REAL_COMMIT).fresh
    files = sum(1 for p in dest.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"\nreal Dawn: {took:.1f} s, {files} files, {size / 1e6:.1f} MB; "
          f"second call {time.monotonic() - again:.2f} s")
    for name, output in stamp.patch_output:
        print(f"  {name}: {' | '.join(output.splitlines())}")
