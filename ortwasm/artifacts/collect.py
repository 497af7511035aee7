"""Collect a variant's outputs into OUT/<variant>/ with a manifest, atomically.

The output dir is written under a temporary name and renamed into place, so
an interrupted or failed run never leaves a half-written OUT/<variant>/ that
a later `package` could pick up.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..atomic import staged_dir
from ..digest import sha256_file as sha256
from ..errors import BuildError
from ..source.tree import PreparedSource
from ..toolchain import gluefix
from ..toolchain.emscripten import Toolchain, proven_toolchains
from ..variants import Variant
from .manifest import (
    FETCHCONTENT,
    Arch,
    DependencyPin,
    FileEntry,
    Manifest,
    OrtInfo,
    ToolchainInfo,
    VariantInfo,
)


@dataclass(frozen=True)
class Artifacts:
    variant: Variant
    directory: Path
    files: tuple[Path, ...]
    manifest: Manifest
    glue_fix: gluefix.GlueFix
    entries: tuple[FileEntry, ...]


def collect(variant: Variant, build_dir: Path, out_root: Path, toolchain: Toolchain, source: PreparedSource,
            defines: dict[str, str], timings: dict[str, float],
            dependencies: dict[str, dict[str, str]] | None = None) -> Artifacts:
    """Copy the pair into place atomically with a manifest saying what it was built from.

    dependencies: each offline dependency's stamp entry (version, source, what was downloaded and its sha256
    or commit); None when ORT's own FetchContent fetched them (its deps.txt pins them by SHA1).
    """
    stem = variant.artifact_stem
    produced = [build_dir / f"{stem}.wasm", build_dir / f"{stem}.mjs"]
    missing = [p.name for p in produced if not p.exists()]
    if missing:
        raise BuildError(f"build of {variant.name} finished without {', '.join(missing)}",
                         f"look in {build_dir} and its build.log")
    final = out_root / variant.name
    with staged_dir(final) as tmp:
        copies = []
        for p in produced:
            dst = tmp / p.name
            shutil.copyfile(p, dst)
            copies.append(dst)
        fix = gluefix.recorded(build_dir / f"{stem}.mjs", variant.memory64, toolchain.version)
        entries = tuple(FileEntry(c.name, c.stat().st_size, sha256(c)) for c in copies)
        where = tmp / "manifest.json"
        manifest = Manifest(
            variant=VariantInfo(variant.name, cast(Arch, variant.arch), variant.memfs, variant.simd, variant.threads,
                                variant.jsep, variant.webgpu),
            files=entries,
            toolchain=ToolchainInfo(toolchain.version, toolchain.kind, toolchain.provider,
                                    toolchain.version in (proven_toolchains(source.recipe_version) or ())),
            ort=OrtInfo.of(source),
            dependencies=FETCHCONTENT if dependencies is None else
            {n: DependencyPin.from_stamp(e, where, n) for n, e in dependencies.items()},
            defines={k: v for k, v in defines.items() if not k.startswith("FETCHCONTENT_SOURCE_DIR_")},
            timings={k: round(v, 1) for k, v in timings.items()},
            glue_fix=fix,
        )
        manifest.write(where)
    return Artifacts(variant, final, tuple(final / c.name for c in copies), manifest, fix, entries)
