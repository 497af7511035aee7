"""check_dir on synthetic artifact dirs, on the official onnxruntime-web 1.21.0 dist, and on real builds.

Synthetic dirs are shaped like ORT's: an imported shared memory (32 or 64-bit),
a funcref table, minified function exports, and glue that maps ``_Ort*`` to
them.  The official dist proves the check on real closure-minified files
without building anything; it is fetched with ``npm pack`` into the cache,
never into the repository.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Literal

import pytest

from ortwasm import cli
from ortwasm.artifacts.manifest import Manifest
from ortwasm.checks import glue as gluemod
from ortwasm.checks import report, rules, sizes
from ortwasm.checks.glue import EP_MARKERS
from ortwasm.checks.report import run_check
from ortwasm.checks.rules import (
    JSEP_C_API,
    MANIFEST_FORMAT,
    WEBGPU_C_API,
    CheckReport,
    Expectation,
    c_api_from_header,
    check_dir,
    load_budgets,
    pair_kind,
)
from ortwasm.checks.sizes import Budget, Budgets
from ortwasm.errors import CannotCheck, CheckFailed
from ortwasm.paths import artifact_cache_dir, ortwasm_home
from ortwasm.recipe import default_version, require_recipe
from ortwasm.variants import load_table, release_variants
from tests.wasmbytes import uleb

REPO = Path(__file__).resolve().parents[1]
STEM = "ort-wasm-simd-threaded"
ORT_C_API = require_recipe(default_version()).c_api  # the default version's C API, from its recipe
BUDGETS_TOML = require_recipe(default_version()).budgets_path
MINIFIED = {c: f"m{i}" for i, c in enumerate(ORT_C_API)}
JSEP_MINIFIED = MINIFIED | {c: f"j{i}" for i, c in enumerate(JSEP_C_API)}
# What closure leaves of emscripten's runtime in every glue (checks.glue.GLUE_MARKERS), the official one's shape.
RUNTIME_TEXT = 'h.locateFile?h.locateFile(a,c):c+a;h.instantiateWasm?h.instantiateWasm(x,y):0;abort("Aborted("+a+")");'
JSEP_TEXT = 'h.jsepInit=(a,b)=>{if("webgpu"===a){}};'  # what pre-jsep.js leaves after closure
# What post-webgpu.js, pre-async.js and -sJSPI=1 leave after closure (the official 1.30.0 glues' shapes).
WEBGPU_TEXT = "g.webgpuInit=a=>{const b=new WeakMap;};"
ASYNC_TEXT = "g.asyncInit=()=>{ea?.()};"
JSPI_TEXT = "a[c]=d=new WebAssembly.Suspending(d);m=WebAssembly.promising(m);"
FS_TEXT = 'Ya("/dev/tty1");Ya("/dev/tty1");"/dev/shm/tmp";"/proc/self/fd";"/proc/self/fd";{MEMFS:S};' + \
    "class ErrnoError{}" * 20


_uleb = uleb


def _name(s: str) -> bytes:
    return _uleb(len(s.encode())) + s.encode()


def _sec(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(payload)) + payload


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def make_wasm(arch: str, exports: list[str], pad: int = 0, *, table64: bool | None = None) -> bytes:
    """``table64`` None: the table follows ``arch``, as emscripten makes it."""
    is64 = arch == "wasm64"
    t64 = is64 if table64 is None else table64
    mem = bytes([0x03 | is64 << 2]) + _uleb(256) + _uleb(262144 if is64 else 65536)
    n = len(exports)
    parts = [b"\0asm\x01\0\0\0", _sec(1, _vec([b"\x60\x00\x00"])),
             _sec(2, _vec([_name("a") + _name("a") + b"\x02" + mem])), _sec(3, _vec([b"\x00"] * n)),
             _sec(4, _vec([b"\x70" + bytes([0x01 | t64 << 2]) + _uleb(n) + _uleb(n)])),
             _sec(7, _vec([_name(e) + b"\x00" + _uleb(i) for i, e in enumerate(exports)])),
             _sec(10, _vec([b"\x02\x00\x0b"] * n))]
    if pad:
        parts.append(_sec(0, _name("pad") + random.Random(pad).randbytes(pad)))
    return b"".join(parts)


def make_glue(mapping: dict[str, str], *, fs: bool, key: str | None, pad: int = 0, ptr_size: int | None = None) -> str:
    """``ptr_size``: the `h.PTR_SIZE=N` that closure leaves of ORT's js_post_js(_64).js; None leaves it out."""
    body = "".join(f"h._{c}=(a,b)=>(h._{c}=H.{m})(a,b);" for c, m in mapping.items())
    mem = f'new WebAssembly.Memory({{initial:256,maximum:65536,shared:!0,{key}:"i64"}});' if key else ""
    ptr = f"h.PTR_SIZE={ptr_size};" if ptr_size is not None else ""
    filler = random.Random(pad).randbytes(pad).hex()[:pad] if pad else ""
    return (f"var h=moduleArg,H;{RUNTIME_TEXT}WebAssembly.instantiate(b).then(function a(d,e){{H=d.exports;return H}});"
            f"{body}{mem}"
            f'{ptr}var ENV={{HOME:"/home/web_user"}};{FS_TEXT if fs else ""}/*{filler}*/')


