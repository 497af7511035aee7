"""Stage 8, JS: onnxruntime-web built from the same patched tree as the wasm."""
