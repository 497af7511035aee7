"""Heap-backed external data (issue #13): MEMFS builds stream each external data file once into the wasm heap and
let ORT use the bytes in place (runtime/pre-memfs.js; onnxruntime-web hands the source over,
js-stream-external-data.patch).

Through onnxruntime-web's public API (our drop-in package, as tests/test_client.py): every kind of source the module
accepts matches native onnxruntime; a download that ends early fails naming the file and the bytes received; a
second and third session in one process reuse the first one's heap instead of adding to it.  Through the module
itself (tests/harness/js/heap_external_data.mjs), what the public API cannot show: the heap block outlives the
unmount while ORT maps it, and goes at session release; a failed download holds nothing.  And the MEMFS-OFF glue,
which never links pre-memfs.js, is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ortwasm.paths import artifact_cache_dir, node_prefix
from tests.harness import models, runtime
from tests.harness.client import app_entry, assert_matches, case_job, run_client_node
from tests.harness.runtime import ExternalFile, RunResult

pytestmark = pytest.mark.artifacts

MEMFS = ("wasm32-memfs", "wasm64-memfs")
GIB = 1024**3
JS = Path(__file__).resolve().parent / "harness" / "js"
# The MEMFS-OFF glue of ORT 1.21.0 built with emscripten 3.1.69 (README's table; the same before and after the
# heap-backed external data work, which touches only pre-memfs.js and onnxruntime-web's JS).
OFF_GLUE_SHA256 = {
    ("wasm32", "3.1.69"): "b4da0f237e21bb3460b6560e3fdd843f60e4782cd364dd1ca7740d7ac6ba9a48",
    ("wasm64", "3.1.69"): "c51e601938ec5142c40eea0bed8c157cca4e1045d66dbb4132c0e3fa3cdadf4d",
}
# What only pre-memfs.js puts into a glue (quoted keys survive closure).
MEMFS_ONLY = (b"mountExternalDataStreaming", b"externalDataStatus")


def _pair(variant: str) -> Path:
    where = artifact_cache_dir() / variant
    if not (where / "manifest.json").exists():
        pytest.skip(f"NO ARTIFACT for {variant}: looked for {where}/manifest.json (python build.py ... builds it)")
    if not (node_prefix() / "bin" / "node").exists():
        pytest.skip("NO NODE 24: run ci/provision-toolchain.sh")
    if MEMFS_ONLY[0] not in (where / runtime.DEFAULT_MJS).read_bytes() and variant.endswith("memfs"):
        pytest.skip(f"{variant} predates heap-backed external data: rebuild it (python build.py --enable_wasm_memfs)")
    return where


@pytest.fixture(scope="session")
def mixed_case(tmp_path_factory: pytest.TempPathFactory) -> models.ModelCase:
    return models.mixed_in_place(tmp_path_factory.mktemp("mixed"))


def _module(variant: str, case: models.ModelCase, **job: object) -> RunResult:
    """heap_external_data.mjs on the variant's pair (the module itself, no onnxruntime-web)."""
    payload = {"artifactDir": str(_pair(variant)), "model": str(case.model),
               "externalData": [{"path": e.path, "file": str(e.file)} for e in case.external], **job}
    return runtime._run_script(JS / "heap_external_data.mjs", payload, 600)


# ------------------------------------------------------------------ public API: sources


@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize("data_as", ["path", "bytes", "url", "blob", "stream", "bytestream"])
def test_every_source_matches_native(variant: str, data_as: str, our_app: Path,
                                     mixed_case: models.ModelCase) -> None:
    """A path, bytes, an http:// URL, a file-backed Blob, a ReadableStream and a byte stream (read by BYOB into one
    reused buffer) of unknown length: same outputs as native onnxruntime, with tensors in place (over 64 KiB, odd
    offsets), read (B1) and pre-packed (W3)."""
    _pair(variant)
    entry = app_entry(our_app, f"onnxruntime-web/{variant}")
    assert_matches(run_client_node(case_job(entry, mixed_case, data_as=data_as, num_threads=2)), mixed_case)


@pytest.mark.parametrize("variant", MEMFS)
def test_two_files_path_matches_native(variant: str, our_app: Path, tmp_path: Path) -> None:
    _pair(variant)
    case = models.split_external(tmp_path / "split")
    entry = app_entry(our_app, f"onnxruntime-web/{variant}")
    for data_as in ("path", "url"):
        assert_matches(run_client_node(case_job(entry, case, data_as=data_as)), case)


# ------------------------------------------------------------------ public API: bad input


