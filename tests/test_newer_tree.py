"""A tree newer than every patch set (issue #25, item 6): refused, naming the nearest patch set below it, whether
that applies, the flag and the procedure; with --allow-unproven-version and an exact fit, built with that patch set
into dirs of its own, and its manifests say so, which `check` (and `package`) read.

The trees are the upstream files the newest patch set touches (its fast-tier fixtures, or the fetched tree when
the fixtures lack one), with VERSION_NUMBER one and two minors on: a 1.30 tree passed off as 1.31 and 1.32.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm import package as pk
from ortwasm.artifacts.manifest import Manifest, OrtInfo
from ortwasm.errors import CannotCheck, SourceError
from ortwasm.options import ALLOW_UNPROVEN_VERSION
from ortwasm.paths import ortwasm_home
from ortwasm.recipe import default_version, require_recipe, supported
from ortwasm.source.patchset import PatchSet, choose_patchset, find_patchset, first_misfit, patched_files
from ortwasm.source.tree import origin_fingerprint, prepare
from tests.harness.homes import isolated_home  # noqa: F401  (the fixture)
from tests.test_package import fake_variant, fake_web

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CPP = "onnxruntime/core/framework/tensorprotoutils.cc"  # memfs-read.patch's file (tests/test_patch_fixtures.py)


def _later(version: str, minors: int) -> str:
    """``minors`` minor versions after ``version``; the test needs one no recipe claims."""
    major, minor, _ = (int(x) for x in version.split("."))
    later = f"{major}.{minor + minors}.0"
    assert later not in supported(), f"{later} has a patch set now: pick the tree versions above it"
    return later


BASE = supported()[-1]  # the newest patch set: what a newer tree is built with
NEXT, AFTER = _later(BASE, 1), _later(BASE, 2)
FETCHED = require_recipe(BASE).source_dir  # read before isolated_home moves ORTWASM_HOME


pytestmark = pytest.mark.usefixtures("isolated_home")  # ortwasm_home() is each test's own


def _base_patchset() -> PatchSet:
    patchset = find_patchset(BASE)
    assert patchset is not None
    return patchset


def newer_tree(root: Path, version: str) -> Path:
    """BASE's upstream files that its patch set touches, as a tree of ``version``: from the fixtures, else from the
    fetched BASE tree (a patch added since the fixtures were last updated)."""
    tree = root / f"ort-{version}"
    for rel in ["LICENSE", "cmake/onnxruntime_webassembly.cmake", *patched_files(_base_patchset())]:
        src = next((d / rel for d in (FIXTURES / f"ort-{BASE}", FETCHED) if (d / rel).is_file()), None)
        if src is not None:
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tree / rel)
    (tree / "onnxruntime" / "core").mkdir(parents=True, exist_ok=True)
    (tree / "VERSION_NUMBER").write_text(f"{version}\n")
    misfit = first_misfit(_base_patchset(), tree)
    if misfit is not None and not (FETCHED / "VERSION_NUMBER").is_file():
        pytest.skip(f"!!! tests/fixtures/ort-{BASE} lacks a file {BASE}'s patch set edits ({misfit}) and no "
                    f"{BASE} tree is fetched: run `bash ci/fetch-sources.sh --version {BASE}`, or "
                    f"tests/fixtures/update.py; the newer-tree tests did NOT run")
    assert misfit is None, misfit
    return tree


def break_context(tree: Path) -> str:
    """One context line of the first patch editing CPP changed (patch would place the hunk with fuzz 2); returns
    that patch's name."""
    path = tree / CPP
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("static Status GetFileContent("))
    lines[at + 1] = lines[at + 1].rstrip("\n") + "  // a 1.32 edit\n"
    path.write_text("".join(lines))
    return next(p.name for p in _base_patchset().patches if f"+++ b/{CPP}" in p.read_text())


def build(tree: Path, *flags: str) -> list[str]:
    return ["--ort-source", str(tree), "--variants", "wasm32", *flags]


# --- refused: without the flag, or when a patch does not fit ------------------------------------------------------


