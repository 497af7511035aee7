"""The npm package: onnxruntime-web itself (same name, same API), with our wasm pairs and one entry per variant.

Why a drop-in and not a side package of wasm files: with a side package every user had to hand-write
``env.wasm.wasmPaths`` and keep it in step with file names.  onnxruntime-web 1.21.0 reads ``env.wasm.wasmPaths``
when the first session is created, loads ``<prefix>ort-wasm-simd-threaded.mjs`` and the ``.wasm`` next to it, and
drives wasm32 and wasm64 glue with the same JS (it reads ``Module.PTR_SIZE`` at run time).  So:

- per pair kind (CPU; WebGPU: 1.21's JSEP, 1.30's WebGPU EP waiting by Asyncify or by JSPI) one pair sits where
  upstream's does (``dist/ort-wasm-simd-threaded[.jsep|.asyncify|.jspi].{wasm,mjs}``), the kind's default
  (``web.pairs_in_dist``): ``onnxruntime-web`` and ``onnxruntime-web/wasm`` (CPU), ``onnxruntime-web/webgpu`` and
  ``onnxruntime-web/jspi`` (WebGPU, ``WEBGPU_SUBPATHS``) behave as upstream's with our wasm;
- every other pair sits in ``dist/<variant>/`` under upstream's names, because the glue's default
  ``locateFile`` and its pthread workers (``new Worker(new URL(import.meta.url))``) use them;
- ``onnxruntime-web/<variant>`` is a three-line entry over the upstream bundle that loads its kind that sets
  ``wasmPaths`` to its pair's directory unless the user set it, and for wasm64 first checks for Memory64 so an old
  runtime fails at import, naming what it lacks, before a session (or a multi-GB external data download) starts.

What upstream's ``exports`` would point at but we do not ship (the WebGPU bundles whose pair we did not build: they
embed or load somebody else's glue) is removed or, for ``.`` and the ``browser``-style fields, pointed at the
``ort.wasm`` build of the same form; afterwards every target is checked to exist, so no import resolves to a
missing file.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..checks.glue import PairKind
from ..checks.rules import pair_kind
from ..errors import PackageError
from ..js.web import pairs_in_dist
from ..recipe import require_recipe
from ..variants import PAIR_PREFIX, load_table
from .inputs import EP_LABELS, KINDS, VariantFiles, WebPackage

NPM_NAME = "onnxruntime-web"
# Upstream's entry bundles the CPU variants' entries wrap: they load the CPU pair by name, so they serve every one.
BROWSER_ESM, NODE_ESM, NODE_CJS = "dist/ort.wasm.min.mjs", "dist/ort.node.min.mjs", "dist/ort.node.min.js"
# Per WebGPU pair kind, the upstream subpath (onnxruntime-web/<name>) whose bundles, dist/ort.<name>*, load that pair
# by name: 1.21's ort.webgpu* load `.jsep`; 1.30's load `.asyncify`, and its ort.jspi* `.jspi` (1.30's package.json
# exports ./webgpu and ./jspi; each minified bundle names just that glue).  A variant's entry wraps the bundle's
# extern-wasm form, dist/ort.<name>.min.mjs (1.30's "onnxruntime-web-use-extern-wasm" condition): it loads the pair
# from wasmPaths where the .bundle form embeds one glue.  Browsers only: Node has no WebGPU.
WEBGPU_SUBPATHS: dict[PairKind, str] = {"jsep": "webgpu", "asyncify": "webgpu", "jspi": "jspi"}
# Upstream's other WebGPU bundles (ort.mjs, ort.all*: `.` and ./all) load the JSEP pair, in 1.21 and 1.30 alike.
OTHER_WEBGPU_KIND: PairKind = "jsep"
# The smallest module with a 64-bit memory: magic + version, memory section (id 5, 3 bytes): 1 memory, limits
# flag 0x04 (memory64, no maximum), minimum 0.  Engines without Memory64 reject it.
MEMORY64_PROBE = (0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x00)
MEMORY64_NEEDS = "Node >= 24, Chrome >= 133, Firefox >= 134"
# A JSEP bundle name and its parts; its CPU equivalent is ort.wasm with the same bundle/min/extension.
_JSEP_TARGET = re.compile(r"^(?P<dir>(?:\./)?dist/)ort(?:\.all|\.webgpu)?(?P<bundle>\.bundle)?(?P<min>\.min)?"
                          r"\.(?P<ext>m?js)$")
_REMAPPED_FIELDS = ("main", "module", "browser", "unpkg", "jsdelivr")
# Where an upstream subpath whose bundle we left out goes: a module that throws, naming what to build.
ABSENT_ENTRY = "dist/ortwasm-absent.{name}.{ext}"

_HAS_DEFAULT_EXPORT = re.compile(rb"\bas default\b|\bexport default\b")


def browser_bundle(kind: PairKind) -> str:
    """The upstream bundle that loads a pair of ``kind`` by name, which a variant entry of that kind wraps."""
    return BROWSER_ESM if kind == "cpu" else f"dist/ort.{WEBGPU_SUBPATHS[kind]}.min.mjs"


@dataclass(frozen=True)
class Layout:
    """Where each packaged variant's pair and entries go; per kind, one pair has upstream's place in ``dist/``."""

    variants: tuple[VariantFiles, ...]
    default: str  # what `onnxruntime-web` and /wasm load: the CPU pair in dist/ (a WebGPU-only package: its first)
    in_dist: Mapping[PairKind, str]  # kind -> the variant whose pair sits in dist/ under upstream's name

    @classmethod
    def of(cls, variants: Sequence[VariantFiles]) -> Layout:
        """The JS stage's rule (web.pairs_in_dist) over what is packaged, so each embedded glue is the pair beside
        its bundle."""
        in_dist = pairs_in_dist(v.name for v in variants)
        return cls(tuple(variants), in_dist.get("cpu", variants[0].name), in_dist)

    def is_default(self, v: VariantFiles) -> bool:
        return self.in_dist.get(v.kind) == v.name

    def pair_dir(self, v: VariantFiles) -> str:
        return "dist" if self.is_default(v) else f"dist/{v.name}"

    def pair_path(self, v: VariantFiles, kind: str) -> str:
        return f"{self.pair_dir(v)}/{v.stem}.{kind}"

    def entries(self, v: VariantFiles) -> dict[str, str]:
        """Condition -> entry file, as in the export map (browser ESM, Node ESM, Node CJS).  A WebGPU variant's
        Node entries only throw: Node has no WebGPU, and an import that fails at once, naming what to use, beats
        upstream's WebGPU bundle failing later on ``navigator``."""
        return {"import": f"dist/ort.{v.name}.min.mjs", "node.import": f"dist/ort.{v.name}.node.mjs",
                "node.require": f"dist/ort.{v.name}.node.cjs"}


