"""Stage 5, build: Ninja with progress, and ``pipeline``, which runs every stage in order for each variant."""
