"""The WebGPU (JSEP) variants through onnxruntime-web's public API, on a real WebGPU adapter in headless Chromium.

Why Chromium on SwiftShader: it is a real WebGPU implementation (Dawn over a CPU Vulkan), so ORT's JSEP kernels,
buffer uploads and downloads all run; no GPU is needed (docs/toolchain.md "Runtimes").  Why the official
``ort.webgpu.min.mjs`` with ``wasmPaths``: it is the client users have; the drop-in package's own WebGPU entries
are tested in test_package_install.py.  Every run keeps ORT's verbose placement lines, and the tests assert that
the model's nodes were placed on ``JsExecutionProvider`` (WebGPU), not on the CPU fallback.

Skips are loud and name what is missing: the artifact, Chromium, or a WebGPU adapter.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ortwasm.checks.glue import PairKind
from ortwasm.js.web import pairs_in_dist
from ortwasm.package.npm import WEBGPU_SUBPATHS
from ortwasm.paths import artifact_cache_dir
from ortwasm.variants import load_table
from tests.harness import models
from tests.harness.apps import Apps, out_dir, pair
from tests.harness.client import (
    WEBGPU_ARGS,
    ClientJob,
    assert_matches,
    case_job,
    client_app,
    package_dist,
    run_client_browser,
    webgpu_job,
)
from tests.harness.runtime import CHROMIUM, RunResult

pytestmark = [pytest.mark.artifacts, pytest.mark.browser]

TABLE = load_table()
JSEP = tuple(v.name for v in TABLE.values() if v.jsep)
JSEP_MEMFS = tuple(n for n in JSEP if TABLE[n].memfs)

OFFICIAL = "onnxruntime-web@1.21.0"
BIG = os.environ.get("ORTWASM_BIG_TESTS") == "1"
# ORT's session state logs one line per provider: "Node(s) placed on [JsExecutionProvider]. Number of nodes: N"
# (1.21 graph_partitioner/session_state, VERBOSE), then "Node name: ... Op type: ..." lines under it.
PLACED = re.compile(r"placed on \[(\w+)\]")


@pytest.fixture(scope="session")
def official_dist() -> Path:
    return package_dist(client_app("official-1.21.0", OFFICIAL))


@pytest.fixture(scope="session")
def split_case(tmp_path_factory: pytest.TempPathFactory) -> models.ModelCase:
    return models.split_external(tmp_path_factory.mktemp("split"))


def _need_chromium() -> None:
    """Every test here drives Debian's chromium: without it, a skip naming the package (before any package build)."""
    if not CHROMIUM.exists():
        pytest.skip(f"NO CHROMIUM at {CHROMIUM}: apt-get install chromium")


def _pair(variant: str) -> Path:
    where = artifact_cache_dir() / variant
    if not (where / "manifest.json").exists():
        pytest.skip(f"NO ARTIFACT for {variant}: looked for {where}/manifest.json "
                    f"(python build.py --variants {variant} builds it)")
    _need_chromium()
    return where


def _run(job: ClientJob, dist: Path, entry: str) -> RunResult:
    result = run_client_browser(job, dist, entry)
    if result.stage == "webgpu-adapter":
        pytest.skip(f"NO WEBGPU ADAPTER in {CHROMIUM} with {' '.join(WEBGPU_ARGS)}: {result.error}")
    return result


def _matches_on_webgpu(case: models.ModelCase, dist: Path, entry: str, **fields: object) -> RunResult:
    """Run `case` through `entry` (a file of `dist`) on the WebGPU adapter; it must match native onnxruntime with
    every node on WebGPU."""
    result = _run(webgpu_job(dist, case, **fields), dist, entry)
    assert_matches(result, case)
    assert_on_webgpu(result)
    return result


