"""Our artifacts through onnxruntime-web's public API, the way applications use it.

Two clients, both npm-installed into an app dir, for every supported ORT version whose artifacts are built:
- **ours**: the drop-in package `ortwasm package` writes (JS built from the same patched tree), imported as
  `onnxruntime-web/<variant>`: no wasmPaths written by the test, exactly as the package's README tells users;
- **official**: npm's `onnxruntime-web` of the same version, pointed at our pair with `env.wasm.wasmPaths` (the
  compatibility check: our artifacts serve the client users already have).

Each variant found in the version's out dir is run in Node 24 (threads 1 and 2) and in headless Chromium
(threads 2): the same models and the same bad inputs for every version.  Reference outputs come from native
onnxruntime.  Tests skip loudly, naming what is missing (and the version, when it is not the default one).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ortwasm.paths import ortwasm_home, preset_dir
from ortwasm.recipe import require_recipe, supported
from ortwasm.variants import load_table, release_variants
from tests.harness import models
from tests.harness.apps import DEFAULT, Apps, node_or_skip, out_dir, pair
from tests.harness.client import (
    app_entry,
    assert_matches,
    case_job,
    package_dist,
    run_client_browser,
    run_client_node,
)
from tests.harness.runtime import CHROMIUM, ExternalFile, RunResult, compare_outputs

pytestmark = pytest.mark.artifacts

VARIANTS = tuple(v.name for v in release_variants(load_table()) if not v.jsep)  # the CPU pairs; WebGPU: test_webgpu.py
VERSIONS = supported()
BARE_NUMBER = re.compile(r"^\s*-?\d+\s*$")
SHORT_FILE_NEEDLES = ("out of bounds", "can not be read", "External")  # our glue's or ORT's short-file message


@pytest.fixture(scope="session")
def official_app(apps: Apps) -> Path:
    return apps.official(DEFAULT)


@pytest.fixture(scope="session")
def split_case(tmp_path_factory: pytest.TempPathFactory) -> models.ModelCase:
    return models.split_external(tmp_path_factory.mktemp("split"))


def _readable_failure(result: RunResult, *needles: str) -> str:
    assert not result.ok, "expected a failure"
    error = result.error or ""
    assert not BARE_NUMBER.match(error), f"the error is a bare number, not a message: {error!r}"
    assert any(n in error for n in needles), f"{needles} not in {error!r}"
    return error


# ------------------------------------------------------------------ Node 24, both clients


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("threads", [1, 2])
def test_two_files_unaligned_ours(version: str, variant: str, threads: int, apps: Apps,
                                  split_case: models.ModelCase) -> None:
    pair(variant, version)
    entry = app_entry(apps.ours(version), f"onnxruntime-web/{variant}")
    for data_as in ("bytes", "path"):
        assert_matches(run_client_node(case_job(entry, split_case, num_threads=threads, data_as=data_as)), split_case)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_two_files_unaligned_official_client(version: str, variant: str, apps: Apps,
                                             split_case: models.ModelCase) -> None:
    where = pair(variant, version)
    entry = app_entry(apps.official(version))
    assert_matches(run_client_node(case_job(entry, split_case, num_threads=2, wasm_dir=where)), split_case)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_far_offset_ours(version: str, variant: str, apps: Apps) -> None:
    """Past 4 GiB: MEMFS variants load and match; OFF variants fail with ORT's own message, not a number."""
    pair(variant, version)
    case = models.cached_case("far_offset")
    result = run_client_node(case_job(app_entry(apps.ours(version), f"onnxruntime-web/{variant}"), case))
    if variant.endswith("memfs"):
        assert_matches(result, case)
    else:
        _readable_failure(result, ">4GB", "Integer overflow", "out of bounds")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.endswith("memfs")])
