#!/usr/bin/env bash
# The project's test command (README): lint, types, then every test tier.
#
# It installs what the tests need, idempotently, without touching the system Python:
#   - the toolchain, Node 24, Chromium with playwright-core and Firefox ESR with puppeteer-core
#     (ci/provision-toolchain.sh; a no-op once done);
#   - a venv at $ORTWASM_HOME/venv with the test dependencies from pyproject.toml (re-installed when they change);
#   - a venv at $ORTWASM_HOME/ort121-venv with native onnxruntime 1.21.0, for same-version behaviour checks.
# The project itself is not installed: pytest imports it from this checkout, so a second clone tests its own code.
# Tests that need real ORT artifacts read the build's default output, $ORTWASM_HOME/out/<variant>
# (or $ORTWASM_ARTIFACTS), print that directory in their header, and skip loudly naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export ORTWASM_HOME="${ORTWASM_HOME:-/var/cache/ortwasm}"
bash ci/provision-toolchain.sh >/dev/null

venv="$ORTWASM_HOME/venv"
want=$(python3 - <<'PY'
import hashlib, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = sorted(p.get("dependencies", []) + p["optional-dependencies"]["test"])
print(hashlib.sha256("\n".join(deps).encode()).hexdigest()[:16], *deps)
PY
)
read -r stamp deps <<<"$want"
if [[ "$(cat "$venv/.ortwasm-deps" 2>/dev/null)" != "$stamp" ]]; then
  echo "[test] installing test dependencies into $venv"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  # shellcheck disable=SC2086  # word splitting of the requirement list is intended
  "$venv/bin/pip" install -q --disable-pip-version-check $deps
  echo "$stamp" > "$venv/.ortwasm-deps"
fi
# The wheel's build backend asks for cmake and ninja (PyPI) only when no suitable binary is on PATH: ask it, and
# install what it names into the venv (a bare host has neither; the toolchain's cmake lives in the chroot).
extra=$("$venv/bin/python" -c 'from ortwasm.package.skbuild import unmet_requirements as u; print(" ".join(u()))')
if [[ -n "$extra" ]]; then
  echo "[test] installing the wheel backend's requirements into $venv: $extra"
  # shellcheck disable=SC2086  # word splitting of the requirement list is intended
  "$venv/bin/pip" install -q --disable-pip-version-check $extra
fi
ort121="$ORTWASM_HOME/ort121-venv"
if [[ ! -x "$ort121/bin/python" ]]; then
  echo "[test] installing native onnxruntime 1.21.0 into $ort121"
  rm -rf "$ort121.partial"
  python3 -m venv "$ort121.partial"
  "$ort121.partial/bin/pip" install -q --disable-pip-version-check onnxruntime==1.21.0 'numpy<2.3'
  mv "$ort121.partial" "$ort121"
fi

py="$venv/bin/python"
"$py" -m ruff check ortwasm tests bench build.py
"$py" -m mypy
exec "$py" -m pytest -q -p no:cacheprovider "$@"
