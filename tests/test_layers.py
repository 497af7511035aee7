"""The package's layers, enforced: base modules import no stage, and a stage imports only earlier stages.

Why a test and not a diagram: the arrow chain in docs/architecture.md is only true while nobody adds an import
against it, and a cycle (a stage asking a later one for a constant) is how a stage stops being testable alone.
The walk reads every module's imports from its AST, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ortwasm"

# Infrastructure and the typed data every stage shares.
BASE = ("errors", "log", "paths", "atomic", "digest", "lock", "options", "variants", "recipe", "proc", "ccache")
# The stages, in pipeline order (docs/architecture.md).
STAGES = ("toolchain", "source", "deps", "fetch", "configure", "artifacts", "checks", "js", "package")
# What sequences the stages or talks to the user: may import anything.
TOP = ("pipeline", "cli", "__main__", "__init__", "doctor", "upstream", "matrix", "support")


def _unit(module: str) -> str:
    """`ortwasm.checks.rules` -> `checks`; the first component below the package is the layer unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every ortwasm import in the file, relative ones resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "ortwasm" or target.startswith("ortwasm."):
                if target == "ortwasm":  # `from . import log, paths`
                    found.extend((node.lineno, f"ortwasm.{a.name}") for a in node.names)
                elif node.module is None:  # `from .. import paths` inside a stage
                    found.extend((node.lineno, f"{target}.{a.name}") for a in node.names)
                else:
                    found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name.startswith("ortwasm."))
    return found


def _rank(unit: str) -> tuple[str, int]:
    if unit in BASE:
        return ("base", -1)
    if unit in STAGES:
        return ("stage", STAGES.index(unit))
    if unit in TOP:
        return ("top", len(STAGES))
    raise AssertionError(f"ortwasm/{unit} is in no layer: add it to BASE, STAGES or TOP in {__file__}")


def violations() -> list[str]:
    bad: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(_module_name(path))
        kind, rank = _rank(unit)
        for line, target in _imports(path):
            tunit = _unit(target)
            if tunit == unit:
                continue
            tkind, trank = _rank(tunit)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if kind == "base" and tkind != "base":
                bad.append(f"{where}: a base module imports {tkind} `{tunit}`")
            elif kind == "stage" and tkind == "top":
                bad.append(f"{where}: stage `{unit}` imports `{tunit}`, which sequences the stages")
            elif kind == "stage" and tkind == "stage" and trank > rank:
                bad.append(f"{where}: stage `{unit}` imports the later stage `{tunit}`")
    return bad


def test_every_module_is_in_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    for unit in units:
        _rank(unit)


def test_imports_follow_the_pipeline_order() -> None:
    bad = violations()
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_there_is_no_package_named_build() -> None:
    """A folder named build/ is ignored by GitHub's Python .gitignore and skipped by tree fingerprints."""
    assert not any(p.name == "build" for p in PACKAGE.rglob("*") if p.is_dir())


@pytest.mark.parametrize("snippet,expected", [
    ("from ..checks.glue import X", ["ortwasm.checks.glue"]),
    ("from .. import paths", ["ortwasm.paths"]),
    ("from .rules import x", ["ortwasm.toolchain.rules"]),
])
def test_the_walker_resolves_relative_imports(tmp_path: Path, snippet: str, expected: list[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself must see a violation, or the layer test above could pass on nothing."""
    pkg = tmp_path / "ortwasm" / "toolchain"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text(snippet + "\n")
    import sys
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "ortwasm")
    assert [t for _, t in _imports(f)] == expected
