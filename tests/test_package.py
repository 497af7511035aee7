"""`ortwasm package`: a drop-in onnxruntime-web tarball and a wheel with the same files, from checked builds only.

Synthetic inputs: variants are a minimal wasm and glue shaped like ORT's (as in test_checks.py); the JS stage's
``OUT/onnxruntime-web/`` is an upstream-shaped package.json (onnxruntime-web 1.21.0's exports and fields) over tiny
stand-in bundles.  They cover layout, package.json, entry points, refusals and reproducibility in seconds; the
installs (npm, Node 24, pip) and the real end-to-end run are in tests/test_package_install.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
import shutil
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ortwasm import package as pk
from ortwasm.checks.rules import EP_C_API, pair_kind
from ortwasm.checks.sizes import Budget, Budgets
from ortwasm.cli import main
from ortwasm.errors import PackageError
from ortwasm.js import web as js_web
from ortwasm.package import npm as pk_npm
from ortwasm.paths import ortwasm_home
from ortwasm.recipe import default_version, load_recipe, require_recipe
from ortwasm.variants import load_table
from tests.wasmbytes import uleb

ORT_C_API = require_recipe(default_version()).c_api  # the default version's C API, from its recipe
STEM = "ort-wasm-simd-threaded"
RUNTIME_TEXT = 'h.locateFile?h.locateFile(a,c):c+a;h.instantiateWasm?h.instantiateWasm(x,y):0;abort("Aborted("+a+")");'
FS_TEXT = 'x("/dev/tty1");x("/dev/tty1");"/dev/shm/tmp";"/proc/self/fd";"/proc/self/fd";{MEMFS:S};' + \
    "class ErrnoError{}" * 20
VARIANTS = {"wasm32": ("wasm32", False), "wasm32-memfs": ("wasm32", True), "wasm64": ("wasm64", False),
            "wasm64-memfs": ("wasm64", True)}
ORT = {"version": "1.21.0", "patched": True, "patchset": "1.21.0-test", "source": "/src/onnxruntime-1.21.0"}
SHIPPED_ORT = {k: v for k, v in ORT.items() if k != "source"}  # no path of the build machine ships
NPM_VERSION = "1.21.0-ortwasm.1"
TGZ = f"onnxruntime-web-{NPM_VERSION}.tgz"
WHEEL = "ortwasm_artifacts-1.21.0.post1-py3-none-any.whl"
ENTRY_KINDS = ("min.mjs", "node.mjs", "node.cjs")

# onnxruntime-web 1.21.0's package.json, as far as packaging reads it (exports and the entry fields verbatim).
UPSTREAM_PACKAGE_JSON: dict[str, Any] = {
    "license": "MIT", "unpkg": "dist/ort.min.js", "name": "onnxruntime-web", "version": "1.21.0",
    "jsdelivr": "dist/ort.min.js", "main": "dist/ort.node.min.js", "browser": "dist/ort.min.js",
    "exports": {
        ".": {"node": {"import": "./dist/ort.node.min.mjs", "require": "./dist/ort.node.min.js"},
              "import": "./dist/ort.bundle.min.mjs", "require": "./dist/ort.min.js"},
        "./all": {"import": "./dist/ort.all.bundle.min.mjs", "require": "./dist/ort.all.min.js"},
        "./wasm": {"import": "./dist/ort.wasm.bundle.min.mjs", "require": "./dist/ort.wasm.min.js"},
        "./webgl": {"import": "./dist/ort.webgl.min.mjs", "require": "./dist/ort.webgl.min.js"},
        "./webgpu": {"import": "./dist/ort.webgpu.bundle.min.mjs", "require": "./dist/ort.webgpu.min.js"},
    },
    "types": "./types.d.ts", "description": "A Javascript library for running ONNX models on browsers",
}
CPU_BUNDLES = ("ort.wasm.min.mjs", "ort.wasm.bundle.min.mjs", "ort.wasm.min.js", "ort.wasm.mjs", "ort.wasm.js",
               "ort.node.min.mjs", "ort.node.min.js", "ort.webgl.min.mjs", "ort.webgl.min.js")
JSEP_BUNDLES = ("ort.min.js", "ort.min.mjs", "ort.bundle.min.mjs", "ort.all.min.js", "ort.all.bundle.min.mjs",
                "ort.webgpu.min.js", "ort.webgpu.bundle.min.mjs")
# The glue (pair) each upstream bundle family loads by name in 1.21.0's dist; each minified bundle names just it.
LOADS_121 = {"ort.wasm": STEM, "ort.node": STEM, "ort": f"{STEM}.jsep", "ort.all": f"{STEM}.jsep",
             "ort.webgpu": f"{STEM}.jsep"}
# What a glue of each pair kind has (checks.glue.EP_MARKERS): jsepInit; webgpuInit and Asyncify's asyncInit, or JSPI.
EP_TEXT = {"cpu": "", "jsep": "h.jsepInit=(a,b)=>{};", "asyncify": "h.webgpuInit=a=>{};h.asyncInit=a=>{};",
           "jspi": "h.webgpuInit=a=>{};h.run=new WebAssembly.Suspending(f);h.go=WebAssembly.promising(g);"}


_uleb = uleb


def _sec(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(payload)) + payload


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


def fake_wasm(arch: str, api: Sequence[str] = ORT_C_API) -> bytes:
    is64, n = arch == "wasm64", len(api)
    mem = bytes([0x03 | is64 << 2]) + _uleb(256) + _uleb(262144 if is64 else 65536)
    return b"".join([b"\0asm\x01\0\0\0", _sec(1, _vec([b"\x60\x00\x00"])),
                     _sec(2, _vec([_name("a") + _name("a") + b"\x02" + mem])), _sec(3, _vec([b"\x00"] * n)),
                     _sec(4, _vec([b"\x70" + bytes([0x01 | is64 << 2]) + _uleb(n) + _uleb(n)])),
                     _sec(7, _vec([_name(f"m{i}") + b"\x00" + _uleb(i) for i in range(n)])),
                     _sec(10, _vec([b"\x02\x00\x0b"] * n))])


def fake_glue(arch: str, fs: bool, api: Sequence[str] = ORT_C_API, ep: str = "") -> str:
    body = "".join(f"h._{c}=(a,b)=>(h._{c}=H.m{i})(a,b);" for i, c in enumerate(api))
    mem = 'new WebAssembly.Memory({initial:256,maximum:65536,shared:!0,address:"i64"});' if arch == "wasm64" else ""
    return (f"var h=moduleArg,H;{RUNTIME_TEXT}WebAssembly.instantiate(b).then(function a(d,e){{H=d.exports;return H}});"
            f'{body}{ep}{mem}var ENV={{HOME:"/home/web_user"}};{FS_TEXT if fs else ""}')


def write_manifest(d: Path, name: str, arch: str, memfs: bool, ort: dict[str, Any] | None = None,
                   ep: Mapping[str, Any] | None = None) -> None:
    """``ep``: the variant's jsep/webgpu keys as the build writes them (none: a manifest from before them)."""
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(d.iterdir()) if p.suffix in (".wasm", ".mjs")]
    (d / "manifest.json").write_text(json.dumps({
        "format": 1, "variant": {"name": name, "arch": arch, "memfs": memfs, "simd": True, "threads": True,
                                 **(ep or {})},
        "files": files, "ort": ORT if ort is None else ort,
        "toolchain": {"emscripten": "3.1.69", "kind": "chroot"}}, indent=2))


