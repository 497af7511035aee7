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
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ortwasm import package as pk
from ortwasm.checks.rules import JSEP_C_API
from ortwasm.checks.sizes import Budget, Budgets
from ortwasm.cli import main
from ortwasm.errors import PackageError
from ortwasm.package import npm as pk_npm
from ortwasm.recipe import default_version, require_recipe
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


_uleb = uleb


def _sec(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(payload)) + payload


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


def fake_wasm(arch: str) -> bytes:
    is64, n = arch == "wasm64", len(ORT_C_API)
    mem = bytes([0x03 | is64 << 2]) + _uleb(256) + _uleb(262144 if is64 else 65536)
    return b"".join([b"\0asm\x01\0\0\0", _sec(1, _vec([b"\x60\x00\x00"])),
                     _sec(2, _vec([_name("a") + _name("a") + b"\x02" + mem])), _sec(3, _vec([b"\x00"] * n)),
                     _sec(4, _vec([b"\x70" + bytes([0x01 | is64 << 2]) + _uleb(n) + _uleb(n)])),
                     _sec(7, _vec([_name(f"m{i}") + b"\x00" + _uleb(i) for i in range(n)])),
                     _sec(10, _vec([b"\x02\x00\x0b"] * n))])


def fake_glue(arch: str, fs: bool) -> str:
    body = "".join(f"h._{c}=(a,b)=>(h._{c}=H.m{i})(a,b);" for i, c in enumerate(ORT_C_API))
    mem = 'new WebAssembly.Memory({initial:256,maximum:65536,shared:!0,address:"i64"});' if arch == "wasm64" else ""
    return (f"var h=moduleArg,H;{RUNTIME_TEXT}WebAssembly.instantiate(b).then(function a(d,e){{H=d.exports;return H}});"
            f'{body}{mem}var ENV={{HOME:"/home/web_user"}};{FS_TEXT if fs else ""}')


def write_manifest(d: Path, name: str, arch: str, memfs: bool, ort: dict[str, Any] | None = None) -> None:
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(d.iterdir()) if p.suffix in (".wasm", ".mjs")]
    (d / "manifest.json").write_text(json.dumps({
        "format": 1, "variant": {"name": name, "arch": arch, "memfs": memfs, "simd": True, "threads": True},
        "files": files, "ort": ORT if ort is None else ort,
        "toolchain": {"emscripten": "3.1.69", "kind": "chroot"}}, indent=2))


def fake_variant(out: Path, name: str, *, glue_fs: bool | None = None, ort: dict[str, Any] | None = None) -> Path:
    arch, memfs = VARIANTS[name]
    d = out / name
    d.mkdir(parents=True)
    (d / f"{STEM}.wasm").write_bytes(fake_wasm(arch))
    (d / f"{STEM}.mjs").write_text(fake_glue(arch, memfs if glue_fs is None else glue_fs))
    write_manifest(d, name, arch, memfs, ort)
    return d


def fake_bundle(name: str) -> str:
    """A stand-in bundle: an ``env`` like onnxruntime-common's, and its own name, so a test can see what loaded."""
    if name.endswith(".mjs"):
        return (f"export const env = {{ wasm: {{}} }};\nexport const bundle = '{name}';\n"
                "export default { env, bundle };\n")
    return f"'use strict';\nexports.env = {{ wasm: {{}} }};\nexports.bundle = '{name}';\n"


def write_web_manifest(web: Path, ort: dict[str, Any] | None = None, dropped: list[str] | None = None) -> None:
    pkg = web / "package"
    files = {p.relative_to(pkg).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(pkg.rglob("*")) if p.is_file()}
    (web / "manifest.json").write_text(json.dumps({
        "format": 1, "ort": ORT if ort is None else ort, "jsep_glue": "placeholder", "files": files,
        "dropped": dropped if dropped is not None else [f"{STEM}.jsep.mjs", *JSEP_BUNDLES],
        "why_dropped": "no JSEP build", "timings": {"pack": 1.0}}, indent=2, sort_keys=True))