def check_embedded_glue(layout: Layout, web: WebPackage) -> None:
    """The ``.bundle`` builds embed one glue each (1.21: the JSEP one; 1.30: the CPU, asyncify and JSPI ones, JSEP's
    a placeholder); each real one must be the glue of the pair in ``dist/`` under its name, and that pair must be
    packaged.

    Why refuse rather than warn: a bundle whose embedded glue belongs to another build loads that build's
    expectations (exports, MEMFS or not) over our wasm, and one whose pair is missing fetches a ``.wasm`` that is
    not there; both fail at run time, far from the cause.
    """
    glues = web.manifest.get("glues")
    glues = glues if isinstance(glues, dict) else {}
    in_dist = {f"{v.stem}.mjs": v for v in layout.variants if layout.is_default(v)}
    for glue, embedded in glues.items():
        bundles = "CPU" if pair_kind(glue.removesuffix(".mjs")) == "cpu" else "WebGPU"
        v = in_dist.get(glue)
        if v is None:
            if embedded != "placeholder":
                raise PackageError(f"refusing to package: onnxruntime-web's {bundles} bundles embed the glue {glue} "
                                   f"(sha256 {str(embedded)[:16]}), but no variant packaged has that pair, so they "
                                   f"would fetch a dist/{glue.removesuffix('.mjs')}.wasm that is not there",
                                   "put back the OUT/<variant>/ the JS was built with, or delete OUT/onnxruntime-web "
                                   "and rerun the build (it embeds the glues of the variants there)")
            continue  # a glue this version's bundles load by name (1.21's CPU glue), or a kind not built
        if embedded != v.sha256["mjs"]:
            what = "a placeholder (the JS was built before that variant)" if embedded == "placeholder" else \
                f"sha256 {str(embedded)[:16]}"
            raise PackageError(f"refusing to package {v.name}: onnxruntime-web's {bundles} bundles embed {what}, "
                               f"not {v.name}'s glue ({v.sha256['mjs'][:16]})",
                               f"rerun the build with --variants {v.name} (it rebuilds the JS with that glue)")