def test_without_the_flag_the_refusal_says_the_patch_set_fits_and_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = newer_tree(tmp_path, NEXT)
    before = origin_fingerprint(tree)
    for argv in (build(tree), build(tree, "--print-cmake")):
        assert cli.main(argv) == SourceError.return_code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert f"ortwasm: error: ONNX Runtime {NEXT} has no patch set of its own (supported: " \
               f"{', '.join(supported())}; nearest: {BASE}); {BASE}'s patch set applies to this tree exactly " \
               f"({len(_base_patchset().patches)} patches at fuzz 0, and the runtime files)" in err
        assert f"hint: pass {ALLOW_UNPROVEN_VERSION} to build {NEXT} with {BASE}'s patch set, unproven" in err
        assert f"add patches/{NEXT}/ as docs/new-version.md says" in err
    assert not ortwasm_home().exists()  # refused before anything is written
    assert origin_fingerprint(tree) == before


@pytest.mark.parametrize("flag", [(), (ALLOW_UNPROVEN_VERSION,)])
def test_a_patch_that_does_not_fit_is_named_and_never_fuzzed(tmp_path: Path, flag: tuple[str, ...],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tree = newer_tree(tmp_path, AFTER)
    failing = break_context(tree)
    fuzzed = subprocess.run(["patch", "-p1", "--batch", "--dry-run", "--fuzz=2", "-i",
                             str(require_recipe(BASE).directory / failing)], cwd=tree, capture_output=True, check=False)
    assert fuzzed.returncode == 0, "the broken context must be one that fuzz would accept, or this proves nothing"
    assert cli.main(build(tree, *flag)) == SourceError.return_code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"ortwasm: error: ONNX Runtime {AFTER} has no patch set of its own" in err
    assert f"; {BASE}'s patch set fails on this tree at fuzz 0: {failing} does not apply: {CPP}: Hunk #" in err
    assert f"hint: {ALLOW_UNPROVEN_VERSION} builds only with the patch set of the nearest version below, and only " \
           f"when it applies exactly, never with fuzz: port {BASE}'s patches to {AFTER} in patches/{AFTER}/ as " \
           "docs/new-version.md says" in err
    assert not ortwasm_home().exists()
    with pytest.raises(SourceError, match=failing):
        prepare(tree, tmp_path / "build", allow_unproven=True)
    assert not (tmp_path / "build").exists()  # no half-patched copy, no lock


def test_a_runtime_file_that_would_replace_upstream_s_is_a_misfit(tmp_path: Path) -> None:
    tree = newer_tree(tmp_path, NEXT)
    dest, ours = _base_patchset().runtime_files[0]
    (tree / dest).parent.mkdir(parents=True, exist_ok=True)
    (tree / dest).write_text("// upstream's own file of that name\n")
    with pytest.raises(SourceError, match=f"the tree has its own {dest}, which ortwasm's {ours.name} would replace"):
        choose_patchset(tree, NEXT, allow_unproven=True)
    shutil.copyfile(ours, tree / dest)  # ours already there (a prepared copy passed again): fits
    assert choose_patchset(tree, NEXT, allow_unproven=True).version == BASE


def test_an_archive_is_refused_with_how_to_try_it(tmp_path: Path) -> None:
    tree = newer_tree(tmp_path, NEXT)
    archive = Path(shutil.make_archive(str(tmp_path / f"onnxruntime-{NEXT}"), "gztar", tree.parent, tree.name))
    with pytest.raises(SourceError, match="is an archive") as err:
        prepare(archive, tmp_path / "build", allow_unproven=True)
    assert "unpack it and pass the directory as --ort-source" in err.value.hint
    assert not (tmp_path / "build").exists()


def test_no_patch_set_below_in_the_major_names_the_flag_s_limit(tmp_path: Path) -> None:
    major = int(BASE.split(".")[0]) + 1
    tree = newer_tree(tmp_path, f"{major}.0.0")
    with pytest.raises(SourceError, match=rf"ONNX Runtime {major}\.0\.0 has no patch set") as err:
        choose_patchset(tree, f"{major}.0.0", allow_unproven=True)
    assert f"{ALLOW_UNPROVEN_VERSION} builds with the patch set of a supported version below" in err.value.hint


def test_the_fetched_tree_passed_off_as_newer_fits_exactly(tmp_path: Path) -> None:
    """The whole fetched BASE tree, not only the files the fixtures keep: a tree of symlinks to its top-level entries
    with VERSION_NUMBER changed.  Only judged, never prepared: a copy of it would patch the cache through them."""
    if not (FETCHED / "VERSION_NUMBER").is_file():
        pytest.skip(f"!!! no fetched {BASE} tree at {FETCHED}: run `bash ci/fetch-sources.sh --version {BASE}`; "
                    "the whole-tree fit did NOT run")
    tree = tmp_path / "farm"
    tree.mkdir()
    for entry in FETCHED.iterdir():
        if entry.name != "VERSION_NUMBER":
            (tree / entry.name).symlink_to(entry)
    (tree / "VERSION_NUMBER").write_text(f"{NEXT}\n")
    with pytest.raises(SourceError, match=f"{BASE}'s patch set applies to this tree exactly"):
        choose_patchset(tree, NEXT)
    assert choose_patchset(tree, NEXT, allow_unproven=True) == _base_patchset()


# --- built: the flag and an exact fit -----------------------------------------------------------------------------


def test_prepare_applies_the_nearest_patch_set_and_the_record_says_unproven(tmp_path: Path) -> None:
    tree = newer_tree(tmp_path, NEXT)
    before = origin_fingerprint(tree)
    with pytest.raises(SourceError, match="applies to this tree exactly") as err:
        prepare(tree, tmp_path / "build")
    assert ALLOW_UNPROVEN_VERSION in err.value.hint and not (tmp_path / "build").exists()
    src = prepare(tree, tmp_path / "build", allow_unproven=True)
    assert (src.version, src.patchset_version, src.recipe_version, src.unproven) == (NEXT, BASE, BASE, True)
    assert src.path == tmp_path / "build" / "src" / f"onnxruntime-{NEXT}"
    assert src.patchset == _base_patchset().id
    base = prepare(newer_tree(tmp_path / "b", BASE), tmp_path / "base")  # the same files, as BASE: its own set
    assert not base.unproven and base.patchset == src.patchset
    for rel in patched_files(_base_patchset()):  # the whole series, byte for byte as on BASE, nothing else
        assert (src.path / rel).read_bytes() == (base.path / rel).read_bytes(), rel
    assert prepare(tree, tmp_path / "build", allow_unproven=True) == src  # a second run is a no-op
    assert origin_fingerprint(tree) == before  # the user's tree is never written

    ort = OrtInfo.of(src)
    assert (ort.version, ort.patchset_version, ort.proven, ort.recipe_version) == (NEXT, BASE, False, BASE)
    data = Manifest(ort=ort).to_json()
    assert data["ort"]["version"] == NEXT and data["ort"]["patchset_version"] == BASE and not data["ort"]["proven"]
    assert Manifest.from_json(json.loads(json.dumps(data)), "manifest.json").ort == ort
    own = OrtInfo.of(prepare(tree, tmp_path / "upstream", apply_patches=False))
    assert (own.patchset_version, own.proven) == (None, None)  # unpatched: no claim either way


def test_the_flag_reaches_the_options_and_the_dirs_are_the_tree_s(tmp_path: Path) -> None:
    tree = newer_tree(tmp_path, NEXT)
    base_deps = require_recipe(BASE).deps_dir
    base_deps.mkdir(parents=True)
    a = cli.make_parser().parse_args(["build", *build(tree, ALLOW_UNPROVEN_VERSION)])
    opts = cli.build_options(a)
    assert opts.allow_unproven_version
    assert (opts.build_dir, opts.out_dir) == (ortwasm_home() / f"build-{NEXT}", ortwasm_home() / f"out-{NEXT}")
    base = require_recipe(BASE)
    assert opts.build_dir != base.build_dir and opts.out_dir != base.out_dir
    assert opts.deps_dir == base_deps  # every pin is the patch set's: its fetched dependencies
    plain = cli.build_options(cli.make_parser().parse_args(["build", *build(tree)]))
    assert (plain.build_dir, plain.deps_dir) == (opts.build_dir, None)


def test_print_cmake_with_the_flag_warns_and_writes_nothing(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tree = newer_tree(tmp_path, NEXT)
    assert cli.main(build(tree, ALLOW_UNPROVEN_VERSION, "--print-cmake")) == 0
    out, err = capsys.readouterr()
    assert f"ortwasm: warning: ONNX Runtime {NEXT} is unproven: it has no patch set of its own, so it is built " \
           f"with {BASE}'s, which applies to it exactly" in err
    assert f"-S {ortwasm_home() / f'build-{NEXT}'}/src/onnxruntime-{NEXT}/cmake" in out
    assert not ortwasm_home().exists()


def test_print_cmake_configures_with_the_patch_set_s_recipe(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tree = newer_tree(tmp_path, NEXT)
    assert cli.main(build(tree, ALLOW_UNPROVEN_VERSION, "--print-cmake")) == 0
    out = capsys.readouterr().out
    recipe = require_recipe(BASE)
    assert recipe.build_py_defines and recipe.configure_defines
    for key, value in {**recipe.build_py_defines, **recipe.configure_defines}.items():
        assert f"-D{key}={value}" in out, key


# --- check and package read the record --------------------------------------------------------------------------


OLD = default_version()  # test_package's fake artifacts export the default version's C API
NEWER = _later(OLD, 1)
UNPROVEN = {"version": NEWER, "patched": True, "patchset": f"{OLD}-test", "source": f"/src/onnxruntime-{NEWER}",
            "patchset_version": OLD, "proven": False}


def unproven_out(root: Path) -> Path:
    out = root / "out"
    for name in ("wasm32", "wasm64-memfs"):
        fake_variant(out, name, ort=UNPROVEN)
    fake_web(out, ort=UNPROVEN)
    return out


def test_check_judges_by_the_patch_set_s_recipe_and_says_unproven(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = unproven_out(tmp_path)
    assert cli.main(["check", str(out), "--json", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert f"PASS by ONNX Runtime {OLD}'s rules (from manifest.json; the artifacts are ONNX Runtime {NEWER}, " \
           f"unproven: built with {OLD}'s patch set): 2 artifact(s), 1 dir(s) (onnxruntime-web)" in text
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["ort_version"], report["ort_recipe_version"], report["unproven"]) == (NEWER, OLD, True)
    mf = out / "wasm32" / "manifest.json"  # a record that says another patch set must say unproven
    mf.write_text(mf.read_text().replace('"proven": false', '"proven": true'))
    assert cli.main(["check", str(out / "wasm32")]) == CannotCheck.return_code
    assert "'ort.proven' must be false exactly when 'ort.patchset_version' names another version" \
        in capsys.readouterr().err


def test_check_refuses_a_patch_set_without_a_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = fake_variant(tmp_path / "out", "wasm32", ort={**UNPROVEN, "patchset_version": _later(OLD, 2)})
    assert cli.main(["check", str(d)]) == CannotCheck.return_code
    err = capsys.readouterr().err
    assert f"says ONNX Runtime {NEWER}, built with {_later(OLD, 2)}'s patch set, which has no recipe" in err


def test_package_names_the_tree_s_version_and_judges_by_the_patch_set(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    res = pk.build_packages(unproven_out(tmp_path), tmp_path / "dist")
    assert res.npm_version.startswith(f"{NEWER}-ortwasm.") and res.ort_version == NEWER
    assert getattr(res, "recipe_version", None) == OLD
    with tarfile.open(res.tgz) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert cli.main(["check", str(tmp_path / "unpacked" / "package")]) == 0  # package.json carries the record
    assert f"the artifacts are ONNX Runtime {NEWER}, unproven" in capsys.readouterr().out
