"""Current ONNX Runtime (every supported version besides the default one) through its own official client.

For each version whose artifacts exist (``$ORTWASM_HOME/<recipe layout.out>/<variant>``), npm's
``onnxruntime-web@<version>`` is pointed at our pairs with ``env.wasm.wasmPaths`` (what its users would do),
in Node 24 and headless Chromium, against native onnxruntime.  CI has no copy of these trees, so on a bare
machine every test here skips, naming the directory it looked in; the builds are benchmarks
(bench/results/build-<version>.json).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ortwasm import paths
from ortwasm.js.web import npm_env
from ortwasm.recipe import default_version, load_recipe, supported
from tests.harness import models
from tests.harness.client import (
    ClientJob,
    app_entry,
    assert_matches,
    case_job,
    client_app,
    package_dist,
    run_client_browser,
    run_client_node,
)
from tests.harness.runtime import CHROMIUM

pytestmark = pytest.mark.artifacts

VERSIONS = [v for v in supported() if v != default_version()]
WASM32 = ("wasm32", "wasm32-memfs")  # what the official client of a current version can drive (no Memory64)


def _out(version: str) -> Path:
    recipe = load_recipe(version)
    assert recipe is not None
    return recipe.out_dir


def _pair(version: str, variant: str) -> Path:
    where = _out(version) / variant
    if not (where / "manifest.json").exists():
        pytest.skip(f"NO {version} ARTIFACT for {variant}: looked for {where}/manifest.json "
                    f"(python build.py --ort-version {version} builds it)")
    if not (paths.node_prefix() / "bin" / "node").exists():
        pytest.skip("NO NODE 24: run ci/provision-toolchain.sh")
    return where


def _official(version: str) -> Path:
    return client_app(f"official-{version}", f"onnxruntime-web@{version}")


def _job(entry: Path, case: models.ModelCase, where: Path, **kw: object) -> ClientJob:
    """Every run here points the client at our pair with wasmPaths, on 2 threads."""
    return case_job(entry, case, num_threads=2, wasm_dir=where, **kw)


@pytest.fixture(scope="module")
def split_case(tmp_path_factory: pytest.TempPathFactory) -> models.ModelCase:
    return models.split_external(tmp_path_factory.mktemp("split"))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", WASM32)
def test_two_files_unaligned_node(version: str, variant: str, split_case: models.ModelCase) -> None:
    where = _pair(version, variant)
    entry = app_entry(_official(version))
    for data_as in ("bytes", "path"):
        assert_matches(run_client_node(_job(entry, split_case, where, data_as=data_as)), split_case)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", WASM32)
def test_far_offset_node(version: str, variant: str) -> None:
    """Past 4 GiB: the MEMFS pair loads and matches; the OFF pair refuses with ORT's own message."""
    where = _pair(version, variant)
    case = models.cached_case("far_offset")
    result = run_client_node(_job(app_entry(_official(version)), case, where))
    if variant.endswith("memfs"):
        assert_matches(result, case)
    else:
        # upstream's own refusal: ">4GB" from the wasm read path, or 1.30's size_t SafeInt in the mmap path
        error = result.error or ""
        assert not result.ok and (">4GB" in error or "Integer overflow" in error), result.describe()


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", WASM32)
def test_two_files_unaligned_chromium(version: str, variant: str, split_case: models.ModelCase) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"NO CHROMIUM at {CHROMIUM}: run ci/provision-toolchain.sh")
    where = _pair(version, variant)
    app = _official(version)
    assert_matches(run_client_browser(_job(app, split_case, where), package_dist(app), "ort.wasm.min.mjs"), split_case)


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
def test_far_offset_chromium_memfs(version: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"NO CHROMIUM at {CHROMIUM}: run ci/provision-toolchain.sh")
    where = _pair(version, "wasm32-memfs")
    app = _official(version)
    case = models.cached_case("far_offset")
    assert_matches(run_client_browser(_job(app, case, where), package_dist(app), "ort.wasm.min.mjs"), case)


# ------------------------------------------------------------------ wasm64: our JS, built from the same tree

WASM64 = "wasm64-memfs"


@pytest.fixture(scope="module")
def our_js(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Upstream's current JS no longer knows wasm64; ours is built from the patched tree (the JS stage) and
    npm-installed like any onnxruntime-web, then pointed at the wasm64 pair with env.wasm.wasmPaths."""

    apps: dict[str, Path] = {}
    for version in VERSIONS:
        package = _out(version) / "onnxruntime-web" / "package"
        if not (package / "package.json").exists():
            continue
        dest = tmp_path_factory.mktemp(f"js-{version}")
        # --ignore-scripts: the unpacked package still names js/web's prepack (the esbuild build it came from)
        subprocess.run(["npm", "pack", "--ignore-scripts", str(package), "--pack-destination", str(dest)], check=True,
                       env={**os.environ, **npm_env()}, capture_output=True)
        apps[version] = client_app(f"ortwasm-js-{version}", str(next(dest.glob("*.tgz"))))
    return apps


def _our_app(our_js: dict[str, Path], version: str) -> Path:
    if version not in our_js:
        pytest.skip(f"NO {version} JS BUILD: {_out(version)}/onnxruntime-web missing "
                    f"(python build.py --ort-version {version} without --skip-js builds it)")
    return our_js[version]


@pytest.mark.parametrize("version", VERSIONS)
def test_wasm64_two_files_and_far_offset_node(version: str, our_js: dict[str, Path],
                                             split_case: models.ModelCase) -> None:
    where = _pair(version, WASM64)
    entry = app_entry(_our_app(our_js, version))
    assert_matches(run_client_node(_job(entry, split_case, where, data_as="path")), split_case)
    far = models.cached_case("far_offset")
    assert_matches(run_client_node(_job(entry, far, where)), far)


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1",
                    reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
@pytest.mark.parametrize("version", VERSIONS)
def test_wasm64_big_weights_node(version: str, our_js: dict[str, Path]) -> None:
    """4.25 GiB of real weights in one initializer through the public API of our current-version JS."""
    where = _pair(version, WASM64)
    case = models.cached_case("big_gather")
    result = run_client_node(_job(app_entry(_our_app(our_js, version)), case, where, timeout_s=1800))
    assert_matches(result, case)


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
def test_wasm64_far_offset_chromium(version: str, our_js: dict[str, Path]) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"NO CHROMIUM at {CHROMIUM}: run ci/provision-toolchain.sh")
    where = _pair(version, WASM64)
    app = _our_app(our_js, version)
    case = models.cached_case("far_offset")
    assert_matches(run_client_browser(_job(app, case, where), package_dist(app), "ort.wasm.min.mjs"), case)
