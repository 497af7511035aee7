"""Test models with external data, and their expected outputs from native onnxruntime.

Why hand-built TensorProtos instead of onnx.external_data_helper: the cases that matter are about *where* the
bytes sit (two files, unaligned offsets, a tensor past 4 GiB in a sparse file, one initializer over 4 GiB), and
writing the offsets ourselves is the only way to pin them.  Expected outputs come from native onnxruntime on the
same inputs, so a wasm artifact is judged against ONNX Runtime itself, not against numpy.

Big cases are cached under ORTWASM_HOME/models/<key>/ and regenerated only when the `complete` marker is
missing, because writing 4.5 GB of weights each run would dwarf the runs themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ortwasm.errors import UsageError
from ortwasm.paths import ortwasm_home
from tests.harness.runtime import ExternalFile

IR_VERSION = 8  # ORT 1.21.0 reads up to IR 10; onnx's default is newer
OPSET = 17
FAR_OFFSET = 4_831_842_307  # past 4 GiB (docs/toolchain.md "The 4 GiB wall"), deliberately odd
BIG_ROWS, BIG_COLS = 278_528, 4096  # 4,563,402,752 bytes of float32: one initializer over 4 GiB
_PAD = b"\xab"  # padding bytes that would turn a misread into obvious garbage


@dataclass
class ModelCase:
    name: str
    model: Path
    external: list[ExternalFile]
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    rtol: float = 1e-4
    atol: float = 1e-5
    notes: str = ""

    @property
    def external_bytes(self) -> int:
        return sum(e.file.stat().st_size for e in self.external if e.file.exists())


def _external_tensor(name: str, dims: list[int], location: str, offset: int, length: int) -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = t.external_data.add()
        entry.key = key
        entry.value = value
    return t


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ortwasm")
    model.ir_version = IR_VERSION
    path.write_bytes(model.SerializeToString())


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def expected_outputs(model: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Native onnxruntime (CPU), external data resolved next to the model like the wasm side mounts it."""
    import onnxruntime as ort  # imported late: only generators that compute expectations need it

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, inputs)
    return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


def matmul_add_relu(out_dir: Path, k: int = 64, n: int = 32, seed: int = 0) -> ModelCase:
    """Y = Relu(X @ W + B), W and B back to back in one external file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, b = _f32(rng, k, n), _f32(rng, n)
    data = out_dir / "weights.bin"
    data.write_bytes(w.tobytes() + b.tobytes())
    inits = [
        _external_tensor("W", [k, n], data.name, 0, w.nbytes),
        _external_tensor("B", [n], data.name, w.nbytes, b.nbytes),
    ]
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["XW"]),
        helper.make_node("Add", ["XW", "B"], ["S"]),
        helper.make_node("Relu", ["S"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "matmul_add_relu",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, n])],
        initializer=inits,
    )
    model = out_dir / "matmul_add_relu.onnx"
    _save(graph, model)
    inputs = {"X": _f32(rng, 2, k)}
    return ModelCase("matmul_add_relu", model, [ExternalFile(data.name, data)], inputs, expected_outputs(model, inputs))


def split_external(out_dir: Path, k: int = 48, h: int = 40, n: int = 24, seed: int = 1) -> ModelCase:
    """Relu(X @ W1 + B1) @ W2, weights over two files, B1 and W2 at unaligned offsets behind padding."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w1, b1, w2 = _f32(rng, k, h), _f32(rng, h), _f32(rng, h, n)
    a_file, b_file = out_dir / "part_a.bin", out_dir / "part_b.bin"
    b1_off = w1.nbytes + 3
    a_file.write_bytes(w1.tobytes() + _PAD * 3 + b1.tobytes() + _PAD * 5)
    w2_off = 7
    b_file.write_bytes(_PAD * w2_off + w2.tobytes())
    inits = [
        _external_tensor("W1", [k, h], a_file.name, 0, w1.nbytes),
        _external_tensor("B1", [h], a_file.name, b1_off, b1.nbytes),
        _external_tensor("W2", [h, n], b_file.name, w2_off, w2.nbytes),
    ]
    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["XW"]),
        helper.make_node("Add", ["XW", "B1"], ["S"]),
        helper.make_node("Relu", ["S"], ["R"]),
        helper.make_node("MatMul", ["R", "W2"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "split_external",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3, n])],
        initializer=inits,
    )
    model = out_dir / "split_external.onnx"
    _save(graph, model)
    inputs = {"X": _f32(rng, 3, k)}
    refs = [ExternalFile(a_file.name, a_file), ExternalFile(b_file.name, b_file)]
    return ModelCase("split_external", model, refs, inputs, expected_outputs(model, inputs))