def placements(result: RunResult) -> dict[str, int]:
    """Provider -> nodes placed on it, from ORT's verbose log lines the browser driver kept."""
    out: dict[str, int] = {}
    for line in result.raw.get("placements") or []:
        m = PLACED.search(line)
        n = re.search(r"Number of nodes: (\d+)", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + (int(n.group(1)) if n else 1)
    return out


def assert_on_webgpu(result: RunResult, provider: str = "JsExecutionProvider") -> None:
    """Every node of the optimized graph ran on WebGPU: ORT logs "All nodes placed on [<provider>]" only when no
    node fell back to the CPU (the count is after fusion: MatMul+Add become one node).  ``provider``: JSEP's
    ``JsExecutionProvider``, or the native EP's ``WebGpuExecutionProvider`` (1.30's constants.h)."""
    placed = placements(result)
    assert set(placed) == {provider} and placed[provider] >= 1, (
        f"expected every node on {provider}, ORT placed {placed or 'nothing it logged'}; "
        f"placement lines: {(result.raw.get('placements') or [])[:10]}")
    assert (result.raw.get("adapter") or {}).get("architecture"), result.raw.get("adapter")


# ------------------------------------------------------------------ the two-file model, every JSEP variant


def test_official_pair_control(official_dist: Path, split_case: models.ModelCase) -> None:
    """The harness itself: upstream's JSEP pair on this adapter.  If this fails, the variants' failures are moot."""
    _need_chromium()
    _matches_on_webgpu(split_case, official_dist, "ort.webgpu.min.mjs")


@pytest.mark.parametrize("variant", JSEP)
def test_two_files_on_webgpu(variant: str, official_dist: Path, split_case: models.ModelCase) -> None:
    where = _pair(variant)
    _matches_on_webgpu(split_case, official_dist, "ort.webgpu.min.mjs", wasm_dir=where)


# ------------------------------------------------------------------ the drop-in package: no wasmPaths written


def _jsep_in_package(our_app: Path) -> list[str]:
    names = [n for n in JSEP if (package_dist(our_app) / f"ort.{n}.min.mjs").exists()]
    if not names:
        pytest.skip(f"NO JSEP VARIANT in the package built from {artifact_cache_dir()} "
                    "(python build.py --variants wasm32-jsep-memfs builds one, and the JS with its glue)")
    return names


def _package_dist_with(our_app: Path, variant: str) -> Path:
    """The installed package's dist/, skipping (loudly) when `variant` is not in it."""
    if variant not in _jsep_in_package(our_app):
        pytest.skip(f"NO {variant} in the package built from {artifact_cache_dir()}")
    return package_dist(our_app)


def test_package_webgpu_subpath_finds_the_jsep_pair(our_app: Path, split_case: models.ModelCase) -> None:
    """`import 'onnxruntime-web/webgpu'` in a browser resolves to ort.webgpu.bundle.min.mjs, which embeds the JSEP
    glue and loads dist/ort-wasm-simd-threaded.jsep.wasm: the package's first JSEP variant, on WebGPU."""
    _jsep_in_package(our_app)
    dist = package_dist(our_app)
    pkg = json.loads((dist.parent / "package.json").read_text())
    assert pkg["exports"]["./webgpu"]["import"] == "./dist/ort.webgpu.bundle.min.mjs"
    _matches_on_webgpu(split_case, dist, "ort.webgpu.bundle.min.mjs")


@pytest.mark.parametrize("variant", JSEP)
def test_package_variant_entries_on_webgpu(variant: str, our_app: Path, split_case: models.ModelCase) -> None:
    """Each JSEP variant's own entry, `onnxruntime-web/<variant>`, sets wasmPaths to its pair and runs on WebGPU."""
    _matches_on_webgpu(split_case, _package_dist_with(our_app, variant), f"ort.{variant}.min.mjs")


# ------------------------------------------------------------------ past 4 GiB, and more than 1 GiB of weights


# The clients that can run the far-offset file: npm's 1.21.0 JS cannot on wasm64 (below), so there it is our package.
FAR_OFFSET = [(n, "official") for n in JSEP_MEMFS if not TABLE[n].memory64] + [(n, "ours") for n in JSEP_MEMFS]


@pytest.mark.skipif(not BIG, reason="BIG TESTS OFF: set ORTWASM_BIG_TESTS=1 (a 4.8 GB sparse file over HTTP)")
@pytest.mark.parametrize(("variant", "client"), FAR_OFFSET)
def test_far_offset_on_webgpu(variant: str, client: str, request: pytest.FixtureRequest) -> None:
    """A tensor at 4.83 GB in a sparse file, uploaded to WebGPU from a MEMFS variant, matches native onnxruntime."""
    where = _pair(variant)
    case = models.cached_case("far_offset")
    if client == "official":
        _matches_on_webgpu(case, request.getfixturevalue("official_dist"), "ort.webgpu.min.mjs", wasm_dir=where)
        return
    _matches_on_webgpu(case, _package_dist_with(request.getfixturevalue("our_app"), variant), f"ort.{variant}.min.mjs")


@pytest.mark.skipif(not BIG, reason="BIG TESTS OFF: set ORTWASM_BIG_TESTS=1 (a 4.8 GB sparse file over HTTP)")
@pytest.mark.parametrize("variant", [n for n in JSEP_MEMFS if TABLE[n].memory64])
def test_official_js_reads_zeros_past_4gib_of_wasm64_heap(variant: str, official_dist: Path) -> None:
    """Why the wasm64 far-offset run needs our JS (js-jsep-wasm64-heap.patch): npm's 1.21.0 JSEP copies heap addresses
    through
    `>>> 0`. With the 4.8 GB file in a wasm64 heap, the outputs sit past 4 GiB; the GPU download lands 4 GiB lower
    and the session returns zeros, with no error. Asserted, so the day upstream's JS is fixed this says so."""
    where = _pair(variant)
    case = models.cached_case("far_offset")
    result = _run(webgpu_job(official_dist, case, wasm_dir=where), official_dist, "ort.webgpu.min.mjs")
    assert result.ok, result.describe()
    assert all(not out.any() for out in result.outputs.values()), \
        "npm's JS no longer reads zeros: drop js-jsep-wasm64-heap.patch?"
    assert any(expected.any() for expected in case.expected.values())


@pytest.mark.skipif(not BIG, reason="BIG TESTS OFF: set ORTWASM_BIG_TESTS=1 (1.25 GiB of weights)")
@pytest.mark.parametrize("variant", ("wasm32-jsep", "wasm32-jsep-memfs"))
def test_more_than_1gib_of_weights_on_webgpu(variant: str, official_dist: Path) -> None:
    """Five 256 MiB initializers (1.25 GiB): on wasm32 that is more than the heap comfortably holds twice."""
    where = _pair(variant)
    case = models.cached_case("gather_1g25")
    result = _matches_on_webgpu(case, official_dist, "ort.webgpu.min.mjs", wasm_dir=where)
    hwm = {k: int(v) for k, v in (result.memory.get("hwm") or {}).items()}  # type: ignore[union-attr]
    heap = result.memory.get("wasm_heap_bytes") or 0
    peaks = ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in sorted(hwm.items()))
    print(f"\n{variant} 1.25 GiB on WebGPU: session {result.timings.get('session_ms', 0) / 1000:.1f} s, "
          f"wasm heap {heap / 2**30:.2f} GiB, VmHWM {peaks}")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("variant", ["wasm32-memfs"])