def test_far_offset_official_client(version: str, variant: str, apps: Apps) -> None:
    where = pair(variant, version)
    case = models.cached_case("far_offset")
    assert_matches(run_client_node(case_job(app_entry(apps.official(version)), case, wasm_dir=where)), case)


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
@pytest.mark.parametrize("version", VERSIONS)
def test_big_weights_wasm64_memfs_ours(version: str, apps: Apps) -> None:
    """4.25 GiB of real weights in one initializer, through `import 'onnxruntime-web/wasm64-memfs'`."""
    pair("wasm64-memfs", version)
    case = models.cached_case("big_gather")
    result = run_client_node(case_job(app_entry(apps.ours(version), "onnxruntime-web/wasm64-memfs"), case,
                                      num_threads=2,
                                  timeout_s=1800))
    assert_matches(result, case)


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (2.5 GiB)")
@pytest.mark.parametrize("client", ["ours", "official"])
@pytest.mark.parametrize("variant", ["wasm32-memfs", "wasm64-memfs"])
@pytest.mark.parametrize("data_as", ["path", "bytes"])
@pytest.mark.parametrize("version", VERSIONS)
def test_one_initializer_over_2gib(version: str, variant: str, client: str, data_as: str, apps: Apps) -> None:
    """ONE 2.5 GiB float32 initializer (not split: the official wasm32 dist fails it with a SafeInt overflow),
    through our package's entry and through npm's official client on our pair, from a file path and from bytes."""
    where = pair(variant, version)
    case = models.cached_case("gather_2g5_one")
    if client == "ours":
        job = case_job(app_entry(apps.ours(version), f"onnxruntime-web/{variant}"), case, num_threads=2,
                       timeout_s=900, data_as=data_as)
    else:
        job = case_job(app_entry(apps.official(version)), case, num_threads=2, wasm_dir=where, timeout_s=900,
                       data_as=data_as)
    assert_matches(run_client_node(job), case)


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (3 GiB)")
@pytest.mark.parametrize("client", ["ours", "official"])
@pytest.mark.parametrize("data_as", ["path", "bytes"])
@pytest.mark.parametrize("version", VERSIONS)
def test_matmul_heavy_split_model_on_wasm32(version: str, client: str, data_as: str, apps: Apps) -> None:
    """3 GiB of MatMul weights in two external files, as transformers.js writes them, on wasm32-memfs (4 GiB heap).
    MLAS pre-packs each weight into a second buffer: from a path (file-backed) each original is freed at its unmap;
    from bytes (heap-backed) the originals stay until the file goes, so pre-packing would need 6 GiB and the runtime
    turns it off for the session and says so.  Both loads used to fail with std::bad_alloc."""
    where = pair("wasm32-memfs", version)
    case = models.cached_case("mlp_3g_split")
    entry = app_entry(apps.ours(version), "onnxruntime-web/wasm32-memfs") if client == "ours" else \
        app_entry(apps.official(version))
    job = case_job(entry, case, num_threads=2, timeout_s=900, data_as=data_as, log_level=2,
                   wasm_dir=None if client == "ours" else where)
    result = run_client_node(job)
    assert_matches(result, case)
    heap_backed = data_as == "bytes" or client == "official"  # the official client reads a path into bytes itself
    assert ("session.disable_prepacking=1 for this session" in result.stderr) == heap_backed, result.stderr[-2000:]


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (5 GiB)")
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", ["wasm64", "wasm64-memfs"])
def test_weights_past_4gib_in_several_files_on_wasm64(version: str, variant: str, apps: Apps) -> None:
    """5 GiB of MatMul weights in four 1.25 GiB files, as transformers.js writes them: every offset in a file is under
    4 GiB, so MEMFS off loads it too, but the later initializers land past 4 GiB in the heap.  wasm64 with MEMFS off
    copies them out of Module.MountedFiles in an EM_ASM block that took the destination through `>>> 0`
    (wasm64-external-data-loader.patch); 1.21.0 keeps upstream's bytes for its OFF pair, bug included."""
    pair(variant, version)
    case = models.cached_case("mlp_5g_split")
    result = run_client_node(case_job(app_entry(apps.ours(version), f"onnxruntime-web/{variant}"), case, num_threads=2,
                                      timeout_s=1800, data_as="path"))
    if variant == "wasm64" and version == DEFAULT:  # upstream's bug, kept with upstream's bytes: shown, not hidden
        wrong = not result.ok or compare_outputs(result.outputs, case.expected, case.rtol, case.atol) != []
        assert wrong, f"{version}'s wasm64 OFF loads past 4 GiB of heap now: drop this branch"
        return
    assert_matches(result, case)


