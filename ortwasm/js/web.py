"""The JS stage: onnxruntime-web's JavaScript built from the same (patched) ORT tree as the wasm artifacts.

Why build it rather than reuse npm's onnxruntime-web: the JS is half of the client, and the patch set fixes it too
(wasm64 pointer widths, js-wasm64.patch).  Built the way ORT's release does it (npm ci in js/, js/common, js/web;
prettier
over js/; `npm pack` in js/web, whose prepack runs the esbuild script and rewrites the onnxruntime-common
dependency), so that with no patch and upstream's glue the output is upstream's, byte for byte.

What goes in: the tree's js/ and VERSION_NUMBER, and the glue files the build embeds (``[js] glues`` in
``patches/<version>/recipe.toml``: 1.21 embeds only the WebGPU (JSEP) glue; 1.30 also the asyncify, JSPI and
CPU ones, in ``ort.webgpu.bundle*``, ``ort.jspi.bundle*`` and ``ort.wasm.bundle*``).  For each pair kind the glue
is the one of the variant whose pair the package puts in ``dist/`` (``pairs_in_dist``).  The bundles that stay
load their pair by name at run time, so they serve every variant of that kind we build.  Glues we did not build
are placeholders, and every bundle that embeds or loads one is left out of the output (``left_out``): shipping
them would pair our JS with somebody else's wasm.

What comes out, atomically: ``OUT/onnxruntime-web/`` holding the unpacked npm package (``package/``) and a
``manifest.json`` naming the ORT version, patch set and source it came from (``package`` refuses to pair it with
wasm from another source) and the sha256 of every file.  npm's cache lives under ORTWASM_HOME, so a second run
installs offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import log, paths
from ..atomic import staged_dir
from ..checks.glue import PairKind
from ..checks.rules import pair_kind
from ..errors import BuildError
from ..log import fmt_duration
from ..proc.execenv import ExecEnv
from ..proc.runner import Runner
from ..recipe import require_recipe
from ..source.tree import PreparedSource
from ..variants import PAIR_PREFIX, load_table

JS_DIR_NAME = "onnxruntime-web"
JS_FORMAT = 1
JSEP_GLUE = f"{PAIR_PREFIX}.jsep.mjs"
# The parts of a dist/ file name after its bundle family (`ort.webgpu` in `ort.webgpu.bundle.min.mjs.map`).
_FORM_PARTS = frozenset({"bundle", "min", "mjs", "js", "map"})
# The worker-URL form ORT's wasm_post_build.js leaves in a glue; build.ts insists on exactly one.
_PLACEHOLDER_MARK = b"onnxruntime-web (ortwasm): this bundle is not in this package"
_PLACEHOLDER = (
    "// ortwasm: placeholder for a glue this build does not produce.\n"
    "// The bundles embedding it are left out of the package.\n"
    "var ortWasmThreaded = () => { throw new Error('" + _PLACEHOLDER_MARK.decode() + "');"
    " };\nif (false) new Worker(new URL(import.meta.url), {type: 'module'});\nexport default ortWasmThreaded;\n"
)
NPM_STEPS = ("js", "js/common", "js/web")


@dataclass(frozen=True)
class WebBuild:
    """The finished JS stage: where the unpacked package is, and what it was built from."""

    directory: Path
    manifest: dict[str, object]

    @property
    def package_dir(self) -> Path:
        return self.directory / "package"


def npm_env() -> dict[str, str]:
    """Node 24 first on PATH for npm; npm's cache under ORTWASM_HOME; no Electron download (not a registry)."""
    return {
        "PATH": f"{paths.node_prefix() / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ELECTRON_SKIP_BINARY_DOWNLOAD": "1",
        "npm_config_cache": str(paths.ortwasm_home() / "npm-cache" / "_npm"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "GOMAXPROCS": "2",
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class JsRecipe:
    """What build.ts embeds for this version, and which bundles go when an embedded glue is a placeholder."""

    glues: tuple[str, ...]
    drop: re.Pattern[str]

    @classmethod
    def of(cls, version: str) -> JsRecipe:
        recipe = require_recipe(version)
        return cls(recipe.js_glues, re.compile(recipe.js_drop))


def _want(source: PreparedSource, glues: dict[str, Path]) -> dict[str, object]:
    js = JsRecipe.of(source.recipe_version)
    unproven = {"patchset_version": source.patchset_version, "proven": False} if source.unproven else {}
    return {"format": JS_FORMAT, "ort": {"version": source.version, "patched": source.patched,
                                         "patchset": source.patchset, "source": source.origin, **unproven},
            "glues": {name: _sha256(glues[name]) if name in glues else "placeholder" for name in js.glues}}


def is_current(out_root: Path, source: PreparedSource, glues: dict[str, Path] | None = None) -> bool:
    m = out_root / JS_DIR_NAME / "manifest.json"
    if not m.exists():
        return False
    have = json.loads(m.read_text())
    return all(have.get(k) == v for k, v in _want(source, glues or {}).items())


class _Steps:
    """`[i/N] what (elapsed, ETA from the previous run)` lines for a stage of a few long silent steps."""

    def __init__(self, total: int, previous: dict[str, float]) -> None:
        self.total, self.previous, self.done = total, previous, 0
        self.started = time.monotonic()

    def step(self, name: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = fmt_duration(max(0.0, sum(self.previous.values()) - elapsed)) if self.previous else "?"
        log.say(f"[{self.done}/{self.total}] {name}  elapsed {fmt_duration(elapsed)}  ETA {eta}", stage="js")


def upstream_stem(kind: PairKind) -> str:
    """The only name onnxruntime-web (>= 1.19, SIMD + threads) loads a pair of ``kind`` by: the CMake suffix."""
    return PAIR_PREFIX if kind == "cpu" else f"{PAIR_PREFIX}.{kind}"


def pairs_in_dist(names: Iterable[str]) -> dict[PairKind, str]:
    """Of the table variants ``names``, per pair kind, the one whose pair takes upstream's name in the package's
    ``dist/`` and whose glue the JS stage embeds in that kind's ``.bundle`` build: upstream's own build of the kind
    (wasm32, MEMFS off) when there, else the first in table order.

    Why one rule for both stages, for every kind: a bundle embeds one glue and loads the
    ``.wasm`` beside it, so the glue embedded must be the pair put in ``dist/``; ``package`` refuses any other
    pairing.  Only variants under upstream's names count (SIMD + threads): no bundle loads any other.
    """
    table = load_table()
    wanted = set(names)
    by_kind: dict[PairKind, list[str]] = {}
    for name, v in table.items():
        kind = pair_kind(v.artifact_stem)
        if name in wanted and v.artifact_stem == upstream_stem(kind):
            by_kind.setdefault(kind, []).append(name)
    return {kind: next((n for n in group if table[n].arch == "wasm32" and not table[n].memfs), group[0])
            for kind, group in by_kind.items()}


def built_glues(out_root: Path) -> dict[str, Path]:
    """The embedded glues this OUT dir can supply: per pair kind built, the glue of ``pairs_in_dist``'s variant.

    A glue this version's build.ts does not embed (1.21's CPU and WebGPU-EP ones) is ignored by build_js; the other
    variants of a kind are loaded by name from their own ``dist/<variant>/``.
    """
    table = load_table()
    glue = {name: out_root / name / f"{v.artifact_stem}.mjs" for name, v in table.items()}
    built = [name for name in table if (out_root / name / "manifest.json").is_file() and glue[name].is_file()]
    return {glue[name].name: glue[name] for name in pairs_in_dist(built).values()}


def _family(name: str) -> str:
    """A dist/ file's bundle family, ``ort.webgpu`` for ``ort.webgpu.bundle.min.mjs.map``: the forms of one build."""
    parts = name.split(".")
    end = next((i for i, part in enumerate(parts) if i and part in _FORM_PARTS), len(parts))
    return ".".join(parts[:end])


def left_out(dist: Path, js: JsRecipe, placeholders: Collection[str]) -> list[str]:
    """The files of ``dist`` the package must not ship: upstream's wasm pairs (ours come from the variant builds),
    every file that embeds a placeholder glue (its message survives minification), and every bundle of ``[js]
    drop`` whose family loads a placeholder's pair by name, its source map with it.

    Which pair a family loads is read from its minified ESM build (``ort.webgpu.min.mjs``), where esbuild folded the
    build flags: it names exactly the glue it loads (1.30's names ``.asyncify`` only; 1.21's ``.jsep``), while the
    unminified forms keep every glue's name in dead branches.  So a bundle goes only when its own pair was not
    built: with the asyncify glue built, 1.30's ``ort.webgpu*`` stay though the JSEP glue is a placeholder.  A
    ``drop`` bundle whose family names no glue at all is left out (nothing says it is safe).
    """
    texts: dict[str, bytes] = {}

    def text(name: str) -> bytes:
        if name not in texts:
            path = dist / name
            texts[name] = path.read_bytes() if path.is_file() else b""
        return texts[name]

    out: list[str] = []
    for f in sorted(dist.iterdir()):
        if f.name.startswith(PAIR_PREFIX):
            out.append(f.name)
            continue
        if not placeholders:
            continue
        base = f.name.removesuffix(".map")
        if _PLACEHOLDER_MARK in text(f.name) or _PLACEHOLDER_MARK in text(base):
            out.append(f.name)
        elif js.drop.match(f.name):
            twin = f"{_family(base)}.min.mjs"
            loads = {glue for glue in js.glues if glue.encode() in (text(twin) or text(base))}
            if not loads or loads & set(placeholders):
                out.append(f.name)
    return out


def build_js(source: PreparedSource, build_root: Path, out_root: Path,
             glues: dict[str, Path] | None = None) -> WebBuild:
    """Build (or reuse) the JS for `source`; `glues` maps an embedded glue's name to a real one we have."""
    glues = glues or {}
    final = out_root / JS_DIR_NAME
    if is_current(out_root, source, glues):
        log.say(f"up to date in {final}", stage="js")
        return WebBuild(final, json.loads((final / "manifest.json").read_text()))
    work = build_root / "js-build"
    runner = Runner(ExecEnv(), npm_env(), work / "build.log", "js")
    log.say(f"log {runner.log_path}", stage="js")
    previous_file = build_root / "js-build.timings.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else {}
    steps = _Steps(len(NPM_STEPS) + 3, previous)

    steps.step("copy js/ from the prepared tree")
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    shutil.copytree(source.path / "js", tree / "js", symlinks=True)
    shutil.copyfile(source.path / "VERSION_NUMBER", tree / "VERSION_NUMBER")
    timings: dict[str, float] = {}
    for sub in NPM_STEPS:
        steps.step(f"npm ci in {sub}")
        timings[f"npm ci {sub}"] = runner.run(["npm", "ci", "--prefer-offline"], f"npm ci {sub}", cwd=tree / sub)
    steps.step("prettier over js/ (what ORT's release does before building)")
    timings["format"] = runner.run(["npm", "run", "format"], "npm run format", cwd=tree / "js")
    dist = tree / "js" / "web" / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    for name in JsRecipe.of(source.recipe_version).glues:
        if name in glues:
            shutil.copyfile(glues[name], dist / name)
        else:
            (dist / name).write_text(_PLACEHOLDER)
    steps.step("npm pack in js/web (esbuild bundles)")
    packs = work / "packs"
    shutil.rmtree(packs, ignore_errors=True)
    packs.mkdir()
    timings["pack"] = runner.run(["npm", "pack", "--pack-destination", str(packs)], "npm pack", cwd=tree / "js" / "web")
    tgzs = sorted(packs.glob("onnxruntime-web-*.tgz"))
    if len(tgzs) != 1:
        raise BuildError("npm pack in js/web produced no onnxruntime-web tarball", f"full log: {runner.log_path}")
    manifest = _install(tgzs[0], final, source, glues, timings)
    previous_file.write_text(json.dumps(timings, indent=2))
    total = sum(timings.values())
    log.say(f"onnxruntime-web {source.version} built in {fmt_duration(total)} -> {final}", stage="js")
    return WebBuild(final, manifest)


def _install(tgz: Path, final: Path, source: PreparedSource, glues: dict[str, Path],
             timings: dict[str, float]) -> dict[str, object]:
    """Unpack the tarball under a temporary name, drop what we cannot stand behind, write the manifest, rename."""
    with staged_dir(final) as tmp:
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        pkg = tmp / "package"
        dist = pkg / "dist"
        js = JsRecipe.of(source.recipe_version)
        placeholders = [name for name in js.glues if name not in glues]
        dropped = left_out(dist, js, placeholders)
        for name in dropped:
            (dist / name).unlink()
        files = {str(p.relative_to(pkg)): _sha256(p) for p in sorted(pkg.rglob("*")) if p.is_file()}
        manifest: dict[str, object] = {
            **_want(source, glues),
            "files": files,
            "dropped": dropped,
            "why_dropped": ("the wasm pairs come from the variant builds; the other bundles embed or load a "
                            f"glue this build did not produce ({', '.join(placeholders)})" if placeholders else
                            "the wasm pairs come from the variant builds"),
            "timings": {k: round(v, 1) for k, v in timings.items()},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