def test_cpu_pair_under_the_webgpu_bundle_is_a_clear_error(variant: str, official_dist: Path,
                                                           split_case: models.ModelCase, tmp_path: Path) -> None:
    """A CPU pair handed to the WebGPU bundle (under the .jsep names too, as a user renaming files would): ORT's
    own message says the module has no JSEP, never an abort or a hang."""
    where = _pair(variant)
    fake = tmp_path / "pair"
    fake.mkdir()
    for kind in ("wasm", "mjs"):
        for stem in ("ort-wasm-simd-threaded", "ort-wasm-simd-threaded.jsep"):
            (fake / f"{stem}.{kind}").write_bytes((where / f"ort-wasm-simd-threaded.{kind}").read_bytes())
    result = _run(webgpu_job(official_dist, split_case, wasm_dir=fake, timeout_s=300), official_dist,
                  "ort.webgpu.min.mjs")
    assert not result.ok
    assert "not built with JSEP" in (result.error or ""), result.describe()


@pytest.mark.parametrize("variant", ["wasm32-jsep", "wasm32-jsep-memfs"])
def test_jsep_pair_under_the_cpu_bundle_runs_on_the_cpu(variant: str, official_dist: Path,
                                                        split_case: models.ModelCase, tmp_path: Path) -> None:
    """The reverse: a JSEP pair loaded by the wasm-only bundle (under the CPU names, as a user renaming files or
    pointing wasmPaths at it would) is a working CPU build, not an abort: the JSEP kernels are not registered."""
    where = _pair(variant)
    pair = tmp_path / "pair"
    pair.mkdir()
    for kind in ("wasm", "mjs"):  # the glue fetches its wasm by its own (.jsep) name
        data = (where / f"ort-wasm-simd-threaded.jsep.{kind}").read_bytes()
        for stem in ("ort-wasm-simd-threaded", "ort-wasm-simd-threaded.jsep"):
            (pair / f"{stem}.{kind}").write_bytes(data)
    result = run_client_browser(case_job(official_dist, split_case, num_threads=2, wasm_dir=pair, log_level=0),
                                official_dist, "ort.wasm.min.mjs")
    assert_matches(result, split_case)