def _is_pair_file(target: str) -> bool:
    return _norm(target).startswith(f"dist/{PAIR_PREFIX}")


def _norm(target: str) -> str:
    return target.removeprefix("./")


def _targets(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for child in node.values() for t in _targets(child)]
    if isinstance(node, list):
        return [t for child in node for t in _targets(child)]
    return []


def _cpu_equivalent(target: str, have: set[str]) -> str | None:
    m = _JSEP_TARGET.match(target)
    if m is None:
        return None
    for cand in (f"{m['dir']}ort.wasm{m['bundle'] or ''}{m['min'] or ''}.{m['ext']}",
                 f"{m['dir']}ort.wasm{m['min'] or ''}.{m['ext']}"):
        if _norm(cand) in have:
            return cand
    return None


def _remap(node: object, have: set[str], where: str) -> object:
    """Point every missing target of ``node`` at its ort.wasm equivalent; refuse when there is none."""
    if isinstance(node, dict):
        return {k: _remap(child, have, f"{where}.{k}") for k, child in node.items()}
    if isinstance(node, str) and _norm(node) not in have:
        cpu = _cpu_equivalent(node, have)
        if cpu is None:
            raise PackageError(f"refusing to package: onnxruntime-web's package.json {where} is {node!r}, which is "
                               "not in the package and has no ort.wasm equivalent",
                               "the JS stage's output is not the onnxruntime-web layout this ortwasm knows; "
                               "rebuild it with this ortwasm")
        return cpu
    return node


_WEBGPU_KINDS: tuple[PairKind, ...] = tuple(k for k in EP_LABELS if k != "cpu")


def kinds_loaded_by(subpath: str) -> tuple[PairKind, ...]:
    """The WebGPU pair kinds an upstream subpath's bundles may load (which one depends on the version)."""
    return tuple(k for k, name in WEBGPU_SUBPATHS.items() if f"./{name}" == subpath) or (OTHER_WEBGPU_KIND,)


def absent_reason(ort_version: str, kinds: Collection[PairKind] = _WEBGPU_KINDS) -> str:
    """What to build for the WebGPU bundles (of pair ``kinds``) we left out, or why ortwasm cannot build them for
    this version."""
    require_recipe(ort_version)
    table = load_table()
    webgpu = [name for name, v in table.items() if pair_kind(v.artifact_stem) in kinds]
    buildable = [n for n in webgpu if table[n].unsupported_reason(ort_version) is None]
    if buildable:
        return (f"build a WebGPU pair first: `python build.py --ort-version {ort_version} --variants "
                f"{next(iter(pairs_in_dist(buildable).values()))}`, then `ortwasm package` again")
    why = table[webgpu[0]].unsupported_reason(ort_version) if webgpu else None
    what = EP_LABELS[next(iter(kinds))] if len(kinds) == 1 else "WebGPU"
    return f"ortwasm builds no {what} pair of ONNX Runtime {ort_version}" + (f" ({why})" if why else "") + \
        f"; use `{NPM_NAME}/wasm` or a variant entry (`{NPM_NAME}/<variant>`) for the CPU"


def _absent_paths(key: str) -> dict[str, str]:
    name = key.removeprefix("./").replace("/", "-")
    return {ext: ABSENT_ENTRY.format(name=name, ext=ext) for ext in ("mjs", "cjs")}


