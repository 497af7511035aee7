"""The model generators put bytes where they say, and native onnxruntime agrees with numpy on them.

These models are the evidence for the runtime claims (unaligned offsets, two files, a tensor past 4 GiB), so
their layout is checked from the raw files, not just through onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.harness import models


def _external_entries(model: Path) -> dict[str, dict[str, str]]:
    m = onnx.load(str(model), load_external_data=False)
    return {t.name: {e.key: e.value for e in t.external_data} for t in m.graph.initializer}


def _tensor_from_file(file: Path, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    with file.open("rb") as f:
        f.seek(offset)
        return np.frombuffer(f.read(4 * int(np.prod(shape))), dtype=np.float32).reshape(shape)


def test_matmul_add_relu_layout_and_expected(tmp_path: Path) -> None:
    case = models.matmul_add_relu(tmp_path)
    ext = _external_entries(case.model)
    assert {e["location"] for e in ext.values()} == {"weights.bin"}
    w = _tensor_from_file(case.external[0].file, int(ext["W"]["offset"]), (64, 32))
    b = _tensor_from_file(case.external[0].file, int(ext["B"]["offset"]), (32,))
    want = np.maximum(case.inputs["X"] @ w + b, 0)
    np.testing.assert_allclose(case.expected["Y"], want, rtol=1e-4, atol=1e-5)
    assert onnx.load(str(case.model), load_external_data=False).ir_version == models.IR_VERSION


def test_split_external_uses_two_files_at_unaligned_offsets(tmp_path: Path) -> None:
    case = models.split_external(tmp_path)
    ext = _external_entries(case.model)
    assert {ext["W1"]["location"], ext["W2"]["location"]} == {"part_a.bin", "part_b.bin"}
    assert int(ext["B1"]["offset"]) % 4 != 0 and int(ext["W2"]["offset"]) % 4 != 0
    assert [e.path for e in case.external] == ["part_a.bin", "part_b.bin"]
    full = onnx.load(str(case.model))  # resolves external data next to the model
    w = {t.name: onnx.numpy_helper.to_array(t) for t in full.graph.initializer}
    want = np.maximum(case.inputs["X"] @ w["W1"] + w["B1"], 0) @ w["W2"]
    np.testing.assert_allclose(case.expected["Y"], want, rtol=1e-4, atol=1e-5)


def test_missing_external_names_an_absent_file(tmp_path: Path) -> None:
    case = models.missing_external(tmp_path)
    assert {e["location"] for e in _external_entries(case.model).values()} == {"missing.bin"}
    assert not case.external[0].file.exists()
    assert case.expected == {}


def test_far_offset_is_past_4gib_in_a_sparse_file(tmp_path: Path) -> None:
    case = models.far_offset(tmp_path)
    data = case.external[0].file
    off = int(_external_entries(case.model)["W2"]["offset"])
    assert off == models.FAR_OFFSET > 4 * 1024**3
    assert data.stat().st_size == off + 3840
    assert data.stat().st_blocks * 512 < 16 * 1024**2, "the far file must be sparse"
    w1 = _tensor_from_file(data, 0, (16, 32))
    w2 = _tensor_from_file(data, off, (32, 30))
    np.testing.assert_allclose(case.expected["Y"], case.inputs["X"] @ w1 @ w2, rtol=1e-4, atol=1e-4)


def test_gather_rows_picks_rows_across_the_4gib_row(tmp_path: Path) -> None:
    case = models.gather_rows(tmp_path, rows=64, cols=8, name="small")
    idx = case.inputs["idx"]
    assert idx.dtype == np.int64 and idx[0] == 0 and idx[-1] == 63
    full = _tensor_from_file(case.external[0].file, 0, (64, 8))
    assert np.array_equal(case.expected["Y"], full[idx])
    assert case.rtol == 0 and case.atol == 0
    big_row = (1 << 32) // (models.BIG_COLS * 4)
    assert models.BIG_ROWS > big_row, "the big model must reach past 4 GiB"


def test_cached_case_is_generated_once(tmp_path: Path) -> None:
    first = models.cached_case("matmul_add_relu", root=tmp_path)
    stamp = first.model.stat().st_mtime_ns
    again = models.cached_case("matmul_add_relu", root=tmp_path)
    assert again.model.stat().st_mtime_ns == stamp
    assert np.array_equal(again.expected["Y"], first.expected["Y"])
    assert [e.file for e in again.external] == [e.file for e in first.external]


def test_unknown_case_is_a_usage_error() -> None:
    from ortwasm.errors import UsageError

    with pytest.raises(UsageError):
        models.cached_case("nope")


def test_gather_rows_in_parts_share_one_file(tmp_path: Path) -> None:
    case = models.gather_rows(tmp_path, rows=64, cols=8, name="parts", parts=2)
    ext = _external_entries(case.model)
    assert sorted(ext) == ["W0", "W1"] and int(ext["W1"]["offset"]) == 32 * 8 * 4
    full = _tensor_from_file(case.external[0].file, 0, (64, 8))
    idx = case.inputs["idx"]
    assert np.array_equal(case.expected["Y0"], full[:32][idx])
    assert np.array_equal(case.expected["Y1"], full[32:][idx])
