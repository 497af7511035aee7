"""What one ONNX Runtime version needs besides its patches, read from ``patches/<version>/`` as data.

Why one typed record: a second ORT version must be a folder (patches, dependency pins, the toolchains it was
proven with, the build.py defines it starts from, where its builds live), not a branch in code.  Every stage
asks the recipe instead of holding its own copy of a version fact.

Files in ``patches/<version>/``:

- ``recipe.toml``: ``[toolchain] proven``, ``[layout]`` (directory names under ``ORTWASM_HOME``) and
  ``[source]`` (where a tree of this version comes from, and the upstream commits the patches were made on);
- ``deps.toml``: one ``[[dependency]]`` per library ORT's wasm build pulls in: the pin, where the exact pin can
  be had, and ORT's own patches for it (FetchContent skips them when it is given a source dir);
- ``build-py-defines.txt``: what ORT's own ``tools/ci_build/build.py`` passes to CMake.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import SourceError
from ..toolchain.emscripten import RECIPE, proven_toolchains
from .patchset import default_patch_root

DEPS = "deps.toml"
BUILD_PY_DEFINES = "build-py-defines.txt"

# Where a dependency's exact pin comes from.  "debian": an upstream (.orig) tarball from Debian's registry;
# "git": ``git archive`` of a tag or commit (from a local mirror, or a shallow clone); "pypi": the sdist;
# "headers": files Debian installs in the toolchain root (header-only libraries with nothing to download).
SOURCE_KINDS = ("debian", "git", "pypi", "headers")


@dataclass(frozen=True)
class Dependency:
    name: str  # ORT's name in cmake/deps.txt
    cmake_var: str  # the cache entry that hands the directory to ORT's CMake
    version: str  # the pin (deps.txt's tag or commit)
    source: str  # "<kind>:<ref>", kind in SOURCE_KINDS
    ort_patches: tuple[str, ...] = ()  # relative to the ORT tree, applied in order with patch -p1
    marker: str = "CMakeLists.txt"  # a file that proves the directory is what it claims

    @property
    def kind(self) -> str:
        return self.source.partition(":")[0]

    @property
    def ref(self) -> str:
        return self.source.partition(":")[2]


@dataclass(frozen=True)
class Layout:
    """Directory names under ORTWASM_HOME.  Per version, so that two versions never share a build tree."""

    build: str
    out: str
    deps: str
    source: str  # the fetched ORT tree, under ORTWASM_HOME/sources


@dataclass(frozen=True)
class Recipe:
    version: str
    directory: Path
    proven_toolchains: tuple[str, ...]
    layout: Layout
    source_origin: str  # "<kind>:<ref>" like a dependency's source
    source_commits: tuple[str, ...]  # upstream commits the patches were written against ("" for release tarballs)
    dependencies: tuple[Dependency, ...]
    build_py_defines: dict[str, str]
    configure_defines: dict[str, str]  # [configure] defines: needed by every configure of this version here
    js_glues: tuple[str, ...]  # [js] glues: the glue files js/web's build.ts embeds (placeholders unless built)
    js_drop: str  # [js] drop: regex of the dist bundles that embed or load a placeholder glue
    c_api: tuple[str, ...]  # [checks] c_api: what the glue must export (empty: checks.ORT_C_API, 1.21.0's)
    presets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # [presets] name -> ORT build.py flags

    def path(self, name: str) -> Path:
        return self.directory / name

    # Where this version's trees live: the one place that turns [layout] names into paths.
    @property
    def build_dir(self) -> Path:
        return paths.ortwasm_home() / self.layout.build

    @property
    def out_dir(self) -> Path:
        """ORTWASM_ARTIFACTS moves the default version's (what the tests read); other versions stay in the home."""
        if self.version == paths.DEFAULT_VERSION:
            return paths.artifact_cache_dir()
        return paths.ortwasm_home() / self.layout.out

    @property
    def deps_dir(self) -> Path:
        return paths.sources_dir() / self.layout.deps

    @property
    def source_dir(self) -> Path:
        return paths.sources_dir() / self.layout.source


def _str(table: dict[str, object], key: str, where: Path, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SourceError(f"{where}: `{key}` must be a string", f"fix {where}")
    return value


def _strs(table: dict[str, object], key: str, where: Path) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceError(f"{where}: `{key}` must be a list of strings", f"fix {where}")
    return tuple(value)


def _table(data: dict[str, object], key: str, where: Path) -> dict[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SourceError(f"{where}: [{key}] must be a table", f"fix {where}")
    return value


def read_defines(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def _dependencies(path: Path) -> tuple[Dependency, ...]:
    if not path.exists():
        return ()
    data = tomllib.loads(path.read_text())
    rows = data.get("dependency", [])
    if not isinstance(rows, list):
        raise SourceError(f"{path}: [[dependency]] must be an array of tables", f"fix {path}")
    deps: list[Dependency] = []
    for row in rows:
        dep = Dependency(
            name=_str(row, "name", path), cmake_var=_str(row, "cmake_var", path), version=_str(row, "version", path),
            source=_str(row, "source", path), ort_patches=_strs(row, "ort_patches", path),
            marker=_str(row, "marker", path, "CMakeLists.txt"))
        if dep.kind not in SOURCE_KINDS or not dep.ref:
            raise SourceError(f"{path}: {dep.name}: source {dep.source!r} is not <kind>:<ref>",
                              f"kind is one of {', '.join(SOURCE_KINDS)}")
        deps.append(dep)
    return tuple(deps)


def load_recipe(version: str, root: Path | None = None) -> Recipe | None:
    """The recipe of ``version``, or None when patches/ has no folder for it."""
    directory = (root or default_patch_root()) / version
    path = directory / RECIPE
    if not path.exists():
        return None
    data = tomllib.loads(path.read_text())  # [toolchain] is validated by toolchain.proven_toolchains
    layout = _table(data, "layout", path)
    source = _table(data, "source", path)
    presets = _table(data, "presets", path)
    return Recipe(
        version=version,
        directory=directory,
        proven_toolchains=proven_toolchains(version, root) or (),
        layout=Layout(build=_str(layout, "build", path, f"build-{version}"),
                      out=_str(layout, "out", path, f"out-{version}"),
                      deps=_str(layout, "deps", path, f"deps-{version}"),
                      source=_str(layout, "source", path, f"onnxruntime-{version}")),
        source_origin=_str(source, "origin", path, ""),
        source_commits=_strs(source, "commits", path),
        dependencies=_dependencies(directory / DEPS),
        build_py_defines=read_defines(directory / BUILD_PY_DEFINES),
        configure_defines={k: str(v) for k, v in _table(_table(data, "configure", path), "defines", path).items()},
        js_glues=_strs(_table(data, "js", path), "glues", path),
        js_drop=_str(_table(data, "js", path), "drop", path, "$^"),
        c_api=_strs(_table(data, "checks", path), "c_api", path),
        presets={name: _strs(presets, name, path) for name in presets},
    )


def supported() -> list[str]:
    root = default_patch_root()
    return sorted(p.name for p in root.iterdir() if (p / RECIPE).exists()) if root.is_dir() else []


def require_recipe(version: str) -> Recipe:
    """The recipe of a version the tool must know (offline deps, layout); SourceError naming the known ones."""
    recipe = load_recipe(version)
    if recipe is None:
        raise SourceError(f"ONNX Runtime {version} has no patches/{version}/{RECIPE}",
                          f"supported versions: {', '.join(supported()) or 'none'}; see docs/new-version.md")
    return recipe
