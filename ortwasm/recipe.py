"""Everything that differs between ONNX Runtime versions, read from ``patches/<version>/`` by one strict loader.

Why one typed record, read strictly: a new ORT version must be a folder (patches, dependency pins, the
toolchains it was proven with, the C API the checks require, size budgets, unsupported variants), not a branch in
code, and a typo in that folder must stop the build naming the file, the line and the nearest valid key instead
of silently proving a toolchain or dropping a check.  Like pyodide-build's recipe spec, the schema below is the
whole vocabulary; anything else is refused.  Every stage asks this record; none keeps its own copy of a version
fact (tests/test_recipe.py checks that no ORT or emscripten version string appears in code).

Files in ``patches/<version>/``:

- ``recipe.toml``: the sections of ``SCHEMA``;
- ``series``: the patches in the order they apply (quilt's format; a line commented out is a proposed,
  unproven patch, listed but not applied);
- ``deps.toml``: one ``[[dependency]]`` per library ORT's wasm build pulls in;
- ``build-py-defines.txt``: what ORT's own ``tools/ci_build/build.py`` passes to CMake;
- ``budgets.toml``: size budgets for ``ortwasm check`` (format in ``checks/sizes.py``).

A malformed recipe is a ``PatchError`` (exit 5) wherever it is read; a version with no folder is a
``SourceError`` (exit 4) naming the supported versions and the nearest one.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import PatchError, SourceError

RECIPE = "recipe.toml"
SERIES = "series"
DEPS = "deps.toml"
BUILD_PY_DEFINES = "build-py-defines.txt"
BUDGETS = "budgets.toml"
_VERSION = re.compile(r"\d+\.\d+\.\d+")

# section -> key -> the kind of value.  "strs": list of strings; "table": string -> string; "table-strs": string ->
# list of strings; "version": X.Y.Z; "versions": list of X.Y.Z.  [presets] takes any key (a preset's name).
SCHEMA: dict[str, dict[str, str]] = {
    "version": {"default": "bool"},
    "toolchain": {"proven": "versions", "notes": "table"},
    "layout": {"build": "str", "out": "str", "deps": "str", "source": "str"},
    "source": {"origin": "str", "commits": "strs"},
    "configure": {"defines": "table"},
    "runtime": {"files": "table"},
    "js": {"glues": "strs", "drop": "str"},
    "checks": {"c_api": "strs"},
    "variants": {"unsupported": "table"},
    "tested": {"runtimes": "table-strs"},
    "presets": {"*": "strs"},
    "webgpu": {"asyncify": "strs", "jspi": "strs", "wasm64-jspi": "strs"},
}
REQUIRED: dict[str, tuple[str, ...]] = {"toolchain": ("proven",)}
DEPENDENCY_KEYS = ("name", "cmake_var", "version", "source", "ort_patches", "marker")

# Where a dependency's exact pin comes from.  "debian": an upstream (.orig) tarball from Debian's registry;
# "git": ``git archive`` of a tag or commit (from a local mirror, or a shallow clone); "pypi": the sdist;
# "headers": files Debian installs in the toolchain root (header-only libraries with nothing to download).
SOURCE_KINDS = ("debian", "git", "pypi", "headers")


def patch_root() -> Path:
    """The repository's patches/ when running from a checkout, else the copy installed with the package."""
    return paths.shipped("patches", "_patches")


def runtime_root() -> Path:
    """The project's own files that a build copies into the ORT tree (``runtime/``, or the wheel's copy)."""
    return paths.shipped("runtime", "_runtime")


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


def default_layout(version: str) -> Layout:
    """``[layout]``'s defaults, and the dirs of a tree whose version has no recipe (``--no-patches``, or built
    unproven with another version's patch set): named after the tree's version, so a 1.31 tree built with 1.30's
    patches never shares 1.30's build tree or out dir."""
    return Layout(build=f"build-{version}", out=f"out-{version}", deps=f"deps-{version}",
                  source=f"onnxruntime-{version}")