@pytest.mark.parametrize("variant", JSEP_MEMFS)
def test_missing_or_short_external_file_on_webgpu_is_named(variant: str, official_dist: Path,
                                                           split_case: models.ModelCase, tmp_path: Path) -> None:
    """The WebGPU loader's MEMFS route (memfs-read.patch): a file the session was not given, or one shorter than the
    model says, fails naming the file and what is wrong, not an abort or a read past the end."""
    where = _pair(variant)
    missing = _run(webgpu_job(official_dist, split_case, wasm_dir=where, timeout_s=300,
                               external_data=[e for e in split_case.external if e.path != "part_b.bin"]),
                   official_dist, "ort.webgpu.min.mjs")
    assert not missing.ok
    assert "part_b.bin" in (missing.error or "") and "not found in the MEMFS file system" in (missing.error or ""), \
        missing.describe()
    short = tmp_path / "part_b.bin"
    whole = next(e for e in split_case.external if e.path == "part_b.bin")
    short.write_bytes(whole.file.read_bytes()[:-16])
    external = [replace(e, file=short) if e.path == "part_b.bin" else e for e in split_case.external]
    cut = _run(webgpu_job(official_dist, split_case, wasm_dir=where, timeout_s=300, external_data=external),
               official_dist, "ort.webgpu.min.mjs")
    assert not cut.ok
    assert "part_b.bin" in (cut.error or "") and "Out of bounds" in (cut.error or ""), cut.describe()


def test_no_adapter_is_named_and_does_not_hang(official_dist: Path, split_case: models.ModelCase) -> None:
    """WebGPU asked for in a Chromium without an adapter (no SwiftShader flags): ORT's error says so, promptly."""
    _need_chromium()
    job = webgpu_job(official_dist, split_case, chromium_args=(), probe_adapter=False, timeout_s=120)
    result = run_client_browser(job, official_dist, "ort.webgpu.min.mjs")
    assert not result.ok
    assert re.search(r"adapter|WebGPU is not supported", result.error or ""), result.describe()


# ------------------------------------------------------------- current ORT: the native WebGPU EP (.asyncify, .jspi)

WEBGPU_EP_VERSION = "1.30.0"
WEBGPU_EP = tuple(v.name for v in TABLE.values() if v.webgpu and not v.unsupported_reason(WEBGPU_EP_VERSION))
WEBGPU_EP_PROVIDER = "WebGpuExecutionProvider"
# the official bundle that loads each kind's pair by name (env.wasm.wasmPaths points it at ours)
WEBGPU_EP_ENTRY = {"asyncify": "ort.webgpu.min.mjs", "jspi": "ort.jspi.min.mjs"}


@pytest.fixture(scope="session")
def official_dist_130() -> Path:
    return package_dist(client_app(f"official-{WEBGPU_EP_VERSION}", f"onnxruntime-web@{WEBGPU_EP_VERSION}"))


