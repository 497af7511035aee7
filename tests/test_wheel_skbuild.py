"""The wheel built by scikit-build-core from ``cmake/wheel/``: exactly the staged package files, byte for byte,
with the metadata, dates and modes a user relies on, and the same bytes from two builds in different dirs.

The fast tier stages the synthetic OUT of test_package.py; the ``artifacts`` tier the real wasm32-memfs pair.
Each build runs the real backend (cmake configure + install, about a second); it needs the pinned scikit-build-core
(the test extra, installed by ci/test.sh) and skips, saying so, without it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import stat
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from ortwasm import package as pk
from ortwasm.errors import PackageError
from ortwasm.package import skbuild
from ortwasm.paths import artifact_cache_dir
from tests.test_package import fake_out, fake_web, sha

EPOCH = 499162500  # archive.DEFAULT_EPOCH
INFO = "ortwasm_artifacts-1.21.0.post1.dist-info"
REPO = Path(__file__).resolve().parents[1]
Built = tuple[dict[str, bytes], Path, Path]  # the staged package files, two wheels built from them


@pytest.fixture(scope="module")
def backend() -> None:
    missing = skbuild.unmet(skbuild.build_requirements())
    if missing:
        pytest.skip(f"!!! {', '.join(missing)} not installed for {sys.executable}: ci/test.sh installs "
                    "pyproject.toml's test extra into its venv")


def read_zip(path: Path) -> tuple[list[zipfile.ZipInfo], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return zf.infolist(), {n: zf.read(n) for n in zf.namelist()}


def payload(out: Path, dest: Path) -> dict[str, bytes]:
    """The package files ``build_packages`` stages for the wheel (``payload_files``), spied on their way to
    ``stage``."""
    seen: dict[str, bytes] = {}
    real_stage = pk.stage

    def spy(files: dict[str, bytes], staging: Path) -> Path:
        seen.update(files)
        return real_stage(files, staging)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pk, "stage", spy)
        pk.build_packages(out, dest / "pkg")
    return seen


def staged_from(files: dict[str, bytes], staging: Path) -> Path:
    return skbuild.stage(files, staging)


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def assert_wheel_of(ours: Path, files: dict[str, bytes], epoch: int = EPOCH) -> None:
    """The wheel holds exactly ``files`` byte for byte, with the metadata, dates and modes a user relies on."""
    ours_info, ours_files = read_zip(ours)
    assert ours.name == "ortwasm_artifacts-1.21.0.post1-py3-none-any.whl"
    names = [zi.filename for zi in ours_info]
    # order: package files by path parts (dist/wasm64/ before dist/wasm64-memfs/), then METADATA, WHEEL, RECORD
    assert names == [*sorted(files, key=lambda n: n.split("/")), f"{INFO}/METADATA", f"{INFO}/WHEEL", f"{INFO}/RECORD"]
    assert all(ours_files[n] == files[n] for n in files)
    meta = ours_files[f"{INFO}/METADATA"].decode()
    assert meta.startswith("Metadata-Version: 2.2\nName: ortwasm-artifacts\nVersion: 1.21.0.post1\n")
    assert "Summary: ONNX Runtime 1.21.0 for the web (onnxruntime-web with wasm32/wasm64 builds) by ortwasm" in meta
    assert "Requires-Python: >=3.9" in meta and "Description-Content-Type: text/markdown" in meta
    assert ours_files[f"{INFO}/WHEEL"].decode() == (
        f"Wheel-Version: 1.0\nGenerator: scikit-build-core {skbuild_version()}\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n\n")
    rows = ours_files[f"{INFO}/RECORD"].decode().splitlines()
    assert rows == [f"{n},{record_hash(ours_files[n])},{len(ours_files[n])}" for n in names[:-1]] + \
        [f"{INFO}/RECORD,,"]
    date = time.gmtime(max(epoch, 315532800))[:6]
    assert {(zi.date_time, zi.external_attr >> 16) for zi in ours_info} == {(date, stat.S_IFREG | 0o644)}


def skbuild_version() -> str:
    from importlib.metadata import version

    return version("scikit-build-core")


# --- fast tier -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(backend: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel's package files, then two scikit-build-core builds of them from different dirs (build and
    project paths differ between them, as between two machines)."""
    root = tmp_path_factory.mktemp("skbuild")
    files = payload(fake_out(root), root / "hand")
    a = skbuild.build_wheel(staged_from(files, root / "staging-a"), root / "a", EPOCH)
    b = skbuild.build_wheel(staged_from(files, root / "elsewhere" / "staging-b"), root / "b", EPOCH)
    return files, a, b


def test_two_builds_are_byte_identical(built: Built) -> None:
    _, a, b = built
    print(f"sha256 {sha(a)} {a}\nsha256 {sha(b)} {b}")
    assert sha(a) == sha(b)
    assert sorted(p.name for p in a.parent.iterdir()) == [a.name], "the build leaves nothing else in dest"


def test_the_package_files_and_metadata(built: Built) -> None:
    files, a, _ = built
    assert_wheel_of(a, files)


def test_epoch_dates_every_entry(backend: None, built: Built, tmp_path: Path) -> None:
    files, a, _ = built
    c = skbuild.build_wheel(staged_from(files, tmp_path / "staging"), tmp_path / "c", 1700000000)
    assert sha(c) != sha(a)
    assert {zi.date_time for zi in read_zip(c)[0]} == {(2023, 11, 14, 22, 13, 20)}