@dataclass(frozen=True)
class Recipe:
    version: str
    directory: Path
    default: bool  # the version `python build.py` builds when no --ort-source or --ort-version is given
    proven_toolchains: tuple[str, ...]
    toolchain_notes: dict[str, str]
    layout: Layout
    source_origin: str  # "<kind>:<ref>" like a dependency's source
    source_commits: tuple[str, ...]  # upstream commits the patches were written against (none for tarballs)
    patches: tuple[Path, ...]  # the series, in order
    proposed: tuple[str, ...]  # commented-out series entries: written, not proven, not applied
    runtime_files: dict[str, Path]  # path in the ORT tree -> our file (runtime/) copied there
    dependencies: tuple[Dependency, ...]
    build_py_defines: dict[str, str]
    configure_defines: dict[str, str]
    js_glues: tuple[str, ...]  # the glue files js/web's build.ts embeds (placeholders unless built)
    js_drop: str  # regex of the dist bundles that embed or load a placeholder glue
    c_api: tuple[str, ...]  # what a CPU glue must export (a version without it cannot be checked)
    unsupported_variants: dict[str, str]  # variant -> why this version cannot build it
    tested: dict[str, tuple[str, ...]]  # variant -> runtimes its artifacts were run in (the support matrix)
    presets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> ORT build.py flags
    # The WebGPU EP's pairs: kind (variants.WEBGPU_KINDS) -> upstream's build.py flags for it (configure/ep_flags.py)
    webgpu_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def budgets_path(self) -> Path:
        return self.directory / BUDGETS

    @property
    def patchset_id(self) -> str:
        """A hash of every input that changes the patched tree: editing a patch or a runtime file re-prepares the
        source copy, and Ninja then rebuilds exactly what the change touched."""
        h = hashlib.sha256()
        for p in self.patches:
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        for dest, src in sorted(self.runtime_files.items()):
            h.update(dest.encode() + b"\0" + src.read_bytes())
        return f"{self.version}-{h.hexdigest()[:12]}"

    # Where this version's trees live: the one place that turns [layout] names into paths.
    @property
    def build_dir(self) -> Path:
        return paths.ortwasm_home() / self.layout.build

    @property
    def out_dir(self) -> Path:
        """ORTWASM_ARTIFACTS moves the default version's (what the tests read), ORTWASM_ARTIFACTS_<X_Y_Z> another
        version's; otherwise the home's [layout] dir."""
        if self.default:
            return paths.artifact_cache_dir()
        moved = os.environ.get(paths.version_artifacts_var(self.version))
        if moved:
            return Path(moved)
        return paths.ortwasm_home() / self.layout.out

    @property
    def deps_dir(self) -> Path:
        return paths.sources_dir() / self.layout.deps

    @property
    def source_dir(self) -> Path:
        return paths.sources_dir() / self.layout.source


def _line(text: str, needle: str) -> int:
    """The line a key or section header is on, for messages (tomllib keeps no positions)."""
    pat = re.compile(rf"^\s*(\[\s*{re.escape(needle)}\s*\]|\"?{re.escape(needle)}\"?\s*=)", re.M)
    m = pat.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 0


def _where(path: Path, text: str, needle: str) -> str:
    line = _line(text, needle)
    return f"{path}:{line}" if line else str(path)


def _nearest(word: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.5)
    return f"did you mean `{close[0]}`? " if close else ""


def _check_value(kind: str, value: Any) -> str | None:
    """None when value has the kind; else what was expected."""
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false"
    if kind == "str":
        return None if isinstance(value, str) else "a string"
    if kind in ("strs", "versions"):
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return "a list of strings"
        if kind == "versions" and not all(_VERSION.fullmatch(v) for v in value):
            return "a list of X.Y.Z versions"
        return None
    if kind == "table":
        ok = isinstance(value, dict) and all(isinstance(v, str) and v.strip() for v in value.values())
        return None if ok else 'a table of "key" = "text"'
    if kind == "table-strs":
        ok = isinstance(value, dict) and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                             for v in value.values())
        return None if ok else 'a table of "key" = ["...", ...]'
    raise AssertionError(kind)