def fake_web(out: Path, *, ort: dict[str, Any] | None = None, jsep: bool = False) -> Path:
    """``OUT/onnxruntime-web/`` as the JS stage writes it: JSEP bundles dropped unless ``jsep``."""
    web = out / "onnxruntime-web"
    dist = web / "package" / "dist"
    dist.mkdir(parents=True)
    for name in CPU_BUNDLES + (JSEP_BUNDLES if jsep else ()):
        (dist / name).write_text(fake_bundle(name))
    (dist / "ort.wasm.min.mjs.map").write_text("{}")
    (web / "package" / "lib").mkdir()
    (web / "package" / "lib" / "index.ts").write_text("export * from 'onnxruntime-common';\n")
    (web / "package" / "types.d.ts").write_text("export * from 'onnxruntime-common';\n")
    (web / "package" / "README.md").write_text("# ONNX Runtime Web\n\nupstream's README\n")
    (web / "package" / "package.json").write_text(json.dumps(UPSTREAM_PACKAGE_JSON, indent=2) + "\n")
    write_web_manifest(web, ort, [] if jsep else None)
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


def fake_jsep_variant(out: Path, name: str) -> Path:
    """A JSEP pair: upstream's .jsep name, jsepInit in the glue, the two Jsep* exports in the wasm."""
    arch, memfs = JSEP_VARIANTS[name]
    d = out / name
    d.mkdir(parents=True)
    api = (*ORT_C_API, *JSEP_C_API)
    n = len(api)
    is64 = arch == "wasm64"
    mem = bytes([0x03 | is64 << 2]) + _uleb(256) + _uleb(262144 if is64 else 65536)
    (d / f"{STEM}.jsep.wasm").write_bytes(b"".join([
        b"\0asm\x01\0\0\0", _sec(1, _vec([b"\x60\x00\x00"])), _sec(2, _vec([_name("a") + _name("a") + b"\x02" + mem])),
        _sec(3, _vec([b"\x00"] * n)), _sec(4, _vec([b"\x70" + bytes([0x01 | is64 << 2]) + _uleb(n) + _uleb(n)])),
        _sec(7, _vec([_name(f"m{i}") + b"\x00" + _uleb(i) for i in range(n)])), _sec(10, _vec([b"\x02\x00\x0b"] * n))]))
    body = "".join(f"h._{c}=(a,b)=>(h._{c}=H.m{i})(a,b);" for i, c in enumerate(api))
    glue = fake_glue(arch, memfs).replace("var h=moduleArg,H;", f"var h=moduleArg,H;{body}h.jsepInit=(a,b)=>{{}};")
    (d / f"{STEM}.jsep.mjs").write_text(glue)
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha(p)} for p in sorted(d.iterdir())]
    (d / "manifest.json").write_text(json.dumps({
        "format": 1, "variant": {"name": name, "arch": arch, "memfs": memfs, "simd": True, "threads": True,
                                 "jsep": True},
        "files": files, "ort": ORT, "toolchain": {"emscripten": "3.1.69", "kind": "chroot"}}, indent=2))
    return d


def jsep_out(root: Path, embedded: str | None = "wasm32-jsep") -> Path:
    """CPU and JSEP variants, and the JS built with `embedded`'s glue (None: a placeholder, as before any JSEP)."""
    out = root / "out"
    for n in ("wasm32", "wasm32-memfs"):
        fake_variant(out, n)
    for n in JSEP_VARIANTS:
        fake_jsep_variant(out, n)
    web = fake_web(out, jsep=True)
    (web / "package" / "dist" / "ort.webgpu.min.mjs").write_text(fake_bundle("ort.webgpu.min.mjs"))
    write_web_manifest(web, dropped=[])
    m = json.loads((web / "manifest.json").read_text())
    m["glues"] = {f"{STEM}.jsep.mjs": sha(out / embedded / f"{STEM}.jsep.mjs") if embedded else "placeholder"}
    (web / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True))
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