@pytest.mark.parametrize("variant", MEMFS)
def test_download_ending_early_names_file_and_bytes(variant: str, our_app: Path,
                                                    mixed_case: models.ModelCase) -> None:
    _pair(variant)
    size = mixed_case.external_bytes
    result = run_client_node(case_job(app_entry(our_app, f"onnxruntime-web/{variant}"), mixed_case, data_as="url",
                                  truncate_at=size // 2))
    assert not result.ok, "a truncated download must fail"
    error = result.error or ""
    assert "mixed.bin" in error and f"of {size} bytes" in error, error
    assert result.stage == "create", result.describe()


@pytest.mark.parametrize("variant", MEMFS)
def test_truncated_file_path_names_the_file(variant: str, our_app: Path, mixed_case: models.ModelCase,
                                            tmp_path: Path) -> None:
    """A file that is shorter than the model says: ORT's out-of-bounds message, and the file named
    (js-name-external-data.patch)."""
    _pair(variant)
    src = mixed_case.external[0]
    short = tmp_path / src.file.name
    short.write_bytes(src.file.read_bytes()[: src.file.stat().st_size // 2])
    result = run_client_node(case_job(app_entry(our_app, f"onnxruntime-web/{variant}"), mixed_case, data_as="path",
                                  external_data=[ExternalFile(src.path, short)]))
    assert not result.ok
    error = result.error or ""
    assert "mixed.bin" in error and ("out of bounds" in error or "can not be read" in error), error


# ------------------------------------------------------------------ public API: memory


@pytest.mark.parametrize("variant", MEMFS)
def test_second_session_does_not_leak(variant: str, our_app: Path) -> None:
    """Three create/run/release rounds of 256 MiB of weights from a path in one process: the kernel's high-water
    mark after the third is within a quarter of the weights of the first (a leaked heap block adds all of it)."""
    _pair(variant)
    case = models.cached_case("gather_256m")
    result = run_client_node(case_job(app_entry(our_app, f"onnxruntime-web/{variant}"), case, data_as="path",
                                  sessions=3))
    assert_matches(result, case)
    rounds = result.memory["sessions"]
    assert isinstance(rounds, list) and len(rounds) == 3
    first, last = rounds[0]["peak_rss_after_release"], rounds[2]["peak_rss_after_release"]
    assert last - first < case.external_bytes // 4, json.dumps(rounds)


def test_wasm32_over_budget_falls_back_with_a_warning(our_app: Path) -> None:
    """4.8 GB downloaded cannot live in a 4 GiB heap: wasm32-memfs keeps the file in JS memory (one array) and says
    so at ORT's warning level; the tensor past 4 GiB still loads and matches.  (From a path the file stays on disk
    instead: test_node_path_is_file_backed_by_default.)"""
    _pair("wasm32-memfs")
    case = models.cached_case("far_offset")
    result = run_client_node(case_job(app_entry(our_app, "onnxruntime-web/wasm32-memfs"), case, data_as="url",
                                  log_level=2))
    assert_matches(result, case)
    assert "far.bin" in result.stderr and "kept in JS memory" in result.stderr, result.stderr[-2000:]


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
def test_big_weights_from_path_at_one_times_memory(our_app: Path) -> None:
    """4.25 GiB in one initializer from a path on wasm64-memfs: matches, and the process peaks at no more than
    1.15 x the weights + 0.3 GiB (it was 4.03 x with the bytes loaded by onnxruntime-web)."""
    _pair("wasm64-memfs")
    case = models.cached_case("big_gather")
    result = run_client_node(case_job(app_entry(our_app, "onnxruntime-web/wasm64-memfs"), case, data_as="path",
                                  num_threads=2, timeout_s=1800))
    assert_matches(result, case)
    peak = result.memory["peak_rss"]
    assert isinstance(peak, int), result.memory
    assert peak <= 1.15 * case.external_bytes + 0.3 * GIB, f"{peak / case.external_bytes:.3f} x the weights"


# ------------------------------------------------------------------ the module itself


EMPTY_STATUS = {"mounted": [], "heap": [], "files": [], "heapBytes": 0, "prepacking": []}


@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize("backing", ["heap", "file"])
def test_block_lives_while_mapped_and_goes_at_release(variant: str, backing: str,
                                                      mixed_case: models.ModelCase) -> None:
    """heap: one block for the file, mapped in place, freed at the last unmap after the unlink.  file (a Node path's
    default): nothing read at mount; each mapping is a block of its own; the file is closed at the unlink."""
    result = _module(variant, mixed_case, scenario="lifecycle", numThreads=2, backing=backing)
    assert result.ok, result.describe()
    status = result.raw["status"]
    size = mixed_case.external_bytes
    kind = "heap" if backing == "heap" else "files"
    assert [m["backing"] for m in result.raw["mounts"]] == [backing]
    assert status["mounted"]["heapBytes"] == (size if backing == "heap" else 0)
    created = status["created"][kind]
    assert len(created) == 1 and created[0]["mappings"] >= 2, created  # W1 and W2 at least (W3 may be pre-packed)
    unmounted = status["unmounted"]
    assert unmounted["mounted"] == [], unmounted
    if backing == "heap":
        assert unmounted["heap"][0]["unlinked"] is True and unmounted["heap"][0]["mappings"] == created[0]["mappings"]
    else:  # the copies are ORT's to keep; the file itself is closed at the unlink
        assert unmounted["files"] == [], unmounted
    assert status["released"] == EMPTY_STATUS, status["released"]


@pytest.mark.parametrize("variant", MEMFS)
def test_node_path_is_file_backed_by_default(variant: str, our_app: Path, mixed_case: models.ModelCase) -> None:
    """A path in Node is read when ORT maps each tensor, not at mount: the public API says backing "file"."""
    _pair(variant)
    result = run_client_node(case_job(app_entry(our_app, f"onnxruntime-web/{variant}"), mixed_case, data_as="path",
                                      log_level=1))
    assert_matches(result, mixed_case)
    assert "left in the file, each tensor read once" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("variant", MEMFS)
def test_a_tool_wrapping_the_exports_runs_once_per_call(variant: str, mixed_case: models.ModelCase) -> None:
    """A profiler's wrapper around Module._OrtCreateSession (bench.load --profile) used to recurse until the stack
    ran out: the glue's accessor wrapped the profiler's function too, which called the accessor's wrapper.  Two
    sessions: the wrapper survives emscripten 3.1.x's reassignment of the export on first call."""
    result = _module(variant, mixed_case, scenario="wrapped")
    assert result.ok, result.describe()
    assert result.raw["calls"]["_OrtCreateSession"] == 2, result.raw
    assert result.raw["status"]["created"]["heapBytes"] == mixed_case.external_bytes


@pytest.mark.parametrize("variant", MEMFS)
def test_failed_download_holds_nothing(variant: str, mixed_case: models.ModelCase) -> None:
    size = mixed_case.external_bytes
    result = _module(variant, mixed_case, scenario="truncated", truncateAt=size // 3)
    assert result.ok, result.describe()
    (error,) = result.raw["errors"]
    assert error and "/mixed.bin" in error and f"of {size} bytes" in error, error
    assert result.raw["status"]["after"] == EMPTY_STATUS


# ------------------------------------------------------------------ the WebGPU EP's loader, without a GPU

CHUNK = 32 * 2**20  # pre-memfs.js's ORT_CHUNK: the reads below cross it
LOADER_READS = [[0, 0, 2 * CHUNK + 7], [0, CHUNK - 3, 11], [0, CHUNK + 4093, 5], [1, 100, 900], [0, 0, 0]]


@pytest.fixture(scope="module")
def loader_files(tmp_path_factory: pytest.TempPathFactory) -> list[ExternalFile]:
    """One file of two chunks and a bit (random bytes: a wrong offset shows), one of 1 KiB."""
    work = tmp_path_factory.mktemp("loader")
    big, small = work / "big.bin", work / "small.bin"
    big.write_bytes(os.urandom(2 * CHUNK + 11))
    small.write_bytes(os.urandom(1024))
    return [ExternalFile("weights/big.bin", big), ExternalFile("small.bin", small)]


def _loader(variant: str, files: list[ExternalFile], **job: object) -> RunResult:
    where = _pair(variant)
    if b"ortLoadExternalDataAsync" not in (where / runtime.DEFAULT_MJS).read_bytes():
        pytest.skip(f"{variant} at {where} predates the WebGPU EP's MEMFS loader: rebuild it "
                    "(python build.py --enable_wasm_memfs)")
    payload = {"artifactDir": str(where), "externalData": [{"path": e.path, "file": str(e.file)} for e in files],
               "scenario": "loader", "reads": LOADER_READS, **job}
    return runtime._run_script(JS / "heap_external_data.mjs", payload, 600)


@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize(("kind", "backing", "note"), [
    ("url", "source", "http://127.0.0.1:"),  # read by ranges: the reason names the URL itself
    ("url-norange", "source", "kept as a Blob: the server does not answer Range requests"),
    ("blob", "source", "a Blob"),
    ("bytes", "js", "a WebGPU session: its loader reads it in chunks"),
    ("path", "file", ""),
])
def test_webgpu_loader_reads_every_source_in_chunks(variant: str, kind: str, backing: str, note: str,
                                                     loader_files: list[ExternalFile]) -> None:
    """In a WebGPU session the EP's loader reads each tensor itself (memfs-webgpu.patch): the files are mounted
    where they are, never copied into the heap, and every range reads back exactly, across chunk boundaries,
    through 64-bit-clean Number offsets.  URLs are read by Range requests when the server answers them."""
    result = _loader(variant, loader_files, sourceKind=kind, webgpuSession=True)
    assert result.ok, result.describe()
    raw = result.raw
    assert [m["backing"] for m in raw["mounts"]] == [backing, backing], raw["mounts"]
    if note:
        assert all(note in (m["reason"] or "") + result.stderr for m in raw["mounts"]), (raw["mounts"], result.stderr)
    assert raw["reads"] == [{"code": 0, "equal": True}] * len(LOADER_READS), raw["reads"]
    assert raw["codes"] == {"notMounted": 2, "pastEnd": 3, "badType": 4}, raw["codes"]
    # nothing of the files went into the heap at mount (the reads' buffers are malloc'ed afterwards)
    assert raw["heapAfterMount"] - raw["heapBefore"] < CHUNK, raw
    assert raw["status"]["loaded"]["heapBytes"] == 0
    if kind == "url":
        assert raw["ranges"] >= 4, raw["ranges"]  # two chunks and a bit, plus the probe
    else:
        assert raw["ranges"] == 0


@pytest.mark.parametrize("variant", MEMFS)
@pytest.mark.parametrize("kind", ["url", "bytes"])
def test_webgpu_loader_writes_the_gpu_buffer_in_bounded_chunks(variant: str, kind: str,
                                                               loader_files: list[ExternalFile]) -> None:
    """Load type 1 (a GPU-resident initializer) writes each range into its GPU buffer one chunk per writeBuffer,
    with at most two writes queued before waiting for the GPU, so JS never holds a tensor whole.  A buffer too small
    for the tensor, and a write the GPU refuses (seen only through an error scope), fail the load with code 4 and
    a message, and leave no error scope pushed.  The device is a stand-in (tests/test_webgpu.py runs the real one)."""
    result = _loader(variant, loader_files, sourceKind=kind, webgpuSession=True, gpu=True)
    assert result.ok, result.describe()
    raw = result.raw
    assert raw["gpuReads"] == [{"code": 0, "equal": True}] * len(LOADER_READS), raw["gpuReads"]
    assert raw["gpu"]["writes"] == sum(-(-n // CHUNK) for _, _, n in LOADER_READS) + 1, raw["gpu"]
    assert raw["gpu"]["maxInFlight"] <= 2, raw["gpu"]
    assert raw["gpuCodes"] == {"tooSmall": 4, "refused": 4}, raw["gpuCodes"]
    assert "its GPU buffer holds 1008 bytes" in result.stderr, result.stderr
    assert "the GPU refused a write: stand-in: the buffer was destroyed" in result.stderr, result.stderr
    assert raw["gpu"]["scopesLeft"] == 0 and raw["gpu"]["pushed"] > 0, raw["gpu"]


@pytest.mark.parametrize("variant", MEMFS)
def test_a_cpu_session_still_copies_into_the_heap(variant: str, loader_files: list[ExternalFile]) -> None:
    """Without a WebGPU session the default stays heap-backed (mmap in place): the source backing is the WebGPU
    EP's alone."""
    result = _loader(variant, loader_files, sourceKind="url", webgpuSession=False)
    assert result.ok, result.describe()
    assert [m["backing"] for m in result.raw["mounts"]] == ["heap", "heap"]
    assert result.raw["reads"] == [{"code": 0, "equal": True}] * len(LOADER_READS)


# ------------------------------------------------------------------ the OFF glue


@pytest.mark.parametrize("variant", ["wasm32", "wasm64"])
def test_off_glue_unchanged(variant: str) -> None:
    where = artifact_cache_dir() / variant
    if not (where / "manifest.json").exists():
        pytest.skip(f"NO ARTIFACT for {variant}: looked for {where}/manifest.json")
    manifest = json.loads((where / "manifest.json").read_text())
    assert manifest["variant"]["memfs"] is False
    glue = (where / runtime.DEFAULT_MJS).read_bytes()
    assert not any(marker in glue for marker in MEMFS_ONLY)
    want = OFF_GLUE_SHA256.get((variant, manifest["toolchain"]["emscripten"]))
    if want is None:
        pytest.skip(f"no pinned OFF glue for emscripten {manifest['toolchain']['emscripten']}")
    assert hashlib.sha256(glue).hexdigest() == want

