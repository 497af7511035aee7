#!/usr/bin/env bash
# Fill $ORTWASM_HOME/sources with an ONNX Runtime tree and the wasm dependencies its recipe pins
# (patches/<version>/deps.toml): Debian orig tarballs, git tags/commits, PyPI sdists, with ORT's own
# dependency patches applied.  Cached: a second run downloads and writes nothing.
#
#   bash ci/fetch-sources.sh                                      # 1.21.0, all from Debian's registry
#   bash ci/fetch-sources.sh --version 1.30.0 --git-mirror DIR   # DIR holds <owner>+<name>/repo mirrors
#
# Options: --version V, --git-mirror DIR|NAME=PATH (repeatable), --mirror DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m ortwasm fetch-sources "$@"
