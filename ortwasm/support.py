"""The support matrix in README.md, generated from the recipes and the variant table.

Why generated: "which ONNX Runtime version builds which variant, with which emscripten, tested where" is a set of
facts that already live in data (``patches/<version>/recipe.toml`` through ``ortwasm/recipe.py``, and
``ortwasm/data/variants.toml``).  A table typed into the README would be a second copy that drifts the day a
recipe proves a new toolchain or a variant gains a runtime.  So the README holds only the rendering, between
two markers, and ``--check`` (run by the tests) fails when the rendering and the data disagree.

This module reads nothing but the recipe interface (``supported()``, ``require_recipe(version)`` and the recipe's
``proven_toolchains``, ``unsupported_variants``, ``tested``, ``default``) and ``variants.load_table()``, so what
the README claims is exactly what the build refuses or allows.

    python -m ortwasm support-matrix                      # print the table
    python -m ortwasm support-matrix --check README.md    # exit 1 when the README's copy is stale
    python -m ortwasm support-matrix --write README.md    # replace the README's copy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import recipe as recipes
from .recipe import Recipe
from .variants import Variant, load_table

BEGIN = "<!-- support-matrix:begin -->"
END = "<!-- support-matrix:end -->"
COMMAND = "python -m ortwasm support-matrix"


def _flag(on: bool) -> str:
    return "yes" if on else ""


def _cell(variant: Variant, recipe: Recipe, notes: list[str], version: str) -> str:
    """What one version says about one variant: the runtimes it was tested on, refused (with a note), or neither."""
    reason = variant.refused_by(version, recipe.webgpu_flags, recipe.unsupported_variants)
    if reason is not None:
        notes.append(f"ORT {version}, `{variant.name}`: {' '.join(reason.split())}")
        return f"not supported [{len(notes)}]"
    runtimes = recipe.tested.get(variant.name, ())
    return ", ".join(runtimes) if runtimes else "not tested"


def support_matrix() -> str:
    """The Markdown table: one row per variant of the table, one column per supported ORT version.

    A column's header names the version, whether it is the default, and the emscripten versions its recipe
    proves (a build with any other is refused without ``--allow-unproven-toolchain``).  A cell lists the
    runtimes the variant was tested on with that version, or says it is refused, with the recipe's reason as a
    numbered note under the table.
    """
    versions = recipes.supported()
    by_version = {v: recipes.require_recipe(v) for v in versions}
    table = load_table()
    headers = ["variant", "memory", "MEMFS", "WebGPU"]
    for version in versions:
        recipe = by_version[version]
        proven = ", ".join(recipe.proven_toolchains) or "none proven"
        headers.append(f"ORT {version}{' (default)' if recipe.default else ''}<br>emscripten {proven}")
    rows = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    notes: list[str] = []
    for variant in table.values():
        cells = [f"`{variant.name}`", "wasm64" if variant.memory64 else "wasm32", _flag(variant.memfs),
                 {"cpu": "", "jsep": "JSEP", "webgpu": f"WebGPU EP ({variant.webgpu})"}[variant.ep]]
        cells += [_cell(variant, by_version[v], notes, v) for v in versions]
        rows.append("| " + " | ".join(cells) + " |")
    if notes:  # an ordered list, so "not supported [N]" finds its reason by number
        rows.append("")
        rows += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(rows) + "\n"


def _split(text: str) -> tuple[str, str, str] | None:
    """(before and the begin marker, the current table, the end marker and after), or None without markers."""
    start = text.find(BEGIN)
    end = text.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start < 0 or end < 0:
        return None
    head = start + len(BEGIN)
    return text[:head], text[head:end], text[end:]


def _marked(path: Path) -> tuple[str, tuple[str, str, str]] | str:
    """(the file's text, its three parts), or the one-line reason it cannot hold the matrix."""
    try:
        text = path.read_text()
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror})"
    parts = _split(text)
    if parts is None:
        return f"{path}: no `{BEGIN}` ... `{END}` markers to hold the support matrix"
    return text, parts


def _compare(path: Path, generated: str) -> tuple[int, str]:
    """(exit code, one-line message) for ``--check``: 0 when the file's copy is the generated table."""
    found = _marked(path)
    if isinstance(found, str):
        return 2, found
    if found[1][1].strip() != generated.strip():
        return 1, (f"{path}: the support matrix is stale (a recipe or the variant table changed): "
                   f"run `{COMMAND} --write {path}`")
    return 0, f"{path}: the support matrix is current"


def _write(path: Path, generated: str) -> tuple[int, str]:
    """Replace the text between the markers; everything outside them is kept byte for byte."""
    found = _marked(path)
    if isinstance(found, str):
        return 2, found
    text, parts = found
    new = f"{parts[0]}\n{generated}{parts[2]}"
    if new == text:
        return 0, f"{path}: the support matrix is current"
    path.write_text(new)
    return 0, f"{path}: support matrix written"


def main(argv: list[str] | None = None) -> int:
    """Print the matrix, or ``--check FILE`` (exit 1 when stale, 2 without markers) or ``--write FILE``."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE's matrix differs from the data")
    mode.add_argument("--write", type=Path, metavar="FILE", help="replace FILE's matrix between the markers")
    args = parser.parse_args(argv)
    generated = support_matrix()
    if args.check is None and args.write is None:
        sys.stdout.write(generated)
        return 0
    code, message = _compare(args.check, generated) if args.check is not None else _write(args.write, generated)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
