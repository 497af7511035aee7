"""`ortwasm package`: refusal of unchecked or failing variants, reproducible bytes, and real installs.

Synthetic variants (a minimal wasm and glue shaped like ORT's, as in test_checks.py) cover the rules fast;
the real wasm32-memfs build from the artifact cache is packaged next to them for the install tests
(`npm install <tgz>` into a scratch project, `pip install <whl>` into a fresh venv), which skip loudly when
that build is absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from ortwasm import package as pk
from ortwasm.checks import ORT_C_API
from ortwasm.cli import main
from ortwasm.errors import PackageError
from ortwasm.paths import artifact_cache_dir
from ortwasm.sizes import Budget, Budgets
from tests.wasmbytes import uleb

STEM = "ort-wasm-simd-threaded"
REAL = artifact_cache_dir() / "wasm32-memfs"
FS_TEXT = 'x("/dev/tty1");x("/dev/tty1");"/dev/shm/tmp";"/proc/self/fd";"/proc/self/fd";{MEMFS:S};' + \
    "class ErrnoError{}" * 20
VARIANTS = {"wasm32": ("wasm32", False), "wasm32-memfs": ("wasm32", True), "wasm64": ("wasm64", False),
            "wasm64-memfs": ("wasm64", True)}
DIST = {"wasm32": STEM, "wasm32-memfs": f"{STEM}.memfs", "wasm64": f"{STEM}.wasm64",
        "wasm64-memfs": f"{STEM}.wasm64.memfs"}


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
    return (f"var h=moduleArg,H;WebAssembly.instantiate(b).then(function a(d,e){{H=d.exports;return H}});{body}{mem}"
            f'var ENV={{HOME:"/home/web_user"}};{FS_TEXT if fs else ""}')


def write_manifest(d: Path, name: str, arch: str, memfs: bool, ort: str = "1.21.0") -> None:
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(d.iterdir()) if p.suffix in (".wasm", ".mjs")]
    (d / "manifest.json").write_text(json.dumps({
        "format": 1, "variant": {"name": name, "arch": arch, "memfs": memfs, "simd": True, "threads": True},
        "files": files, "ort": {"version": ort, "patched": True, "patchset": "test"},
        "toolchain": {"emscripten": "3.1.69", "kind": "chroot"}}, indent=2))


def fake_variant(out: Path, name: str, *, glue_fs: bool | None = None, ort: str = "1.21.0") -> Path:
    arch, memfs = VARIANTS[name]
    d = out / name
    d.mkdir(parents=True)
    (d / f"{STEM}.wasm").write_bytes(fake_wasm(arch))
    (d / f"{STEM}.mjs").write_text(fake_glue(arch, memfs if glue_fs is None else glue_fs))
    write_manifest(d, name, arch, memfs, ort)
    return d


def fake_out(root: Path, names: tuple[str, ...] = tuple(VARIANTS)) -> Path:
    out = root / "out"
    for n in names:
        fake_variant(out, n)
    return out


def real_out(root: Path) -> Path:
    """The real wasm32-memfs build plus synthetic wasm32/wasm64/wasm64-memfs next to it."""
    if not (REAL / "manifest.json").is_file():
        pytest.skip(f"!!! no real artifacts at {REAL}: build them with `python build.py --enable_wasm_memfs "
                    f"--variants wasm32` (ORTWASM_ARTIFACTS={REAL.parent}) to run this test")
    out = fake_out(root, ("wasm32", "wasm64", "wasm64-memfs"))
    shutil.copytree(REAL, out / "wasm32-memfs")
    return out


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def refused(out: Path, dest: Path, match: str, budgets: Budgets | None = None) -> PackageError:
    with pytest.raises(PackageError, match=match) as err:
        pk.build_packages(out, dest, budgets=budgets)
    assert err.value.hint
    assert not dest.exists() or not list(dest.iterdir()), "a refused package must write nothing"
    return err.value


# --- fast tier: synthetic variants ------------------------------------------------------------------------------


def test_layout_names_and_sums(tmp_path: Path) -> None:
    res = pk.build_packages(fake_out(tmp_path), tmp_path / "dist")
    assert res.tgz.name == "ortwasm-onnxruntime-web-1.21.0-1.tgz"
    assert res.wheel.name == "ortwasm_artifacts-1.21.0.post1-py3-none-any.whl"
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted([res.tgz.name, res.wheel.name])
    with tarfile.open(res.tgz) as tar:
        members = tar.getmembers()
        got = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mode, m.mtime) for m in members} == {(0, 0, "", "", 0o644, 499162500)}
    expected = {f"package/dist/{DIST[v]}.{k}" for v in VARIANTS for k in ("wasm", "mjs")}
    assert set(got) == expected | {f"package/{f}" for f in ("package.json", "manifest.json", "SHA256SUMS",
                                                             "README.md")}
    for v in VARIANTS:  # the bytes are the build's, unchanged
        assert got[f"package/dist/{DIST[v]}.wasm"] == (tmp_path / "out" / v / f"{STEM}.wasm").read_bytes()
    pkg = json.loads(got["package/package.json"])
    assert pkg["name"] == "ortwasm-onnxruntime-web" and pkg["version"] == "1.21.0-1"
    assert pkg["ortwasm"]["variants"]["wasm64-memfs"]["wasm"] == f"dist/{STEM}.wasm64.memfs.wasm"
    assert "wasmPaths" in pkg["ortwasm"]["usage"] and "wasmPaths" in got["package/README.md"].decode()
    sums = dict(reversed(line.split("  ")) for line in got["package/SHA256SUMS"].decode().splitlines())
    assert set(sums) == {n.removeprefix("package/") for n in got} - {"SHA256SUMS"}
    assert all(hashlib.sha256(got[f"package/{p}"]).hexdigest() == h for p, h in sums.items())
    man = json.loads(got["package/manifest.json"])
    assert man["onnxruntime"] == "1.21.0" and set(man["variants"]) == set(VARIANTS)
    entry = man["variants"]["wasm32-memfs"]
    assert entry["files"]["mjs"]["name"] == f"{STEM}.memfs.mjs" and entry["files"]["mjs"]["built_as"] == f"{STEM}.mjs"
    assert {"fs", "c_api", "memory64", "budget.raw"} <= set(entry["checks"]["rules"])


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
            assert int(size) == len(data) and digest == pk._record_hash(data), path
        assert {zi.date_time for zi in zf.infolist()} == {(1985, 10, 26, 8, 15, 0)}
        assert {zi.external_attr >> 16 for zi in zf.infolist()} == {0o100644}
        assert f"ortwasm_artifacts/dist/{STEM}.wasm64.wasm" in names


def test_reproducible_and_epoch_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path)
    a, b = pk.build_packages(out, tmp_path / "a"), pk.build_packages(out, tmp_path / "b")
    assert (sha(a.tgz), sha(a.wheel)) == (sha(b.tgz), sha(b.wheel))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("ORTWASM_PACKAGE_REVISION", "3")
    c = pk.build_packages(out, tmp_path / "c")
    assert c.tgz.name.endswith("1.21.0-3.tgz") and c.wheel.name.startswith("ortwasm_artifacts-1.21.0.post3-")
    with tarfile.open(c.tgz) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(PackageError, match="SOURCE_DATE_EPOCH='yesterday'"):
        pk.build_packages(out, tmp_path / "d")


def test_refuses_memfs_claim_on_fs_less_glue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = fake_out(tmp_path, ("wasm32", "wasm64"))
    fake_variant(out, "wasm32-memfs", glue_fs=False)  # manifest says memfs=true, the glue has no FS
    err = refused(out, tmp_path / "dist", r"refusing to package: wasm32-memfs failed 1 check")
    assert "FS absent" in err.message and "memfs=True" in err.message
    assert main(["package", str(out), "--dest", str(tmp_path / "dist")]) == PackageError.return_code == 10
    printed = capsys.readouterr().err
    assert "wasm32-memfs" in printed and "hint:" in printed


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
    fake_variant(tmp_path / "o2", "wasm64")
    (tmp_path / "o2" / "wasm64" / f"{STEM}.mjs").write_text(fake_glue("wasm64", False) + "//edited")
    refused(tmp_path / "o2", tmp_path / "dist", "wasm64: .*mjs is sha256 .* changed after the build")
    fake_variant(tmp_path / "o3", "wasm32")
    shutil.move(tmp_path / "o3" / "wasm32", tmp_path / "o3" / "wasm64")
    refused(tmp_path / "o3", tmp_path / "dist", "its manifest says it is variant 'wasm32'")
    fake_variant(tmp_path / "o4", "wasm32")
    fake_variant(tmp_path / "o4", "wasm64", ort="1.22.0")
    refused(tmp_path / "o4", tmp_path / "dist", "ORT versions 1.21.0, 1.22.0 together")
    refused(tmp_path / "o4" / "wasm32", tmp_path / "dist", "one variant's dir, not an OUT dir")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", tmp_path / "dist", "has no <variant>/ dirs")


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

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pk, "write_wheel", boom)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # a new tarball would differ from the old one
    with pytest.raises(OSError, match="disk full"):
        pk.build_packages(out, tmp_path / "dist")
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted([first.tgz.name, first.wheel.name])
    assert sha(first.tgz) == before


# --- installs (synthetic, and with the real build), real artifacts ---------------------------------------------


@pytest.mark.artifacts
def test_real_reproducible(tmp_path: Path) -> None:
    out = real_out(tmp_path)
    a, b = pk.build_packages(out, tmp_path / "a"), pk.build_packages(out, tmp_path / "b")
    assert (sha(a.tgz), sha(a.wheel)) == (sha(b.tgz), sha(b.wheel))


@pytest.mark.artifacts
def test_real_refused_when_manifest_lies(tmp_path: Path) -> None:
    if not (REAL / "manifest.json").is_file():
        pytest.skip(f"!!! no real artifacts at {REAL}")
    out = tmp_path / "out"
    shutil.copytree(REAL, out / "wasm32")  # an FS glue presented as the MEMFS-OFF build
    m = json.loads((out / "wasm32" / "manifest.json").read_text())
    m["variant"].update(name="wasm32", memfs=False)
    (out / "wasm32" / "manifest.json").write_text(json.dumps(m))
    err = refused(out, tmp_path / "dist", r"wasm32 failed 3 check")
    assert "FS present" in err.message and "memfs=False" in err.message


SOURCES = ["synthetic", pytest.param("real", marks=pytest.mark.artifacts)]


def any_out(tmp_path: Path, source: str) -> Path:
    """Four variants: all synthetic (fast tier), or the real wasm32-memfs among them."""
    return real_out(tmp_path) if source == "real" else fake_out(tmp_path)


@pytest.mark.parametrize("source", SOURCES)
def test_npm_install(tmp_path: Path, source: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("!!! npm not on PATH")
    out = any_out(tmp_path, source)
    res = pk.build_packages(out, tmp_path / "dist")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "package.json").write_text('{"name": "scratch", "version": "0.0.0", "private": true}')
    proc = subprocess.run([npm, "install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts",
                           "--no-package-lock", str(res.tgz)], cwd=proj, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    dist = proj / "node_modules" / "ortwasm-onnxruntime-web" / "dist"
    assert sha(dist / f"{STEM}.memfs.wasm") == sha(out / "wasm32-memfs" / f"{STEM}.wasm")
    assert {p.name for p in dist.iterdir()} == {f"{DIST[v]}.{k}" for v in VARIANTS for k in ("wasm", "mjs")}
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=dist.parent, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    node = subprocess.run(["node", "-e", "const p=require('ortwasm-onnxruntime-web/package.json');"
                           "console.log(p.ortwasm.variants['wasm32-memfs'].wasm)"],
                          cwd=proj, capture_output=True, text=True, timeout=60)
    assert node.stdout.strip() == f"dist/{STEM}.memfs.wasm", node.stderr


@pytest.mark.parametrize("source", SOURCES)
def test_pip_install_into_fresh_venv(tmp_path: Path, source: str) -> None:
    out = any_out(tmp_path, source)
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
            "print(json.dumps([str(p), p.is_file(), sorted(a.VARIANTS), a.ONNXRUNTIME_VERSION,"
            " a.files().joinpath(a.VARIANTS['wasm64']['mjs']).is_file(), sorted(a.manifest()['variants'])]))\n"
            "try:\n    a.artifact_path('wasm46')\nexcept KeyError as e:\n    print(e)\n")
    run = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first, err = run.stdout.splitlines()
    path, exists, names, ort, other, in_manifest = json.loads(first)
    assert exists and Path(path).name == f"{STEM}.memfs.wasm" and str(venv) in path
    assert sha(Path(path)) == sha(out / "wasm32-memfs" / f"{STEM}.wasm")
    assert names == sorted(VARIANTS) == in_manifest and ort == "1.21.0" and other
    assert "unknown variant 'wasm46'" in err
