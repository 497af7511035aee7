#!/usr/bin/env bash
# Fill $ORTWASM_HOME/sources with ONNX Runtime 1.21.0 and its wasm dependencies
# from Debian's registry. Cached: a second run downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m ortwasm fetch-sources "$@"
