"""The packages installed and used: `npm install onnxruntime-web@file:<tgz>` + Node 24, `pip install <whl>`.

Fast tier (synthetic variants and stand-in bundles from tests/test_package.py): every `onnxruntime-web/<variant>`
resolves through the export map to its entry, which points ``env.wasm.wasmPaths`` at that variant's pair unless the
user set it; a wasm64 entry in a runtime without Memory64 throws the clear error at import.

Artifacts tier: the real OUT (``$ORTWASM_HOME/out``: variant dirs and ``onnxruntime-web/``) packaged, installed
and run: an Add model through ``onnxruntime-web/<variant>`` for each packaged variant, on two threads (so the
pthread workers load the glue from the variant's own directory).

Memory64-less runtimes are simulated: Node 24 has no flag to turn Memory64 off (`--no-experimental-wasm-memory64`
is "bad option": the feature has shipped, the flag is gone), so a preload (`node --import`) makes
``WebAssembly.validate`` return false for a module whose memory section declares a 64-bit memory, which is what an
engine without Memory64 answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ortwasm import package as pk
from ortwasm import paths
from ortwasm.errors import PackageError
from ortwasm.js.web import JS_DIR_NAME, npm_env
from ortwasm.variants import load_table
from tests.test_package import STEM, VARIANTS, fake_out, fake_web, sha

NODE = paths.node_prefix() / "bin" / "node"
REAL_OUT = paths.artifact_cache_dir()
NO_MEMORY64 = """\
// Preload: answer as an engine without Memory64 does, for any module whose memory section has a 64-bit memory.
const validate = WebAssembly.validate;
WebAssembly.validate = function (bytes, ...rest) {
  const b = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
                                      : new Uint8Array(bytes);
  if (b.length >= 12 && b[8] === 5 && (b[11] & 0x04)) return false;
  return validate.call(WebAssembly, bytes, ...rest);
};
"""
MEMORY64_ERROR = ("needs WebAssembly Memory64: Node >= 24, Chrome >= 133, Firefox >= 134; this runtime has none")


def _tools() -> tuple[str, dict[str, str]]:
    npm = shutil.which("npm")
    if not NODE.exists() or npm is None:
        pytest.skip(f"!!! needs Node 24 at {NODE} and npm on PATH (found npm: {npm}); ci/provision-toolchain.sh")
    return npm, {**os.environ, **npm_env()}  # Node 24 first on PATH, npm's cache under ORTWASM_HOME


def npm_install(tgz: Path, app: Path, *, offline: bool) -> Path:
    """A scratch app with the tarball installed as onnxruntime-web; returns the installed package dir."""
    npm, env = _tools()
    app.mkdir(parents=True)
    (app / "package.json").write_text('{"name": "scratch", "version": "0.0.0", "private": true}\n')
    proc = subprocess.run([npm, "install", "--offline" if offline else "--prefer-offline", "--no-audit", "--no-fund",
                           "--no-package-lock", "--cache", env["npm_config_cache"], f"onnxruntime-web@file:{tgz}"],
                          cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = app / "node_modules" / "onnxruntime-web"
    assert json.loads((installed / "package.json").read_text())["name"] == "onnxruntime-web"
    return installed


def node(app: Path, script: str, *args: str, preload: Path | None = None, ext: str = "mjs",
         timeout: int = 180) -> subprocess.CompletedProcess[str]:
    f = app / f"script-{hashlib.sha256(script.encode()).hexdigest()[:8]}.{ext}"
    f.write_text(script)
    argv = [str(NODE), *(["--import", preload.as_uri()] if preload else []), str(f), *args]
    return subprocess.run(argv, cwd=app, capture_output=True, text=True, timeout=timeout)


def dir_url(p: Path) -> str:
    return p.as_uri() + "/"


# --- fast tier: stand-in bundles --------------------------------------------------------------------------------

PROBE_ESM = """\
const spec = process.argv[2];
const ort = await import(spec);
console.log(JSON.stringify({ bundle: ort.bundle, wasmPaths: ort.env.wasm.wasmPaths, dflt: ort.default?.bundle }));
"""
PROBE_CJS = """\
const ort = require(process.argv[2]);
console.log(JSON.stringify({ bundle: ort.bundle, wasmPaths: ort.env.wasm.wasmPaths }));
"""
USER_WINS = """\
const base = await import('onnxruntime-web');
base.env.wasm.wasmPaths = 'https://cdn.example/mine/';
const v = await import('onnxruntime-web/wasm64-memfs');
console.log(v.env.wasm.wasmPaths);
"""


def test_npm_install_entry_points_resolve_to_their_pairs(tmp_path: Path) -> None:
    out = fake_out(tmp_path)
    res = pk.build_packages(out, tmp_path / "dist")
    app = tmp_path / "app"
    installed = npm_install(res.tgz, app, offline=True)
    dist = installed / "dist"
    for v in VARIANTS:
        pair_dir = dist if v == "wasm32" else dist / v
        for kind in ("wasm", "mjs"):
            assert sha(pair_dir / f"{STEM}.{kind}") == sha(out / v / f"{STEM}.{kind}"), (v, kind)
        esm = node(app, PROBE_ESM, f"onnxruntime-web/{v}")
        assert esm.returncode == 0, esm.stderr
        assert json.loads(esm.stdout) == {"bundle": "ort.node.min.mjs", "wasmPaths": dir_url(pair_dir),
                                          "dflt": "ort.node.min.mjs"}, v
        cjs = node(app, PROBE_CJS, f"onnxruntime-web/{v}", ext="cjs")
        assert cjs.returncode == 0, cjs.stderr
        assert json.loads(cjs.stdout) == {"bundle": "ort.node.min.js", "wasmPaths": dir_url(pair_dir)}, v
    plain = node(app, PROBE_ESM, "onnxruntime-web")  # upstream's entry, untouched: no wasmPaths, pair next to it
    assert json.loads(plain.stdout) == {"bundle": "ort.node.min.mjs", "dflt": "ort.node.min.mjs"}, plain.stderr
    for probe, ext in ((PROBE_ESM, "mjs"), (PROBE_CJS, "cjs")):  # left out: the import throws, naming what to build
        gone = node(app, probe, "onnxruntime-web/webgpu", ext=ext)
        assert gone.returncode != 0 and "onnxruntime-web/webgpu is not in this package" in gone.stderr, gone.stderr
        assert "python build.py --ort-version" in gone.stderr or "no WebGPU pair" in gone.stderr, gone.stderr
    mine = node(app, USER_WINS)
    assert mine.stdout.strip() == "https://cdn.example/mine/", mine.stderr


def test_wasm64_entry_without_memory64_throws_at_import(tmp_path: Path) -> None:
    """Simulated with a preload (see the module docstring); also checks that Node 24 itself passes the probe."""
    res = pk.build_packages(fake_out(tmp_path, ("wasm32", "wasm64-memfs")), tmp_path / "dist")
    app = tmp_path / "app"
    npm_install(res.tgz, app, offline=True)
    preload = app / "no-memory64.mjs"
    preload.write_text(NO_MEMORY64)
    for script, ext in ((PROBE_ESM, "mjs"), (PROBE_CJS, "cjs")):
        ok = node(app, script, "onnxruntime-web/wasm64-memfs", ext=ext)
        assert ok.returncode == 0, ok.stderr  # Node 24 has Memory64: the real probe validates
        bad = node(app, script, "onnxruntime-web/wasm64-memfs", preload=preload, ext=ext)
        assert bad.returncode != 0 and f"onnxruntime-web/wasm64-memfs {MEMORY64_ERROR}" in bad.stderr, bad.stderr
        assert bad.stdout == ""  # thrown by the import itself: nothing after it ran
        fine = node(app, script, "onnxruntime-web/wasm32", preload=preload, ext=ext)
        assert fine.returncode == 0, fine.stderr  # wasm32 entries do not need Memory64


def test_pip_install_into_fresh_venv(tmp_path: Path) -> None:
    out = fake_out(tmp_path)
    res = pk.build_packages(out, tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-index",
                           "--no-deps", "--disable-pip-version-check", str(res.wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    code = ("import json, ortwasm_artifacts as a\n"
            "p = a.artifact_path('wasm32-memfs', 'wasm')\n"
            "d = a.artifact_path('wasm32', 'mjs')\n"
            "pkg = json.loads(a.files().joinpath('package.json').read_text())\n"
            "print(json.dumps([str(p), p.is_file(), str(d), sorted(a.VARIANTS), a.ONNXRUNTIME_VERSION,"
            " a.DEFAULT_VARIANT, a.NPM_VERSION, pkg['name'], pkg['version'], sorted(a.manifest()['variants'])]))\n"
            "try:\n    a.artifact_path('wasm46')\nexcept KeyError as e:\n    print(e)\n")
    run = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first, err = run.stdout.splitlines()
    path, exists, default_mjs, names, ort, default, npm_version, name, version, in_manifest = json.loads(first)
    assert exists and str(venv) in path
    assert path.endswith(f"ortwasm_artifacts/npm/package/dist/wasm32-memfs/{STEM}.wasm")
    assert default_mjs.endswith(f"ortwasm_artifacts/npm/package/dist/{STEM}.mjs")
    assert sha(Path(path)) == sha(out / "wasm32-memfs" / f"{STEM}.wasm")
    assert names == sorted(VARIANTS) == in_manifest and ort == "1.21.0" and default == "wasm32"
    assert (name, version, npm_version) == ("onnxruntime-web", "1.21.0-ortwasm.1", "1.21.0-ortwasm.1")
    assert "unknown variant 'wasm46'" in err


# --- artifacts tier: the real OUT ------------------------------------------------------------------------------

RUN_ADD = """\
import { readFileSync } from 'node:fs';
const [spec, threads] = process.argv.slice(2);
const ort = await import(spec);
ort.env.wasm.numThreads = Number(threads);
const session = await ort.InferenceSession.create(readFileSync('add.onnx'), { executionProviders: ['wasm'] });
const t = (a) => new ort.Tensor('float32', Float32Array.from(a), [3]);
const out = await session.run({ X: t([1, 2, 3]), Y: t([10, 20, 30]) });
console.log(JSON.stringify({ z: Array.from(out.Z.data), wasmPaths: ort.env.wasm.wasmPaths }));
"""
RUN_ADD_CJS = """\
const ort = require(process.argv[2]);
ort.env.wasm.numThreads = Number(process.argv[3]);
(async () => {
  const session = await ort.InferenceSession.create(require('node:fs').readFileSync('add.onnx'));
  const t = (a) => new ort.Tensor('float32', Float32Array.from(a), [3]);
  const out = await session.run({ X: t([1, 2, 3]), Y: t([10, 20, 30]) });
  console.log(JSON.stringify({ z: Array.from(out.Z.data), wasmPaths: ort.env.wasm.wasmPaths }));
})();
"""


def add_model(path: Path) -> None:
    """Z = X + Y over float32[3], opset 17 / IR 8 (what ORT 1.21.0 reads)."""
    from onnx import TensorProto, checker, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3]) for n in ("X", "Y", "Z")]
    graph = helper.make_graph([helper.make_node("Add", ["X", "Y"], ["Z"])], "add", io[:2], io[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def real_out(tmp: Path) -> Path:
    """The real OUT's JS and the variants built with it, as symlinks: a variant from another build of the cache
    (older patch set, no ``ort.source``) would be refused, which the fast tier covers; here it is left out, loudly."""
    js = REAL_OUT / JS_DIR_NAME / "manifest.json"
    if not js.is_file():
        pytest.skip(f"!!! no {js.parent}: build with `python build.py --variants ...` (without --skip-js), "
                    f"ORTWASM_ARTIFACTS={REAL_OUT}, to run this test")
    table = load_table()
    found = [d for d in sorted(REAL_OUT.iterdir()) if d.name in table and (d / "manifest.json").is_file()]
    if not found:
        pytest.skip(f"!!! no variant dirs in {REAL_OUT}: build them with `python build.py --variants ...`")
    ort = json.loads(js.read_text())["ort"]
    out = tmp / "out"
    out.mkdir()
    (out / JS_DIR_NAME).symlink_to(REAL_OUT / JS_DIR_NAME)
    left_out = []
    for d in found:
        theirs = json.loads((d / "manifest.json").read_text()).get("ort", {})
        if all(theirs.get(k) == ort.get(k) for k in ("version", "patchset", "source")):
            (out / d.name).symlink_to(d)
        else:
            left_out.append(f"{d.name} (ORT {theirs.get('patchset')} from {theirs.get('source')})")
    if left_out:
        warnings.warn(f"!!! left out of the real package, not built with {REAL_OUT / JS_DIR_NAME} "
                      f"(ORT {ort.get('patchset')} from {ort.get('source')}): {', '.join(left_out)}", stacklevel=2)
    if len(left_out) == len(found):
        pytest.skip(f"!!! no variant in {REAL_OUT} was built with its {JS_DIR_NAME}: {', '.join(left_out)}; "
                    "rebuild them in one run")
    return out


@pytest.mark.artifacts
def test_real_end_to_end(tmp_path: Path) -> None:
    out = real_out(tmp_path)
    a = pk.build_packages(out, tmp_path / "a")
    b = pk.build_packages(out, tmp_path / "b")
    assert (sha(a.tgz), sha(a.wheel)) == (sha(b.tgz), sha(b.wheel)), "not byte-identical across two runs"
    print(f"packaged {a.variants} (default {a.default}): {a.tgz.stat().st_size:,} B tgz")
    app = tmp_path / "app"
    dist = npm_install(a.tgz, app, offline=False) / "dist"
    add_model(app / "add.onnx")
    # the default first; then its pair goes, so every other variant proves it loads its own
    cpu = [v for v in a.variants if load_table()[v].ep == "cpu"]
    for v in (v for v in a.variants if load_table()[v].ep != "cpu"):  # browser-only: Node gets a named refusal
        for script, ext in ((RUN_ADD, "mjs"), (RUN_ADD_CJS, "cjs")):
            run = node(app, script, f"onnxruntime-web/{v}", "2", ext=ext, timeout=120)
            assert run.returncode != 0 and "Node has no WebGPU" in run.stderr, (v, ext, run.stderr[-2000:])
    order = [a.default, *(v for v in cpu if v != a.default)]
    for v in order:
        if v != a.default:
            for kind in ("wasm", "mjs"):
                (dist / f"{STEM}.{kind}").unlink(missing_ok=True)
        pair_dir = dist if v == a.default else dist / v
        for script, ext in ((RUN_ADD, "mjs"), (RUN_ADD_CJS, "cjs")):
            run = node(app, script, f"onnxruntime-web/{v}", "2", ext=ext, timeout=300)
            assert run.returncode == 0, f"{v} ({ext}): {run.stderr[-3000:]}"
            got = json.loads(run.stdout.strip().splitlines()[-1])
            assert got == {"z": [11, 22, 33], "wasmPaths": dir_url(pair_dir)}, (v, ext, got)
    wasm64 = [v for v in cpu if VARIANTS[v][0] == "wasm64"]
    if not wasm64:
        warnings.warn("!!! no wasm64 variant packaged: the Memory64 refusal ran only in the fast tier", stacklevel=1)
    preload = app / "no-memory64.mjs"
    preload.write_text(NO_MEMORY64)
    for v in wasm64:
        bad = node(app, RUN_ADD, f"onnxruntime-web/{v}", "2", preload=preload)
        assert bad.returncode != 0 and f"onnxruntime-web/{v} {MEMORY64_ERROR}" in bad.stderr, bad.stderr


@pytest.mark.artifacts
def test_real_refused_when_manifest_lies(tmp_path: Path) -> None:
    real = REAL_OUT / "wasm32-memfs"
    if not (real / "manifest.json").is_file():
        pytest.skip(f"!!! no real artifacts at {real}")
    out = tmp_path / "out"
    shutil.copytree(real, out / "wasm32")  # an FS glue presented as the MEMFS-OFF build
    m = json.loads((out / "wasm32" / "manifest.json").read_text())
    m["variant"].update(name="wasm32", memfs=False)
    (out / "wasm32" / "manifest.json").write_text(json.dumps(m))
    fake_web(out, ort={**m["ort"], "source": m["ort"].get("source")})  # JS from the same build, so the check decides
    with pytest.raises(PackageError, match="wasm32 failed 3 check") as err:
        pk.build_packages(out, tmp_path / "dist")
    assert "FS present" in err.value.message and "memfs=False" in err.value.message
