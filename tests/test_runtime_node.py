"""C-API probes: only what onnxruntime-web's public API cannot reach (everything else is tests/test_client.py).

Why these stay below the public API:
- the direct MEMFS route (`Module.FS_createDataFile(..., canOwn)`, documented in the README for users who drive the
  glue themselves) is not something onnxruntime-web calls;
- that an OFF build has no FS at all (so the direct route is refused cleanly) is a property of the glue;
- glue facts (pointer width, the wasm64 memory key) are static properties of the file.
The harness (tests/harness/js/ort_flow.mjs) follows onnxruntime-web 1.21.0's calling convention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.harness import models, runtime
from tests.harness.runtime import RunJob, RunResult

RTOL, ATOL = 1e-4, 1e-5
VARIANTS = ("wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs")


def _node_or_skip() -> None:
    node = runtime.node_prefix() / "bin" / "node"
    if not node.exists():
        pytest.skip(f"NO NODE 24: looked for {node} (ci/provision-toolchain.sh installs it)")


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
def test_direct_fs_route(variant: str, cases: dict[str, models.ModelCase]) -> None:
    """MEMFS builds: files written straight into MEMFS are read by ORT; OFF builds refuse the route cleanly."""
    where = _artifact(variant)
    for threads in _threads(variant):
        result = runtime.run_node(_job(where, cases["split"], mount="fs", num_threads=threads))
        if variant.endswith("memfs"):
            _assert_matches(result, cases["split"])
        else:
            _assert_clean_error(result, "FS_createDataFile")