def fake_variant(out: Path, name: str, *, glue_fs: bool | None = None, ort: dict[str, Any] | None = None) -> Path:
    """A table variant's dir as the build writes it: its pair under upstream's name for its kind, a glue with its
    kind's markers (jsepInit, webgpuInit, ...) and C API (the recipe's, and its provider's), and manifest.json."""
    v = load_table()[name]
    kind = pair_kind(v.artifact_stem)
    ort = ORT if ort is None else ort
    recipe = load_recipe(ort.get("patchset_version") or ort["version"])  # none: a version package refuses
    api = (*(recipe.c_api if recipe else ORT_C_API), *EP_C_API.get(kind, ()))
    d = out / name
    d.mkdir(parents=True)
    (d / f"{v.artifact_stem}.wasm").write_bytes(fake_wasm(v.arch, api))
    (d / f"{v.artifact_stem}.mjs").write_text(fake_glue(v.arch, v.memfs if glue_fs is None else glue_fs, api,
                                                        EP_TEXT[kind]))
    ep = {"jsep": True} if v.jsep else {"jsep": False, "webgpu": v.webgpu} if v.webgpu else None
    write_manifest(d, name, v.arch, v.memfs, ort, ep)
    return d


def _family(bundle: str) -> str:
    m = re.match(r"ort(\.(?!min\b|bundle\b|m?js\b)\w+)?", bundle)
    assert m is not None, bundle
    return m.group(0)


def fake_bundle(name: str, loads: Mapping[str, str] = LOADS_121) -> str:
    """A stand-in bundle: an ``env`` like onnxruntime-common's, and its own name, so a test can see what loaded; and
    the name of the glue its family loads (``loads``), as upstream's minified bundles name it."""
    glue = f"// loads {loads[_family(name)]}.mjs\n" if _family(name) in loads else ""
    if name.endswith(".mjs"):
        return (f"{glue}export const env = {{ wasm: {{}} }};\nexport const bundle = '{name}';\n"
                "export default { env, bundle };\n")
    return f"'use strict';\n{glue}exports.env = {{ wasm: {{}} }};\nexports.bundle = '{name}';\n"


def write_web_manifest(web: Path, ort: dict[str, Any] | None = None, dropped: list[str] | None = None,
                       glues: Mapping[str, str] | None = None) -> None:
    """``glues``: what the JS stage embedded (glue name -> sha256 or "placeholder"); None: no such record."""
    pkg = web / "package"
    files = {p.relative_to(pkg).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(pkg.rglob("*")) if p.is_file()}
    (web / "manifest.json").write_text(json.dumps({
        "format": 1, "ort": ORT if ort is None else ort, "jsep_glue": "placeholder", "files": files,
        "dropped": dropped if dropped is not None else [f"{STEM}.jsep.mjs", *JSEP_BUNDLES],
        "why_dropped": "no JSEP build", "timings": {"pack": 1.0}} | ({"glues": dict(glues)} if glues else {}),
        indent=2, sort_keys=True))


def fake_web(out: Path, *, ort: dict[str, Any] | None = None, jsep: bool = False,
             package_json: Mapping[str, Any] = UPSTREAM_PACKAGE_JSON, bundles: Sequence[str] = (),
             loads: Mapping[str, str] = LOADS_121, dropped: list[str] | None = None,
             glues: Mapping[str, str] | None = None) -> Path:
    """``OUT/onnxruntime-web/`` as the JS stage writes it: 1.21.0's layout by default, JSEP bundles dropped unless
    ``jsep``; another version's from its package.json, the ``bundles`` that stay besides the CPU ones, which glue
    each family ``loads``, and what was ``dropped``."""
    web = out / "onnxruntime-web"
    dist = web / "package" / "dist"
    dist.mkdir(parents=True)
    for name in CPU_BUNDLES + (JSEP_BUNDLES if jsep else ()) + tuple(bundles):
        (dist / name).write_text(fake_bundle(name, loads))
    (dist / "ort.wasm.min.mjs.map").write_text("{}")
    (web / "package" / "lib").mkdir()
    (web / "package" / "lib" / "index.ts").write_text("export * from 'onnxruntime-common';\n")
    (web / "package" / "types.d.ts").write_text("export * from 'onnxruntime-common';\n")
    (web / "package" / "README.md").write_text("# ONNX Runtime Web\n\nupstream's README\n")
    (web / "package" / "package.json").write_text(json.dumps(package_json, indent=2) + "\n")
    write_web_manifest(web, ort, [] if jsep else dropped, glues)
    return web


def fake_out(root: Path, names: tuple[str, ...] = tuple(VARIANTS), *, jsep: bool = False) -> Path:
    out = root / "out"
    for n in names:
        fake_variant(out, n)
    fake_web(out, jsep=jsep)
    return out


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tgz_files(tgz: Path) -> dict[str, bytes]:
    """Paths inside ``package/`` -> bytes, asserting npm's layout on the way."""
    with tarfile.open(tgz) as tar:
        members = tar.getmembers()
        got = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert all(n.startswith("package/") for n in got)
    return {n.removeprefix("package/"): b for n, b in got.items()}


def targets(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict), node
    return [t for child in node.values() for t in targets(child)]


def refused(out: Path, dest: Path, match: str, budgets: Budgets | None = None) -> PackageError:
    with pytest.raises(PackageError, match=match) as err:
        pk.build_packages(out, dest, budgets=budgets)
    assert err.value.hint
    assert not dest.exists() or not list(dest.iterdir()), "a refused package must write nothing"
    return err.value


# --- layout ----------------------------------------------------------------------------------------------------


def test_layout_default_pair_subdirs_and_entries(tmp_path: Path) -> None:
    out = fake_out(tmp_path)
    res = pk.build_packages(out, tmp_path / "dist")
    assert (res.tgz.name, res.wheel.name, res.default, res.npm_version) == (TGZ, WHEEL, "wasm32", NPM_VERSION)
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted([TGZ, WHEEL])
    with tarfile.open(res.tgz) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mode, m.mtime) for m in members} == {(0, 0, "", "", 0o644, 499162500)}
    got = tgz_files(res.tgz)
    pairs = {("dist" if v == "wasm32" else f"dist/{v}"): v for v in VARIANTS}
    for where, v in pairs.items():  # the bytes are the build's, unchanged, under upstream's names
        for kind in ("wasm", "mjs"):
            assert got[f"{where}/{STEM}.{kind}"] == (out / v / f"{STEM}.{kind}").read_bytes(), (where, kind)
    entries = {f"dist/ort.{v}.{k}" for v in VARIANTS for k in ENTRY_KINDS}
    upstream = {p.relative_to(out / "onnxruntime-web" / "package").as_posix()
                for p in (out / "onnxruntime-web" / "package").rglob("*") if p.is_file()}
    absent = {f"dist/ortwasm-absent.{k}.{e}" for k in ("all", "webgpu") for e in ("mjs", "cjs")}
    assert set(got) == upstream | entries | absent | {f"{w}/{STEM}.{k}" for w in pairs for k in ("wasm", "mjs")}
    for f in upstream - {"package.json", "README.md"}:  # upstream's files pass through untouched
        assert got[f] == (out / "onnxruntime-web" / "package" / f).read_bytes(), f