def make_variant(root: Path, name: str, *, arch: str = "wasm32", memfs: bool = False, manifest: bool = True,
                 wasm_arch: str | None = None, glue_fs: bool | None = None, key: str | None = "auto",
                 drop: tuple[str, ...] = (), pad_wasm: int = 0, pad_glue: int = 0, fmt: int = MANIFEST_FORMAT,
                 table64: bool | None = None, ptr_size: int | Literal["auto"] | None = "auto") -> Path:
    """The glue (its memory key and PTR_SIZE) follows ``arch``; the wasm follows ``wasm_arch`` or ``arch``."""
    d = root / name
    d.mkdir(parents=True)
    mapping = {c: m for c, m in MINIFIED.items() if c not in drop}
    (d / f"{STEM}.wasm").write_bytes(make_wasm(wasm_arch or arch, list(MINIFIED.values()), pad_wasm, table64=table64))
    key = ("address" if arch == "wasm64" else None) if key == "auto" else key
    ptr = (8 if arch == "wasm64" else 4) if ptr_size == "auto" else ptr_size
    (d / f"{STEM}.mjs").write_text(make_glue(mapping, fs=memfs if glue_fs is None else glue_fs, key=key, pad=pad_glue,
                                             ptr_size=ptr))
    if manifest:
        write_manifest(d, name, arch=arch, memfs=memfs, fmt=fmt)
    return d


def write_manifest(d: Path, name: str, *, arch: str = "wasm32", memfs: bool = False, fmt: int = MANIFEST_FORMAT,
                   **variant: object) -> None:
    """manifest.json as a build writes it for the files in ``d``; ``variant``: further keys of its variant."""
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(d.iterdir())]
    (d / "manifest.json").write_text(json.dumps({
        "format": fmt, "variant": {"name": name, "arch": arch, "memfs": memfs, "simd": True, "threads": True,
                                   **variant},
        "files": files, "toolchain": {"emscripten": "3.1.69", "kind": "chroot"}}))


def budgets(**files: dict[str, Budget]) -> Budgets:
    return Budgets("test-budgets", {"default": {".wasm": Budget(10**9, 10**9), ".mjs": Budget(10**9, 10**9)}, **files},
                   {".mjs": Budget(raw=40_000, gzip=12_000), ".wasm": Budget(gzip=20_000)}, 2.0)


def failed(rep: CheckReport, rule: str) -> list[str]:
    return [f.message for f in rep.failures if f.rule.startswith(rule)]


@pytest.mark.parametrize(("name", "arch", "memfs"), [
    ("wasm32", "wasm32", False), ("wasm32-memfs", "wasm32", True),
    ("wasm64", "wasm64", False), ("wasm64-memfs", "wasm64", True)])
def test_good_variant_passes(tmp_path: Path, name: str, arch: str, memfs: bool) -> None:
    d = make_variant(tmp_path, name, arch=arch, memfs=memfs)
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert rep.ok, [f.message for f in rep.failures]
    art = rep.artifacts[0]
    assert art.expectation == Expectation(name, arch, memfs)  # type: ignore[arg-type]
    assert art.wasm.memory64 is (arch == "wasm64") and art.wasm.table64 is (arch == "wasm64")
    assert art.glue.fs_present is memfs
    assert {f.rule for f in rep.findings} >= {"memory64", "table64", "fs", "c_api", "budget.raw", "manifest",
                                              "memory_table64", "glue_ptr_width"}


def test_arch_mismatch(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "wasm32", arch="wasm32", wasm_arch="wasm64")
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert any("memory64 is True but variant wasm32 (wasm32) needs False" in m for m in failed(rep, "memory64"))
    assert failed(rep, "table64")


@pytest.mark.parametrize(("memfs", "glue_fs", "says"), [(True, False, "FS absent"), (False, True, "FS present")])
def test_fs_mismatch(tmp_path: Path, memfs: bool, glue_fs: bool, says: str) -> None:
    d = make_variant(tmp_path, "v", memfs=memfs, glue_fs=glue_fs)
    msgs = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None), "fs")
    assert len(msgs) == 1 and says in msgs[0] and f"memfs={memfs}" in msgs[0] and STEM + ".mjs" in msgs[0]


def test_wasm64_glue_fix_missing(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "wasm64", arch="wasm64", key="index")
    msgs = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None), "glue_fix")
    assert len(msgs) == 1 and "glue fix missing" in msgs[0] and 'index:"i64"' in msgs[0]


def test_c_api_missing_and_mismatched(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "v", drop=("OrtRun",))
    with pytest.raises(CannotCheck, match="match no recipe's C API") as err:  # no manifest names the version
        check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert "1.21.0's lacks 1 (OrtRun)" in err.value.message and "--ort-version" in err.value.hint
    msgs = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None, version="1.21.0"), "c_api")
    assert len(msgs) == 1 and "OrtRun (not exposed" in msgs[0] and "1 of 27" in msgs[0]
    make_variant(tmp_path, "w")
    (tmp_path / "w" / f"{STEM}.mjs").write_text(
        (tmp_path / "w" / f"{STEM}.mjs").read_text().replace(f"=H.{MINIFIED['OrtInit']})", "=H.zz)"))
    msgs = failed(check_dir(tmp_path / "w", expect=None, budgets=budgets(), baseline=None), "c_api")
    assert "OrtInit (glue maps it to wasm export 'zz'" in msgs[0]


def test_budget_message_names_file_value_budget_excess(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "wasm32", pad_glue=5000)
    size = (d / f"{STEM}.mjs").stat().st_size
    rep = check_dir(d, expect=None, budgets=budgets(wasm32={".mjs": Budget(raw=1000)}), baseline=None)
    (msg,) = failed(rep, "budget.raw")
    assert f"wasm32/{STEM}.mjs: raw {size:,} B exceeds budget 1,000 B" in msg and f"by {size - 1000:,} B" in msg
    assert "[wasm32]" in msg


