"""The smallest directory ortwasm accepts as an ONNX Runtime tree: for tests where something else must fail."""

from __future__ import annotations

from pathlib import Path


def minimal_ort_tree(tree: Path, version: str = "1.21.0") -> Path:
    (tree / "cmake").mkdir(parents=True, exist_ok=True)
    (tree / "onnxruntime" / "core").mkdir(parents=True, exist_ok=True)
    (tree / "cmake" / "onnxruntime_webassembly.cmake").write_text("")
    (tree / "VERSION_NUMBER").write_text(f"{version}\n")
    return tree