def test_default_is_first_in_table_order_without_wasm32(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path, ("wasm64-memfs", "wasm32-memfs")), tmp_path / "dist")
    assert res.default == "wasm32-memfs" and res.variants == ("wasm32-memfs", "wasm64-memfs")
    got = tgz_files(res.tgz)
    assert got[f"dist/{STEM}.wasm"] == (tmp_path / "out" / "wasm32-memfs" / f"{STEM}.wasm").read_bytes()
    assert f"dist/wasm32-memfs/{STEM}.wasm" not in got, "the default pair is not duplicated"
    assert f"dist/wasm64-memfs/{STEM}.wasm" in got
    assert "new URL('./', import.meta.url)" in got["dist/ort.wasm32-memfs.min.mjs"].decode()
    assert "new URL('./wasm64-memfs/', import.meta.url)" in got["dist/ort.wasm64-memfs.min.mjs"].decode()
    assert json.loads(got["package.json"])["ortwasm"]["default"] == "wasm32-memfs"


def test_package_json_is_upstreams_with_every_target_present(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path), tmp_path / "dist")
    got = tgz_files(res.tgz)
    pkg = json.loads(got["package.json"])
    assert (pkg["name"], pkg["version"], pkg["license"]) == ("onnxruntime-web", NPM_VERSION, "MIT")
    exports = pkg["exports"]
    for key, node in exports.items():
        for t in targets(node):
            assert t.startswith("./") and t[2:] in got, f"exports[{key!r}] -> {t} is not in the tarball"
    for field in ("main", "browser", "unpkg", "jsdelivr", "types"):
        assert pkg[field].removeprefix("./") in got, field
    assert exports["."] == {"node": {"import": "./dist/ort.node.min.mjs", "require": "./dist/ort.node.min.js"},
                            "import": "./dist/ort.wasm.bundle.min.mjs", "require": "./dist/ort.wasm.min.js"}
    up = UPSTREAM_PACKAGE_JSON["exports"]
    assert exports["./wasm"] == up["./wasm"] and exports["./webgl"] == up["./webgl"]
    for key in ("./all", "./webgpu"):  # left out: a module that throws, naming what to build
        name = key.removeprefix("./")
        assert exports[key] == {"node": {"import": f"./dist/ortwasm-absent.{name}.mjs",
                                         "require": f"./dist/ortwasm-absent.{name}.cjs"},
                                "import": f"./dist/ortwasm-absent.{name}.mjs",
                                "require": f"./dist/ortwasm-absent.{name}.cjs"}, key
        text = got[f"dist/ortwasm-absent.{name}.mjs"].decode()
        assert f"onnxruntime-web/{name} is not in this package" in text
        assert "python build.py --ort-version 1.21.0 --variants wasm32-jsep" in text, text
    assert pkg["ortwasm"]["absent"] == {k: pk.npm.absent_reason("1.21.0") for k in ("./all", "./webgpu")}
    assert (pkg["browser"], pkg["unpkg"], pkg["jsdelivr"], pkg["main"]) == (
        "dist/ort.wasm.min.js", "dist/ort.wasm.min.js", "dist/ort.wasm.min.js", "dist/ort.node.min.js")
    for v in VARIANTS:
        assert exports[f"./{v}"] == {"types": "./types.d.ts",
                                     "node": {"import": f"./dist/ort.{v}.node.mjs",
                                              "require": f"./dist/ort.{v}.node.cjs"},
                                     "import": f"./dist/ort.{v}.min.mjs"}
    # upstream's order, then the variant table's
    assert list(exports) == [".", "./all", "./wasm", "./webgl", "./webgpu", *(f"./{v}" for v in VARIANTS)]
    ow = pkg["ortwasm"]
    assert ow["default"] == "wasm32" and ow["ort"] == SHIPPED_ORT and ow["toolchain"] == {"emscripten": "3.1.69"}
    assert ow["variants"]["wasm64-memfs"] == {
        "arch": "wasm64", "memfs": True,
        "files": {f"dist/wasm64-memfs/{STEM}.{k}": hashlib.sha256(got[f"dist/wasm64-memfs/{STEM}.{k}"]).hexdigest()
                  for k in ("wasm", "mjs")}}
    readme = got["README.md"].decode()
    assert readme.endswith("# ONNX Runtime Web\n\nupstream's README\n")
    for needle in ("ONNX Runtime 1.21.0 with patch set `1.21.0-test`",
                   "import * as ort from 'onnxruntime-web/wasm64-memfs'",
                   f"npm install onnxruntime-web@file:./{TGZ}", f'"onnxruntime-web": "file:./{TGZ}"',
                   "The default is **wasm32**", "`onnxruntime-web/webgpu`", "WebGPU (JSEP)", "Memory64"):
        assert needle in readme, needle


def test_jsep_exports_kept_when_their_bundles_are_present(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path, ("wasm32",), jsep=True), tmp_path / "dist")
    pkg = json.loads(tgz_files(res.tgz)["package.json"])
    up = UPSTREAM_PACKAGE_JSON
    assert {k: pkg["exports"][k] for k in up["exports"]} == up["exports"]
    assert (pkg["browser"], pkg["unpkg"]) == (up["browser"], up["unpkg"])
    assert "Left out" not in tgz_files(res.tgz)["README.md"].decode()


def test_entry_points(tmp_path: Path) -> None:
    got = tgz_files(pk.build_packages(fake_out(tmp_path), tmp_path / "dist").tgz)
    text = {f"{v}.{k}": got[f"dist/ort.{v}.{k}"].decode() for v in VARIANTS for k in ENTRY_KINDS}
    probe = "0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x00"
    for v, (arch, _) in VARIANTS.items():
        esm, node, cjs = (text[f"{v}.{k}"] for k in ENTRY_KINDS)
        sub = "./" if v == "wasm32" else f"./{v}/"
        assert "import * as ort from './ort.wasm.min.mjs';" in esm and "export * from './ort.wasm.min.mjs';" in esm
        assert "import * as ort from './ort.node.min.mjs';" in node and "export * from './ort.node.min.mjs';" in node
        for t in (esm, node):
            assert "export default ort.default;" in t  # the stand-in bundles have a default export, as upstream's
            assert f"ort.env.wasm.wasmPaths = new URL('{sub}', import.meta.url).href;" in t
        assert "const ort = require('./ort.node.min.js');" in cjs and "module.exports = ort;" in cjs
        here = "__dirname" if v == "wasm32" else f"require('node:path').join(__dirname, '{v}')"
        assert f"pathToFileURL({here} + '/')" in cjs
        for t in (esm, node, cjs):
            assert "if (ort.env.wasm.wasmPaths === undefined)" in t  # the user's own setting wins
            guarded = probe in t and (f"throw new Error('onnxruntime-web/{v} needs WebAssembly Memory64: Node >= 24, "
                                      "Chrome >= 133, Firefox >= 134; this runtime has none');") in t
            assert guarded == (arch == "wasm64"), (v, t)
            if guarded:  # before the wasmPaths default, so nothing is fetched for a runtime that cannot run it
                assert t.index(probe) < t.index("if (ort.env.wasm.wasmPaths")
        if arch == "wasm64":  # CommonJS can check even before loading the bundle
            assert cjs.index(probe) < cjs.index("require('./ort.node.min.js')")


