"""ONNX Runtime's wasm dependencies as CMake sees them: a filled deps dir, verified, mapped to cache entries.

Online users get ORT's own FetchContent.  Offline (``--deps-dir``) every
dependency is a directory handed to CMake through the cache entry its recipe
names (``patches/<version>/deps.toml``).  FetchContent then skips ORT's own
dependency patches, so they are applied when the directory is filled (``ortwasm.fetch.sources``), and a
stamp file records source, version and patches of each directory."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DependencyError
from ..recipe import Dependency, Recipe

STAMP = ".ortwasm-deps.json"


def cmake_defines(deps_dir: Path, recipe: Recipe) -> dict[str, str]:
    """Map a filled deps dir to the cache entries that make ORT build offline."""
    verify_deps_dir(deps_dir, recipe)
    defines = {"FETCHCONTENT_FULLY_DISCONNECTED": "ON", "FETCHCONTENT_QUIET": "OFF"}
    for dep in recipe.dependencies:
        defines[dep.cmake_var] = str((deps_dir / dep.name).resolve())
    return defines


def stamp_entry(dep: Dependency) -> dict[str, str]:
    """What a filled directory records about itself; a dir is current when its entry equals this."""
    return {"source": dep.source, "version": dep.version, "patches": ",".join(dep.ort_patches)}


def verify_deps_dir(deps_dir: Path, recipe: Recipe) -> dict[str, dict[str, str]]:
    """Every dependency of the recipe is present, and (where the dir says) at the pinned version.

    Why check the version: ORT configures happily against a wrong one and the build then fails an hour later
    in a header, or worse, builds something nobody proved.
    """
    hint = fetch_hint(recipe.version)
    if not deps_dir.is_dir():
        raise DependencyError(f"--deps-dir {deps_dir} does not exist", hint)
    missing = [f"{d.name}/{d.marker}" for d in recipe.dependencies if not (deps_dir / d.name / d.marker).exists()]
    if missing:
        raise DependencyError(f"--deps-dir {deps_dir} lacks {', '.join(missing)} (ONNX Runtime {recipe.version})",
                              hint)
    stamp = read_stamp(deps_dir)
    for dep in recipe.dependencies:
        found = stamp.get(dep.name, {}).get("version")
        if found is not None and found != dep.version:
            raise DependencyError(
                f"{deps_dir / dep.name}: {dep.name} is version {found}, ONNX Runtime {recipe.version} pins "
                f"{dep.version} (patches/{recipe.version}/deps.toml)",
                f"refill it: {hint}; or point --deps-dir at dependencies for {recipe.version}")
    return stamp


def read_stamp(deps_dir: Path) -> dict[str, dict[str, str]]:
    """What fetch-sources recorded about each dependency dir ({} for a dir the user filled by hand)."""
    stamp_path = deps_dir / STAMP
    data: dict[str, dict[str, str]] = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    return data


def fetch_hint(version: str) -> str:
    return (f"fill it with `bash ci/fetch-sources.sh --version {version}` (downloads once into "
            "$ORTWASM_HOME/sources), or use --online-deps for ORT's own FetchContent")
