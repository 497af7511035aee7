"""The recipe is the one home of per-version facts: read strictly, and no version string left in code."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.errors import PatchError, SourceError, UsageError
from ortwasm.recipe import (
    Layout,
    default_layout,
    default_version,
    load_recipe,
    nearest,
    nearest_below,
    patch_root,
    read_series,
    require_recipe,
    supported,
)

REPO = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r"(?<![\w.])\d+\.\d+\.\d+(?![\w.])")


def _copy(tmp_path: Path, version: str = "1.21.0") -> Path:
    root = tmp_path / "patches"
    shutil.copytree(patch_root() / version, root / version)
    return root


def test_every_version_loads_and_exactly_one_is_the_default() -> None:
    versions = supported()
    assert "1.21.0" in versions and "1.30.0" in versions
    for v in versions:
        recipe = require_recipe(v)
        assert recipe.patches, v
        assert recipe.c_api, v
        assert recipe.budgets_path.is_file(), v
    assert default_version() == "1.21.0"


@pytest.mark.parametrize("edit,needle", [
    ("[toolchain]\nproven = [\"3.1.69\"]\n[toolchian]\n", "unknown section [toolchian]; did you mean `toolchain`?"),
    ("[toolchain]\nproven = [\"3.1.69\"]\nprooven = []\n",
     "unknown key `prooven` in [toolchain]; did you mean `proven`?"),
    ("[toolchain]\nproven = \"3.1.69\"\n", "[toolchain] proven must be a list of strings"),
    ("[toolchain]\nproven = [\"3.1\"]\n", "[toolchain] proven must be a list of X.Y.Z versions"),
    ("[layout]\nbuild = \"b\"\n", "[toolchain] proven is required"),
    ("[toolchain]\nproven = [\"3.1.69\"]\n[checks]\nc_api = \"OrtInit\"\n", "[checks] c_api must be a list of strings"),
])
def test_a_mistake_names_the_file_line_and_nearest_key(tmp_path: Path, edit: str, needle: str) -> None:
    root = _copy(tmp_path)
    (root / "1.21.0" / "recipe.toml").write_text(edit)
    with pytest.raises(PatchError) as exc:
        load_recipe("1.21.0", root)
    assert needle in exc.value.message
    assert str(root / "1.21.0" / "recipe.toml") in exc.value.message
    if "unknown" in needle:
        assert ".toml:3:" in exc.value.message  # the line of the offending key


def test_dependency_keys_are_strict_too(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    deps = root / "1.21.0" / "deps.toml"
    deps.write_text(re.sub(r"\bcmake_var\s*=", "cmake_vr =", deps.read_text(), count=1))
    with pytest.raises(PatchError, match=r"unknown key `cmake_vr`.*did you mean `cmake_var`"):
        load_recipe("1.21.0", root)


def test_series_lists_every_patch_and_comments_out_the_proposed(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    series = root / "1.21.0" / "series"
    proposed_line = "\n# js-stream-external-data.patch\n"
    series.write_text(series.read_text().replace("\njs-stream-external-data.patch\n", proposed_line))
    patches, proposed = read_series(root / "1.21.0")
    assert proposed == ("js-stream-external-data.patch",)
    assert all(p.name != "js-stream-external-data.patch" for p in patches)
    (root / "1.21.0" / "extra.patch").write_text("")
    with pytest.raises(PatchError, match=r"extra.patch not listed in series"):
        load_recipe("1.21.0", root)
    (root / "1.21.0" / "extra.patch").unlink()
    series.write_text(series.read_text() + "missing.patch\n")
    with pytest.raises(PatchError, match=r"series:\d+: missing.patch is listed"):
        load_recipe("1.21.0", root)


def test_the_same_concern_has_the_same_name_in_every_version() -> None:
    """`diff` of one patch name between two version folders compares one concern across versions."""
    names = {v: {p.name for p in require_recipe(v).patches} | set(require_recipe(v).proposed) for v in supported()}
    shared = set.intersection(*names.values())
    assert {"wasm64.patch", "memfs-cmake-option.patch", "memfs-read.patch", "buildpy-memfs.patch",
            "js-wasm64.patch", "js-stream-external-data.patch"} <= shared
    for v in supported():
        for p in require_recipe(v).patches:
            head = p.read_text().split("\n---\n", 1)[0]
            assert re.match(r"From: ortwasm <[^>]+@[^>]+>\nSubject: \[PATCH\] ", head), f"{p}: one header format"


def test_no_patch_creates_our_runtime_files() -> None:
    for v in supported():
        recipe = require_recipe(v)
        assert "onnxruntime/wasm/pre-memfs.js" in recipe.runtime_files
        for p in recipe.patches:
            assert "+++ b/onnxruntime/wasm/pre-memfs.js" not in p.read_text(), p
    assert not list((REPO / "patches").rglob("PROPOSED*"))


def _strings_outside_docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [(node.lineno, m) for m in _VERSION.findall(node.value)]
        if (isinstance(node, ast.Tuple) and len(node.elts) == 3
                and all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts)):
            found.append((node.lineno, "tuple of three ints"))
    return found


def test_no_version_string_in_code() -> None:
    """ORT and emscripten versions live in patches/<version>/recipe.toml and ortwasm/data/toolchains.toml only.

    Docstrings and comments may cite a version (they say why); code that compares or prints one must read it from
    the data.  `0.0.0` is the placeholder of a toolchain probe whose version is not known yet.
    """
    bad = [f"{p.relative_to(REPO)}:{line}: {text}"
           for p in sorted((REPO / "ortwasm").rglob("*.py"))
           for line, text in _strings_outside_docstrings(p) if text != "0.0.0"]
    assert not bad, "version strings in code (move them to a recipe or the toolchain table):\n" + "\n".join(bad)


@pytest.mark.parametrize("given", ["1.30", "1.21", "latest", "v1.21.0", "", "1.19.0", "../1.21.0"])
def test_any_ort_version_resolves_or_is_a_usage_error(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--ort-version", given, "--print-cmake"]) == UsageError.return_code
    err = capsys.readouterr().err
    assert "1.21.0" in err and "1.30.0" in err and "Traceback" not in err


def test_fetch_sources_refuses_an_unknown_version_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fetch-sources", "--version", "1.30"]) == UsageError.return_code
    assert "nearest: 1.30.0" in capsys.readouterr().err


def test_require_recipe_of_an_unknown_version_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"nearest: 1\.30\.0"):
        require_recipe("1.31.1")


def test_nearest_below_stays_in_the_major_and_below(tmp_path: Path) -> None:
    """The only patch set --allow-unproven-version may take; `nearest` (where a port starts) may be above."""
    root = tmp_path / "patches"
    for v in ("1.21.0", "1.30.0", "2.1.0"):
        (root / v).mkdir(parents=True)
        (root / v / "recipe.toml").write_text('[toolchain]\nproven = ["3.1.69"]\n')
    cases = {"1.31.0": "1.30.0", "1.30.1": "1.30.0", "1.29.9": "1.21.0", "1.30.0": "1.21.0", "1.21.0": None,
             "1.20.0": None, "2.0.0": None, "2.2.0": "2.1.0", "3.0.0": None, "1.31": None}
    assert {v: nearest_below(v, root) for v in cases} == cases
    assert nearest("1.29.1", root) == "1.30.0" and nearest("1.31", root) is None


def test_layout_names_claim_no_other_version_s_dirs() -> None:
    """A tree without a recipe (unproven, or --no-patches) builds in default_layout(its version): no recipe may name
    another version's defaults, or a 1.31 tree could build into a dir a recipe gave 1.30."""
    recipes = [require_recipe(v) for v in supported()]
    for r in recipes:
        names = {r.layout.build, r.layout.out, r.layout.deps, r.layout.source}
        claimed = {v for name in names for v in _VERSION.findall(name)}
        assert claimed <= {r.version}, (r.version, names)
    assert len({(r.layout.build, r.layout.out) for r in recipes}) == len(recipes)
    assert default_layout("9.9.9") == Layout("build-9.9.9", "out-9.9.9", "deps-9.9.9", "onnxruntime-9.9.9")


def test_each_version_out_dir_can_be_moved_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second build of one version (another toolchain) is tested by pointing at it; the others stay put.  The
    default version's variable stays ORTWASM_ARTIFACTS, which every test of it reads."""
    versions = list(supported())
    default = default_version()
    before = {v: require_recipe(v).out_dir for v in versions}
    for v in versions:
        monkeypatch.setenv(f"ORTWASM_ARTIFACTS_{v.replace('.', '_')}", str(tmp_path / v))
        assert require_recipe(v).out_dir == (before[v] if v == default else tmp_path / v)
        assert all(require_recipe(o).out_dir == before[o] for o in versions if o != v)
        monkeypatch.delenv(f"ORTWASM_ARTIFACTS_{v.replace('.', '_')}")
    monkeypatch.setenv("ORTWASM_ARTIFACTS", str(tmp_path / "default"))
    assert require_recipe(default).out_dir == tmp_path / "default"
    assert all(require_recipe(o).out_dir == before[o] for o in versions if o != default)
