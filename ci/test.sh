#!/usr/bin/env bash
# The project's test command (README): lint, types, then every test tier.
# Tests that need a real ORT artifact read $ORTWASM_HOME/out/<variant> and skip loudly when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check ortwasm tests bench build.py
python3 -m mypy
python3 -m pytest -q -p no:cacheprovider "$@"