def absent_files(reasons: Mapping[str, str]) -> dict[str, bytes]:
    """One throwing module per left-out subpath (ESM and CJS), with its reason: an import fails at once with the
    cause and the fix, where a missing export would only say ERR_PACKAGE_PATH_NOT_EXPORTED."""
    out: dict[str, bytes] = {}
    for key, reason in reasons.items():
        what = f"{NPM_NAME}{key.removeprefix('.')}"
        msg = json.dumps(f"{what} is not in this package (built by ortwasm): its bundle loads a WebGPU wasm pair "
                         f"that was not built, and this package never pairs its JS with somebody else's wasm. {reason}")
        paths = _absent_paths(key)
        out[paths["mjs"]] = f"// {what}: left out by ortwasm\nthrow new Error({msg});\n".encode()
        out[paths["cjs"]] = f"'use strict';\n// {what}: left out by ortwasm\nthrow new Error({msg});\n".encode()
    return out


def absent_exports(web: WebPackage, have: set[str]) -> list[str]:
    """Upstream's module subpaths (not ``.``) whose bundles we dropped: they get a throwing entry.  A subpath that
    names a wasm pair's file (1.30's ``./ort-wasm-simd-threaded.jsep.wasm``) is an asset, not a module: a pair we
    did not build is simply not exported."""
    dropped = web.dropped_paths
    return [key for key, node in web.package_json["exports"].items()
            if key != "." and not all(_is_pair_file(t) for t in _targets(node))
            and (missing := [t for t in _targets(node) if _norm(t) not in have])
            and all(_norm(t) in dropped for t in missing)]


def package_json(web: WebPackage, layout: Layout, have: set[str], version: str,
                 ortwasm_field: dict[str, Any], absent: dict[str, str] | None = None) -> dict[str, Any]:
    """Upstream's package.json, version ours, exports pointing only at files we ship, plus one export per variant;
    a subpath in ``absent`` (key -> why) points at its throwing entry."""
    absent = absent or {}
    pkg: dict[str, Any] = copy.deepcopy(web.package_json)
    pkg["name"], pkg["version"] = NPM_NAME, version
    dropped = web.dropped_paths
    exports: dict[str, Any] = {}
    for key, node in pkg["exports"].items():
        missing = [t for t in _targets(node) if _norm(t) not in have]
        # a wasm pair's file is ours to supply (the variant builds), never the JS stage's: missing, it is a pair we
        # did not build (1.30 exports ./ort-wasm-simd-threaded.jsep.wasm and the like)
        unexplained = [t for t in missing if _norm(t) not in dropped and not _is_pair_file(t)]
        if unexplained:
            raise PackageError(f"refusing to package: onnxruntime-web's package.json exports {key!r} -> "
                               f"{unexplained[0]!r}, which the JS stage neither shipped nor listed as dropped",
                               "rebuild the JS (delete OUT/onnxruntime-web, rerun the build without --skip-js)")
        if not missing:
            exports[key] = node
        elif key == ".":  # the package's main entry cannot go; the wasm (CPU) build of the same form takes its place
            exports[key] = _remap(node, have, 'exports["."]')
        elif key in absent:  # ./all, ./webgpu, ./jspi: importing it must fail, naming what to build, not mislead
            stub = {k: f"./{v}" for k, v in _absent_paths(key).items()}
            types = node.get("types") if isinstance(node, dict) else None
            exports[key] = ({"types": types} if isinstance(types, str) else {}) | {
                "node": {"import": stub["mjs"], "require": stub["cjs"]}, "import": stub["mjs"],
                "require": stub["cjs"]}
    for field in _REMAPPED_FIELDS:
        if isinstance(pkg.get(field), str):
            pkg[field] = _remap(pkg[field], have, f'"{field}"')
    dot = exports.get(".")
    types = dot.get("types") if isinstance(dot, dict) else None
    types = types if isinstance(types, str) else pkg.get("types")
    for v in layout.variants:
        key = f"./{v.name}"
        if key in exports:
            raise PackageError(f"refusing to package {v.name}: onnxruntime-web already exports {key!r}",
                               "rename the variant in the variant table")
        e = layout.entries(v)
        exports[key] = ({"types": types} if isinstance(types, str) else {}) | {
            "node": {"import": f"./{e['node.import']}", "require": f"./{e['node.require']}"},
            "import": f"./{e['import']}"}
    pkg["exports"] = exports
    pkg["ortwasm"] = ortwasm_field | ({"absent": dict(absent)} if absent else {})
    broken = sorted({t for t in [*_targets(exports), *(pkg.get(f) for f in (*_REMAPPED_FIELDS, "types"))]
                     if isinstance(t, str) and _norm(t) not in have})
    if broken:  # a bug here, not in the input: say so rather than publish an import that fails
        raise PackageError(f"internal error: package.json would point at missing file(s): {', '.join(broken)}",
                           "report this to ortwasm's maintainers with OUT/onnxruntime-web/manifest.json")
    return pkg


