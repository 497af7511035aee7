"""Drive onnxruntime-web through its public API, as an application does: an npm-installed package, `import`ed.

Why npm install into an app dir: that is how users get the client, and it is how the package's own `exports`,
its dependency on onnxruntime-common and its choice of wasm pair get exercised.  Each app dir lives under
$ORTWASM_HOME/clients/<name> and is reinstalled only when what it installs changes (the spec, or the sha256 of a
local tarball), so a warm machine pays nothing.
"""

from __future__ import annotations

import fcntl
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
from ortwasm.js.web import npm_env
from ortwasm.paths import ortwasm_home
from tests.harness.models import WEBGPU_EP_OPTIONS, ModelCase
from tests.harness.runtime import (
    Engine,
    ExternalFile,
    RunResult,
    Served,
    _run_script,
    compare_outputs,
    encode_tensor,
    run_page,
)

# What makes headless Chromium expose a WebGPU adapter without a GPU: SwiftShader's Vulkan (docs/toolchain.md).
WEBGPU_ARGS = ("--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan")

JS_DIR = Path(__file__).resolve().parent / "js"


def client_app(name: str, spec: str) -> Path:
    """An app dir with `spec` npm-installed as onnxruntime-web; reinstalled only when `spec` or its bytes change.

    spec: a registry spec (``onnxruntime-web@1.21.0``) or a local tarball path (installed as
    ``onnxruntime-web@file:<tgz>``, the drop-in route the package's README gives).
    """
    app = ortwasm_home() / "clients" / name
    app.parent.mkdir(parents=True, exist_ok=True)
    with (app.parent / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test or bench processes never reinstall under each other
        return _install_client(app, name, spec)


def _install_client(app: Path, name: str, spec: str) -> Path:
    local = Path(spec)
    # a local tarball is known by its bytes, not its (temporary) path: the same package never reinstalls, so a
    # browser serving from this app dir in another process keeps its files
    want = {"spec": "file", "key": hashlib.sha256(local.read_bytes()).hexdigest()} if local.is_file() else \
        {"spec": spec, "key": spec}
    stamp = app / ".ortwasm-client.json"
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return app
    if shutil.which("npm") is None:
        raise ToolchainError("npm not found", "run `bash ci/provision-toolchain.sh` (it installs npm)")
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    (app / "package.json").write_text(json.dumps({"name": f"ortwasm-client-{name}", "private": True,
                                                  "type": "module"}))
    install = f"onnxruntime-web@file:{local.resolve()}" if local.is_file() else spec
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline",
                           install],
                          cwd=app, env={**os.environ, **npm_env()}, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolchainError(f"npm install {install} failed: {proc.stderr.strip()[-500:]}",
                             "check the npm registry is reachable, or the tarball exists")
    stamp.write_text(json.dumps(want))
    return app


def app_entry(app: Path, specifier: str = "onnxruntime-web") -> Path:
    """A module in `app` that re-exports `specifier`, so Node resolves it through the package's `exports` map,
    exactly as `import * as ort from '<specifier>'` in the application would."""
    entry = app / f"entry-{specifier.replace('/', '_')}.mjs"
    text = f"export * from '{specifier}';\n"
    if not entry.exists() or entry.read_text() != text:
        entry.write_text(text)
    return entry


def package_dist(app: Path) -> Path:
    """The installed onnxruntime-web's dist/ (what a bundler or static server would serve)."""
    return app / "node_modules" / "onnxruntime-web" / "dist"


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
    data_as: Literal["bytes", "path", "url", "blob", "stream", "bytestream"] = "bytes"
    num_threads: int = 1
    wasm_dir: Path | None = None
    log_level: int = 3
    timeout_s: float = 600.0
    sessions: int | None = None  # create/run/release this many times; memory["sessions"] has one entry each
    truncate_at: int | None = None  # data_as "url": the server drops the connection after this many bytes
    # ("webgpu",): the pair's WebGPU EP, on the browser's adapter; an item may be an EP object with its options
    # ({"name": "webgpu", "forceCpuNodeNames": [...]}), as onnxruntime-web takes it
    execution_providers: Sequence[str | Mapping[str, Any]] = ("wasm",)
    chromium_args: Sequence[str] = ()  # added to browser_run.mjs's flags (WEBGPU_ARGS for a WebGPU adapter)
    probe_adapter: bool = True  # webgpu: the page asks for an adapter first (a missing one is a skip reason)
    session_config: Mapping[str, str] = field(default_factory=dict)  # the `extra` session option, flat keys
    runs: int = 1  # session.run this many times on the first session; timings run_ms_all has each

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
            "executionProviders": [e if isinstance(e, str) else dict(e) for e in self.execution_providers],
            "chromiumArgs": list(self.chromium_args),
            "probeAdapter": self.probe_adapter,
            **({"sessions": self.sessions} if self.sessions is not None else {}),
            **({"extra": dict(self.session_config)} if self.session_config else {}),
            **({"runs": self.runs} if self.runs != 1 else {}),
            **({"truncateAt": self.truncate_at} if self.truncate_at is not None else {}),
        }


def case_job(entry: Path, case: ModelCase, **fields: Any) -> ClientJob:
    """A job that runs `case` (its model, inputs, outputs and external files); `fields` set the rest."""
    job = ClientJob(entry, case.model, case.inputs, list(case.expected), case.external, timeout_s=900)
    for k, v in fields.items():
        setattr(job, k, v)
    return job


def webgpu_job(entry: Path, case: ModelCase, **fields: Any) -> ClientJob:
    """A job that runs `case` on the WebGPU EP in Chromium on SwiftShader (WEBGPU_ARGS), with the EP options the
    case needs (models.WEBGPU_EP_OPTIONS) and ORT's verbose log kept for its placement lines, the proof that nodes
    ran on WebGPU; `fields` override any of it."""
    options = WEBGPU_EP_OPTIONS.get(case.name)
    ep: str | dict[str, object] = {"name": "webgpu", **options} if options else "webgpu"
    settings: dict[str, Any] = {"num_threads": 2, "execution_providers": (ep,), "chromium_args": WEBGPU_ARGS,
                                "log_level": 0, "timeout_s": 1800, **fields}
    return case_job(entry, case, **settings)


def our_package_app(out: Path, work: Path, name: str = "ortwasm") -> Path:
    """The drop-in package of what `out` holds (`ortwasm package`, written under `work`), npm-installed as
    onnxruntime-web into the `name` app dir: the route a user takes."""
    from ortwasm.package import build_packages

    return client_app(name, str(build_packages(out, work).tgz))


def assert_matches(result: RunResult, case: ModelCase) -> None:
    """The run succeeded and every output matches native onnxruntime's within the case's tolerances."""
    assert result.ok, result.describe()
    assert compare_outputs(result.outputs, case.expected, case.rtol, case.atol) == []


def run_client_node(job: ClientJob, node: Path | None = None) -> RunResult:
    """Run `job` in a fresh Node process (Node 24 unless `node` names another)."""
    return _run_script(JS_DIR / "ort_web_node.mjs", job.to_json(), job.timeout_s, node=node)


def run_client_browser(job: ClientJob, dist_dir: Path, entry_name: str, engine: Engine = "chromium") -> RunResult:
    """Run `job` in a fresh headless `engine`: the package's browser `entry_name` (a file in `dist_dir`), served with
    every file beside it (the glue pairs, per-variant subdirs) from a cross-origin-isolated localhost."""
    return run_page(engine, job.to_json(), Served(dist_dir, entry_name, job.wasm_dir), job.model, job.external_data,
                    job.timeout_s)
