"""Drive onnxruntime-web through its public API, as an application does: an npm-installed package, `import`ed.

Why npm install into an app dir: that is how users get the client, and it is how the package's own `exports`,
its dependency on onnxruntime-common and its choice of wasm pair get exercised.  Each app dir lives under
$ORTWASM_HOME/clients/<name> and is reinstalled only when what it installs changes (the spec, or the sha256 of a
local tarball), so a warm machine pays nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ortwasm.errors import ToolchainError
from ortwasm.paths import node_prefix, ortwasm_home
from ortwasm.runtime import ExternalFile, RunResult, _run_script, encode_tensor

JS_DIR = Path(__file__).resolve().parent / "js"
NPM_CACHE = "npm-cache/_npm"


def _npm_env() -> dict[str, str]:
    """npm from Debian, run by Node 24 (first on PATH), with a cache under ORTWASM_HOME."""
    return {**os.environ, "PATH": f"{node_prefix() / 'bin'}:{os.environ.get('PATH', '')}"}


def client_app(name: str, spec: str, entry_specifier: str = "onnxruntime-web") -> Path:
    """An app dir with `spec` npm-installed; returns its entry module (`export * from <entry_specifier>`).

    spec: a registry spec (``onnxruntime-web@1.21.0``) or a local tarball path.  The entry re-exports the
    package by its public name, so Node resolves it through the package's own `exports` map.
    """
    app = ortwasm_home() / "clients" / name
    local = Path(spec)
    key = hashlib.sha256(local.read_bytes()).hexdigest() if local.is_file() else spec
    stamp = app / ".ortwasm-client.json"
    want = {"spec": spec, "key": key, "entry": entry_specifier}
    entry = app / "entry.mjs"
    if stamp.exists() and json.loads(stamp.read_text()) == want and entry.exists():
        return entry
    if shutil.which("npm") is None:
        raise ToolchainError("npm not found", "run `bash ci/provision-toolchain.sh` (it installs npm)")
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    (app / "package.json").write_text(json.dumps({"name": f"ortwasm-client-{name}", "private": True,
                                                  "type": "module"}))
    install = f"onnxruntime-web@file:{local.resolve()}" if local.is_file() else spec
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--cache", str(ortwasm_home() / NPM_CACHE),
                           install], cwd=app, env=_npm_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolchainError(f"npm install {install} failed: {proc.stderr.strip()[-500:]}",
                             "check the npm registry is reachable, or the tarball exists")
    entry.write_text(f"export * from '{entry_specifier}';\n")
    stamp.write_text(json.dumps(want))
    return entry


@dataclass
class ClientJob:
    """One load-and-run through the public API.

    wasm_dir: point env.wasm.wasmPaths at the pair in that dir (what users of the official package must do);
    None lets the package find its own pair (the drop-in route, nothing hand-written).
    """

    entry: Path
    model: Path
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    outputs: Sequence[str] = ()
    external_data: Sequence[ExternalFile] = ()
    data_as: Literal["bytes", "path"] = "bytes"
    num_threads: int = 1
    wasm_dir: Path | None = None
    log_level: int = 3
    timeout_s: float = 600.0

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": str(self.entry),
            "wasmDir": str(self.wasm_dir) if self.wasm_dir else None,
            "model": str(self.model),
            "externalData": [{"path": e.path, "file": str(e.file)} for e in self.external_data],
            "dataAs": self.data_as,
            "inputs": {k: encode_tensor(v) for k, v in self.inputs.items()},
            "outputs": list(self.outputs),
            "numThreads": self.num_threads,
            "logLevel": self.log_level,
            "timeoutMs": int(self.timeout_s * 1000),
        }


def run_client_node(job: ClientJob, node: Path | None = None) -> RunResult:
    """Run `job` in a fresh Node process (Node 24 unless `node` names another)."""
    return _run_script(JS_DIR / "ort_web_node.mjs", job.to_json(), job.timeout_s, node=node)