def left_out_exports(web: WebPackage, pkg: dict[str, Any]) -> list[str]:
    """Upstream subpaths that do not load upstream's bundle here: removed, or pointing at a throwing entry."""
    absent = pkg.get("ortwasm", {}).get("absent", {})
    return [k for k in web.package_json["exports"] if k not in pkg["exports"] or k in absent]


# --- entry points -------------------------------------------------------------------------------------------


def _guard(v: VariantFiles) -> str:
    if v.arch != "wasm64":
        return ""
    probe = ", ".join(f"0x{b:02x}" for b in MEMORY64_PROBE)
    return (f"// The {v.name} pair needs Memory64: fail at import, before any session or external data download.\n"
            f"if (typeof WebAssembly !== 'object' || !WebAssembly.validate(new Uint8Array([{probe}]))) {{\n"
            f"  throw new Error('{NPM_NAME}/{v.name} needs WebAssembly Memory64: {MEMORY64_NEEDS}; "
            "this runtime has none');\n}\n")


def _header(v: VariantFiles, layout: Layout, bundle: str) -> str:
    pair = f"{layout.pair_dir(v)}/{v.stem}.{{mjs,wasm}}"
    ep = "" if v.kind == "cpu" else f", {EP_LABELS[v.kind]}"
    return (f"// {NPM_NAME}/{v.name} (generated by ortwasm): upstream's {bundle} with the {v.name} pair\n"
            f"// ({v.arch}, MEMFS {'on' if v.memfs else 'off'}{ep}: {pair}) as its default wasm.\n"
            "// env.wasm.wasmPaths set by you before the first session still wins.\n")


def _wrapped(v: VariantFiles, layout: Layout) -> dict[str, str]:
    """Entry file -> the upstream bundle it wraps; a WebGPU variant's Node entries wrap none (they throw)."""
    entries = layout.entries(v)
    if v.kind != "cpu":
        return {entries["import"]: browser_bundle(v.kind)}
    return {entries["import"]: BROWSER_ESM, entries["node.import"]: NODE_ESM, entries["node.require"]: NODE_CJS}


def _check_bundles(layout: Layout, web: WebPackage) -> None:
    """Every bundle an entry wraps is in the package and loads the entry's pair: its minified code names that glue.

    Why look: which bundle loads which pair is upstream's choice and changed between versions (1.21's ort.webgpu*
    loads ``.jsep``, 1.30's ``.asyncify``); an entry over the wrong one would point wasmPaths at a directory whose
    pair its bundle never asks for.
    """
    needs = dict.fromkeys((BROWSER_ESM, NODE_ESM, NODE_CJS, *(browser_bundle(v.kind) for v in layout.variants)))
    for need in needs:
        if need not in web.files:
            raise PackageError(f"refusing to package: onnxruntime-web has no {need}, which the variant entry points "
                               "import", "rebuild the JS (delete OUT/onnxruntime-web, rerun the build)")
    for v in layout.variants:
        glue = f"{v.stem}.mjs"
        for bundle in _wrapped(v, layout).values():
            if glue.encode() not in web.files[bundle]:
                raise PackageError(f"refusing to package {v.name}: onnxruntime-web's {bundle} does not load "
                                   f"{glue} (it names no such file), so {NPM_NAME}/{v.name}, which wraps it, would "
                                   f"never load the {v.name} pair",
                                   f"this ortwasm does not know which bundle of onnxruntime-web "
                                   f"{web.ort.get('version')} loads a {EP_LABELS[v.kind]} pair (WEBGPU_SUBPATHS in "
                                   "ortwasm/package/npm.py); package the other variants without it")


