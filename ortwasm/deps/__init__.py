"""Stage 3, deps: an offline dependency dir, verified against the recipe's pins and handed to CMake.
Filling that dir from registries is ``ortwasm.fetch.sources`` (run once, before builds)."""
