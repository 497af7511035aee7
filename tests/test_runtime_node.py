"""The Node runtime harness, proven on the official onnxruntime-web 1.21.0 dist, then run on our artifacts.

The official dist is a MEMFS-OFF wasm32 build: its external data goes through `Module.mountExternalData` into
the `MountedFiles` map.  Everything the harness claims (outputs match native onnxruntime, failures come back as
clean JSON errors naming the file, the wasm64 glue check) is shown on it first, so that a failure on our own
artifacts points at the artifact, not at the harness.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ortwasm import models, runtime
from ortwasm.runtime import ExternalFile, RunJob, RunResult

RTOL, ATOL = 1e-4, 1e-5
VARIANTS = ("wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs")


def _node_or_skip() -> None:
    node = runtime.node_prefix() / "bin" / "node"
    if not node.exists():
        pytest.skip(f"NO NODE 24: looked for {node} (ci/provision-toolchain.sh installs it)")


@pytest.fixture(scope="session")
def dist() -> Path:
    _node_or_skip()
    found = runtime.official_dist(fetch=True)
    if found is None:
        pytest.skip("NO OFFICIAL DIST: onnxruntime-web@1.21.0 not in ORTWASM_HOME/npm-cache and `npm pack` failed")
    return found


@pytest.fixture(scope="session")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, models.ModelCase]:
    root = tmp_path_factory.mktemp("models")
    return {
        "matmul": models.matmul_add_relu(root / "matmul"),
        "split": models.split_external(root / "split"),
        "missing": models.missing_external(root / "missing"),
    }


def _job(artifact: Path, case: models.ModelCase, **kw: object) -> RunJob:
    job = RunJob(artifact, case.model, case.inputs, list(case.expected), case.external, timeout_s=180)
    for k, v in kw.items():
        setattr(job, k, v)
    return job


def _assert_matches(result: RunResult, case: models.ModelCase) -> None:
    assert result.ok, result.describe()
    assert runtime.compare_outputs(result.outputs, case.expected, case.rtol, case.atol) == []


def _assert_clean_error(result: RunResult, *needles: str) -> None:
    """Failed as data: a JSON error, exit code 1 (not a crash, not an abort, not a harness bug)."""
    assert not result.ok
    assert result.returncode == 1, result.describe()
    assert result.stage not in (None, "harness", "timeout"), result.describe()
    assert result.error is not None
    for needle in needles:
        assert needle in result.error, result.describe()


# ---------------------------------------------------------------- pure Python parts


def test_tensor_encoding_round_trips() -> None:
    for a in (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([-1, 2**40], np.int64), np.array([True])):
        back = runtime.decode_tensor(runtime.encode_tensor(a))
        assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a)


def test_compare_outputs_exact_for_ints_tolerant_for_floats() -> None:
    f = np.array([1.0, 2.0], np.float32)
    assert runtime.compare_outputs({"y": f + 1e-6}, {"y": f}, RTOL, ATOL) == []
    assert runtime.compare_outputs({"y": f + 1e-2}, {"y": f}, RTOL, ATOL) != []
    i = np.array([1, 2], np.int64)
    assert runtime.compare_outputs({"y": i + 1}, {"y": i}, 1.0, 1.0) != []
    assert "missing" in runtime.compare_outputs({}, {"y": i}, 0, 0)[0]


def test_glue_index_key_detection() -> None:
    assert runtime.glue_index_key_count('new WebAssembly.Memory({initial:1,shared:!0,index:"i64"})') == 1
    assert runtime.glue_index_key_count("{'index': 'i64'}") == 1
    assert runtime.glue_index_key_count('{shared:!0,address:"i64"}') == 0


# ---------------------------------------------------------------- official dist (MEMFS OFF, MountedFiles)


@pytest.mark.parametrize("threads", [1, 2])
def test_official_matmul_add_relu_matches_native(dist: Path, cases: dict[str, models.ModelCase], threads: int) -> None:
    case = cases["matmul"]
    result = runtime.run_node(_job(dist, case, mount="mounted-files", num_threads=threads))
    _assert_matches(result, case)
    assert result.raw["glue"] == {"ptr_size": 4, "index_i64": 0, "has_fs": False, "patched": False}
    assert result.raw["mounted"] == ["weights.bin"]
    for key in ("mount_ms", "session_ms", "run_ms"):
        assert result.timings[key] >= 0
    for key in ("peak_rss", "rss_after_session", "wasm_heap_bytes", "array_buffers"):
        assert (result.memory[key] or 0) > 0, key


def test_unmounted_bytes_are_released_before_the_rss_sample(dist: Path, tmp_path: Path) -> None:
    """After the session exists and the files are unmounted, JS holds no copy of the external data (a dead local
    in a suspended async frame once pinned it: the RSS-after-session figure depends on this)."""
    case = models.gather_rows(tmp_path, rows=4096, cols=4096, name="g64m")  # 64 MiB
    result = runtime.run_node(_job(dist, case, num_threads=2))
    _assert_matches(result, case)
    after = result.memory["array_buffers_after_session"]
    assert after is not None and after < case.external_bytes // 2, result.memory


def test_official_two_files_unaligned_offsets(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    case = cases["split"]
    _assert_matches(runtime.run_node(_job(dist, case, mount="api", num_threads=2)), case)


def test_official_not_mounted_is_a_clean_error_naming_the_file(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    # The official build lets a C++ exception escape OrtCreateSession here; the harness decodes its what().
    result = runtime.run_node(_job(dist, cases["missing"], external_data=[]))
    _assert_clean_error(result, "missing.bin")
    assert result.stage == "session"


def test_official_one_of_two_files_missing(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    case = cases["split"]
    result = runtime.run_node(_job(dist, case, external_data=case.external[:1]))
    _assert_clean_error(result, "part_b.bin")


def test_host_file_missing_is_reported_before_loading(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    case = cases["missing"]
    result = runtime.run_node(_job(dist, case, external_data=[ExternalFile("missing.bin", case.external[0].file)]))
    _assert_clean_error(result, "missing.bin", str(case.external[0].file))
    assert result.stage == "read"


def test_fs_route_refused_without_a_file_system(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    result = runtime.run_node(_job(dist, cases["matmul"], mount="fs"))
    _assert_clean_error(result, "FS_createDataFile")


def test_wrong_input_name_is_a_clean_error(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    case = cases["matmul"]
    result = runtime.run_node(_job(dist, case, inputs={"nope": case.inputs["X"]}))
    _assert_clean_error(result, 'no input "nope"')


def test_wasm64_claim_on_a_wasm32_glue_is_refused(dist: Path, cases: dict[str, models.ModelCase]) -> None:
    result = runtime.run_node(_job(dist, cases["matmul"], wasm64=True))
    _assert_clean_error(result, "PTR_SIZE=4")


def test_old_index_key_is_reported_not_silently_patched(
    dist: Path, cases: dict[str, models.ModelCase], tmp_path: Path
) -> None:
    """A glue carrying `index:"i64"` is refused with a message; patching is opt-in, on a temporary copy."""
    for name in (runtime.DEFAULT_MJS, runtime.DEFAULT_WASM):
        shutil.copy(dist / name, tmp_path / name)
    mjs = tmp_path / runtime.DEFAULT_MJS
    mjs.write_text('var ortwasmProbe={index:"i64"};\n' + mjs.read_text())
    case = cases["matmul"]
    refused = runtime.run_node(_job(tmp_path, case))
    _assert_clean_error(refused, 'index:"i64"', "address")
    assert refused.stage == "glue"
    patched = runtime.run_node(_job(tmp_path, case, patch_glue_index=True))
    _assert_matches(patched, case)
    assert patched.raw["glue"]["patched"] is True
    assert runtime.glue_index_key_count(mjs.read_text()) == 1, "the artifact itself must stay untouched"


@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.8 GB)")
def test_official_far_offset_fails_cleanly_on_wasm32(dist: Path, tmp_path: Path) -> None:
    """Upstream wasm32 past 4 GiB: SafeInt overflow (measured), as a clean error, not an abort."""
    case = models.far_offset(tmp_path / "far")
    result = runtime.run_node(_job(dist, case, timeout_s=600))
    _assert_clean_error(result)
    assert "Integer overflow" in (result.error or "") or ">4GB" in (result.error or ""), result.describe()


# ---------------------------------------------------------------- our artifacts


def _artifact(variant: str) -> Path:
    _node_or_skip()
    where = runtime.artifact_dir_for(variant)
    for name in (runtime.DEFAULT_MJS, runtime.DEFAULT_WASM):
        if not (where / name).exists():
            pytest.skip(
                f"NO ARTIFACT for variant {variant}: looked for {where / name} "
                "(build it, or point ORTWASM_ARTIFACTS at a directory holding <variant>/)"
            )
    return where


def _threads(variant: str) -> list[int]:
    return [1, 2, 4] if variant.startswith("wasm64") else [1, 2]


@pytest.mark.artifacts
@pytest.mark.parametrize("variant", VARIANTS)
def test_artifact_glue_is_sound(variant: str) -> None:
    where = _artifact(variant)
    text = (where / runtime.DEFAULT_MJS).read_text()
    assert runtime.glue_ptr_size(where / runtime.DEFAULT_MJS) == (8 if variant.startswith("wasm64") else 4)
    assert runtime.glue_index_key_count(text) == 0, 'the build stage must rewrite index:"i64" to address:"i64"'


@pytest.mark.artifacts
@pytest.mark.parametrize("variant", VARIANTS)
def test_artifact_models_match_native(variant: str, cases: dict[str, models.ModelCase]) -> None:
    where = _artifact(variant)
    routes: list[runtime.Mount] = ["api", "fs"] if variant.endswith("memfs") else ["api", "mounted-files"]
    for threads in _threads(variant):
        for route in routes:
            for key in ("matmul", "split"):
                result = runtime.run_node(_job(where, cases[key], mount=route, num_threads=threads))
                _assert_matches(result, cases[key])


@pytest.mark.artifacts
@pytest.mark.parametrize("variant", VARIANTS)
def test_artifact_not_mounted_is_a_clean_error(variant: str, cases: dict[str, models.ModelCase]) -> None:
    result = runtime.run_node(_job(_artifact(variant), cases["missing"], external_data=[]))
    _assert_clean_error(result, "missing.bin")


@pytest.mark.artifacts
@pytest.mark.parametrize("variant", VARIANTS)
def test_artifact_far_offset(variant: str) -> None:
    """Past 4 GiB: MEMFS builds load and match; OFF builds fail cleanly (wasm64 ">4GB", wasm32 SafeInt)."""
    where = _artifact(variant)
    case = models.cached_case("far_offset")
    result = runtime.run_node(_job(where, case, timeout_s=900))
    if variant.endswith("memfs"):
        _assert_matches(result, case)
    else:
        _assert_clean_error(result)
        assert any(s in (result.error or "") for s in (">4GB", "Integer overflow")), result.describe()


@pytest.mark.artifacts
@pytest.mark.skipif(os.environ.get("ORTWASM_BIG_TESTS") != "1", reason="BIG TEST: set ORTWASM_BIG_TESTS=1 (4.5 GB)")
def test_artifact_big_weights_on_wasm64_memfs() -> None:
    where = _artifact("wasm64-memfs")
    case = models.cached_case("big_gather")
    _assert_matches(runtime.run_node(_job(where, case, num_threads=2, timeout_s=1800)), case)