def entry_files(layout: Layout, web: WebPackage) -> dict[str, bytes]:
    """The three entry points per variant: small generated JS over the upstream bundle that loads its kind."""
    _check_bundles(layout, web)
    out: dict[str, str] = {}
    for v in layout.variants:
        sub = "./" if layout.is_default(v) else f"./{v.name}/"
        entries = layout.entries(v)
        wrapped = _wrapped(v, layout)
        if v.kind != "cpu":
            bundle = wrapped[entries["import"]]
            why = (f"{NPM_NAME}/{v.name} is a {EP_LABELS[v.kind]} build for browsers; Node has no WebGPU: "
                   f"import a CPU variant ({NPM_NAME}/wasm32-memfs, ...) in Node")
            out[entries["node.import"]] = f"{_header(v, layout, bundle)}throw new Error({json.dumps(why)});\n"
            out[entries["node.require"]] = f"'use strict';\n{_header(v, layout, bundle)}" \
                                           f"throw new Error({json.dumps(why)});\n"
        for path, bundle in wrapped.items():
            rel = "./" + bundle.removeprefix("dist/")
            if path == entries["node.require"]:
                here = "__dirname" if layout.is_default(v) else f"require('node:path').join(__dirname, '{v.name}')"
                out[path] = (f"'use strict';\n{_header(v, layout, rel)}\n{_guard(v)}const ort = require('{rel}');\n\n"
                             f"if (ort.env.wasm.wasmPaths === undefined) {{\n"
                             f"  ort.env.wasm.wasmPaths = require('node:url').pathToFileURL({here} + '/').href;\n}}\n\n"
                             "module.exports = ort;\n")
                continue
            default = "export default ort.default;\n" if _HAS_DEFAULT_EXPORT.search(web.files[bundle]) else ""
            out[path] = (f"{_header(v, layout, rel)}import * as ort from '{rel}';\n\n{_guard(v)}"
                         f"if (ort.env.wasm.wasmPaths === undefined) {{\n"
                         f"  ort.env.wasm.wasmPaths = new URL('{sub}', import.meta.url).href;\n}}\n\n"
                         f"export * from '{rel}';\n{default}")
    clash = sorted(set(out) & set(web.files))
    if clash:
        raise PackageError(f"refusing to package: entry point {clash[0]} would replace onnxruntime-web's own file",
                           "rename the variant in the variant table")
    return {p: s.encode() for p, s in out.items()}


# --- README -------------------------------------------------------------------------------------------------