def test_settings_from_the_environment_do_not_leak_in(backend: None, built: Built,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-build-core reads SKBUILD_* and CMAKE_ARGS from the environment; a leftover one (a platform tag, a
    define) would change the wheel, so the build does not see them."""
    files, a, _ = built
    monkeypatch.setenv("SKBUILD_WHEEL_PY_API", "cp311")
    monkeypatch.setenv("SKBUILD_WHEEL_PLATLIB", "true")
    monkeypatch.setenv("CMAKE_ARGS", "-DCMAKE_INSTALL_DEFAULT_COMPONENT_NAME=other")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the epoch argument wins
    c = skbuild.build_wheel(staged_from(files, tmp_path / "staging"), tmp_path / "c", EPOCH)
    assert sha(c) == sha(a)


def test_missing_backend_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = payload(fake_out(tmp_path), tmp_path / "hand")
    monkeypatch.setattr(skbuild, "build_requirements", lambda project=None: ["scikit-build-core==0.0.1"])
    with pytest.raises(PackageError, match=r"needs scikit-build-core==0\.0\.1, not installed") as err:
        skbuild.build_wheel(staged_from(files, tmp_path / "staging"), tmp_path / "dest", EPOCH)
    assert err.value.hint.startswith("install it with: ")
    assert "-m pip install scikit-build-core==0.0.1" in err.value.hint
    assert not (tmp_path / "dest").exists()


def from_pypi(module: str) -> bool:
    """Installed as a package; the checkout's own ``cmake/`` dir is a namespace package without an origin when
    the repository root is on sys.path, and scikit-build-core does not count it either."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin is not None


def test_cmake_and_ninja_required_only_when_missing(backend: None, built: Built, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With cmake and ninja on PATH the fast-tier builds above ran without their PyPI packages (where those are
    not installed); with an empty PATH the backend's get_requires asks for them and the error names the pip
    command."""
    if all(from_pypi(m) for m in ("cmake", "ninja")):
        pytest.skip("cmake and ninja are installed from PyPI for this Python, so they are never missing here")
    files, _, _ = built
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PackageError, match="no suitable binary on PATH") as err:
        skbuild.build_wheel(staged_from(files, tmp_path / "staging"), tmp_path / "dest", EPOCH)
    assert "-m pip install" in err.value.hint
    for m in ("cmake", "ninja"):
        assert (not from_pypi(m)) == (m in err.value.message), err.value.message
    assert [p.name for p in (tmp_path / "dest").iterdir()] == []


def test_refuses_a_staging_without_the_package(backend: None, tmp_path: Path) -> None:
    (tmp_path / "staging").mkdir()
    with pytest.raises(PackageError, match="has no ortwasm_artifacts/"):
        skbuild.build_wheel(tmp_path / "staging", tmp_path / "dest", EPOCH)
    with pytest.raises(PackageError, match="points outside"):
        skbuild.stage({"ortwasm_artifacts/../../x": b""}, tmp_path / "staging")


def test_backend_failure_is_one_line_and_a_log(backend: None, built: Built, tmp_path: Path) -> None:
    files, _, _ = built
    staging = staged_from(files, tmp_path / "staging")
    mf = staging / "ortwasm_artifacts" / "manifest.json"
    mf.write_text(json.dumps({k: v for k, v in json.loads(mf.read_text()).items() if k != "wheel"}, indent=2))
    with pytest.raises(PackageError, match=r"^building the wheel with scikit-build-core failed: RuntimeError: "
                                           r"Couldn't find .* in payload/ortwasm_artifacts/manifest.json$") as err:
        skbuild.build_wheel(staging, tmp_path / "dest", EPOCH)
    log = Path(err.value.hint.removeprefix("full log: "))
    assert "Traceback" in log.read_text()
    log.unlink()
    assert [p.name for p in (tmp_path / "dest").iterdir()] == []


def test_the_pin_is_declared_once() -> None:
    """cmake/wheel/pyproject.toml pins the backend; ortwasm's extras install exactly that version."""
    project = tomllib.loads((REPO / "cmake" / "wheel" / "pyproject.toml").read_text())
    pin = [r for r in project["build-system"]["requires"] if r.startswith("scikit-build-core")]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert len(pin) == 1 and pin[0] in extras["test"] and pin[0] in extras["wheel"]
    assert skbuild.build_requirements()[0] == pin[0]


# --- artifacts tier --------------------------------------------------------------------------------------------


@pytest.mark.artifacts
def test_real_wasm32_memfs(backend: None, tmp_path: Path) -> None:
    real = artifact_cache_dir() / "wasm32-memfs"
    if not (real / "manifest.json").is_file():
        pytest.skip(f"!!! no real artifacts at {real}: build them with `python build.py --variants wasm32-memfs`")
    out = tmp_path / "out"
    out.mkdir()
    (out / "wasm32-memfs").symlink_to(real)
    fake_web(out, ort=json.loads((real / "manifest.json").read_text())["ort"])  # the JS stage's shape, same build
    files = payload(out, tmp_path / "hand")
    a = skbuild.build_wheel(staged_from(files, tmp_path / "staging-a"), tmp_path / "a", EPOCH)
    b = skbuild.build_wheel(staged_from(files, tmp_path / "staging-b"), tmp_path / "b", EPOCH)
    print(f"sha256 {sha(a)} {a.stat().st_size:,} B\nsha256 {sha(b)} {b.stat().st_size:,} B")
    assert sha(a) == sha(b)
    assert_wheel_of(a, files)
    packed = {hashlib.sha256(data).hexdigest() for data in read_zip(a)[1].values()}
    assert {sha(real / f"ort-wasm-simd-threaded.{k}") for k in ("wasm", "mjs")} <= packed