def test_no_manifest_reports_without_judging(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "loose", arch="wasm64", memfs=True, manifest=False)
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert rep.ok and rep.artifacts[0].expectation is None and rep.artifacts[0].wasm.memory64
    assert rep.artifacts[0].glue.fs_present is True
    assert {f.rule for f in rep.findings} == {"c_api", "glue_fix", "budget.raw", "budget.gzip", "memory_table64",
                                              "glue_ptr_width", "jsep"}
    forced = check_dir(d, expect=Expectation("x", "wasm32", False), budgets=budgets(), baseline=None)
    assert {f.rule for f in forced.failures} == {"memory64", "table64", "fs"}


def test_glue_fix_is_judged_from_the_wasm_even_without_manifest(tmp_path: Path) -> None:
    """A 64-bit memory with index:"i64" glue fails to load in Node 24 whatever the variant table says."""
    d = make_variant(tmp_path, "loose", arch="wasm64", key="index", manifest=False)
    (msg,) = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None), "glue_fix")
    assert "glue fix missing" in msg


def _mixed(root: Path, manifest: bool) -> Path:
    """A 64-bit memory next to a 32-bit table and wasm32 glue (PTR_SIZE 4, no i64 memory): two builds mixed."""
    return make_variant(root, "wasm32", arch="wasm32", wasm_arch="wasm64", table64=False, manifest=manifest)


@pytest.mark.parametrize("manifest", [False, True])
def test_memory64_with_table32_and_wasm32_glue_fails(tmp_path: Path, manifest: bool) -> None:
    """Before these rules, without a manifest nothing compared the wasm with itself or with its glue: it passed."""
    rep = check_dir(_mixed(tmp_path, manifest), expect=None, budgets=budgets(), baseline=None)
    (table,) = failed(rep, "memory_table64")
    assert "memory is 64-bit (memory64=True) but table 0 is 32-bit (table64=False)" in table and STEM in table
    (width,) = failed(rep, "glue_ptr_width")
    assert "the glue sets PTR_SIZE=4 (32-bit) but the wasm memory is 64-bit" in width and f"{STEM}.mjs" in width


@pytest.mark.parametrize("manifest", [False, True])
def test_cli_check_exits_check_failed_on_mixed_widths(tmp_path: Path, manifest: bool,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    d = _mixed(tmp_path, manifest)
    assert cli.main(["check", str(d), "--budgets", str(BUDGETS_TOML)]) == CheckFailed.return_code
    out = capsys.readouterr().out
    assert "All rules pass" not in out
    assert "FAILED memory_table64:" in out and "memory is 64-bit (memory64=True) but table 0 is 32-bit" in out
    assert "FAILED glue_ptr_width:" in out and "PTR_SIZE=4 (32-bit)" in out


def test_python_m_ortwasm_check_exit_code_without_manifest(tmp_path: Path) -> None:
    """The exact command from the report: `python -m ortwasm check DIR` on a dir with no manifest.json."""
    d = _mixed(tmp_path, manifest=False)
    res = subprocess.run([sys.executable, "-m", "ortwasm", "check", str(d)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == CheckFailed.return_code == 8, res.stdout + res.stderr
    assert "memory_table64" in res.stdout and "glue_ptr_width" in res.stdout


@pytest.mark.parametrize(("wasm_arch", "table64", "ptr_size", "key", "rules"), [
    ("wasm64", True, 4, "address", {"glue_ptr_width"}),  # consistent wasm, glue PTR_SIZE from a wasm32 build
    ("wasm32", False, 8, None, {"glue_ptr_width"}),  # wasm32 module, js_post_js_64.js glue
    ("wasm32", False, 4, "address", {"glue_ptr_width"}),  # glue makes a 64-bit memory for a 32-bit import
    ("wasm64", True, None, None, set()),  # nothing in the glue says a width: not judged
    ("wasm32", True, 4, None, {"memory_table64"}),  # 32-bit memory, 64-bit table
])
def test_width_rules_each_way(tmp_path: Path, wasm_arch: str, table64: bool, ptr_size: int | None, key: str | None,
                              rules: set[str]) -> None:
    d = make_variant(tmp_path, "loose", arch="wasm32", wasm_arch=wasm_arch, table64=table64, ptr_size=ptr_size,
                     key=key, manifest=False)
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert {f.rule for f in rep.failures} - {"glue_fix"} == rules, [f.message for f in rep.failures]


def test_glue_creating_32_bit_memory_for_a_64_bit_import(tmp_path: Path) -> None:
    """Without PTR_SIZE the memory constructor still tells: no i64 key means a 32-bit memory for the import."""
    d = make_variant(tmp_path, "loose", arch="wasm64", key=None, ptr_size=None, manifest=False)
    glue = d / f"{STEM}.mjs"
    glue.write_text(glue.read_text() + "new WebAssembly.Memory({initial:256,maximum:65536,shared:!0});")
    (msg,) = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None), "glue_ptr_width")
    assert "creates the imported memory without an i64 address type (32-bit)" in msg


def test_structurally_invalid_wasm_is_cannot_check(tmp_path: Path) -> None:
    """An export naming a function the module lacks: each section reads fine, the module loads nowhere."""
    d = make_variant(tmp_path, "v", manifest=False)
    wasm = d / f"{STEM}.wasm"
    n = len(MINIFIED)
    export = _sec(7, _vec([_name(e) + b"\x00" + _uleb(i) for i, e in enumerate(MINIFIED.values())]))
    bad = _sec(7, _vec([_name(e) + b"\x00" + _uleb(i if i else n) for i, e in enumerate(MINIFIED.values())]))
    data = wasm.read_bytes()
    assert data.count(export) == 1
    wasm.write_bytes(data.replace(export, bad))
    _cannot(d, f"export 'm0' is func {n}, but the module has only {n}")
    assert cli.main(["check", str(d), "--budgets", str(BUDGETS_TOML)]) == CannotCheck.return_code


def test_subdir_with_manifest_but_no_artifacts(tmp_path: Path) -> None:
    make_variant(tmp_path, "wasm32")
    (tmp_path / "wasm64").mkdir()
    (tmp_path / "wasm64" / "manifest.json").write_text('{"format": 1, "variant": {"name": "wasm64"}}')
    (tmp_path / "logs").mkdir()  # a dir with neither is not an artifact dir and is ignored
    _cannot(tmp_path, "has manifest.json but no .wasm/.mjs")


def test_size_cache_and_brotli_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "x.mjs"
    f.write_text("WebAssembly " * 5000)
    cache = tmp_path / "cache"
    first = sizes.measure(f, cache_dir=cache)
    assert first.raw == 60_000 and first.gzip < 1000
    assert [p.name for p in cache.iterdir()] == [f"{first.sha256}.json"]  # no temp files left behind
    calls: list[int] = []
    monkeypatch.setattr(sizes.gzip, "compress", lambda *a, **k: calls.append(1) or b"")
    assert sizes.measure(f, cache_dir=cache) == first and not calls  # served from the cache
    monkeypatch.undo()
    limited = sizes.measure(f, brotli_limit=100)
    assert limited.brotli is None and "brotli limit 100 B" in limited.brotli_note
    monkeypatch.setattr(sizes, "_brotli", None)
    missing = sizes.measure(f)
    assert missing.brotli is None and "not installed" in missing.brotli_note


def test_memfs_delta(tmp_path: Path) -> None:
    make_variant(tmp_path, "wasm32")
    make_variant(tmp_path, "wasm32-memfs", memfs=True, pad_glue=30_000)
    rep = check_dir(tmp_path, expect=None, budgets=budgets(), baseline=None)
    assert [(d.off, d.on, d.file) for d in rep.deltas] == [
        ("wasm32", "wasm32-memfs", f"{STEM}.wasm"), ("wasm32", "wasm32-memfs", f"{STEM}.mjs")]
    mjs = rep.deltas[1]
    assert mjs.raw > 30_000 and mjs.gzip > 12_000
    (msg,) = failed(rep, "memfs_delta.gzip")
    assert f"wasm32-memfs/{STEM}.mjs vs wasm32: gzip +{mjs.gzip:,} B exceeds [memfs_delta] 12,000 B" in msg
    md = report.render_markdown(rep)
    assert "### MEMFS cost (ON − OFF)" in md and f"| {STEM}.mjs | +{mjs.raw:,} |" in md


def test_baseline_growth(tmp_path: Path) -> None:
    d = make_variant(tmp_path / "old", "wasm32")
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps(report.manifest_with_checks(rep.artifacts[0], rep)))
    grown = make_variant(tmp_path / "new", "wasm32", pad_glue=2000)
    rep2 = check_dir(grown, expect=None, budgets=budgets(), baseline=base)
    assert {(g.file, g.measure) for g in rep2.growth} >= {(f"{STEM}.mjs", "raw"), (f"{STEM}.mjs", "gzip")}
    msgs = failed(rep2, "baseline")
    assert any(f"wasm32/{STEM}.mjs: raw grew" in m and "over the 2.00% threshold" in m for m in msgs)
    assert check_dir(grown, expect=None, budgets=budgets(), baseline=base, max_growth_percent=1000).ok
    assert "### Growth vs baseline" in report.render_markdown(rep2)