@pytest.mark.parametrize("kind", sorted(WEBGPU_EP_ENTRY))
def test_official_webgpu_ep_control(kind: str, official_dist_130: Path, split_case: models.ModelCase) -> None:
    """The harness on current ORT: upstream's own .asyncify/.jspi pair places every node on the native WebGPU EP
    here.  If this fails, the variants' failures below are moot."""
    _need_chromium()
    result = _run(webgpu_job(official_dist_130, split_case), official_dist_130, WEBGPU_EP_ENTRY[kind])
    assert_matches(result, split_case)
    assert_on_webgpu(result, WEBGPU_EP_PROVIDER)


@pytest.mark.parametrize("variant", WEBGPU_EP)
def test_webgpu_ep_pair_on_webgpu(variant: str, official_dist_130: Path, split_case: models.ModelCase) -> None:
    """Our pair under npm's client of the same version, loaded by the bundle users import for it: outputs equal
    native onnxruntime's, and every node on WebGpuExecutionProvider.  wasm64-jspi-memfs too: npm's 1.30 JS reads
    pointers by Module.PTR_SIZE, and a BigInt session handle from the JSPI OrtCreateSession works as its key."""
    where = pair(variant, WEBGPU_EP_VERSION)
    _need_chromium()
    entry = WEBGPU_EP_ENTRY[TABLE[variant].webgpu]
    result = _run(webgpu_job(official_dist_130, split_case, wasm_dir=where), official_dist_130, entry)
    assert_matches(result, split_case)
    assert_on_webgpu(result, WEBGPU_EP_PROVIDER)


@pytest.mark.parametrize("kind", sorted(WEBGPU_EP_ENTRY))
def test_package_webgpu_ep_subpath_runs_our_pair(kind: PairKind, apps: Apps, split_case: models.ModelCase) -> None:
    """`import 'onnxruntime-web/webgpu'` (what transformers.js imports) and `'onnxruntime-web/jspi'` in a browser,
    from our package of 1.30: the exports map's bundle embeds our glue of that kind and loads the .wasm beside it,
    which is ours byte for byte (the kind's default pair, js/web.py pairs_in_dist), and every node runs on the
    native WebGPU EP."""
    built = [n for n in WEBGPU_EP if (out_dir(WEBGPU_EP_VERSION) / n / "manifest.json").exists()]
    default = pairs_in_dist(built).get(kind)
    if default is None:
        pytest.skip(f"NO {kind} pair in {out_dir(WEBGPU_EP_VERSION)} (python build.py --ort-version "
                    f"{WEBGPU_EP_VERSION} --toolchain sid --variants wasm32-{kind} builds it)")
    where = pair(default, WEBGPU_EP_VERSION)
    _need_chromium()
    dist = package_dist(apps.ours(WEBGPU_EP_VERSION))
    exports = json.loads((dist.parent / "package.json").read_text())["exports"]
    bundle = exports[f"./{WEBGPU_SUBPATHS[kind]}"]["import"]["default"]
    assert bundle == f"./dist/ort.{WEBGPU_SUBPATHS[kind]}.bundle.min.mjs", exports
    wasm = f"ort-wasm-simd-threaded.{kind}.wasm"
    assert (dist / wasm).read_bytes() == (where / wasm).read_bytes(), f"dist/{wasm} is not {default}'s"
    result = _run(webgpu_job(dist, split_case), dist, bundle.removeprefix("./dist/"))
    assert_matches(result, split_case)
    assert_on_webgpu(result, WEBGPU_EP_PROVIDER)


WEBGPU_EP_MEMFS = tuple(n for n in WEBGPU_EP if TABLE[n].memfs)


def _our_variant_entry(variant: str, apps: Apps) -> tuple[Path, str]:
    """Our 1.30 package and `variant`'s own entry (onnxruntime-web/<variant>, dist/ort.<variant>.min.mjs); a skip
    when the pair is not built.  A built pair without its entry is the package's fault, not a reason to skip."""
    pair(variant, WEBGPU_EP_VERSION)
    dist = package_dist(apps.ours(WEBGPU_EP_VERSION))
    entry = f"ort.{variant}.min.mjs"
    assert (dist / entry).exists(), f"our package of {out_dir(WEBGPU_EP_VERSION)} has no dist/{entry}"
    return dist, entry