def test_reproducible_and_epoch_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path)
    a, b = pk.build_packages(out, tmp_path / "a"), pk.build_packages(out, tmp_path / "b")
    assert (sha(a.tgz), sha(a.wheel)) == (sha(b.tgz), sha(b.wheel))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("ORTWASM_PACKAGE_REVISION", "3")
    c = pk.build_packages(out, tmp_path / "c")
    assert c.tgz.name == "onnxruntime-web-1.21.0-ortwasm.3.tgz"
    assert c.wheel.name.startswith("ortwasm_artifacts-1.21.0.post3-")
    assert json.loads(tgz_files(c.tgz)["package.json"])["version"] == "1.21.0-ortwasm.3"
    with tarfile.open(c.tgz) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(PackageError, match="SOURCE_DATE_EPOCH='yesterday'"):
        pk.build_packages(out, tmp_path / "d")


# --- wheel -----------------------------------------------------------------------------------------------------


def test_wheel_record_and_metadata(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path, ("wasm32", "wasm64")), tmp_path / "dist")
    with zipfile.ZipFile(res.wheel) as zf:
        names = zf.namelist()
        info = "ortwasm_artifacts-1.21.0.post1.dist-info"
        assert names[-1] == f"{info}/RECORD" and f"{info}/WHEEL" in names and f"{info}/METADATA" in names
        assert "Tag: py3-none-any" in zf.read(f"{info}/WHEEL").decode()
        assert "Name: ortwasm-artifacts\nVersion: 1.21.0.post1\n" in zf.read(f"{info}/METADATA").decode()
        for line in zf.read(f"{info}/RECORD").decode().splitlines():
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = zf.read(path)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data) and digest == f"sha256={want}", path
        assert {zi.date_time for zi in zf.infolist()} == {(1985, 10, 26, 8, 15, 0)}
        assert {zi.external_attr >> 16 for zi in zf.infolist()} == {0o100644}
        assert f"ortwasm_artifacts/npm/package/dist/wasm64/{STEM}.wasm" in names
        man = json.loads(zf.read("ortwasm_artifacts/manifest.json"))
    assert man["format"] == 2 and man["default"] == "wasm32" and set(man["variants"]) == {"wasm32", "wasm64"}
    entry = man["variants"]["wasm64"]
    assert entry["files"]["mjs"] | {"bytes": 0, "sha256": ""} == {
        "path": f"dist/wasm64/{STEM}.mjs", "built_as": f"{STEM}.mjs", "bytes": 0, "sha256": ""}
    assert {"fs", "c_api", "memory64", "budget.raw"} <= set(entry["checks"]["rules"])
    assert man["web"]["ort"] == SHIPPED_ORT
    assert man["npm"] == {"name": "onnxruntime-web", "version": NPM_VERSION}


def test_wheel_carries_the_npm_packages_files(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path), tmp_path / "dist")
    npm = {p: hashlib.sha256(b).hexdigest() for p, b in tgz_files(res.tgz).items()}
    root = "ortwasm_artifacts/npm/package/"
    with zipfile.ZipFile(res.wheel) as zf:
        whl = {n.removeprefix(root): hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()
               if n.startswith(root)}
        rest = sorted(n for n in zf.namelist() if not n.startswith(root))
    assert whl == npm
    assert [n for n in rest if not n.startswith("ortwasm_artifacts-")] == [
        "ortwasm_artifacts/__init__.py", "ortwasm_artifacts/manifest.json", "ortwasm_artifacts/py.typed"]


# --- refusals --------------------------------------------------------------------------------------------------


