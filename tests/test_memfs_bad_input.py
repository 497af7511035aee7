"""Issue 7's bad input on the real MEMFS-ON wasm32 artifact, next to what native onnxruntime does.

- a tensor whose offset + length passes the end of its file: a clean error, no abort;
- a `location` outside the model's directory (`../x.bin`, `/x.bin`): compared with native onnxruntime of
  the SAME version (1.21.0, in a venv that .ci/run provisions), and with the newest onnxruntime for contrast.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from ortwasm import paths
from tests.harness import models
from tests.harness.runtime import ExternalFile, RunJob, run_node

pytestmark = pytest.mark.artifacts

ART = Path(os.environ.get("ORTWASM_ARTIFACTS", str(paths.artifact_cache_dir()))) / "wasm32-memfs"


@pytest.fixture(scope="module")
def art() -> Path:
    if not (ART / "manifest.json").exists():
        pytest.skip(f"!!! no wasm32-memfs artifact at {ART}: build it with "
                    "`python build.py --enable_wasm_memfs --variants wasm32 --out $ORTWASM_HOME/out`")
    return ART


def _relocate(case: models.ModelCase, location: str, out: Path, shrink_file_by: int = 0) -> tuple[Path, bytes]:
    m = onnx.load(str(case.model), load_external_data=False)
    for init in m.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = location
    out.mkdir(parents=True, exist_ok=True)
    model = out / "model.onnx"
    model.write_bytes(m.SerializeToString())
    data = case.external[0].file.read_bytes()
    return model, data[: len(data) - shrink_file_by] if shrink_file_by else data


ORT121 = paths.ortwasm_home() / "ort121-venv" / "bin" / "python"
_PROBE = ("import sys, onnxruntime as o\n"
          "try:\n o.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); print('loaded')\n"
          "except Exception as e:\n print('error: ' + str(e))")


def _native_121(model: Path) -> str:
    if not ORT121.exists():
        pytest.skip(f"!!! no onnxruntime 1.21.0 venv at {ORT121}: ci/test.sh creates it")
    proc = subprocess.run([str(ORT121), "-c", _PROBE, str(model)], capture_output=True, text=True, timeout=120,
                          check=False)
    return proc.stdout.strip() or proc.stderr.strip()


def _native(model: Path) -> str:
    try:
        onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:
        return f"error: {exc}"
    return "loaded"


def test_tensor_past_end_of_file_is_a_clean_error(art: Path, tmp_path: Path) -> None:
    case = models.matmul_add_relu(tmp_path / "src")
    model, data = _relocate(case, "weights.bin", tmp_path / "m", shrink_file_by=16)
    (tmp_path / "m" / "weights.bin").write_bytes(data)
    r = run_node(RunJob(art, model, case.inputs, ["Y"], [ExternalFile("weights.bin", tmp_path / "m" / "weights.bin")],
                        timeout_s=120))
    assert not r.ok and r.error
    assert "out of bounds" in r.error or "weights.bin" in r.error, r.error
    assert "abort" not in r.error.lower()
    assert _native(model).startswith("error"), "native onnxruntime should refuse it too"


@pytest.mark.parametrize("kind", ["parent", "absolute"])
def test_location_outside_model_dir_matches_native(art: Path, tmp_path: Path, kind: str) -> None:
    """Both sides get the file where the location points: next to the model's parent dir for `../`, at the
    absolute path itself (on the host for native, in MEMFS for wasm) for an absolute location."""
    case = models.matmul_add_relu(tmp_path / "src")
    absolute = tmp_path / "abs" / "weights.bin"
    location = "../weights.bin" if kind == "parent" else str(absolute)
    model, data = _relocate(case, location, tmp_path / "m" / "sub")
    target = (tmp_path / "m" / "weights.bin") if kind == "parent" else absolute
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    native = _native_121(model)
    newest = _native(model)
    host = tmp_path / "weights.bin"
    host.write_bytes(data)
    r = run_node(RunJob(art, model, case.inputs, ["Y"], [ExternalFile(location, host)], timeout_s=120))
    version = f"1.21.0 (newest {onnxruntime.__version__}: {newest[:80]})"
    if native == "loaded":
        assert r.ok, f"native onnxruntime {version} loads {location!r}; wasm: {r.error}"
        np.testing.assert_allclose(r.outputs["Y"], case.expected["Y"], rtol=1e-4, atol=1e-5)
    else:
        assert not r.ok and r.error, f"native onnxruntime {version} refuses {location!r} ({native}); wasm loaded it"