@pytest.mark.parametrize("version", VERSIONS)
def test_package_has_every_official_entry(version: str, apps: Apps) -> None:
    """Drop-in: every subpath npm's package of the same version exports is exported by ours, except a wasm pair's
    file we did not build; a subpath whose WebGPU bundle we left out throws at import, naming what to build."""
    import json

    ours_dir, theirs_dir = (package_dist(a).parent for a in (apps.ours(version), apps.official(version)))
    ours = json.loads((ours_dir / "package.json").read_text())
    theirs = json.loads((theirs_dir / "package.json").read_text())
    shipped = {p.name for p in (ours_dir / "dist").iterdir()}
    missing = [k for k in theirs["exports"] if k not in ours["exports"]
               and not (k.startswith("./ort-wasm-simd-threaded") and k.removeprefix("./") not in shipped)]
    assert missing == [], f"our {version} package lacks upstream's {missing}"
    absent = ours["ortwasm"].get("absent", {})
    for key in absent:
        result = run_client_node(case_job(app_entry(apps.ours(version), f"onnxruntime-web{key.removeprefix('.')}"),
                                          models.cached_case("gather_256m"), external_data=[]))
        assert result.stage == "import" and "is not in this package" in (result.error or ""), result.describe()
        assert absent[key] in (result.error or ""), result.error


# ------------------------------------------------------------------ bad input, through the public API


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", ["wasm32-memfs", "wasm64-memfs"])
def test_missing_external_file_names_the_file(version: str, variant: str, apps: Apps, split_case: models.ModelCase,
                                               tmp_path: Path) -> None:
    pair(variant, version)
    gone = [ExternalFile(e.path, tmp_path / "nowhere" / e.file.name) for e in split_case.external]
    result = run_client_node(case_job(app_entry(apps.ours(version), f"onnxruntime-web/{variant}"), split_case,
                                  external_data=gone, data_as="path"))
    _readable_failure(result, gone[0].file.name)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", ["wasm32-memfs", "wasm64-memfs"])
def test_short_external_file_names_file_and_tensor(version: str, variant: str, apps: Apps,
                                                   split_case: models.ModelCase, tmp_path: Path) -> None:
    """A file shorter than the model says: ORT's own message (the tensor, what it read), as npm's client of the
    same version gives it on our wasm32 pair; where the version's series names the files in the error
    (js-name-external-data.patch), the file too."""
    where = pair(variant, version)
    short = _last_file_halved(split_case, tmp_path)
    result = run_client_node(case_job(app_entry(apps.ours(version), f"onnxruntime-web/{variant}"), split_case,
                                  external_data=short))
    error = _readable_failure(result, *SHORT_FILE_NEEDLES)
    assert "W2" in error, f"the tensor is not named: {error!r}"
    if "js-name-external-data.patch" in {p.name for p in require_recipe(version).patches}:
        assert short[-1].path in error or short[-1].file.name in error, f"the file is not named: {error!r}"
    if variant.startswith("wasm32"):  # npm's client drives wasm32 pairs: the same ORT message
        theirs = run_client_node(case_job(app_entry(apps.official(version)), split_case, external_data=short,
                                          wasm_dir=where))
        ort_message = (theirs.error or "").partition("ERROR_MESSAGE: ")[2]
        assert not theirs.ok and ort_message and ort_message in error, (theirs.error, error)


def _last_file_halved(case: models.ModelCase, tmp_path: Path) -> list[ExternalFile]:
    short = []
    for e in case.external:
        copy = tmp_path / e.file.name
        shutil.copyfile(e.file, copy)
        short.append(ExternalFile(e.path, copy))
    last = short[-1].file
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    return short


# ------------------------------------------------------------------ the `release` preset


@pytest.mark.parametrize("version", VERSIONS)
def test_release_preset_through_the_official_client(version: str, apps: Apps, split_case: models.ModelCase,
                                                    tmp_path: Path) -> None:
    """The preset has npm's dist flags: no RTTI, exceptions caught only at the C API (no full catching).

    Why an error case too: with full exception catching gone, an ORT error must still come back to JS as ORT's
    message through the API-level catch, not as an abort or a bare number.
    """
    where = preset_dir(out_dir(version), "release") / "wasm32"
    if not (where / "manifest.json").exists():
        pytest.skip(f"NO ARTIFACT for {version}'s release preset: looked for {where}/manifest.json "
                    f"(python build.py --ort-version {version} --preset release --variants wasm32 builds it)")
    node_or_skip()
    entry = app_entry(apps.official(version))
    assert_matches(run_client_node(case_job(entry, split_case, num_threads=2, wasm_dir=where)), split_case)
    short = _last_file_halved(split_case, tmp_path)
    error = _readable_failure(run_client_node(case_job(entry, split_case, wasm_dir=where, external_data=short)),
                              "Deserialize tensor")  # ORT's own message: the tensor, the file, "Out of bounds"
    assert "W2" in error and "out of bounds" in error.lower(), f"not ORT's message: {error!r}"
    assert short[-1].path in error or short[-1].file.name in error, f"the file is not named: {error!r}"