@pytest.mark.skipif(not BIG, reason="BIG TESTS OFF: set ORTWASM_BIG_TESTS=1 (1.25 GiB of weights; a 4.8 GB file)")
@pytest.mark.parametrize("variant", WEBGPU_EP_MEMFS)
@pytest.mark.parametrize("key", ["gather_1g25", "far_offset"])
def test_webgpu_ep_memfs_streams_to_the_gpu(variant: str, key: str, apps: Apps) -> None:
    """Our package hands the module each file's URL; the EP's loader reads every tensor by Range requests straight
    into its GPU buffer: the outputs match native onnxruntime, every node is on the WebGPU EP, and the weights
    never enter the wasm heap.  far_offset's tensor sits at 4.83 GB in its file, which npm's client cannot even
    read (it fetches each file into one array)."""
    dist, entry = _our_variant_entry(variant, apps)
    case = models.cached_case(key)
    result = _run(webgpu_job(dist, case), dist, entry)
    assert_matches(result, case)
    assert_on_webgpu(result, WEBGPU_EP_PROVIDER)
    heap = int(result.memory.get("wasm_heap_bytes") or 0)  # type: ignore[call-overload]
    assert heap < 512 * 2**20, f"{heap} B of wasm heap: the weights went through it"


# ------------------------------------------------------------------ wasm64 (Memory64) with the WebGPU EP

WEBGPU_EP_64 = tuple(n for n in WEBGPU_EP if TABLE[n].memory64)


@pytest.mark.parametrize("variant", WEBGPU_EP_64)
def test_wasm64_webgpu_ep_through_our_package(variant: str, apps: Apps, split_case: models.ModelCase) -> None:
    """`import 'onnxruntime-web/wasm64-jspi-memfs'`: a Memory64 module with the native WebGPU EP waiting by JSPI
    (wasm64-webgpu.patch), every node on WebGpuExecutionProvider, outputs equal native onnxruntime's."""
    _need_chromium()
    dist, entry = _our_variant_entry(variant, apps)
    result = _run(webgpu_job(dist, split_case), dist, entry)
    assert_matches(result, split_case)
    assert_on_webgpu(result, WEBGPU_EP_PROVIDER)


@pytest.mark.skipif(not BIG, reason="BIG TESTS OFF: set ORTWASM_BIG_TESTS=1 (a 4.25 GiB initializer)")
@pytest.mark.parametrize("variant", WEBGPU_EP_64)
@pytest.mark.parametrize("client", ["ours", "official"])
def test_wasm64_webgpu_ep_cpu_table_past_4gib(variant: str, client: str, apps: Apps,
                                              official_dist_130: Path) -> None:
    """What wasm64 adds beside the GPU: a 4.25 GiB Gather table pinned to the CPU (forceCpuNodeNames) sits in the
    wasm heap past 4 GiB, and the Neg after it runs on the GPU.  The rows gathered straddle the 4 GiB boundary and
    the table's end, and must equal native onnxruntime's.  Through our package's entry (the module reads the URL by
    ranges) and through npm's 1.30.0 ort.jspi.min.mjs (it fetches the file into one array and hands over bytes).
    webgpu_job pins the Gather (models.WEBGPU_EP_OPTIONS)."""
    _need_chromium()
    case = models.cached_case("big_gather_neg")
    if client == "ours":
        dist, entry = _our_variant_entry(variant, apps)
        job = webgpu_job(dist, case)
    else:
        dist, entry = official_dist_130, WEBGPU_EP_ENTRY[TABLE[variant].webgpu]
        job = webgpu_job(dist, case, wasm_dir=pair(variant, WEBGPU_EP_VERSION))
    result = _run(job, dist, entry)
    assert_matches(result, case)
    placed = placements(result)
    assert set(placed) == {"CPUExecutionProvider", WEBGPU_EP_PROVIDER}, (
        f"expected Gather on the CPU and Neg on WebGPU, ORT placed {placed}; "
        f"lines: {(result.raw.get('placements') or [])[:10]}")
    heap = int(result.memory.get("wasm_heap_bytes") or 0)  # type: ignore[call-overload]
    assert heap > 2**32, f"the wasm heap is {heap} B: the 4.25 GiB table is not in it"
