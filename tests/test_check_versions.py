"""Issue #24's check cases: every version judged by its own recipe, `check OUT/` and an npm package understood,
non-glue .mjs skipped.  The official onnxruntime-web 1.21.0 and 1.30.0 dists are fetched once with `npm pack`
into $ORTWASM_HOME/npm-cache (the cache test_checks.py uses), never into the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm import package as pk
from ortwasm.errors import CannotCheck, CheckFailed, UsageError
from ortwasm.paths import ortwasm_home
from tests.test_checks import STEM, make_variant
from tests.test_package import fake_out

SHA1 = {"1.21.0": "e2f7c5bab7be9d0d54482da5a70445db1db974b8",  # npm view onnxruntime-web@V dist.shasum
        "1.30.0": "b88b09117992e6f486321e931a826fd2f7775377"}


def _sha1(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=sorted(SHA1))
def official_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The official dist's ort-wasm-simd-threaded.{wasm,mjs}, copied out of the cached npm tarball."""
    version: str = request.param
    cache = ortwasm_home() / "npm-cache"
    tgz = cache / f"onnxruntime-web-{version}.tgz"
    if not (tgz.is_file() and _sha1(tgz) == SHA1[version]):
        if shutil.which("npm") is None:
            pytest.skip(f"!!! npm not on PATH: cannot fetch onnxruntime-web {version}; the check did NOT run")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".npm-pack-") as tmp:
            res = subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--pack-destination", tmp],
                                 capture_output=True, text=True, timeout=600, check=False)
            if res.returncode != 0:
                pytest.skip(f"!!! npm registry unreachable, the check did NOT run: {res.stderr[-400:]}")
            got = Path(tmp) / tgz.name
            assert _sha1(got) == SHA1[version], "npm served a tarball with another sha1"
            os.replace(got, tgz)
    d = tmp_path_factory.mktemp(f"official-{version}")
    with tarfile.open(tgz) as tf:
        for kind in ("wasm", "mjs"):
            src = tf.extractfile(f"package/dist/{STEM}.{kind}")
            assert src is not None
            (d / f"{STEM}.{kind}").write_bytes(src.read())
    return version, d


def test_official_dists_pass_by_their_own_version(official_pair: tuple[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    version, d = official_pair
    assert cli.main(["check", str(d)]) == 0
    assert f"PASS by ONNX Runtime {version}'s rules (from the glue's C API)" in capsys.readouterr().out
    assert cli.main(["check", str(d), "--ort-version", version]) == 0
    other = "1.30.0" if version == "1.21.0" else "1.21.0"
    assert cli.main(["check", str(d), "--ort-version", other]) == CheckFailed.return_code  # the C API differs


@pytest.mark.parametrize("given", ["1.30", "latest", "v1.21.0", "9.9.9"])
def test_bad_ort_version_is_a_usage_error(tmp_path: Path, given: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = make_variant(tmp_path, "wasm32", manifest=False)
    assert cli.main(["check", str(d), "--ort-version", given]) == UsageError.return_code
    assert "1.21.0, 1.30.0" in capsys.readouterr().err


def _claim(d: Path, version: str) -> None:
    mf = d / "manifest.json"
    mf.write_text(json.dumps({**json.loads(mf.read_text()), "ort": {"version": version}}))


def test_unknown_or_conflicting_manifest_version_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    d = make_variant(tmp_path, "wasm32")
    _claim(d, "1.99.0")
    assert cli.main(["check", str(d)]) == CannotCheck.return_code
    err = capsys.readouterr().err
    assert "says ONNX Runtime 1.99.0, which has no recipe" in err and "supported: 1.21.0, 1.30.0" in err
    _claim(d, "1.21.0")
    assert cli.main(["check", str(d), "--ort-version", "1.30.0"]) == CannotCheck.return_code
    assert "says ONNX Runtime 1.21.0" in capsys.readouterr().err
    assert cli.main(["check", str(d)]) == 0


def test_package_refuses_a_version_without_recipe(tmp_path: Path) -> None:
    out = fake_out(tmp_path, ("wasm32",))
    for mf in out.glob("*/manifest.json"):
        data = json.loads(mf.read_text())
        data["ort"]["version"] = "1.99.0"
        mf.write_text(json.dumps(data))
    with pytest.raises(CannotCheck, match=r"says ONNX Runtime 1\.99\.0, which has no recipe"):
        pk.build_packages(out, tmp_path / "dist")


def test_check_out_dir_judges_variants_and_the_js_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = fake_out(tmp_path, ("wasm32", "wasm64-memfs"))
    assert cli.main(["check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PASS by ONNX Runtime 1.21.0's rules (from manifest.json): 2 artifact(s), 1 dir(s) (onnxruntime-web)" \
        in text
    bundle = out / "onnxruntime-web" / "package" / "dist" / "ort.wasm.min.mjs"
    bundle.write_text(bundle.read_text() + "// edited")
    assert cli.main(["check", str(out)]) == CheckFailed.return_code
    assert "FAILED js.files: onnxruntime-web: 1 file(s)" in capsys.readouterr().out


def test_check_an_unpacked_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = pk.build_packages(fake_out(tmp_path, ("wasm32", "wasm64-memfs")), tmp_path / "dist")
    with tarfile.open(res.tgz) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    pkg = tmp_path / "unpacked" / "package"
    assert cli.main(["check", str(pkg), "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["artifacts"]) == {"wasm32", "wasm64-memfs"} and report["ort_version"] == "1.21.0"
    exp = report["artifacts"]["wasm64-memfs"]["checks"]["expectation"]
    assert (exp["arch"], exp["memfs"]) == ("wasm64", True)
    glue = pkg / "dist" / "wasm64-memfs" / f"{STEM}.mjs"
    glue.write_text(glue.read_text() + "//")
    capsys.readouterr()
    assert cli.main(["check", str(pkg)]) == CheckFailed.return_code
    assert "changed after packaging" in capsys.readouterr().out


def test_non_glue_mjs_is_skipped_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = make_variant(tmp_path, "dist", manifest=False)
    (d / "loader.wasm").write_bytes((d / f"{STEM}.wasm").read_bytes())
    (d / "loader.mjs").write_text("// fetch and start our WebAssembly module\nexport const go = 1;\n")
    assert cli.main(["check", str(d)]) == 0
    out = capsys.readouterr().out
    assert "loader.mjs: not emscripten glue (no WebAssembly.instantiate call)" in out
    assert "FS absent" not in out and out.count("not emscripten glue") == 1
    (d / f"{STEM}.mjs").write_text("// WebAssembly\nexport default 1;\n")
    assert cli.main(["check", str(d)]) == CannotCheck.return_code
    assert "is named like ONNX Runtime's glue but is not emscripten glue" in capsys.readouterr().err
