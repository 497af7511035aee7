"""The browser half of the runtime harness: headless Debian Chromium via playwright-core, cross-origin isolated.

The localhost server is tested on its own first (no browser needed): without COOP/COEP on every response,
including the pthread worker script, a threaded artifact has no SharedArrayBuffer and the failure would look
like an artifact bug.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ortwasm import models, runtime
from ortwasm.runtime import RunJob

VARIANTS = ("wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs")


def test_static_server_sends_isolation_headers_and_only_mapped_files(tmp_path: Path) -> None:
    f = tmp_path / "a.wasm"
    f.write_bytes(b"\0asm" + bytes(100))
    with runtime.StaticServer() as srv:
        url = srv.add("/artifact/a.wasm", f)
        with urllib.request.urlopen(url) as r:
            assert r.read() == f.read_bytes()
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert r.headers["Content-Type"] == "application/wasm"
        for bad in ("/artifact/../a.wasm", "/artifact/", "/etc/passwd"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(srv.base_url + bad)


def _browser_or_skip() -> Path:
    node = runtime.node_prefix() / "bin" / "node"
    pw = runtime.node_prefix() / "node_modules" / "playwright-core"
    for need in (runtime.CHROMIUM, node, pw):
        if not need.exists():
            pytest.skip(
                f"NO BROWSER HARNESS: {need} is missing (apt-get install chromium; provisioning installs the rest)"
            )
    dist = runtime.official_dist(fetch=True)
    if dist is None:
        pytest.skip("NO OFFICIAL DIST: onnxruntime-web@1.21.0 not in ORTWASM_HOME/npm-cache and `npm pack` failed")
    return dist


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, models.ModelCase]:
    root = tmp_path_factory.mktemp("bmodels")
    return {"split": models.split_external(root / "split"), "missing": models.missing_external(root / "missing")}


def _job(artifact: Path, case: models.ModelCase, **kw: object) -> RunJob:
    job = RunJob(artifact, case.model, case.inputs, list(case.expected), case.external, num_threads=2, timeout_s=180)
    for k, v in kw.items():
        setattr(job, k, v)
    return job


@pytest.mark.browser
def test_official_dist_in_chromium_matches_native(cases: dict[str, models.ModelCase]) -> None:
    dist = _browser_or_skip()
    case = cases["split"]
    result = runtime.run_browser(_job(dist, case, mount="mounted-files"))
    assert result.ok, result.describe()
    assert result.raw["cross_origin_isolated"] is True
    assert result.raw["browser"].startswith("1")
    assert runtime.compare_outputs(result.outputs, case.expected, case.rtol, case.atol) == []
    assert (result.memory["peak_rss"] or 0) > 0 and (result.memory["wasm_heap_bytes"] or 0) > 0


@pytest.mark.browser
def test_official_dist_in_chromium_not_mounted_is_a_clean_error(cases: dict[str, models.ModelCase]) -> None:
    dist = _browser_or_skip()
    result = runtime.run_browser(_job(dist, cases["missing"], external_data=[]))
    assert not result.ok and result.returncode == 1, result.describe()
    assert result.stage == "session" and "missing.bin" in (result.error or ""), result.describe()


@pytest.mark.browser
@pytest.mark.artifacts
@pytest.mark.parametrize("variant", VARIANTS)
def test_artifact_in_chromium_matches_native(variant: str, cases: dict[str, models.ModelCase]) -> None:
    _browser_or_skip()
    where = runtime.artifact_dir_for(variant)
    if not (where / runtime.DEFAULT_MJS).exists():
        pytest.skip(f"NO ARTIFACT for variant {variant}: looked for {where / runtime.DEFAULT_MJS}")
    case = cases["split"]
    routes: list[runtime.Mount] = ["api", "fs"] if variant.endswith("memfs") else ["api"]
    for route in routes:
        result = runtime.run_browser(_job(where, case, mount=route))
        assert result.ok, result.describe()
        assert runtime.compare_outputs(result.outputs, case.expected, case.rtol, case.atol) == []