def test_manifest_says_other_bytes(tmp_path: Path) -> None:
    d = make_variant(tmp_path, "wasm32")
    (d / f"{STEM}.mjs").write_text((d / f"{STEM}.mjs").read_text() + "//x")
    (msg,) = failed(check_dir(d, expect=None, budgets=budgets(), baseline=None), "manifest")
    assert "changed after the build" in msg


def _cannot(path: Path, match: str) -> None:
    with pytest.raises(CannotCheck, match=match) as err:
        check_dir(path, expect=None, budgets=budgets(), baseline=None)
    assert err.value.hint


def test_cannot_check_inputs(tmp_path: Path) -> None:
    _cannot(tmp_path / "nope", "not a directory")
    (tmp_path / "empty").mkdir()
    _cannot(tmp_path / "empty", "no .wasm/.mjs pairs")
    d = make_variant(tmp_path, "trunc")
    data = (d / f"{STEM}.wasm").read_bytes()
    (d / f"{STEM}.wasm").write_bytes(data[: len(data) - 5])
    _cannot(d, "truncated")
    d = make_variant(tmp_path, "html")
    (d / f"{STEM}.wasm").write_text("<html>404 Not Found</html>")
    _cannot(d, "not a wasm module")
    d = make_variant(tmp_path, "lonely-mjs")
    (d / f"{STEM}.wasm").unlink()
    _cannot(d, r"\.mjs has no .*\.wasm next to it")
    d = make_variant(tmp_path, "lonely-wasm")
    (d / f"{STEM}.mjs").unlink()
    _cannot(d, r"\.wasm has no .*\.mjs next to it")
    _cannot(make_variant(tmp_path, "future", fmt=MANIFEST_FORMAT + 1), "newer ortwasm")
    d = make_variant(tmp_path, "badjson")
    (d / "manifest.json").write_text("{")
    _cannot(d, "not readable JSON")
    d = make_variant(tmp_path, "badvariant")
    (d / "manifest.json").write_text(json.dumps({"format": 1, "variant": {"name": "x", "arch": "wasm16"}}))
    _cannot(d, "'variant' must hold")
    d = make_variant(tmp_path, "partialfs")
    (d / f"{STEM}.mjs").write_text((d / f"{STEM}.mjs").read_text() + '"/dev/tty1";ErrnoError')
    _cannot(d, "cannot tell whether the FS is linked in")