def readme(layout: Layout, web: WebPackage, version: str, pkg: dict[str, Any]) -> str:
    """Our section on top of upstream's README: what this build is, how to pick a variant, what is missing."""
    ort = web.ort
    tgz = f"{NPM_NAME}-{version}.tgz"
    absent = pkg["ortwasm"].get("absent", {})
    rows = []
    for v in layout.variants:
        also = f" (and `{NPM_NAME}`, `{NPM_NAME}/wasm`)" if v.name == layout.default else ""
        if v.kind != "cpu":
            key = f"./{WEBGPU_SUBPATHS[v.kind]}"
            loads = layout.is_default(v) and key in pkg["exports"] and key not in absent
            also = f" (and `{NPM_NAME}{key.removeprefix('.')}`)" if loads else ""
        rows.append(f"| `{NPM_NAME}/{v.name}`{also} | {v.arch}{' (Memory64)' if v.arch == 'wasm64' else ''} | "
                    f"{EP_LABELS[v.kind]} | {'on' if v.memfs else 'off'} | "
                    f"`{layout.pair_dir(v)}/{v.stem}.{{mjs,wasm}}` |")
    cpu = [v for v in layout.variants if v.kind == "cpu"] or list(layout.variants)  # Node runs CPU entries only
    example = next((v.name for v in cpu if v.arch == "wasm64" and v.memfs), cpu[-1].name)
    patchset = f"patch set `{ort.get('patchset')}`" if ort.get("patched") else "no patches"
    text = f"""# {NPM_NAME} {version}, built by ortwasm

This is **onnxruntime-web** (same name, API and entry points: a drop-in replacement), built by ortwasm from
ONNX Runtime {ort.get('version')} with {patchset}. The JavaScript and every WebAssembly pair come from that one
source tree and were checked before packaging; `package.json` → `"ortwasm"` lists each pair's sha256.

## Variants

| import | arch | kernels | MEMFS external data | wasm pair |
|---|---|---|---|---|
{chr(10).join(rows)}

Choose one by the import path; the rest of your code is unchanged:

```js
import * as ort from '{NPM_NAME}/{example}';  // or require('{NPM_NAME}/{example}') in Node
const session = await ort.InferenceSession.create(modelBytes, {{ executionProviders: ['wasm'] }});
```

The default is **{layout.default}**: `{NPM_NAME}` and `{NPM_NAME}/wasm` load it, from where upstream keeps its pair.
A variant's entry point sets `ort.env.wasm.wasmPaths` to its pair's directory, and only if you have not set it.
MEMFS variants read external data through the file system with 64-bit offsets, so tensors past 4 GiB load.
wasm64 variants need WebAssembly Memory64 ({MEMORY64_NEEDS}); their entry points throw at import
when it is missing.

## Install

```sh
npm install {NPM_NAME}@file:./{tgz}
```

or in `package.json`: `"dependencies": {{ "{NPM_NAME}": "file:./{tgz}" }}`.
Code that imports `{NPM_NAME}` keeps working.
"""
    left_out = [f"`{NPM_NAME}{k.removeprefix('.')}`" for k in left_out_exports(web, pkg)]
    bundles = [n for n in web.dropped if n.startswith("ort.") and not n.endswith(".map")]
    if left_out or bundles:
        shown = ", ".join(f"`{n}`" for n in bundles[:6]) + (f" and {len(bundles) - 6} more" if len(bundles) > 6 else "")
        moved = [f"`{f}`" for f in _REMAPPED_FIELDS if web.package_json.get(f) != pkg.get(f)]
        why = "; or ".join(dict.fromkeys(absent.values())) or "build a WebGPU pair"
        packaged = {v.kind for v in layout.variants}
        glues = require_recipe(_recipe_version(web)).js_glues  # the pairs this version's bundles load
        kinds = [EP_LABELS[k] for k in dict.fromkeys(pair_kind(g.removesuffix(".mjs")) for g in glues)
                 if k != "cpu" and k not in packaged]
        text += f"""
## Left out: {", ".join(kinds) or "WebGPU"}

Not in this package: {", ".join(left_out) or "no entry point"}; the bundles {shown or "(none)"}.
They embed or load a WebGPU wasm build, which this build did not produce, and upstream's would pair
this JavaScript with somebody else's wasm. Importing one of those entries throws an error that says what to do:
{why}. `{NPM_NAME}` in a browser is therefore the CPU (wasm) build, as
`{NPM_NAME}/wasm` is{"; " + ", ".join(moved) + " point at its files" if moved else ""}.
"""
    upstream = web.files.get("README.md", b"").decode("utf-8", "replace")
    return text + ("\n---\n\n" + upstream if upstream else "")


def _recipe_version(web: WebPackage) -> str:
    """Whose recipe judges the JS: an unproven build's patch set's, else its own version's."""
    return str(web.ort.get("patchset_version") or web.ort.get("version"))


def npm_files(layout: Layout, web: WebPackage, version: str, ortwasm_field: dict[str, Any]) -> dict[str, bytes]:
    """Paths inside ``package/`` -> bytes: upstream's files, our pairs and entries, package.json and README ours."""
    files = dict(web.files)
    for v in layout.variants:
        for kind in KINDS:
            path = layout.pair_path(v, kind)
            if path in files:
                raise PackageError(f"refusing to package: onnxruntime-web already ships {path}",
                                   "rebuild the JS; the JS stage drops upstream's wasm pairs")
            files[path] = v.data[kind]
    files |= entry_files(layout, web)
    reasons = {k: absent_reason(_recipe_version(web), kinds_loaded_by(k)) for k in absent_exports(web, set(files))}
    files |= absent_files(reasons)
    pkg = package_json(web, layout, set(files), version, ortwasm_field, reasons)
    files["package.json"] = (json.dumps(pkg, indent=2) + "\n").encode()  # upstream's key order, as npm writes it
    files["README.md"] = readme(layout, web, version, pkg).encode()
    return files
