"""Stage 2, source: the per-version recipe (``patches/<version>/``), the patch set, and a build-owned patched
copy of the user's ONNX Runtime tree; ``upstream`` runs ORT's own build.py on such a copy for comparisons."""