def test_dist_layout_pairs_by_stem_and_ignores_bundles(tmp_path: Path) -> None:
    d = tmp_path / "dist"
    d.mkdir()
    for stem, mapping, extra in ((STEM, MINIFIED, ""), (f"{STEM}.jsep", JSEP_MINIFIED, JSEP_TEXT)):
        (d / f"{stem}.wasm").write_bytes(make_wasm("wasm32", list(mapping.values())))
        (d / f"{stem}.mjs").write_text(make_glue(mapping, fs=False, key=None) + extra)
    (d / "ort.all.min.mjs").write_text("export const x = 1;")
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert [a.name for a in rep.artifacts] == [f"dist/{STEM}", f"dist/{STEM}.jsep"] and rep.ok


def test_jsep_pair_must_be_a_jsep_build_by_name_and_manifest(tmp_path: Path) -> None:
    """A CPU glue under the .jsep name (a renamed file) fails, with or without a manifest; so does a JSEP pair
    that lacks the JSEP C API, and a manifest whose jsep flag disagrees with the pair's name."""
    d = tmp_path / "dist"
    d.mkdir()
    (d / f"{STEM}.jsep.wasm").write_bytes(make_wasm("wasm32", list(MINIFIED.values())))
    (d / f"{STEM}.jsep.mjs").write_text(make_glue(MINIFIED, fs=False, key=None))
    rep = check_dir(d, expect=None, budgets=budgets(), baseline=None)
    assert {f.rule for f in rep.failures} == {"jsep", "c_api"}
    (msg,) = failed(rep, "jsep")
    assert "lacks jsepInit" in msg and "*.jsep.mjs" in msg
    assert "JsepOutput" in failed(rep, "c_api")[0]
    (d / f"{STEM}.jsep.mjs").write_text(make_glue(JSEP_MINIFIED, fs=False, key=None) + JSEP_TEXT)
    (d / f"{STEM}.jsep.wasm").write_bytes(make_wasm("wasm32", list(JSEP_MINIFIED.values())))
    assert check_dir(d, expect=None, budgets=budgets(), baseline=None).ok
    wrong = check_dir(d, expect=Expectation("x", "wasm32", False, jsep=False), budgets=budgets(), baseline=None)
    assert {f.rule for f in wrong.failures} == {"jsep_manifest"}


def test_pair_names_agree_with_the_variant_table() -> None:
    """The check reads a pair's kind from the suffix Variant.artifact_stem writes; both must say the same."""
    kinds = {v.name: pair_kind(v.artifact_stem) for v in load_table().values()}
    assert kinds == {v.name: v.webgpu if v.ep == "webgpu" else v.ep for v in load_table().values()}
    assert set(kinds.values()) == {"cpu", "jsep", "asyncify", "jspi"}  # every kind is in the table: not vacuous


@pytest.mark.parametrize(("extra", "has"), [
    (WEBGPU_TEXT, "webgpuInit"),  # a WebGPU-EP glue that waits by neither Asyncify nor JSPI
    (WEBGPU_TEXT + ASYNC_TEXT + JSPI_TEXT, "webgpuInit, asyncInit, WebAssembly.Suspending/promising"),  # by both
    (JSEP_TEXT + WEBGPU_TEXT + ASYNC_TEXT, "jsepInit, webgpuInit, asyncInit"),  # two WebGPU providers
])
def test_contradicting_ep_markers_cannot_be_judged(tmp_path: Path, extra: str, has: str) -> None:
    """Not a guess either way: a glue no ORT build makes, or markers a new emscripten spells otherwise."""
    d = make_variant(tmp_path, "v", manifest=False)
    (d / f"{STEM}.mjs").write_text((d / f"{STEM}.mjs").read_text() + extra)
    _cannot(d, f"cannot tell which execution provider the glue carries: it has {has}, ")


def test_manifest_webgpu_is_read_when_recorded(tmp_path: Path) -> None:
    """A manifest without the variant's webgpu key (written before the key existed) states nothing; one with it
    states the pair's kind."""
    d = make_variant(tmp_path, "wasm32")
    path = d / "manifest.json"
    data = json.loads(path.read_text())
    data["variant"].pop("webgpu", None)
    path.write_text(json.dumps(data))
    assert rules._expectation(Manifest.read(path), path).webgpu is None
    data["variant"]["webgpu"] = "asyncify"
    path.write_text(json.dumps(data))
    assert rules._expectation(Manifest.read(path), path).webgpu == "asyncify"


def test_budgets_file_errors(tmp_path: Path) -> None:
    cases = {"[variants.x]\n\".wasm\" = { raw = -1 }\n": "byte counts",
             "[variants.x]\nwasm = { raw = 1 }\n": "not a file suffix",
             "[variants.x]\n\".wasm\" = { raww = 1 }\n": "expected a table with keys",
             "[defaults]\n": "unknown top-level keys",
             "[baseline]\nmax_growth_percent = \"2\"\n": "max_growth_percent",
             "x = [": "valid TOML"}
    for text, match in cases.items():
        p = tmp_path / "b.toml"
        p.write_text(text)
        with pytest.raises(CannotCheck, match=match):
            load_budgets(p)


def _reference() -> dict[tuple[str, str], tuple[int, int]]:
    """(variant, suffix) -> (raw, gzip) as bench/artifact_sizes.py measured the built artifacts (not copied)."""
    sizes = json.loads((REPO / "bench" / "results" / "sizes-1.21.0.json").read_text())["variants"]
    return {(v, Path(f).suffix): (x["bytes"], x["gzip9"]) for v, row in sizes.items()
            for f, x in row["files"].items()}


REFERENCE = _reference()


