"""The CI matrix, printed from the variant table.

Why generated: the workflow's build job fans out over
``fromJSON(needs.matrix.outputs.matrix)``, so the variant table
(``ortwasm/data/variants.toml``) is the only list of variants there is.
Adding a line there adds a CI job; nobody edits a second list in YAML that
could drift from it.  The JSON is compact and on one line because GitHub
reads job outputs from ``$GITHUB_OUTPUT`` as ``key=value`` lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from .errors import UsageError
from .recipe import default_version
from .variants import Variant, load_table, release_variants, select

FORMATS = ("github", "names")


def matrix_entries(variants: list[Variant]) -> list[dict[str, str | bool]]:
    """One ``include`` entry per variant; ``variant`` is the name CI passes to ``build.py --variants``."""
    return [{"variant": v.name, "arch": v.arch, "memfs": v.memfs, "jsep": v.jsep, "webgpu": v.webgpu,
             "release": v.release} for v in variants]


def chosen_variants(names: str | None, table: Path | None, version: str | None = None) -> list[Variant]:
    """The release variants ``version`` (default: the default version, what the workflow builds) can build, or the
    comma list ``names`` (unknown names raise UsageError with a suggestion).

    Why by version: a job per variant the version refuses (1.21 has no native WebGPU EP, 1.30 no JSEP) would fail
    at its first step, every run."""
    tab = load_table(table)
    if names is None:
        wanted_version = version or default_version()
        chosen = [v for v in release_variants(tab) if v.unsupported_reason(wanted_version) is None]
    else:
        wanted = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip()))
        if not wanted:
            raise UsageError(f"--variants {names!r} names no variant", f"known variants: {', '.join(tab)}")
        chosen = select(tab, wanted)
    if not chosen:
        raise UsageError("the variant table marks no variant release = true",
                         "set release = true on at least one line, or pass --variants")
    return chosen


def render(fmt: str, variants: list[Variant]) -> str:
    if fmt == "github":
        return json.dumps({"include": matrix_entries(variants)}, separators=(",", ":"))
    if fmt == "names":
        return "\n".join(v.name for v in variants)
    raise UsageError(f"unknown matrix format {fmt!r}", f"use one of: {', '.join(FORMATS)}")


def print_matrix(fmt: str, variants: str | None, table: Path | None, out: TextIO | None = None,
                 version: str | None = None) -> int:
    """CLI entry for ``ortwasm matrix``: print the matrix and return 0 (errors raise UsageError, exit 2)."""
    if fmt not in FORMATS:  # before reading the table: a typo in the command is the likelier mistake
        raise UsageError(f"unknown matrix format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    text = render(fmt, chosen_variants(variants, table, version))
    (out or sys.stdout).write(text + "\n")
    return 0
