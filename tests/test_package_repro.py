"""Issue #24's packaging cases: reproducible packages (no path of the build machine, no timing), staging next to
--dest cleaned on every exit path, and the free-space refusal.  Fast tier: test_package.py's synthetic OUT."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest

from ortwasm import package as pk
from ortwasm.errors import PackageError
from tests.test_package import fake_out, sha

pytest.importorskip("scikit_build_core")


def _shipped_text(res: pk.PackageResult) -> str:
    with tarfile.open(res.tgz) as tar:
        pj = tar.extractfile("package/package.json")
        assert pj is not None
        text = pj.read().decode()
    with zipfile.ZipFile(res.wheel) as zf:
        text += "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if not n.endswith(".wasm"))
    return text


def test_same_out_under_two_homes_and_two_paths_is_byte_identical(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path / "one")
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home-a"))
    a = pk.build_packages(out, tmp_path / "dest-a")
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "elsewhere" / "home-b"))
    b = pk.build_packages(out, tmp_path / "dest-b")
    moved = tmp_path / "another" / "place" / "out"
    shutil.copytree(out, moved, symlinks=True)
    c = pk.build_packages(moved, tmp_path / "dest-c")
    assert sha(a.tgz) == sha(b.tgz) == sha(c.tgz)
    assert sha(a.wheel) == sha(b.wheel) == sha(c.wheel)


def test_nothing_that_ships_holds_a_path_or_a_timing(tmp_path: Path) -> None:
    out = fake_out(tmp_path)
    for mf in out.glob("*/manifest.json"):  # what a real build records locally
        data = json.loads(mf.read_text())
        data["timings"] = {"compile_s": 1234.5}
        data["defines"] = {"onnxruntime_ENABLE_WEBASSEMBLY_MEMFS": "ON", "SOME_FILE": str(tmp_path / "x.cmake")}
        mf.write_text(json.dumps(data))
        (mf.parent / "ort-wasm-simd-threaded.wasm").touch()  # unchanged bytes: the manifest is not a checked file
    res = pk.build_packages(out, tmp_path / "dist")
    text = _shipped_text(res)
    for needle in ("/src/onnxruntime-1.21.0", str(tmp_path), "compile_s", "timings"):
        assert needle not in text, needle
    with zipfile.ZipFile(res.wheel) as zf:
        man = json.loads(zf.read("ortwasm_artifacts/manifest.json"))
    build = man["variants"]["wasm32"]["build"]
    assert build["defines"] == {"onnxruntime_ENABLE_WEBASSEMBLY_MEMFS": "ON"} and "source" not in build["ort"]
    assert json.loads((out / "wasm32" / "manifest.json").read_text())["timings"]  # kept locally


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_staging_is_in_dest_and_cleaned_on_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path)
    sys_tmp = tmp_path / "system-tmp"
    sys_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(sys_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    seen: list[Path] = []
    real = pk.write_tgz

    def interrupted(f: object, files: object, epoch: int) -> None:
        seen.extend(p for p in (tmp_path / "dist").iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(pk, "write_tgz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pk.build_packages(out, tmp_path / "dist")
    assert [p.name.startswith(".ortwasm-package.") for p in seen] == [True]  # staged inside --dest
    assert _leftovers(tmp_path / "dist") == [] and _leftovers(sys_tmp) == []
    monkeypatch.setattr(pk, "write_tgz", real)
    res = pk.build_packages(out, tmp_path / "dist")
    assert _leftovers(tmp_path / "dist") == sorted([res.tgz.name, res.wheel.name]) and _leftovers(sys_tmp) == []


def test_too_little_space_is_one_line_before_anything_is_written(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = fake_out(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(PackageError, match=r"has 0 MiB free; packaging needs about \d[\d,]* MiB") as err:
        pk.build_packages(out, tmp_path / "dist")
    assert "\n" not in err.value.message and "another --dest" in err.value.hint
    assert _leftovers(tmp_path / "dist") == []


def test_space_estimate_covers_the_measured_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak bytes under --dest during a package, sampled at each staging step, against space_needed."""
    out = fake_out(tmp_path)
    dest = tmp_path / "dist"
    peak = [0]

    def du() -> int:
        return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())

    real_build = pk.build_wheel

    def measured(staging: Path, work: Path, epoch: int, log_dir: Path | None = None) -> Path:
        peak[0] = max(peak[0], du())
        built = real_build(staging, work, epoch, log_dir=log_dir)
        peak[0] = max(peak[0], du())
        return built

    monkeypatch.setattr(pk, "build_wheel", measured)
    res = pk.build_packages(out, dest)
    peak[0] = max(peak[0], du())
    output = res.tgz.stat().st_size + res.wheel.stat().st_size
    print(f"staged {res.staged_bytes:,} B, peak in dest {peak[0]:,} B, output {output:,} B "
          f"({peak[0] / output:.2f} x the output)")
    assert peak[0] <= pk.space_needed(res.staged_bytes)