def validate(path: Path, text: str, data: dict[str, Any]) -> None:
    """Refuse unknown sections and keys (naming the line and the nearest valid name) and values of the wrong kind."""
    hint = (f"fix {path} (e.g. `[toolchain] proven = [\"X.Y.Z\"]`); the recipe's vocabulary is SCHEMA in "
            "ortwasm/recipe.py (docs/new-version.md)")
    for section, table in data.items():
        if section not in SCHEMA:
            raise PatchError(f"{_where(path, text, section)}: unknown section [{section}]; "
                             f"{_nearest(section, list(SCHEMA))}valid: {', '.join(SCHEMA)}", hint)
        if not isinstance(table, dict):
            raise PatchError(f"{_where(path, text, section)}: `{section}` must be a [table]", hint)
        keys = SCHEMA[section]
        for key, value in table.items():
            kind = keys.get(key, keys.get("*"))
            if kind is None:
                raise PatchError(f"{_where(path, text, key)}: unknown key `{key}` in [{section}]; "
                                 f"{_nearest(key, list(keys))}valid: {', '.join(keys)}", hint)
            problem = _check_value(kind, value)
            if problem:
                raise PatchError(f"{_where(path, text, key)}: [{section}] {key} must be {problem}; got {value!r}",
                                 hint)
    for section, keys_needed in REQUIRED.items():
        for key in keys_needed:
            if key not in data.get(section, {}):
                raise PatchError(f"{path}: [{section}] {key} is required", hint)
    if not data["toolchain"]["proven"]:
        raise PatchError(f"{_where(path, text, 'proven')}: [toolchain] proven is empty", hint)
    bad = [v for v in data["toolchain"].get("notes", {}) if not _VERSION.fullmatch(v)]
    if bad:
        raise PatchError(f"{_where(path, text, 'notes')}: [toolchain] notes has key(s) "
                         f"{', '.join(map(repr, bad))}, not X.Y.Z", hint)


