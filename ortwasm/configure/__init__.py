"""Stage 4, configure: the CMake cache of one variant, starting from ORT build.py's own defines."""