# ------------------------------------------------------------------ headless Chromium


def _chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"NO CHROMIUM at {CHROMIUM}: run ci/provision-toolchain.sh")


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_two_files_in_chromium_ours(version: str, variant: str, apps: Apps, split_case: models.ModelCase) -> None:
    _chromium()
    pair(variant, version)
    app = apps.ours(version)
    result = run_client_browser(case_job(app, split_case, num_threads=2), package_dist(app), f"ort.{variant}.min.mjs")
    assert_matches(result, split_case)


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_two_files_in_chromium_official_client(version: str, variant: str, apps: Apps,
                                               split_case: models.ModelCase) -> None:
    _chromium()
    where = pair(variant, version)
    app = apps.official(version)
    result = run_client_browser(case_job(app, split_case, num_threads=2, wasm_dir=where), package_dist(app),
                                "ort.wasm.min.mjs")
    assert_matches(result, split_case)


@pytest.mark.browser
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_far_offset_in_chromium_ours(version: str, variant: str, apps: Apps) -> None:
    """The 4.8 GB sparse file is fetched over HTTP by onnxruntime-web itself; MEMFS variants read past 4 GiB and
    match, OFF variants refuse with ORT's own message."""
    _chromium()
    pair(variant, version)
    case = models.cached_case("far_offset")
    app = apps.ours(version)
    result = run_client_browser(case_job(app, case, num_threads=2), package_dist(app), f"ort.{variant}.min.mjs")
    if variant.endswith("memfs"):
        assert_matches(result, case)
    else:
        _readable_failure(result, ">4GB", "Integer overflow", "out of bounds")


@pytest.mark.browser
@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
@pytest.mark.parametrize("version", VERSIONS)
def test_big_weights_in_chromium_ours(version: str, apps: Apps) -> None:
    """4.25 GiB of weights in one initializer, fetched by the page, on wasm64-memfs."""
    _chromium()
    pair("wasm64-memfs", version)
    case = models.cached_case("big_gather")
    app = apps.ours(version)
    result = run_client_browser(case_job(app, case, num_threads=2, timeout_s=1800), package_dist(app),
                                "ort.wasm64-memfs.min.mjs")
    assert_matches(result, case)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("wasm64")])
def test_wasm64_in_node20_is_refused_before_any_download(version: str, variant: str, apps: Apps,
                                                         split_case: models.ModelCase) -> None:
    """Node 20 has no Memory64: the entry point says so at import, before a byte of external data is read."""
    pair(variant, version)
    our_app = apps.ours(version)
    node20 = ortwasm_home() / "node20" / "bin" / "node"
    if not node20.exists():
        pytest.skip(f"NO NODE 20 at {node20}: run ci/provision-toolchain.sh")
    result = run_client_node(case_job(app_entry(our_app, f"onnxruntime-web/{variant}"), split_case, data_as="path"),
                             node=node20)
    error = _readable_failure(result, "Memory64")
    assert result.stage == "import", result.describe()
    assert "Node >= 24" in error


def test_wasm64_error_code_is_an_int(our_app: Path, official_app: Path) -> None:
    """Patch 0005: OrtGetLastError writes a C int. npm's 1.21.0 JS reads it as i64 on wasm64 (a garbage code);
    ours reads 4 bytes.  Shown on the far-offset model, which the OFF wasm64 build refuses."""
    where = pair("wasm64")
    case = models.cached_case("far_offset")
    theirs = run_client_node(case_job(app_entry(official_app), case, wasm_dir=where))
    assert not theirs.ok and "ERROR_CODE: 1," not in (theirs.error or ""), theirs.describe()  # the bug, shown
    ours = run_client_node(case_job(app_entry(our_app, "onnxruntime-web/wasm64"), case))
    assert "ERROR_CODE: 1," in _readable_failure(ours, ">4GB")