def test_committed_budgets_have_about_ten_percent_headroom() -> None:
    b = load_budgets(require_recipe(default_version()).budgets_path)
    # every released variant the version can build has a budget (1.21 has no WebGPU EP: no .asyncify/.jspi pairs)
    released = {v.name for v in release_variants(load_table()) if v.unsupported_reason(default_version()) is None}
    assert set(b.files) == {"default", *released}
    assert released <= {v for v, _ in REFERENCE}, "bench/artifact_sizes.py has not measured every released variant"
    for (variant, suffix), (raw, gz) in REFERENCE.items():
        budget = b.files[variant][suffix]
        assert budget.raw is not None and budget.gzip is not None
        assert 1.05 * raw <= budget.raw <= 1.15 * raw, (variant, suffix)
        assert 1.05 * gz <= budget.gzip <= 1.15 * gz, (variant, suffix)
    assert b.memfs_delta[".mjs"].gzip == 13_700 and b.memfs_delta[".wasm"].gzip == 20_000
    assert b.memfs_delta[".mjs"].gzip >= 12_437 * 1.1  # the measured FS + pre-memfs.js cost fits with headroom


def test_c_api_list_matches_ort_header() -> None:
    header = require_recipe(default_version()).source_dir / "onnxruntime" / "wasm" / "api.h"
    if not header.is_file():
        pytest.skip(f"!!! ORT 1.21.0 source not found at {header}: run ci/fetch-sources.sh to compare ORT_C_API")
    assert c_api_from_header(header) == ORT_C_API
    assert {"OrtInit", "OrtCreateSession", "OrtRun", "OrtReleaseSession"} <= set(ORT_C_API)


def test_webgpu_c_api_matches_ort_source() -> None:
    """WEBGPU_C_API is what 1.30's api.h declares under USE_WEBGPU and its cmake exports with onnxruntime_USE_WEBGPU."""
    src = require_recipe("1.30.0").source_dir
    header, cmake = src / "onnxruntime" / "wasm" / "api.h", src / "cmake" / "onnxruntime_webassembly.cmake"
    if not (header.is_file() and cmake.is_file()):
        pytest.skip(f"!!! ORT 1.30.0 source not found at {src}: run ci/fetch-sources.sh to compare WEBGPU_C_API")
    blocks = re.findall(r"#ifdef USE_WEBGPU\n(.*?)#endif", header.read_text(), re.S)
    declared = {n for b in blocks for n in re.findall(r"EMSCRIPTEN_KEEPALIVE\s+(Ort\w+)\s*\(", b)}
    (exported,) = re.findall(r"if \(onnxruntime_USE_WEBGPU\)\s*string\(APPEND EXPORTED_FUNCTIONS \",([^\"]+)\"\)",
                             cmake.read_text())
    assert declared and set(WEBGPU_C_API) == declared | {n.removeprefix("_") for n in exported.split(",")}


def test_run_check_exit_codes_and_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budgets_toml = require_recipe(default_version()).budgets_path
    good = make_variant(tmp_path / "a", "wasm64-memfs", arch="wasm64", memfs=True)
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    assert run_check(good, budgets_toml, None, md, json_path=js, out=io.StringIO()) == 0
    assert "| file | raw | gzip -9 | brotli 11 | sha256[:16] | memory64 | table64 |" in md.read_text()
    data = json.loads(js.read_text())
    checks = data["artifacts"]["wasm64-memfs"]["checks"]
    assert checks["wasm"]["memory64"] is True and checks["glue"]["c_api"]["OrtInit"] == MINIFIED["OrtInit"]
    assert checks["glue"]["fs_markers"]["ErrnoError"] == 20 and checks["ok"] is True
    bad = make_variant(tmp_path / "b", "wasm64", arch="wasm64", key="index")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run_check(bad, budgets_toml, None, summary, out=io.StringIO()) == CheckFailed.return_code
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "glue fix missing" in text
    (tmp_path / "c").mkdir()
    with pytest.raises(CannotCheck):
        run_check(tmp_path / "c", budgets_toml, None, None)


# ---- real files ---------------------------------------------------------------------------------------------

