"""The MEMFS pairs through onnxruntime-web's public API in headless Firefox, the second browser engine.

Why Firefox: Chromium is one engine (V8); a glue, a Memory64 heap or a streamed external-data read that only V8
accepts would pass every other browser test.  Firefox (SpiderMonkey, Memory64 since 134) is Debian's
firefox-esr, driven over WebDriver BiDi by puppeteer-core (tests/harness/js/browser_common.mjs), served the same
cross-origin-isolated page as Chromium (`runtime.run_page`).

The routes are test_client.py's Chromium ones, for every supported ORT version whose MEMFS pair is built: our
drop-in package of that version (`ort.<variant>.min.mjs`, nothing hand-written) and npm's official client of the
same version pointed at our pair with `env.wasm.wasmPaths`, each on 1 and 2 threads, against native onnxruntime.
A missing pair skips naming the version and variant, so ORTWASM_REQUIRE turns it into a failure; a missing
Firefox or puppeteer-core skips naming the fix.
"""

from __future__ import annotations

import os

import pytest

from ortwasm.recipe import supported
from tests.harness import models, runtime
from tests.harness.apps import Apps, pair  # the same clients and skips as the Chromium tests
from tests.harness.client import assert_matches, case_job, package_dist
from tests.harness.runtime import RunResult, Served

pytestmark = [pytest.mark.artifacts, pytest.mark.browser]

VERSIONS = supported()
MEMFS = ("wasm32-memfs", "wasm64-memfs")
CLIENTS = ("ours", "official")


@pytest.fixture(scope="module")
def split_case(tmp_path_factory: pytest.TempPathFactory) -> models.ModelCase:
    return models.split_external(tmp_path_factory.mktemp("split"))


def _served(version: str, variant: str, client: str, apps: Apps) -> Served:
    """The client's entry and, for npm's, our pair; or a skip naming what is missing (the pair first: its reason is
    the one ORTWASM_REQUIRE reads)."""
    where = pair(variant, version)
    missing = runtime.browser_missing("firefox")
    if missing is not None:
        pytest.skip(f"{missing.message}: {missing.hint}")
    if client == "ours":
        return Served(package_dist(apps.ours(version)), f"ort.{variant}.min.mjs")
    return Served(package_dist(apps.official(version)), "ort.wasm.min.mjs", where)


def _run(served: Served, case: models.ModelCase, threads: int, timeout_s: float = 900) -> RunResult:
    job = case_job(served.dist, case, num_threads=threads, timeout_s=timeout_s)
    return runtime.run_page("firefox", job.to_json(), served, case.model, case.external, timeout_s)


def _matches_in_firefox(result: RunResult, case: models.ModelCase, threads: int) -> None:
    """The outputs match native onnxruntime's, in Firefox, in a cross-origin-isolated page (without it a two-thread
    run quietly runs one), with the page's content process's peak recorded."""
    assert_matches(result, case)
    assert result.raw.get("engine") == "firefox", result.raw.get("browser")
    if threads > 1:
        assert result.raw.get("crossOriginIsolated") is True, "the page is not cross-origin isolated: one thread ran"
    content = result.memory.get("content_hwm")
    assert isinstance(content, int) and content > 0, f"no content process VmHWM: {result.memory}"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize("version", VERSIONS)
def test_two_files_unaligned_in_firefox(version: str, variant: str, client: str, threads: int, apps: Apps,
                                        split_case: models.ModelCase) -> None:
    served = _served(version, variant, client, apps)
    _matches_in_firefox(_run(served, split_case, threads), split_case, threads)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize("version", VERSIONS)
def test_far_offset_in_firefox(version: str, variant: str, client: str, threads: int, apps: Apps) -> None:
    """The 4.8 GB sparse file, fetched over HTTP by onnxruntime-web itself: a MEMFS pair reads W2 past 4 GiB."""
    served = _served(version, variant, client, apps)
    case = models.cached_case("far_offset")
    _matches_in_firefox(_run(served, case, threads), case, threads)


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
@pytest.mark.parametrize("version", VERSIONS)
def test_big_weights_in_firefox(version: str, apps: Apps) -> None:
    """4.25 GiB of weights in one initializer on wasm64-memfs through our package, fetched by the page (Firefox's
    typed arrays stop at 8 GiB, Chromium's near 32 GiB)."""
    served = _served(version, "wasm64-memfs", "ours", apps)
    case = models.cached_case("big_gather")
    _matches_in_firefox(_run(served, case, 2, timeout_s=1800), case, 2)

