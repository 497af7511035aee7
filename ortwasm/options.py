"""Build options, resolved once in the CLI and passed, frozen, to every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .ccache import Remote

CONFIGS = ("Release", "RelWithDebInfo", "MinSizeRel", "Debug")
# The flag of ``allow_unproven_version``: here because the source stage's refusal names it, and a base module is the
# one place both the CLI and that stage may import.
ALLOW_UNPROVEN_VERSION = "--allow-unproven-version"


@dataclass(frozen=True)
class BuildOptions:
    ort_source: Path
    build_dir: Path
    out_dir: Path
    deps_dir: Path | None  # None: ORT's own FetchContent (needs internet)
    config: str = "Release"
    enable_wasm_memfs: bool = False
    apply_patches: bool = True  # False builds the upstream tree as it is (the OFF identity baseline)
    jobs: int = 2
    use_ccache: bool = True
    # ccache's remote storage (--ccache-remote / ORTWASM_CCACHE_REMOTE); the pipeline drops it for a build when it
    # does not answer at the start (pipeline.remote_for_build).  Its str/repr are masked: it may hold a password.
    ccache_remote: Remote | None = None
    enable_wasm_api_exception_catching: bool = False
    disable_wasm_exception_catching: bool = False
    disable_rtti: bool = False
    preset: str = ""  # a [presets] name of the version's recipe.toml: its build.py flags are set above
    emscripten_settings: tuple[str, ...] = ()
    extra_defines: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    skip_checks: bool = False
    skip_js: bool = False  # the onnxruntime-web JS stage (npm); on by default, cached per source
    # Build with an emscripten the patch set's recipe.toml does not list as proven (toolchain.check_proven).
    allow_unproven_toolchain: bool = False
    # Build a tree whose version has no patch set of its own with the nearest supported version's below it, when
    # that applies exactly (source.patchset.choose_patchset); the manifests then say ``ort.proven: false``.
    allow_unproven_version: bool = False