def missing_external(out_dir: Path) -> ModelCase:
    """A model whose external file is gone: loading must fail cleanly, naming `missing.bin`."""
    case = matmul_add_relu(out_dir / "_src", k=8, n=4, seed=2)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(case.model), load_external_data=False)
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = "missing.bin"
    path = out_dir / "missing_external.onnx"
    path.write_bytes(model.SerializeToString())
    gone = out_dir / "missing.bin"
    gone.unlink(missing_ok=True)
    return ModelCase(
        "missing_external",
        path,
        [ExternalFile("missing.bin", gone)],
        case.inputs,
        {},
        notes="expected: a clean error naming missing.bin",
    )


def far_offset(
    out_dir: Path, offset: int = FAR_OFFSET, k: int = 16, h: int = 32, n: int = 30, seed: int = 3
) -> ModelCase:
    """W1 at offset 0 and a 3840-byte W2 past 4 GiB of one sparse file (holes cost no disk; the JS side still
    holds all the bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w1, w2 = _f32(rng, k, h), _f32(rng, h, n)
    data = out_dir / "far.bin"
    with data.open("wb") as f:
        f.write(w1.tobytes())
        f.seek(offset)
        f.write(w2.tobytes())
    inits = [
        _external_tensor("W1", [k, h], data.name, 0, w1.nbytes),
        _external_tensor("W2", [h, n], data.name, offset, w2.nbytes),
    ]
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["H"]), helper.make_node("MatMul", ["H", "W2"], ["Y"])]
    graph = helper.make_graph(
        nodes,
        "far_offset",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, n])],
        initializer=inits,
    )
    model = out_dir / "far_offset.onnx"
    _save(graph, model)
    inputs = {"X": _f32(rng, 1, k)}
    return ModelCase(
        "far_offset",
        model,
        [ExternalFile(data.name, data)],
        inputs,
        expected_outputs(model, inputs),
        notes=f"W2 at offset {offset}",
    )


def mixed_in_place(out_dir: Path, seed: int = 5) -> ModelCase:
    """One file holding tensors over and under 64 KiB (the wasm page, libc's mmap granularity) at odd offsets.

    Heap-backed external data maps W1, W2 and W3 in place and preads B1 (onnxruntime/wasm/pre-memfs.js); W3 feeds a
    MatMul, whose weights ORT pre-packs and then releases (an unmap during session creation).  Y1 = Gather(W1, i1)
    + B1, Y2 = Gather(W2, i2), Y3 = X @ W3.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w1, b1, w2, w3 = _f32(rng, 300, 256), _f32(rng, 256), _f32(rng, 700, 256), _f32(rng, 256, 128)
    data = out_dir / "mixed.bin"
    parts: list[tuple[str, np.ndarray, int]] = []  # name, array, padding before it
    blob = bytearray()
    for name, arr, pad in (("W1", w1, 3), ("B1", b1, 0), ("W2", w2, 5), ("W3", w3, 7)):
        blob += _PAD * pad
        parts.append((name, arr, len(blob)))
        blob += arr.tobytes()
    data.write_bytes(bytes(blob) + _PAD * 11)
    inits = [_external_tensor(name, list(arr.shape), data.name, off, arr.nbytes) for name, arr, off in parts]
    nodes = [
        helper.make_node("Gather", ["W1", "i1"], ["G1"], axis=0),
        helper.make_node("Add", ["G1", "B1"], ["Y1"]),
        helper.make_node("Gather", ["W2", "i2"], ["Y2"], axis=0),
        helper.make_node("MatMul", ["X", "W3"], ["Y3"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed_in_place",
        [helper.make_tensor_value_info("i1", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("i2", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 256])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y1", "Y2", "Y3")],
        initializer=inits,
    )
    model = out_dir / "mixed_in_place.onnx"
    _save(graph, model)
    inputs = {"i1": np.array([0, 1, 150, 299], dtype=np.int64), "i2": np.array([699, 0, 350], dtype=np.int64),
              "X": _f32(rng, 2, 256)}
    return ModelCase("mixed_in_place", model, [ExternalFile(data.name, data)], inputs,
                     expected_outputs(model, inputs), notes="W1@3, B1 (1 KiB), W2@+5, W3@+7 in one file")


def _row_block(start: int, stop: int, cols: int) -> np.ndarray:
    """Deterministic rows (value depends on row and column) so every gathered row is distinguishable."""
    r = np.arange(start, stop, dtype=np.float32)[:, None]
    c = np.arange(cols, dtype=np.float32)[None, :]
    return (np.float32(1e-3) * (r % np.float32(4099)) + np.float32(1e-6) * c).astype(np.float32)


def gather_rows(out_dir: Path, rows: int, cols: int = 4096, name: str = "gather", parts: int = 1,
                tail: str | None = None, same_data_as: str | None = None) -> ModelCase:
    """Y<i> = Gather(W<i>, idx): `parts` initializers of rows/parts rows each, back to back in one external file
    written block by block.  parts > 1 keeps every tensor under wasm32's 2 GiB per-tensor limit (measured: one
    2.5 GiB initializer fails with a SafeInt overflow on the official wasm32 dist) while the file stays big.

    tail: a unary op after each Gather (Y<i> = tail(Gather(...)), the Gather nodes named ``gather<i>``), so a test
    can pin the Gather, and its table, to the CPU (the WebGPU EP's forceCpuNodeNames) while the tail runs on the
    GPU.  same_data_as: the cached case whose data file has these very bytes (same rows and cols), hard-linked
    rather than written again: 4 GB of disk and a minute saved."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if rows % parts:
        raise UsageError(f"{rows} rows do not split into {parts} parts")
    each = rows // parts
    data = out_dir / f"{name}.bin"
    block = max(1, (64 << 20) // (cols * 4))
    twin = cached_case(same_data_as).external[0].file if same_data_as else None
    if twin is not None and twin.stat().st_size == rows * cols * 4:
        data.unlink(missing_ok=True)
        os.link(twin, data)
    else:
        with data.open("wb") as f:
            for start in range(0, rows, block):
                f.write(_row_block(start, min(rows, start + block), cols).tobytes())
    part_bytes = each * cols * 4
    suffix = [""] if parts == 1 else [str(i) for i in range(parts)]
    inits = [
        _external_tensor(f"W{s}", [each, cols], data.name, i * part_bytes, part_bytes) for i, s in enumerate(suffix)
    ]
    nodes = []
    for s in suffix:
        gathered = f"G{s}" if tail else f"Y{s}"
        nodes.append(helper.make_node("Gather", [f"W{s}", "idx"], [gathered], name=f"gather{s}", axis=0))
        if tail:
            nodes.append(helper.make_node(tail, [gathered], [f"Y{s}"], name=f"{tail.lower()}{s}"))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info(f"Y{s}", TensorProto.FLOAT, [None, cols]) for s in suffix],
        initializer=inits,
    )
    model = out_dir / f"{name}.onnx"
    _save(graph, model)
    four_gib_row = (1 << 32) // (cols * 4)
    picks = sorted({0, 1, each // 2, each - 1, *(r for r in (four_gib_row - 1, four_gib_row) if r < each)})
    inputs = {"idx": np.array(picks, dtype=np.int64)}
    return ModelCase(
        name,
        model,
        [ExternalFile(data.name, data)],
        inputs,
        expected_outputs(model, inputs),
        rtol=0.0,
        atol=0.0,
        notes=f"{rows * cols * 4} bytes of weights in {parts} initializer(s)",
    )


def mlp_split(out_dir: Path, layers: int, files: int, width: int = 8192, seed: int = 7) -> ModelCase:
    """Y = Relu(...Relu(X @ W0)... @ Wn): `layers` fp32 MatMul weights of width x width, spread over `files`
    external files named as transformers.js (onnx's save_model with size_threshold) names them, model.onnx_data,
    model.onnx_data_1, ..., each under 2 GiB.  Why MatMul and not Gather: MLAS pre-packs every MatMul weight
    (a second copy of it), which is what real transformer and UNet weights meet; Gather reads them in place."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if layers % files:
        raise UsageError(f"{layers} layers do not split into {files} files")
    rng = np.random.default_rng(seed)
    scale = np.float32(np.sqrt(2.0 / width))  # He init: Relu keeps the activations' scale from layer to layer
    nbytes = width * width * 4
    per_file = layers // files
    names = ["model.onnx_data"] + [f"model.onnx_data_{i}" for i in range(1, files)]
    inits = []
    for f, name in enumerate(names):
        with (out_dir / name).open("wb") as f_out:
            for j in range(per_file):
                f_out.write((rng.standard_normal((width, width), dtype=np.float32) * scale).tobytes())
                inits.append(_external_tensor(f"W{f * per_file + j}", [width, width], name, j * nbytes, nbytes))
    nodes = []
    prev = "X"
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"M{i}"]))
        out = "Y" if i == layers - 1 else f"H{i}"
        nodes.append(helper.make_node("Relu", [f"M{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes,
        f"mlp_{layers}x{width}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, width])],
        initializer=inits,
    )
    model = out_dir / "model.onnx"
    _save(graph, model)
    inputs = {"X": _f32(rng, 4, width)}
    return ModelCase(
        f"mlp_{layers}x{width}",
        model,
        [ExternalFile(n, out_dir / n) for n in names],
        inputs,
        expected_outputs(model, inputs),
        rtol=1e-3,  # sums of 8192 products per layer: MLAS builds round differently
        atol=1e-3,
        notes=f"{layers} MatMul weights of {nbytes} bytes in {files} files",
    )


def big_gather(out_dir: Path) -> ModelCase:
    """More than 4 GiB of real weights in one initializer (wasm64 + MEMFS only)."""
    return gather_rows(out_dir, BIG_ROWS, BIG_COLS, name="big_gather")


# ---------------------------------------------------------------- cache for the big ones


def models_cache_dir() -> Path:
    return Path(os.environ.get("ORTWASM_MODELS", str(ortwasm_home() / "models")))


def _save_case(case: ModelCase, root: Path) -> None:
    np.savez(root / "inputs.npz", **case.inputs)  # type: ignore[arg-type]
    np.savez(root / "expected.npz", **case.expected)  # type: ignore[arg-type]
    meta = {
        "name": case.name,
        "model": case.model.name,
        "rtol": case.rtol,
        "atol": case.atol,
        "notes": case.notes,
        "external": [{"path": e.path, "file": e.file.name} for e in case.external],
    }
    (root / "case.json").write_text(json.dumps(meta, indent=1))
    (root / "complete").write_text("ok\n")


def _load_case(root: Path) -> ModelCase:
    meta = json.loads((root / "case.json").read_text())
    with np.load(root / "inputs.npz") as f:
        inputs = {k: f[k] for k in f.files}
    with np.load(root / "expected.npz") as f:
        expected = {k: f[k] for k in f.files}
    refs = [ExternalFile(e["path"], root / e["file"]) for e in meta["external"]]
    return ModelCase(
        meta["name"],
        root / meta["model"],
        refs,
        inputs,
        expected,
        float(meta["rtol"]),
        float(meta["atol"]),
        meta["notes"],
    )


GENERATORS: dict[str, Callable[[Path], ModelCase]] = {
    "matmul_add_relu": matmul_add_relu,
    "split_external": split_external,
    "far_offset": far_offset,
    "gather_256m": lambda d: gather_rows(d, 16_384, 4096, name="gather_256m"),
    "gather_2g5": lambda d: gather_rows(d, 163_840, 4096, name="gather_2g5", parts=2),
    "gather_2g5_one": lambda d: gather_rows(d, 163_840, 4096, name="gather_2g5_one"),
    "big_gather": big_gather,
    # wasm64 with the WebGPU EP: big_gather's 4.25 GiB table on the CPU (forceCpuNodeNames ["gather"]), past 4 GiB
    # of the wasm64 heap, and a Neg after it on the GPU
    "big_gather_neg": lambda d: gather_rows(d, BIG_ROWS, BIG_COLS, name="big_gather_neg", tail="Neg",
                                            same_data_as="big_gather"),
    # 1.25 GiB in five 256 MiB initializers: each under SwiftShader's 1 GiB WebGPU maxBufferSize (test_webgpu.py)
    "gather_1g25": lambda d: gather_rows(d, 81_920, 4096, name="gather_1g25", parts=5),
    # 256 MiB of MatMul weights: ORT pre-packs them (MLAS) and releases the original (bench/load.py (--name heap))
    # (sums of 8192 products: float32 rounding differs between MLAS builds by ~1e-4)
    "matmul_256m": lambda d: replace(matmul_add_relu(d, k=8192, n=8192, seed=6), rtol=1e-3, atol=1e-3),
    # MatMul-heavy, split as transformers.js writes them: 3 GiB in two files (fits wasm32), 5 GiB in three
    "mlp_3g_split": lambda d: mlp_split(d, layers=12, files=2),
    "mlp_5g_split": lambda d: mlp_split(d, layers=20, files=4),
}


# What a case needs of the WebGPU EP beyond its name, by case name (client.webgpu_job applies it, in tests and
# benches alike): big_gather_neg's Gather and its 4.25 GiB table stay on the CPU, its Neg goes to the GPU.
WEBGPU_EP_OPTIONS: dict[str, dict[str, object]] = {"big_gather_neg": {"forceCpuNodeNames": ["gather"]}}


def cached_case(key: str, root: Path | None = None) -> ModelCase:
    """Generate once into the cache (or `root`), then reuse: generation of the big cases takes minutes."""
    if key not in GENERATORS:
        raise UsageError(f"unknown model case {key!r}", hint=f"one of {', '.join(sorted(GENERATORS))}")
    where = (root or models_cache_dir()) / key
    if (where / "complete").exists():
        return _load_case(where)
    (where / "complete").unlink(missing_ok=True)
    case = GENERATORS[key](where)
    _save_case(case, where)
    return case
