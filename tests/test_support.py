"""The README's support matrix is rendered from the recipes and the variant table, and `--check` catches drift.

Why these tests: the matrix is the README's one claim about what works where.  It is only worth more than a
typed table if (a) it shows exactly what the data says, read through the recipe interface and nothing else, and
(b) a stale copy in the README fails the tests.  The rendering tests use a fake ``ortwasm.recipe`` whose records
have only the four attributes the matrix may read, so reading anything else fails here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ortwasm import recipe, support
from ortwasm.variants import load_table

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FakeRecipe:
    """Only the interface support.py is allowed to read."""

    proven_toolchains: tuple[str, ...]
    unsupported_variants: dict[str, str] = field(default_factory=dict)
    tested: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default: bool = False
    webgpu_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)


FAKES = {
    "1.21.0": FakeRecipe(
        proven_toolchains=("3.1.69",), default=True,
        unsupported_variants={"wasm32-nothreads": "ORT 1.21.0 does not compile\n   without threads"},
        tested={"wasm32": ("node24", "chromium"), "wasm64-memfs": ("node24",)}),
    "1.30.0": FakeRecipe(
        proven_toolchains=(),
        unsupported_variants={"wasm64-jsep-memfs": "MEMORY64 with JSEP is not ported"},
        tested={"wasm32": ("node24",)}, webgpu_flags={"asyncify": ("--use_webgpu",)}),
}


@pytest.fixture()
def fake_recipes(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeRecipe]:
    monkeypatch.setattr(recipe, "supported", lambda: list(FAKES))
    monkeypatch.setattr(recipe, "require_recipe", FAKES.__getitem__)
    return FAKES


def _row(table: str, variant: str) -> list[str]:
    for line in table.splitlines():
        if line.startswith(f"| `{variant}` |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row for {variant}:\n{table}")


def test_one_row_per_variant_in_table_order(fake_recipes: dict[str, FakeRecipe]) -> None:
    text = support.support_matrix()
    names = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `")]
    assert names == list(load_table())


def test_headers_name_each_version_its_default_and_proven_emscripten(fake_recipes: dict[str, FakeRecipe]) -> None:
    header = support.support_matrix().splitlines()[0]
    assert "ORT 1.21.0 (default)<br>emscripten 3.1.69" in header
    assert "ORT 1.30.0<br>emscripten none proven" in header  # an empty proven list says so, not a blank


def test_cells_say_tested_where_refused_why_or_untested(fake_recipes: dict[str, FakeRecipe]) -> None:
    text = support.support_matrix()
    assert _row(text, "wasm32") == ["`wasm32`", "wasm32", "", "", "node24, chromium", "node24"]
    assert _row(text, "wasm64-memfs") == ["`wasm64-memfs`", "wasm64", "yes", "", "node24", "not tested"]
    # the reasons are notes under the table, numbered in row order, one line each (the recipe's breaks folded)
    assert _row(text, "wasm64-jsep-memfs")[3:] == ["JSEP", "not tested", "not supported [1]"]
    # a WebGPU-EP pair is refused by a version whose recipe has no [webgpu] flags for its kind
    assert _row(text, "wasm32-asyncify")[3:] == ["WebGPU EP (asyncify)", "not supported [2]", "not tested"]
    assert _row(text, "wasm32-jspi")[3:] == ["WebGPU EP (jspi)", "not supported [4]", "not supported [5]"]
    assert _row(text, "wasm32-nothreads")[4] == "not supported [10]"
    assert "1. ORT 1.30.0, `wasm64-jsep-memfs`: MEMORY64 with JSEP is not ported" in text
    assert "5. ORT 1.30.0, `wasm32-jspi`: ortwasm builds the native WebGPU EP (jspi) from ONNX Runtime 1.30 on" in text
    assert "10. ORT 1.21.0, `wasm32-nothreads`: ORT 1.21.0 does not compile without threads" in text


def _readme(tmp_path: Path, between: str) -> Path:
    path = tmp_path / "README.md"
    path.write_text(f"# title\n\nbefore\n{support.BEGIN}\n{between}{support.END}\nafter\n")
    return path


def test_write_replaces_only_between_the_markers_and_check_then_passes(
        fake_recipes: dict[str, FakeRecipe], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _readme(tmp_path, "| old | table |\n")
    assert support.main(["--write", str(path)]) == 0
    text = path.read_text()
    assert text.startswith(f"# title\n\nbefore\n{support.BEGIN}\n| variant |")
    assert text.endswith(f"{support.END}\nafter\n")
    assert support.support_matrix() in text
    assert support.main(["--check", str(path)]) == 0
    assert support.main(["--write", str(path)]) == 0 and path.read_text() == text  # idempotent


def test_check_fails_on_a_stale_copy_with_one_line_naming_the_fix(
        fake_recipes: dict[str, FakeRecipe], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _readme(tmp_path, support.support_matrix().replace("node24, chromium", "node24"))
    assert support.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stale" in err and f"--write {path}" in err


def test_check_without_markers_is_an_error_not_a_pass(
        fake_recipes: dict[str, FakeRecipe], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "README.md"
    path.write_text("# no matrix here\n")
    assert support.main(["--check", str(path)]) == 2
    assert support.main(["--write", str(path)]) == 2
    assert path.read_text() == "# no matrix here\n"
    assert "markers" in capsys.readouterr().err


def test_no_option_prints_the_table(fake_recipes: dict[str, FakeRecipe], capsys: pytest.CaptureFixture[str]) -> None:
    assert support.main([]) == 0
    assert capsys.readouterr().out == support.support_matrix()


def test_the_readme_matrix_is_the_generated_one() -> None:
    """The real thing: README.md's copy against the real recipes and variant table."""
    assert support.main(["--check", str(REPO / "README.md")]) == 0, (
        "README.md's support matrix is stale: run `python -m ortwasm support-matrix --write README.md`")