def read_series(directory: Path) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """(patches to apply, proposed ones) from quilt's ``series``: one patch name a line, ``#`` comments; a line
    that is a commented-out patch name (``# name.patch``) is proposed: kept beside the others, never applied."""
    path = directory / SERIES
    try:
        text = path.read_text()
    except FileNotFoundError:
        if not any(directory.glob("*.patch")):
            return (), ()  # a version with pins but no patches yet (fetch-sources works; a build has no patch set)
        raise PatchError(f"{path} is missing", f"list the patches of {directory.name} in order in {path} "
                         "(docs/versions-and-patches.md)") from None
    patches: list[Path] = []
    proposed: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            words = line.lstrip("#").split()
            if len(words) == 1 and words[0].endswith(".patch"):
                proposed.append(words[0])
            continue
        name, *opts = line.split()
        if opts not in ([], ["-p1"]):
            raise PatchError(f"{path}:{n}: `{line}`: only -p1 patches are supported", f"fix {path}")
        p = directory / name
        if not p.is_file():
            raise PatchError(f"{path}:{n}: {name} is listed but {p} does not exist", f"fix {path}")
        patches.append(p)
    listed = {p.name for p in patches} | set(proposed)
    stray = sorted(p.name for p in directory.glob("*.patch") if p.name not in listed)
    if stray:
        raise PatchError(f"{directory}: {', '.join(stray)} not listed in {SERIES}",
                         f"add to {path}, commented out (`# name.patch`) if it is not proven yet")
    return tuple(patches), tuple(proposed)


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
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PatchError(f"{path}: not valid TOML: {exc}", f"fix {path}") from None
    hint = f"fix {path}; a [[dependency]] has {', '.join(DEPENDENCY_KEYS)}"
    unknown = sorted(set(data) - {"dependency"})
    if unknown:
        raise PatchError(f"{_where(path, text, unknown[0])}: unknown key `{unknown[0]}`; "
                         f"{_nearest(unknown[0], ['dependency'])}only [[dependency]] tables belong here", hint)
    rows = data.get("dependency", [])
    if not isinstance(rows, list):
        raise PatchError(f"{path}: [[dependency]] must be an array of tables", hint)
    deps: list[Dependency] = []
    for row in rows:
        for key, value in row.items():
            if key not in DEPENDENCY_KEYS:
                raise PatchError(f"{_where(path, text, key)}: unknown key `{key}` in [[dependency]] "
                                 f"{row.get('name', '?')}; {_nearest(key, list(DEPENDENCY_KEYS))}".rstrip("; "), hint)
            kind = "strs" if key == "ort_patches" else "str"
            problem = _check_value(kind, value)
            if problem:
                raise PatchError(f"{_where(path, text, key)}: `{key}` must be {problem}; got {value!r}", hint)
        missing = [k for k in ("name", "cmake_var", "version", "source") if k not in row]
        if missing:
            raise PatchError(f"{path}: [[dependency]] {row.get('name', '?')} lacks {', '.join(missing)}", hint)
        dep = Dependency(name=row["name"], cmake_var=row["cmake_var"], version=row["version"], source=row["source"],
                         ort_patches=tuple(row.get("ort_patches", ())), marker=row.get("marker", "CMakeLists.txt"))
        if dep.kind not in SOURCE_KINDS or not dep.ref:
            raise PatchError(f"{_where(path, text, dep.source)}: {dep.name}: source {dep.source!r} is not "
                             "<kind>:<ref>", f"kind is one of {', '.join(SOURCE_KINDS)}")
        deps.append(dep)
    return tuple(deps)