OFFICIAL_VERSION = "1.21.0"
OFFICIAL_SHA1 = "e2f7c5bab7be9d0d54482da5a70445db1db974b8"  # npm view onnxruntime-web@1.21.0 dist.shasum


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def official_dist() -> Path:
    """onnxruntime-web 1.21.0 from the npm registry, cached (and reused) under $ORTWASM_HOME/npm-cache."""
    cache = ortwasm_home() / "npm-cache"
    tgz, root = cache / f"onnxruntime-web-{OFFICIAL_VERSION}.tgz", cache / f"onnxruntime-web-{OFFICIAL_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    if not (tgz.is_file() and _sha1(tgz) == OFFICIAL_SHA1):
        if shutil.which("npm") is None:
            pytest.skip("!!! npm not on PATH: cannot fetch onnxruntime-web 1.21.0; the real-world check did NOT run")
        with tempfile.TemporaryDirectory(dir=cache, prefix=".npm-pack-") as tmp:
            res = subprocess.run(["npm", "pack", f"onnxruntime-web@{OFFICIAL_VERSION}", "--pack-destination", tmp],
                                 capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                pytest.skip(f"!!! npm registry unreachable, the real-world check did NOT run: {res.stderr[-400:]}")
            got = Path(tmp) / tgz.name
            assert _sha1(got) == OFFICIAL_SHA1, "npm served a tarball with another sha1"
            os.replace(got, tgz)
    with tarfile.open(tgz) as tf:
        want = {m.name.removeprefix("package/"): m.size for m in tf.getmembers()
                if m.isfile() and m.name.startswith("package/dist/ort-wasm")}
    if not all((root / n).is_file() and (root / n).stat().st_size == s for n, s in want.items()):
        tmp_dir = Path(tempfile.mkdtemp(dir=cache, prefix=".extract-"))
        with tarfile.open(tgz) as tf:
            tf.extractall(tmp_dir, filter="data")
        stale = cache / f".stale-{root.name}-{os.getpid()}"
        if root.exists():
            os.replace(root, stale)
        os.replace(tmp_dir / "package", root)
        shutil.rmtree(tmp_dir)
        shutil.rmtree(stale, ignore_errors=True)
    return root / "dist"


def test_official_dist(official_dist: Path) -> None:
    rep = check_dir(official_dist, expect=Expectation("official-1.21.0", "wasm32", False),
                    budgets=load_budgets(require_recipe(default_version()).budgets_path), baseline=None)
    assert rep.ok, [f.message for f in rep.failures]
    arts = {a.stem: a for a in rep.artifacts}
    assert set(arts) == {STEM, f"{STEM}.jsep"}
    main = arts[STEM]
    assert (main.sizes[0].raw, main.sizes[1].raw) == (12_666_427, 26_583)
    assert abs(main.sizes[0].gzip - 3_231_122) < 0.005 * 3_231_122  # GNU gzip -9 figure of the official dist
    mem = main.wasm.memory
    assert mem is not None and mem.imported_from is not None and mem.limits.shared and mem.limits.maximum == 65536
    assert main.wasm.memory64 is False and main.wasm.table64 is False
    for art in arts.values():
        assert art.glue.fs_present is False and art.glue.marker_count == 0
        assert art.glue.ptr_sizes == (4,) and art.glue.creates_memory  # `h.PTR_SIZE=4` from js_post_js.js
        assert {"memory_table64", "glue_ptr_width"} <= {f.rule for f in art.findings if f.ok}
        assert "OrtInit" not in art.wasm.export_names  # minified: the glue mapping is the only way to check
        assert set(art.glue.exposed) >= set(ORT_C_API)
    assert main.glue.mapping("OrtInit").via == "H.$a"  # type: ignore[union-attr]
    wrong = check_dir(official_dist, expect=Expectation("x", "wasm64", True),
                      budgets=load_budgets(require_recipe(default_version()).budgets_path), baseline=None)
    assert {f.rule for f in wrong.failures} == {"memory64", "table64", "fs"}


def test_official_dist_c_api_check_bites(official_dist: Path, tmp_path: Path) -> None:
    """Break one mapping in a copy of the real glue: the check must name that function."""
    (tmp_path / f"{STEM}.wasm").symlink_to(official_dist / f"{STEM}.wasm")
    glue = (official_dist / f"{STEM}.mjs").read_text()
    assert "_OrtRun=H.yb" in glue
    (tmp_path / f"{STEM}.mjs").write_text(glue.replace("_OrtRun=H.yb", "_OrtRun=H.QQ"))
    msgs = failed(check_dir(tmp_path, expect=None, budgets=budgets(), baseline=None), "c_api")
    assert len(msgs) == 1 and "OrtRun (glue maps it to wasm export 'QQ'" in msgs[0]


# onnxruntime-web 1.30.0 as npm installs it for the official client (tests/harness/client.py): the first version
# whose dist has the native WebGPU EP's pairs, .asyncify (ort.webgpu*.mjs) and .jspi (ort.jspi*.mjs).
DIST_130 = ortwasm_home() / "clients" / "official-1.30.0" / "node_modules" / "onnxruntime-web" / "dist"
SUFFIXES_130 = ("", ".jsep", ".asyncify", ".jspi")


@pytest.fixture(scope="module")
def dist_130() -> Path:
    want = [DIST_130 / f"{STEM}{suffix}{ext}" for suffix in SUFFIXES_130 for ext in (".wasm", ".mjs")]
    missing = [p for p in want if not p.is_file()]
    if missing:
        pytest.skip(f"!!! no official onnxruntime-web 1.30.0 pair at {missing[0]} (the official-1.30.0 client of "
                    "tests/test_client.py installs it): the WebGPU-EP real-glue checks did NOT run")
    assert json.loads((DIST_130.parent / "package.json").read_text())["version"] == "1.30.0"
    return DIST_130


@pytest.fixture(scope="module")
def sizes_130(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One size cache for the module: each 14-28 MB official wasm is gzipped once, not once per test."""
    return tmp_path_factory.mktemp("sizes-130")


def _pair_as(dist: Path, tmp: Path, src: str, dst: str, variant: str | None = None) -> Path:
    """The official pair of suffix ``src`` under the name of suffix ``dst`` (a renamed file, two builds mixed), in
    a variant dir with manifest.json as ortwasm lays it out when ``variant`` names one, else in a bare dist/."""
    d = tmp / (variant or "dist")
    d.mkdir()
    for ext in (".wasm", ".mjs"):
        (d / f"{STEM}{dst}{ext}").symlink_to(dist / f"{STEM}{src}{ext}")
    if variant is not None:
        write_manifest(d, variant, jsep=False)
    return d


def _check_130(d: Path, sizes_cache: Path, expect: Expectation | None = None) -> CheckReport:
    return check_dir(d, expect=expect, budgets=budgets(), baseline=None, version="1.30.0", size_cache=sizes_cache)


@pytest.mark.parametrize(("suffix", "kind", "wait", "counts"), [
    (".asyncify", "asyncify", "asyncify", [0, 1, 1, 0]), (".jspi", "jspi", "jspi", [0, 1, 0, 3]),
    (".jsep", "jsep", "asyncify", [1, 0, 1, 0]), ("", "cpu", None, [0, 0, 0, 0])])
def test_official_130_glue_ep_markers(dist_130: Path, suffix: str, kind: str, wait: str | None,
                                      counts: list[int]) -> None:
    """Each marker measured in each real glue: in its own kind's glues only (JSEP builds also use Asyncify)."""
    path = dist_130 / f"{STEM}{suffix}.mjs"
    text = path.read_text()
    assert [len(r.findall(text)) for _, r in EP_MARKERS] == counts
    glue = gluemod.parse_file(path)
    assert (glue.kind, glue.wait) == (kind, wait)


@pytest.mark.parametrize("kind", ["asyncify", "jspi"])
def test_official_130_webgpu_pair_passes_as_a_variant(dist_130: Path, sizes_130: Path, tmp_path: Path,
                                                      kind: str) -> None:
    """Under its own name, in a variant dir with a manifest: every rule passes, the CPU C API (the WebGPU pairs
    are built with reduced ops, not a reduced API) and the WebGPU EP's additions included."""
    d = _pair_as(dist_130, tmp_path, f".{kind}", f".{kind}", variant=f"wasm32-{kind}")
    rep = _check_130(d, sizes_130)
    assert rep.ok, [f.message for f in rep.failures]
    (art,) = rep.artifacts
    assert art.glue.kind == kind and art.expectation is not None and art.expectation.name == f"wasm32-{kind}"
    oks = {f.rule: f.message for f in art.findings}
    assert {"webgpu", "jsep_manifest", "c_api", "fs", "memory64", "manifest"} <= set(oks)
    n = len(require_recipe("1.30.0").c_api) + len(WEBGPU_C_API)
    assert f"all {n} C API functions present" in oks["c_api"] and "as its name says" in oks["webgpu"]


@pytest.mark.parametrize(("src", "dst", "failing", "says"), [
    (".asyncify", ".jspi", {"webgpu"}, ["the name says a WebGPU EP build that waits by JSPI but the glue is a "
                                        "WebGPU EP build that waits by Asyncify (has webgpuInit, asyncInit; lacks "
                                        "jsepInit)", "*.asyncify.mjs", "ort.jspi*.mjs loads *.jspi.mjs"]),
    (".jspi", ".asyncify", {"webgpu"}, ["waits by JSPI (has webgpuInit, WebAssembly.Suspending/promising",
                                        "ort.webgpu*.mjs loads *.asyncify.mjs"]),
    (".jsep", ".asyncify", {"webgpu", "c_api"}, ["the glue is a JSEP (WebGPU) build (has jsepInit",
                                                 "ort.webgpu*.mjs loads *.asyncify.mjs"]),
    ("", ".asyncify", {"webgpu", "c_api"}, ["the glue is a CPU build (lacks jsepInit and webgpuInit)",
                                            "ort.webgpu*.mjs loads *.asyncify.mjs"]),
    (".asyncify", "", {"webgpu"}, ["the name says a CPU build but the glue is a WebGPU EP build",
                                   "its CPU bundles (ort.wasm*.mjs"]),
    (".asyncify", ".jsep", {"webgpu", "c_api"}, ["the name says a JSEP (WebGPU) build", "load *.jsep.mjs"]),
])
def test_official_130_pair_under_another_kinds_name_fails(dist_130: Path, sizes_130: Path, tmp_path: Path, src: str,
                                                          dst: str, failing: set[str], says: list[str]) -> None:
    rep = _check_130(_pair_as(dist_130, tmp_path, src, dst), sizes_130)
    assert {f.rule for f in rep.failures} == failing, [f.message for f in rep.failures]
    (msg,) = failed(rep, "webgpu")
    assert f"{STEM}{dst}.mjs: the name says" in msg and "renamed or comes from another build" in msg
    for phrase in says:
        assert phrase in msg, msg
    if "c_api" in failing:  # the name asks for the other provider's C API, which this wasm lacks
        assert ("OrtGetWebGpuDevice" if dst == ".asyncify" else "JsepOutput") in failed(rep, "c_api")[0]


def test_official_130_manifest_saying_webgpu_on_a_cpu_pair_fails(dist_130: Path, sizes_130: Path,
                                                                  tmp_path: Path) -> None:
    """The CPU pair named as one, but its variant says webgpu=asyncify: the build wrote the wrong pair, or the dir
    mixes builds; the name and the glue agree, so only the manifest rule can see it."""
    d = _pair_as(dist_130, tmp_path, "", "")
    cpu = Expectation("wasm32-asyncify", "wasm32", False, jsep=False, webgpu="asyncify")
    rep = _check_130(d, sizes_130, cpu)
    assert {f.rule for f in rep.failures} == {"webgpu_manifest"}, [f.message for f in rep.failures]
    (msg,) = failed(rep, "webgpu_manifest")
    assert f"variant wasm32-asyncify has webgpu='asyncify' but its pair is {STEM}.wasm/.mjs, the name of a CPU " \
        "build" in msg
    assert _check_130(d, sizes_130, Expectation("wasm32", "wasm32", False, jsep=False, webgpu="")).ok


@pytest.mark.artifacts
@pytest.mark.parametrize("variant", ["wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs"])
def test_real_build_outputs(variant: str) -> None:
    d = artifact_cache_dir() / variant
    if not (d / f"{STEM}.wasm").is_file():
        pytest.skip(f"!!! no real ortwasm build at {d} (build {variant} to fill it); real-artifact check did NOT run")
    rep = check_dir(d, expect=None, budgets=load_budgets(require_recipe(default_version()).budgets_path), baseline=None)
    assert rep.ok, [f.message for f in rep.failures]
    art = rep.artifacts[0]
    assert art.wasm.memory64 is variant.startswith("wasm64")
    assert art.glue.fs_present is variant.endswith("-memfs")