def test_refuses_without_the_js(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    shutil.rmtree(out / "onnxruntime-web")
    err = refused(out, tmp_path / "dist", r"onnxruntime-web is missing")
    assert "--skip-js" in err.hint
    assert main(["package", str(out), "--dest", str(tmp_path / "dist")]) == PackageError.return_code == 10
    printed = capsys.readouterr().err
    assert "onnxruntime-web is missing" in printed and "hint:" in printed and "--skip-js" in printed
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


@pytest.mark.parametrize("key", ["version", "patchset", "source"])
def test_refuses_js_from_another_build(tmp_path: Path, key: str) -> None:
    out = fake_out(tmp_path, ("wasm32", "wasm64"))
    other = {**ORT, key: "1.22.0" if key == "version" else "elsewhere"}
    write_web_manifest(out / "onnxruntime-web", other)
    err = refused(out, tmp_path / "dist", "the wasm and the JS come from different builds")
    for v in ("wasm32", "wasm64"):
        assert f"{v}: ORT {key} {ORT[key]!r}, but onnxruntime-web: {other[key]!r}" in err.message
    assert "one run from one tree" in err.hint


def test_refuses_variant_that_predates_ort_source(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    write_manifest(out / "wasm32", "wasm32", "wasm32", False, {k: v for k, v in ORT.items() if k != "source"})
    err = refused(out, tmp_path / "dist", "different builds")
    assert f"wasm32: ORT source (not recorded), but onnxruntime-web: {ORT['source']!r}" in err.message


def test_refuses_js_edited_after_its_build(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    bundle = out / "onnxruntime-web" / "package" / "dist" / "ort.wasm.min.mjs"
    original = bundle.read_bytes()
    bundle.write_bytes(original + b"// edited\n")
    err = refused(out, tmp_path / "dist", r"1 file\(s\) of .* changed after the JS build: dist/ort.wasm.min.mjs")
    assert "delete OUT/onnxruntime-web" in err.hint
    bundle.write_bytes(original)
    (bundle.parent / "extra.js").write_text("1")
    refused(out, tmp_path / "dist", r"1 file\(s\) not in its manifest \(dist/extra.js\)")
    (bundle.parent / "extra.js").unlink()
    bundle.unlink()
    refused(out, tmp_path / "dist", r"1 listed file\(s\) missing \(dist/ort.wasm.min.mjs\)")


def test_refuses_broken_js_manifest(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    mf = out / "onnxruntime-web" / "manifest.json"
    good = json.loads(mf.read_text())
    mf.write_text("{")
    refused(out, tmp_path / "dist", "is not readable JSON")
    mf.write_text(json.dumps({**good, "format": 99}))
    refused(out, tmp_path / "dist", "format 99")
    mf.write_text(json.dumps({k: v for k, v in good.items() if k != "files"}))
    refused(out, tmp_path / "dist", "lacks ort")


def test_refuses_js_without_the_bundles_the_entries_wrap(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    (out / "onnxruntime-web" / "package" / "dist" / "ort.node.min.js").unlink()
    write_web_manifest(out / "onnxruntime-web")
    refused(out, tmp_path / "dist", "onnxruntime-web has no dist/ort.node.min.js, which the variant entry points")


def test_refuses_memfs_claim_on_fs_less_glue(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32", "wasm64"))
    fake_variant(out, "wasm32-memfs", glue_fs=False)  # manifest says memfs=true, the glue has no FS
    err = refused(out, tmp_path / "dist", r"refusing to package: wasm32-memfs failed 1 check")
    assert "FS absent" in err.message and "memfs=True" in err.message


def test_refuses_over_budget(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32", "wasm64"))
    tight = Budgets("tight-budgets", {"default": {".wasm": Budget(10**9, 10**9), ".mjs": Budget(10**9, 10**9)},
                                      "wasm64": {".mjs": Budget(raw=100)}}, {}, 2.0)
    err = refused(out, tmp_path / "dist", "wasm64 failed 1 check", budgets=tight)
    assert f"wasm64/{STEM}.mjs: raw" in err.message and "exceeds budget 100 B" in err.message


def test_refuses_unchecked_dirs(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    (out / "wasm32" / "manifest.json").unlink()
    refused(out, tmp_path / "dist", r"refusing to package wasm32: .* has no manifest.json")
    o2 = fake_out(tmp_path / "2", ("wasm64",))
    (o2 / "wasm64" / f"{STEM}.mjs").write_text(fake_glue("wasm64", False) + "//edited")
    refused(o2, tmp_path / "dist", "wasm64: .*mjs is sha256 .* changed after the build")
    o3 = fake_out(tmp_path / "3", ("wasm32",))
    shutil.move(o3 / "wasm32", o3 / "wasm64")
    refused(o3, tmp_path / "dist", "its manifest says it is variant 'wasm32'")
    o4 = fake_out(tmp_path / "4", ("wasm32",))
    fake_variant(o4, "wasm64", ort={**ORT, "version": "1.22.0"})
    refused(o4, tmp_path / "dist", "ORT versions 1.21.0, 1.22.0 together")
    refused(o4 / "wasm32", tmp_path / "dist", "one variant's dir, not an OUT dir")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", tmp_path / "dist", "has no <variant>/ dirs")


def test_refuses_variants_outside_the_table(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    d = out / "wasm32-custom"
    shutil.copytree(out / "wasm32", d)
    write_manifest(d, "wasm32-custom", "wasm32", False)
    err = refused(out, tmp_path / "dist", "wasm32-custom: not a variant of the variant table")
    assert "wasm32-memfs" in err.hint


def test_truncated_wasm_cannot_be_checked(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    w = out / "wasm32" / f"{STEM}.wasm"
    w.write_bytes(w.read_bytes()[:40])
    write_manifest(out / "wasm32", "wasm32", "wasm32", False)
    refused(out, tmp_path / "dist", "refusing to package wasm32: it cannot be checked")


def test_failed_write_keeps_the_old_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    first = pk.build_packages(out, tmp_path / "dist")
    before = sha(first.tgz)

    def boom(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pk, "build_wheel", boom)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # a new tarball would differ from the old one
    with pytest.raises(PackageError, match="disk full"):
        pk.build_packages(out, tmp_path / "dist")
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted([first.tgz.name, first.wheel.name])
    assert sha(first.tgz) == before


def test_dest_inside_out_is_not_a_variant(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    res = pk.build_packages(out, out / "dist")
    again = pk.build_packages(out, out / "dist")
    assert res.variants == again.variants == ("wasm32",) and sha(res.tgz) == sha(again.tgz)


def test_cpu_equivalents_of_jsep_targets() -> None:
    have = {"dist/ort.wasm.min.js", "dist/ort.wasm.bundle.min.mjs", "dist/ort.wasm.min.mjs", "dist/ort.wasm.mjs"}
    eq = pk_npm._cpu_equivalent
    assert eq("./dist/ort.bundle.min.mjs", have) == "./dist/ort.wasm.bundle.min.mjs"
    assert eq("dist/ort.min.js", have) == "dist/ort.wasm.min.js"
    assert eq("./dist/ort.webgpu.min.mjs", have) == "./dist/ort.wasm.min.mjs"
    assert eq("./dist/ort.all.bundle.mjs", have) == "./dist/ort.wasm.mjs"  # no .bundle twin: the plain one
    assert eq("./dist/ort.webgl.min.js", have) is None and eq("./dist/ort.min.js", set()) is None


def test_package_json_refuses_unknown_missing_target(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    pj = copy.deepcopy(UPSTREAM_PACKAGE_JSON)
    pj["exports"]["./extra"] = {"import": "./dist/nowhere.mjs"}
    (out / "onnxruntime-web" / "package" / "package.json").write_text(json.dumps(pj))
    write_web_manifest(out / "onnxruntime-web")
    refused(out, tmp_path / "dist", r"exports './extra' -> './dist/nowhere.mjs', which the JS stage neither")


def test_tar_bytes_are_what_npm_would_unpack(tmp_path: Path) -> None:
    """gzip header without name or mtime, so two runs on different days give the same tarball."""
    res = pk.build_packages(fake_out(tmp_path, ("wasm32",)), tmp_path / "dist")
    head = res.tgz.read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08" and head[3] == 0 and head[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(res.tgz.read_bytes())) as tar:
        assert all(m.isfile() for m in tar.getmembers())


# --- WebGPU (JSEP) pairs ------------------------------------------------------------------------------------------

JSEP_VARIANTS = {"wasm32-jsep": ("wasm32", False), "wasm32-jsep-memfs": ("wasm32", True),
                 "wasm64-jsep-memfs": ("wasm64", True)}


def jsep_out(root: Path, embedded: str | None = "wasm32-jsep") -> Path:
    """CPU and JSEP variants, and the JS built with `embedded`'s glue (None: a placeholder, as before any JSEP)."""
    out = root / "out"
    for n in ("wasm32", "wasm32-memfs", *JSEP_VARIANTS):
        fake_variant(out, n)
    web = fake_web(out, jsep=True, bundles=("ort.webgpu.min.mjs",))
    write_web_manifest(web, dropped=[], glues={
        f"{STEM}.jsep.mjs": sha(out / embedded / f"{STEM}.jsep.mjs") if embedded else "placeholder"})
    return out


def test_jsep_pairs_go_where_the_webgpu_bundles_look(tmp_path: Path) -> None:
    """The first JSEP variant's pair sits at upstream's dist/*.jsep.*, so `onnxruntime-web/webgpu` (and the default
    browser bundle, which embeds its glue) load it; the others get dist/<variant>/ and a browser-only entry over
    ort.webgpu.min.mjs."""
    out = jsep_out(tmp_path)
    res = pk.build_packages(out, tmp_path / "dist")
    got = tgz_files(res.tgz)
    for kind in ("wasm", "mjs"):
        assert got[f"dist/{STEM}.jsep.{kind}"] == (out / "wasm32-jsep" / f"{STEM}.jsep.{kind}").read_bytes()
        assert got[f"dist/wasm64-jsep-memfs/{STEM}.jsep.{kind}"] == \
            (out / "wasm64-jsep-memfs" / f"{STEM}.jsep.{kind}").read_bytes()
        assert got[f"dist/{STEM}.{kind}"] == (out / "wasm32" / f"{STEM}.{kind}").read_bytes(), "CPU default stays"
    pkg = json.loads(got["package.json"])
    assert pkg["exports"]["./webgpu"] == UPSTREAM_PACKAGE_JSON["exports"]["./webgpu"], "upstream's, untouched"
    assert pkg["exports"]["."] == UPSTREAM_PACKAGE_JSON["exports"]["."], "nothing dropped, nothing remapped"
    entry = pkg["exports"]["./wasm64-jsep-memfs"]
    assert entry["import"] == "./dist/ort.wasm64-jsep-memfs.min.mjs"
    node_entry = got["dist/ort.wasm64-jsep-memfs.node.mjs"].decode()  # Node has no WebGPU: a named refusal
    assert "throw new Error(" in node_entry and "Node has no WebGPU" in node_entry and "from '" not in node_entry
    text = got["dist/ort.wasm64-jsep-memfs.min.mjs"].decode()
    assert "from './ort.webgpu.min.mjs'" in text and "new URL('./wasm64-jsep-memfs/', import.meta.url)" in text
    assert "Memory64" in text, "the wasm64 guard comes first"
    assert "new URL('./', import.meta.url)" in got["dist/ort.wasm32-jsep.min.mjs"].decode()
    assert "Node has no WebGPU" in got["dist/ort.wasm32-jsep.node.cjs"].decode()
    assert "WebGPU" in got["README.md"].decode() and "Left out" not in got["README.md"].decode()


@pytest.mark.parametrize("embedded", [None, "wasm32-jsep-memfs"])
def test_jsep_bundles_embedding_another_glue_are_refused(tmp_path: Path, embedded: str | None) -> None:
    out = jsep_out(tmp_path, embedded)
    err = refused(out, tmp_path / "dist", "WebGPU bundles embed")
    assert "--variants wasm32-jsep" in err.hint


# --- WebGPU EP pairs (ONNX Runtime 1.30: .asyncify, .jspi) -----------------------------------------------------------

ORT_130 = {"version": "1.30.0", "patched": True, "patchset": "1.30.0-test", "source": "/src/onnxruntime-1.30.0"}
_EXTERN = "onnxruntime-web-use-extern-wasm"


def _subpath(name: str, bundled: bool = True) -> dict[str, Any]:
    """One of 1.30.0's bundle exports: ESM bundle (extern-wasm condition: the unbundled form), CJS unbundled."""
    return {"types": "./types.d.ts",
            "import": {_EXTERN: f"./dist/{name}.min.mjs", "default": f"./dist/{name}.bundle.min.mjs"} if bundled
            else f"./dist/{name}.min.mjs", "require": f"./dist/{name}.min.js"}


# onnxruntime-web 1.30.0's package.json, as far as packaging reads it (exports and the entry fields verbatim).
UPSTREAM_PACKAGE_JSON_130: dict[str, Any] = {
    "license": "MIT", "unpkg": "dist/ort.min.js", "name": "onnxruntime-web", "version": "1.30.0",
    "jsdelivr": "dist/ort.min.js", "main": "dist/ort.node.min.js", "browser": "dist/ort.min.js",
    "exports": {
        ".": {"types": "./types.d.ts",
              "node": {"import": "./dist/ort.node.min.mjs", "require": "./dist/ort.node.min.js"},
              "import": {_EXTERN: "./dist/ort.min.mjs", "default": "./dist/ort.bundle.min.mjs"},
              "require": "./dist/ort.min.js"},
        "./all": _subpath("ort.all"), "./wasm": _subpath("ort.wasm"), "./webgl": _subpath("ort.webgl", bundled=False),
        "./webgpu": _subpath("ort.webgpu"), "./jspi": _subpath("ort.jspi"),
        **{f"./{STEM}{sfx}.{ext}": f"./dist/{STEM}{sfx}.{ext}" for ext in ("wasm", "mjs")
           for sfx in ("", ".jsep", ".jspi", ".asyncify")},
    },
    "types": "./types.d.ts", "description": "A Javascript library for running ONNX models on browsers",
}
# 1.30.0's dist: which pair each family loads (measured: each minified bundle names exactly one glue), and the
# bundles of the WebGPU families besides the CPU ones.
LOADS_130 = {"ort.wasm": STEM, "ort.node": STEM, "ort": f"{STEM}.jsep", "ort.all": f"{STEM}.jsep",
             "ort.webgpu": f"{STEM}.asyncify", "ort.jspi": f"{STEM}.jspi"}
FORMS_130 = ("min.mjs", "bundle.min.mjs", "min.js")
EP_VARIANTS = ("wasm32", "wasm32-asyncify", "wasm32-asyncify-memfs", "wasm32-jspi-memfs")


def ep_out(root: Path, names: Sequence[str] = EP_VARIANTS, *, glues: Mapping[str, str] | None = None,
           loads: Mapping[str, str] = LOADS_130) -> Path:
    """A 1.30 OUT dir: ``names``, and the JS stage's output as it writes it for them: the glue of each kind that
    ``web.built_glues`` picks embedded (or ``glues``), the rest placeholders whose bundles are dropped."""
    out = root / "out"
    for n in names:
        fake_variant(out, n, ort=ORT_130)
    built = {g: sha(p) for g, p in js_web.built_glues(out).items()}
    glues = {g: built.get(g, "placeholder") for g in require_recipe("1.30.0").js_glues} if glues is None else glues
    kept = {"ort.webgpu": f"{STEM}.asyncify.mjs", "ort.jspi": f"{STEM}.jspi.mjs"}
    bundles = [f"{fam}.{form}" for fam, glue in kept.items() if glues.get(glue, "placeholder") != "placeholder"
               for form in FORMS_130]
    dropped = [f"{STEM}{sfx}.{ext}" for sfx in ("", ".jsep", ".asyncify", ".jspi") for ext in ("wasm", "mjs")] + \
        [f"{fam}.{form}" for fam in ("ort", "ort.all", *kept) for form in FORMS_130
         if f"{fam}.{form}" not in bundles]
    fake_web(out, ort=ORT_130, package_json=UPSTREAM_PACKAGE_JSON_130, bundles=bundles, loads=loads,
             dropped=sorted(dropped), glues=glues)
    return out


def pair_bytes(out: Path, variant: str, suffix: str, kind: str) -> bytes:
    return (out / variant / f"{STEM}{suffix}.{kind}").read_bytes()


def test_webgpu_ep_pairs_go_where_their_bundles_look(tmp_path: Path) -> None:
    """Per kind, the default pair (MEMFS off when there, else the first) sits at upstream's dist/ name, so
    `onnxruntime-web/webgpu` (asyncify) and `onnxruntime-web/jspi` load ours; every variant's entry wraps the
    extern-wasm bundle of its kind and points wasmPaths at its own pair; Node entries refuse by name."""
    out = ep_out(tmp_path)
    res = pk.build_packages(out, tmp_path / "dist")
    assert res.ort_version == "1.30.0" and res.default == "wasm32" and res.variants == EP_VARIANTS
    got = tgz_files(res.tgz)
    for kind in ("wasm", "mjs"):
        assert got[f"dist/{STEM}.{kind}"] == pair_bytes(out, "wasm32", "", kind)
        assert got[f"dist/{STEM}.asyncify.{kind}"] == pair_bytes(out, "wasm32-asyncify", ".asyncify", kind)
        assert got[f"dist/wasm32-asyncify-memfs/{STEM}.asyncify.{kind}"] == \
            pair_bytes(out, "wasm32-asyncify-memfs", ".asyncify", kind)
        # the only JSPI variant is its kind's default though it has MEMFS
        assert got[f"dist/{STEM}.jspi.{kind}"] == pair_bytes(out, "wasm32-jspi-memfs", ".jspi", kind)
        assert f"dist/wasm32-jspi-memfs/{STEM}.jspi.{kind}" not in got, "the default pair is not duplicated"
    pkg = json.loads(got["package.json"])
    exports, up = pkg["exports"], UPSTREAM_PACKAGE_JSON_130["exports"]
    for key, node in exports.items():
        for t in targets(node):
            assert t.startswith("./") and t[2:] in got, f"exports[{key!r}] -> {t} is not in the tarball"
    assert exports["./webgpu"] == up["./webgpu"] and exports["./jspi"] == up["./jspi"], "upstream's, untouched"
    assert "./dist/ort.webgpu.bundle.min.mjs" in targets(exports["./webgpu"])
    assert exports[f"./{STEM}.asyncify.wasm"] == f"./dist/{STEM}.asyncify.wasm"
    assert exports[f"./{STEM}.jspi.mjs"] == f"./dist/{STEM}.jspi.mjs"
    assert f"./{STEM}.jsep.wasm" not in exports, "a pair not built is not exported"
    assert exports["."]["import"] == {_EXTERN: "./dist/ort.wasm.min.mjs", "default": "./dist/ort.wasm.bundle.min.mjs"}
    assert exports["./all"]["import"] == "./dist/ortwasm-absent.all.mjs"  # 1.30's ort.all* load .jsep
    assert "ortwasm builds JSEP for ONNX Runtime 1.21 only" in pkg["ortwasm"]["absent"]["./all"]
    assert set(pkg["ortwasm"]["absent"]) == {"./all"}
    assert pkg["ortwasm"]["variants"]["wasm32-jspi-memfs"]["webgpu"] == "jspi"
    assert "webgpu" not in pkg["ortwasm"]["variants"]["wasm32"] and "jsep" not in pkg["ortwasm"]["variants"]["wasm32"]
    for v, bundle, sub in (("wasm32-asyncify", "ort.webgpu.min.mjs", "./"),
                           ("wasm32-asyncify-memfs", "ort.webgpu.min.mjs", "./wasm32-asyncify-memfs/"),
                           ("wasm32-jspi-memfs", "ort.jspi.min.mjs", "./")):
        assert exports[f"./{v}"]["import"] == f"./dist/ort.{v}.min.mjs"
        text = got[f"dist/ort.{v}.min.mjs"].decode()
        assert f"import * as ort from './{bundle}';" in text and f"export * from './{bundle}';" in text, v
        assert f"ort.env.wasm.wasmPaths = new URL('{sub}', import.meta.url).href;" in text, v
        ep = "WebGPU EP (jspi)" if "jspi" in v else "WebGPU EP (asyncify)"
        for node in ("node.mjs", "node.cjs"):
            refusal = got[f"dist/ort.{v}.{node}"].decode()
            assert "Node has no WebGPU" in refusal and f"is a {ep} build" in refusal and "require(" not in refusal
    readme = got["README.md"].decode()
    for needle in ("| `onnxruntime-web/wasm32-asyncify` (and `onnxruntime-web/webgpu`) | wasm32 | "
                   "WebGPU EP (asyncify) | off |",
                   "| `onnxruntime-web/wasm32-jspi-memfs` (and `onnxruntime-web/jspi`) | wasm32 | "
                   "WebGPU EP (jspi) | on |",
                   "| `onnxruntime-web/wasm32-asyncify-memfs` | wasm32 | WebGPU EP (asyncify) | on |",
                   "| `onnxruntime-web/wasm32` (and `onnxruntime-web`, `onnxruntime-web/wasm`) | wasm32 | CPU |",
                   "## Left out: WebGPU (JSEP)\n", "import * as ort from 'onnxruntime-web/wasm32'"):
        assert needle in readme, needle
    with zipfile.ZipFile(res.wheel) as zf:
        man = json.loads(zf.read("ortwasm_artifacts/manifest.json"))
    assert (man["variants"]["wasm32-asyncify"]["webgpu"], man["variants"]["wasm32"]["webgpu"]) == ("asyncify", "")


def test_webgpu_ep_kind_not_built_is_left_out_naming_its_variant(tmp_path: Path) -> None:
    """Asyncify only: ./jspi's bundles embed a placeholder, so they are dropped and ./jspi throws, naming the
    variant to build; the asyncify pair without MEMFS missing, the MEMFS one takes dist/."""
    out = ep_out(tmp_path, ("wasm32", "wasm32-asyncify-memfs"))
    got = tgz_files(pk.build_packages(out, tmp_path / "dist").tgz)
    assert got[f"dist/{STEM}.asyncify.wasm"] == pair_bytes(out, "wasm32-asyncify-memfs", ".asyncify", "wasm")
    pkg = json.loads(got["package.json"])
    assert pkg["exports"]["./webgpu"] == UPSTREAM_PACKAGE_JSON_130["exports"]["./webgpu"]
    assert pkg["exports"]["./jspi"]["import"] == "./dist/ortwasm-absent.jspi.mjs"
    reason = pkg["ortwasm"]["absent"]["./jspi"]
    assert "python build.py --ort-version 1.30.0 --variants wasm32-jspi`" in reason, reason
    assert reason in got["dist/ortwasm-absent.jspi.cjs"].decode()
    assert f"./{STEM}.jspi.wasm" not in pkg["exports"]
    assert "## Left out: WebGPU (JSEP), WebGPU EP (jspi)\n" in got["README.md"].decode()


@pytest.mark.parametrize(("said", "shown"), [({"jsep": False, "webgpu": "jspi"}, "webgpu='jspi'"),
                                             (None, "webgpu=''"),  # a manifest from before the key: not stated
                                             ({"jsep": True}, "jsep=True, webgpu=''")])
def test_refuses_manifest_whose_webgpu_disagrees_with_the_table(tmp_path: Path, said: dict[str, Any] | None,
                                                                shown: str) -> None:
    out = ep_out(tmp_path)
    d = out / "wasm32-asyncify"
    write_manifest(d, "wasm32-asyncify", "wasm32", False, ORT_130, said)
    err = refused(out, tmp_path / "dist", "refusing to package wasm32-asyncify: ")
    want = "webgpu='asyncify'" if "jsep" not in shown else "jsep=False, webgpu='asyncify'"
    assert f"{d}/manifest.json says {shown} where the variant table (ortwasm/data/variants.toml) says {want}" \
        in err.message, err.message
    assert "--variants wasm32-asyncify" in err.hint


def test_refuses_pair_under_another_kinds_name(tmp_path: Path) -> None:
    out = ep_out(tmp_path)
    d = out / "wasm32-asyncify"
    for kind in ("wasm", "mjs"):
        (d / f"{STEM}.asyncify.{kind}").rename(d / f"{STEM}.jspi.{kind}")
    write_manifest(d, "wasm32-asyncify", "wasm32", False, ORT_130, {"jsep": False, "webgpu": "asyncify"})
    err = refused(out, tmp_path / "dist", "refusing to package wasm32-asyncify")
    assert f"its pair is {d}/{STEM}.jspi.wasm/.mjs, but onnxruntime-web 1.30.0 loads only {STEM}.asyncify.wasm/.mjs " \
        "for a WebGPU EP (asyncify) variant" in err.message


@pytest.mark.parametrize("embedded", [None, "wasm32-asyncify-memfs"])
def test_webgpu_ep_bundles_embedding_another_glue_are_refused(tmp_path: Path, embedded: str | None) -> None:
    out = ep_out(tmp_path)
    glues = json.loads((out / "onnxruntime-web" / "manifest.json").read_text())["glues"]
    glues[f"{STEM}.asyncify.mjs"] = sha(out / embedded / f"{STEM}.asyncify.mjs") if embedded else "placeholder"
    shutil.rmtree(out)
    ep_out(tmp_path, glues=glues)
    err = refused(out, tmp_path / "dist", "refusing to package wasm32-asyncify: onnxruntime-web's WebGPU bundles "
                  "embed " + ("a placeholder" if embedded is None else "sha256"))
    assert "--variants wasm32-asyncify" in err.hint


def test_refuses_a_real_embedded_glue_without_its_pair(tmp_path: Path) -> None:
    """The JS was built with the JSPI glue, then its variant left OUT: ./jspi would fetch a wasm that is not there."""
    out = ep_out(tmp_path)
    shutil.rmtree(out / "wasm32-jspi-memfs")
    err = refused(out, tmp_path / "dist", f"WebGPU bundles embed the glue {STEM}.jspi.mjs .* but no variant packaged "
                  f"has that pair, so they would fetch a dist/{STEM}.jspi.wasm that is not there")
    assert "put back the OUT/<variant>/" in err.hint


def test_refuses_an_entry_over_a_bundle_that_loads_another_pair(tmp_path: Path) -> None:
    """A version whose ort.webgpu* loads another pair than WEBGPU_SUBPATHS says (as 1.21's loads .jsep): the entry
    would set wasmPaths for a pair its bundle never asks for; refused, naming both."""
    out = ep_out(tmp_path, loads={**LOADS_130, "ort.webgpu": f"{STEM}.jsep"})
    err = refused(out, tmp_path / "dist", f"refusing to package wasm32-asyncify: onnxruntime-web's "
                  f"dist/ort.webgpu.min.mjs does not load {STEM}.asyncify.mjs")
    assert "WEBGPU_SUBPATHS" in err.hint and "WebGPU EP (asyncify)" in err.hint


def test_absent_reasons_per_subpath() -> None:
    """Each left-out subpath names what its bundles load: 1.30's ./webgpu the asyncify pair, ./all the JSEP one
    (which 1.30 cannot build here), and 1.21's every one the JSEP pair, as before."""
    reason = pk_npm.absent_reason
    assert "--variants wasm32-asyncify`" in reason("1.30.0", pk_npm.kinds_loaded_by("./webgpu"))
    assert "--variants wasm32-jspi`" in reason("1.30.0", pk_npm.kinds_loaded_by("./jspi"))
    assert "ortwasm builds no WebGPU (JSEP) pair of ONNX Runtime 1.30.0 (ortwasm builds JSEP for ONNX Runtime 1.21 " \
        "only" in reason("1.30.0", pk_npm.kinds_loaded_by("./all"))
    for key in ("./all", "./webgpu"):
        assert reason("1.21.0", pk_npm.kinds_loaded_by(key)) == reason("1.21.0")
        assert "--variants wasm32-jsep`" in reason("1.21.0")


# --- the JS stage's choices: which glue it embeds, which bundles it drops -----------------------------------------


def test_built_glues_are_the_pairs_the_package_puts_in_dist(tmp_path: Path) -> None:
    """One rule for both stages: per kind, wasm32 without MEMFS when built, else the first in table order."""
    out = tmp_path / "out"
    for n in ("wasm32-memfs", "wasm64", "wasm32-asyncify-memfs", "wasm32-asyncify", "wasm32-jspi-memfs",
              "wasm32-jsep-memfs", "wasm32-nothreads"):
        d = out / n
        d.mkdir(parents=True)
        (d / "manifest.json").write_text("{}")
        (d / f"{load_table()[n].artifact_stem}.mjs").write_text("")
    (out / "wasm32-jspi").mkdir()  # no manifest: not built
    assert js_web.built_glues(out) == {
        f"{STEM}.mjs": out / "wasm32-memfs" / f"{STEM}.mjs",
        f"{STEM}.jsep.mjs": out / "wasm32-jsep-memfs" / f"{STEM}.jsep.mjs",
        f"{STEM}.asyncify.mjs": out / "wasm32-asyncify" / f"{STEM}.asyncify.mjs",
        f"{STEM}.jspi.mjs": out / "wasm32-jspi-memfs" / f"{STEM}.jspi.mjs"}
    assert js_web.pairs_in_dist(["wasm64-memfs", "wasm64", "wasm32-nothreads"]) == {"cpu": "wasm64"}


def _dist_like(dist: Path, files: Mapping[str, str]) -> Path:
    dist.mkdir(parents=True)
    for name, text in files.items():
        (dist / name).write_text(text)
    return dist


def test_left_out_goes_by_the_pair_each_family_loads(tmp_path: Path) -> None:
    """A bundle family is dropped only when the glue its minified build names is a placeholder; the unminified forms
    (every glue's name in dead branches) and the source maps follow their family; a bundle embedding a placeholder
    goes whatever its name; upstream's pairs always go."""
    js = js_web.JsRecipe.of("1.30.0")
    glue = {k: f"{STEM}{sfx}.mjs" for k, sfx in (("cpu", ""), ("jsep", ".jsep"), ("asyncify", ".asyncify"),
                                                 ("jspi", ".jspi"))}
    every = " ".join(glue.values())
    dist = _dist_like(tmp_path / "dist", {
        "ort.min.mjs": glue["jsep"], "ort.mjs": every, "ort.all.min.mjs": glue["jsep"],
        "ort.webgpu.min.mjs": glue["asyncify"], "ort.webgpu.mjs": every, "ort.webgpu.min.mjs.map": every,
        "ort.webgpu.bundle.min.mjs": glue["asyncify"] + " real asyncify glue",
        "ort.jspi.min.mjs": glue["jspi"], "ort.jspi.bundle.min.mjs": js_web._PLACEHOLDER,
        "ort.jspi.bundle.min.mjs.map": "{}", "ort.wasm.min.mjs": glue["cpu"],
        "ort.wasm.bundle.min.mjs": js_web._PLACEHOLDER, "ort.webgl.min.mjs": "", f"{STEM}.jsep.wasm": ""})
    placeholders = [glue["jsep"], glue["jspi"], glue["cpu"]]
    assert js_web.left_out(dist, js, placeholders) == [
        f"{STEM}.jsep.wasm", "ort.all.min.mjs", "ort.jspi.bundle.min.mjs", "ort.jspi.bundle.min.mjs.map",
        "ort.jspi.min.mjs", "ort.min.mjs", "ort.mjs", "ort.wasm.bundle.min.mjs"]
    assert js_web.left_out(dist, js, []) == [f"{STEM}.jsep.wasm"]


@pytest.mark.parametrize(("version", "placeholders", "gone"), [
    ("1.21.0", [".jsep"], ("ort", "ort.all", "ort.webgpu")),
    ("1.30.0", [".jsep"], ("ort", "ort.all")),
    ("1.30.0", [".jsep", ".jspi"], ("ort", "ort.all", "ort.jspi")),
    ("1.30.0", [".jsep", ".asyncify", ".jspi"], ("ort", "ort.all", "ort.webgpu", "ort.jspi")),
])
def test_left_out_on_upstreams_dist(tmp_path: Path, version: str, placeholders: list[str],
                                    gone: tuple[str, ...]) -> None:
    """On upstream's real bundles (their glues real, so only the by-name rule acts): with the asyncify glue built,
    1.30's ort.webgpu* (every form, maps too) stay though the JSEP glue is a placeholder; 1.21's ort.webgpu* load
    the JSEP pair and go with it."""
    official = ortwasm_home() / "clients" / f"official-{version}" / "node_modules" / "onnxruntime-web"
    if not (official / "dist" / "ort.webgpu.min.mjs").is_file():
        pytest.skip(f"!!! no official onnxruntime-web {version} at {official} (tests/test_client.py installs it): the "
                    "JS stage's drop rule was NOT checked on upstream's bundles")
    dist = tmp_path / "dist"
    dist.mkdir()
    for f in (official / "dist").iterdir():
        (dist / f.name).symlink_to(f)
    left = js_web.left_out(dist, js_web.JsRecipe.of(version), [f"{STEM}{p}.mjs" for p in placeholders])
    pairs = sorted(f.name for f in dist.iterdir() if f.name.startswith(STEM))
    bundles = sorted(f.name for f in dist.iterdir() if not f.name.startswith(STEM)
                     and js_web._family(f.name.removesuffix(".map")) in gone)
    assert left == sorted(pairs + bundles)
    assert {js_web._family(n) for n in bundles} == set(gone) and any(n.endswith(".map") for n in bundles)