def _runtime_files(path: Path, text: str, files: dict[str, str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    root = runtime_root()
    for dest, name in files.items():
        src = root / name
        if not src.is_file():
            raise PatchError(f"{_where(path, text, dest)}: [runtime] files names {name}, which is not in {root}",
                             f"fix {path}")
        out[dest] = src
    return out


def load_recipe(version: str, root: Path | None = None) -> Recipe | None:
    """The recipe of ``version``, or None when patches/ has no folder for it."""
    directory = (root or patch_root()) / version
    path = directory / RECIPE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PatchError(f"{path}: cannot read: {exc}", f"fix {path}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PatchError(f"{path}: not readable TOML: {exc}",
                         f'fix {path} (e.g. `[toolchain] proven = ["X.Y.Z"]`)') from None
    validate(path, text, data)

    def sec(name: str) -> dict[str, Any]:
        table: dict[str, Any] = data.get(name, {})
        return table

    layout, source, js = sec("layout"), sec("source"), sec("js")
    defaults = default_layout(version)
    patches, proposed = read_series(directory)
    return Recipe(
        version=version,
        directory=directory,
        default=bool(sec("version").get("default", False)),
        proven_toolchains=tuple(sec("toolchain")["proven"]),
        toolchain_notes=dict(sec("toolchain").get("notes", {})),
        layout=Layout(build=layout.get("build", defaults.build), out=layout.get("out", defaults.out),
                      deps=layout.get("deps", defaults.deps), source=layout.get("source", defaults.source)),
        source_origin=source.get("origin", ""),
        source_commits=tuple(source.get("commits", ())),
        patches=patches,
        proposed=proposed,
        runtime_files=_runtime_files(path, text, sec("runtime").get("files", {})),
        dependencies=_dependencies(directory / DEPS),
        build_py_defines=read_defines(directory / BUILD_PY_DEFINES),
        configure_defines=dict(sec("configure").get("defines", {})),
        js_glues=tuple(js.get("glues", ())),
        js_drop=js.get("drop", "$^"),
        c_api=tuple(sec("checks").get("c_api", ())),
        unsupported_variants=dict(sec("variants").get("unsupported", {})),
        tested={k: tuple(v) for k, v in sec("tested").get("runtimes", {}).items()},
        presets={name: tuple(flags) for name, flags in sec("presets").items()},
        webgpu_flags={k: tuple(v) for k, v in sec("webgpu").items()},
    )


def supported(root: Path | None = None) -> list[str]:
    """The one definition of a supported version: a folder of patches/ with a recipe."""
    r = root or patch_root()
    return sorted((p.name for p in r.iterdir() if (p / RECIPE).is_file()), key=version_key) if r.is_dir() else []


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")) if _VERSION.fullmatch(version) else (0,)


def nearest_below(version: str, root: Path | None = None) -> str | None:
    """The highest supported version below ``version`` with its major, or None: the only patch set a tree without
    its own may be built with (``--allow-unproven-version``).

    Why below: upstream moves forward, so a newer tree still has most of the code an older patch set was written
    on, while a newer patch set may edit code an older tree does not have yet.  Why the same major: a new major
    is where upstream breaks things on purpose.
    """
    if not is_version(version):
        return None
    key = version_key(version)
    below = [v for v in supported(root) if version_key(v)[0] == key[0] and version_key(v) < key]
    return below[-1] if below else None


def is_version(text: str) -> bool:
    return bool(_VERSION.fullmatch(text))


def default_version(root: Path | None = None) -> str:
    """The version whose recipe says ``[version] default = true``: exactly one must."""
    found = [v for v in supported(root) if (r := load_recipe(v, root)) is not None and r.default]
    if len(found) != 1:
        raise PatchError(f"{len(found)} recipes under {root or patch_root()} say [version] default = true "
                         f"({', '.join(found) or 'none'})", "exactly one version is the default: fix the recipes")
    return found[0]


def unsupported_version(version: str, root: Path | None = None) -> SourceError:
    """Name the nearest supported version: a 1.2x tree is most likely closest to the patch set nearest it."""
    known = supported(root)
    if not known:
        return SourceError(f"ONNX Runtime {version} has no patch set, and patches/ has none at all",
                           "reinstall ortwasm, or pass --no-patches to build the tree as it is")
    if not is_version(version):
        stem = version.strip().lstrip("vV")
        near = [s for s in known if s == stem or s.startswith(stem + ".")] if stem else []
        guess = f"; nearest: {near[-1]}" if near else ""
        return SourceError(f"{version!r} is not an ONNX Runtime version (X.Y.Z); supported: {', '.join(known)}{guess}",
                           f"pass one of: {', '.join(known)}")
    closest = nearest(version, root)
    return SourceError(
        f"ONNX Runtime {version} has no patch set (supported: {', '.join(known)}; nearest: {closest})",
        f"build a supported version, or add patches/{version}/ starting from patches/{closest}/ "
        "(docs/new-version.md says how); --no-patches builds the tree as it is, without MEMFS")


def nearest(version: str, root: Path | None = None) -> str | None:
    """The supported version closest to ``version``, component by component: where porting the patches to it
    starts (a 1.29 tree is likely closest to 1.30's patch set, above it)."""
    known = supported(root)
    if not known or not is_version(version):
        return None
    key = version_key(version)
    return min(known, key=lambda s: [abs(a - b) for a, b in zip(version_key(s), key, strict=True)])


def require_recipe(version: str, root: Path | None = None) -> Recipe:
    """The recipe of a version the tool must know; a SourceError naming the supported and nearest versions."""
    recipe = load_recipe(version, root) if is_version(version) else None
    if recipe is None:
        raise unsupported_version(version, root)
    return recipe
