"""Run a model through a built artifact, in Node 24 or a headless browser, and get outputs, timings and memory.

Why a subprocess per run: a broken artifact may abort, hang its thread pool or leak gigabytes; a fresh Node
process (or browser) per job keeps each RSS figure honest and lets us kill a hang.  The JavaScript side
(`tests/harness/js/`) follows onnxruntime-web 1.21.0's calling convention and always answers with one JSON object, so
every failure here is data (`RunResult.ok is False`, `error`, `stage`), never a crash of the caller.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ortwasm.checks.glue import parse_file
from ortwasm.errors import ToolchainError, UsageError
from ortwasm.paths import artifact_cache_dir, node_prefix, ortwasm_home
from ortwasm.toolchain.gluefix import OLD_KEY

Mount = Literal["api", "fs", "mounted-files"]
Engine = Literal["chromium", "firefox"]
DEFAULT_MJS = "ort-wasm-simd-threaded.mjs"
DEFAULT_WASM = "ort-wasm-simd-threaded.wasm"
JS_DIR = Path(__file__).resolve().parent / "js"


@dataclass(frozen=True)
class Browser:
    """A browser engine as the drivers (tests/harness/js/browser_common.mjs) launch it: Debian's build, and the npm
    package that drives it from $ORTWASM_HOME/node (playwright-core for Chromium; puppeteer-core over WebDriver BiDi
    for stock Firefox, which playwright cannot drive)."""

    executable: Path
    launcher: str
    apt: str


BROWSERS: dict[Engine, Browser] = {
    "chromium": Browser(Path("/usr/bin/chromium"), "playwright-core", "chromium"),
    "firefox": Browser(Path("/usr/bin/firefox-esr"), "puppeteer-core", "firefox-esr"),
}
CHROMIUM = BROWSERS["chromium"].executable

_DTYPES: dict[str, str] = {
    "float32": "float32",
    "float64": "float64",
    "float16": "float16",
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "bool": "bool",
}


@dataclass(frozen=True)
class ExternalFile:
    """One external data file: `path` as the model names it, `file` where it is on the host."""

    path: str
    file: Path


@dataclass
class RunJob:
    """One load-and-run of one model through one artifact (`artifact_dir` holding the .mjs/.wasm pair)."""

    artifact_dir: Path
    model: Path
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    outputs: Sequence[str] = ()
    external_data: Sequence[ExternalFile] = ()
    mount: Mount = "api"
    num_threads: int = 1
    wasm64: bool | None = None  # None: read PTR_SIZE from the glue
    mjs: str = DEFAULT_MJS
    wasm: str = DEFAULT_WASM
    log_level: int = 3  # ORT logging level for OrtInit: 0 verbose .. 4 fatal
    timeout_s: float = 900.0

    def resolved_wasm64(self) -> bool:
        return self.wasm64 if self.wasm64 is not None else glue_ptr_size(self.artifact_dir / self.mjs) == 8

    def to_json(self) -> dict[str, Any]:
        """The job as run_session.mjs reads it (host paths)."""
        return {
            "artifactDir": str(self.artifact_dir),
            "mjs": self.mjs,
            "wasm": self.wasm,
            "model": str(self.model),
            "externalData": [{"path": e.path, "file": str(e.file)} for e in self.external_data],
            "mount": self.mount,
            "inputs": {name: encode_tensor(a) for name, a in self.inputs.items()},
            "outputs": list(self.outputs),
            "numThreads": self.num_threads,
            "wasm64": self.resolved_wasm64(),
            "glue": glue_facts(self.artifact_dir / self.mjs),
            "logLevel": self.log_level,
            "timeoutMs": int(self.timeout_s * 1000),
        }


@dataclass
class RunResult:
    ok: bool
    outputs: dict[str, np.ndarray]
    timings: dict[str, float]
    memory: dict[str, int | None]
    error: str | None
    stage: str | None
    raw: dict[str, Any]
    returncode: int
    stderr: str

    def describe(self) -> str:
        if self.ok:
            return f"ok: outputs {sorted(self.outputs)}; timings {self.timings}"
        return f"failed at {self.stage}: {self.error}\n--- stderr tail ---\n{self.stderr[-2000:]}"


def encode_tensor(a: np.ndarray) -> dict[str, Any]:
    arr = np.ascontiguousarray(a)
    name = "bool" if arr.dtype == np.bool_ else str(arr.dtype)
    if name not in _DTYPES:
        raise UsageError(f"input dtype {arr.dtype} is not supported by the harness")
    data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"dims": [int(d) for d in arr.shape], "type": name, "data": base64.b64encode(data).decode("ascii")}


def decode_tensor(spec: Mapping[str, Any]) -> np.ndarray:
    dtype = np.dtype(_DTYPES[str(spec["type"])]).newbyteorder("<")
    raw = base64.b64decode(str(spec["data"]))
    return np.frombuffer(raw, dtype=dtype).reshape([int(d) for d in spec["dims"]])


def compare_outputs(
    got: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], rtol: float, atol: float
) -> list[str]:
    """Mismatches as sentences (empty when all match): exact for integers and bools, rtol/atol for floats."""
    problems: list[str] = []
    for name, want in expected.items():
        if name not in got:
            problems.append(f"{name}: missing from the outputs ({sorted(got)})")
            continue
        have = got[name]
        if have.shape != want.shape:
            problems.append(f"{name}: shape {have.shape} != expected {want.shape}")
        elif np.issubdtype(want.dtype, np.floating):
            if not np.allclose(have, want, rtol=rtol, atol=atol):
                err = float(np.max(np.abs(have.astype(np.float64) - want.astype(np.float64))))
                problems.append(f"{name}: max abs error {err:g} beyond rtol={rtol:g} atol={atol:g}")
        elif not np.array_equal(have, want):
            problems.append(f"{name}: integer/bool values differ ({int(np.sum(have != want))} elements)")
    return problems


def glue_ptr_size(mjs: Path) -> int | None:
    return parse_file(mjs).ptr_size


def glue_facts(mjs: Path) -> dict[str, Any]:
    """What the JS harness needs to know about a glue, from ortwasm.checks.glue's parser (the JS does not re-parse)."""
    facts = parse_file(mjs)
    return {"ptr_size": facts.ptr_size,
            "index_i64": glue_index_key_count(mjs.read_text(errors="replace")),
            "has_fs": bool(facts.fs_present)}


def glue_index_key_count(text: str) -> int:
    """How often the glue creates memory with emscripten 3.1.69's old `index:"i64"` key (0 once fixed)."""
    return len(OLD_KEY.findall(text))


def node_binary() -> Path:
    node = node_prefix() / "bin" / "node"
    if not node.exists():
        raise ToolchainError(f"Node 24 not found at {node}", hint="run ci/provision-toolchain.sh (it installs node@24)")
    return node


def browser_missing(engine: Engine) -> ToolchainError | None:
    """Why `engine` cannot run here (its executable or its npm launcher is missing), None when it can: what a run
    raises, and, as `f"{e.message}: {e.hint}"`, a test's skip reason."""
    b = BROWSERS[engine]
    fix = f"run ci/provision-toolchain.sh (it installs Debian's {b.apt} and {b.launcher})"
    if not b.executable.exists():
        return ToolchainError(f"NO {engine.upper()} at {b.executable}", fix)
    if not (node_prefix() / "node_modules" / b.launcher / "package.json").exists():
        return ToolchainError(f"NO {b.launcher} in {node_prefix() / 'node_modules'} to drive {engine}", fix)
    return None


def artifact_dir_for(variant: str) -> Path:
    return artifact_cache_dir() / variant


OFFICIAL_WEB_VERSION = "1.21.0"


def official_dist(fetch: bool = True, version: str = OFFICIAL_WEB_VERSION) -> Path | None:
    """onnxruntime-web's own dist (MEMFS-OFF wasm32 artifacts): the reference our harness is proven on.

    Kept unpacked under ORTWASM_HOME/npm-cache/onnxruntime-web-<version>/; fetched once with `npm pack` (the
    registry's ordinary client) when missing and `fetch` is true.  None when it cannot be had.
    """
    cache = ortwasm_home() / "npm-cache"
    dist = cache / f"onnxruntime-web-{version}" / "dist"
    if (dist / DEFAULT_MJS).exists() or not fetch:
        return dist if (dist / DEFAULT_MJS).exists() else None
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / f"onnxruntime-web-{version}.tgz"
    if not tgz.exists():
        proc = subprocess.run(
            ["npm", "pack", f"onnxruntime-web@{version}"], cwd=cache, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 or not tgz.exists():
            return None
    with tarfile.open(tgz) as tar, tempfile.TemporaryDirectory(dir=cache) as tmp:
        tar.extractall(tmp, filter="data")
        (Path(tmp) / "package").rename(dist.parent)
    return dist if (dist / DEFAULT_MJS).exists() else None


def _parse(proc_out: str, out_file: Path, returncode: int, stderr: str) -> RunResult:
    raw: dict[str, Any] | None = None
    if out_file.exists() and out_file.stat().st_size:
        raw = json.loads(out_file.read_text())
    else:
        for line in reversed(proc_out.splitlines()):
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    raw = json.loads(line)
                    break
    if raw is None:
        tail = stderr.strip().splitlines()[-5:]
        return RunResult(
            False,
            {},
            {},
            {},
            f"harness printed no result (exit {returncode}): {' | '.join(tail)}",
            "harness",
            {},
            returncode,
            stderr,
        )
    outputs = {k: decode_tensor(v) for k, v in (raw.get("outputs") or {}).items()}
    return RunResult(
        bool(raw.get("ok")),
        outputs,
        dict(raw.get("timings") or {}),
        dict(raw.get("memory") or {}),
        raw.get("error"),
        raw.get("stage"),
        raw,
        returncode,
        stderr,
    )


def _run_script(
    script: Path,
    payload: dict[str, Any],
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    node_args: Sequence[str] = (),
    node: Path | None = None,
) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="ortwasm-run-") as tmp:
        job_file, out_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_file.write_text(json.dumps(payload))
        cmd = [str(node or node_binary()), *node_args, str(script), str(job_file), "--out", str(out_file)]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout_s + 60,
                env={**os.environ, **(env or {})},
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            return RunResult(
                False, {}, {}, {}, f"no answer within {timeout_s + 60:.0f} s; killed", "timeout", {}, -9, err
            )
        return _parse(proc.stdout, out_file, proc.returncode, proc.stderr)


def run_node(job: RunJob, node_args: Sequence[str] = ()) -> RunResult:
    """Run `job` in Node 24 (`--expose-gc`, so the RSS after unmount is measured after a full GC)."""
    return _run_script(JS_DIR / "run_session.mjs", job.to_json(), job.timeout_s, node_args=["--expose-gc", *node_args])


# ---------------------------------------------------------------- localhost server for the browser


_RANGE = re.compile(r"bytes=(\d+)-(\d*)")  # one range, as fetch sends it (suffix and multi ranges: the whole file)


class StaticServer:
    """Serve an explicit map of URL path -> host file on 127.0.0.1, cross-origin isolated.

    SharedArrayBuffer (threads) needs COOP same-origin + COEP require-corp on the page *and* on the worker script,
    so every response carries both.  Only mapped files are served: no directory listing, no path guessing.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Path] = {}
        self.no_ranges: set[str] = set()  # routes that ignore Range (200, the whole file), as many servers do
        self.range_requests = 0  # answered with 206: how a test sees that a client read by ranges
        routes, no_ranges, server = self.routes, self.no_ranges, self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                target = routes.get(path)
                if target is None or not target.is_file():
                    self.send_error(404)
                    return
                size = target.stat().st_size
                first, count = 0, size
                wanted = _RANGE.fullmatch(self.headers.get("Range", "")) if path not in no_ranges else None
                if wanted and int(wanted[1]) < size:
                    first = int(wanted[1])
                    last = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
                    count = last - first + 1
                    server.range_requests += 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", _content_type(target))
                self.send_header("Content-Length", str(count))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                with target.open("rb") as f, contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.connection.sendfile(f, first, count)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, url_path: str, file: Path, ranges: bool = True) -> str:
        """``ranges=False``: the route answers every request with the whole file, ignoring Range."""
        self.routes[url_path] = file
        if not ranges:
            self.no_ranges.add(url_path)
        return self.base_url + url_path

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass(frozen=True)
class Served:
    """What a browser page loads: `entry`, a file of the client's `dist` (served whole, with its per-variant
    subdirs, under /ort/), and, when the client is pointed at a pair with env.wasm.wasmPaths, `wasm_dir`'s pair
    (under /pair/, by its own names: .jsep for WebGPU, as the bundle asks for it)."""

    dist: Path
    entry: str
    wasm_dir: Path | None = None


def run_page(
    engine: Engine,
    payload: Mapping[str, Any],
    served: Served,
    model: Path,
    external: Sequence[ExternalFile],
    timeout_s: float,
    driver: str = "browser_run.mjs",
) -> RunResult:
    """Run a page job (`payload`: inputs, outputs, threads, ...) in a fresh headless `engine` through `driver`
    (browser_run.mjs for tests, browser_load_memory.mjs for benches), everything served from one cross-origin
    isolated localhost: the harness page, the client, the model and each external file by URL."""
    missing = browser_missing(engine)
    if missing is not None:
        raise missing
    with StaticServer() as srv:
        srv.add("/harness/page.html", JS_DIR / "ort_web_page.html")
        for f in sorted(served.dist.rglob("*")):
            if f.is_file():
                srv.add(f"/ort/{f.relative_to(served.dist)}", f)
        if served.wasm_dir is not None:
            for f in sorted(served.wasm_dir.glob("ort-wasm-simd-threaded*")):
                srv.add(f"/pair/{f.name}", f)
        job = {
            **payload,
            "pageUrl": srv.base_url + "/harness/page.html",
            "entryUrl": f"{srv.base_url}/ort/{served.entry}",
            "wasmDirUrl": f"{srv.base_url}/pair/" if served.wasm_dir is not None else None,
            "modelUrl": srv.add(f"/data/{model.name}", model),
            "externalData": [{"path": e.path, "url": srv.add(f"/data/ext{i}/{e.file.name}", e.file)}
                             for i, e in enumerate(external)],
            "engine": engine,
            "executablePath": str(BROWSERS[engine].executable),
        }
        env = {"ORTWASM_NODE_MODULES": str(node_prefix() / "node_modules")}
        return _run_script(JS_DIR / driver, job, timeout_s, env=env)


def _content_type(p: Path) -> str:
    return {
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".html": "text/html; charset=utf-8",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }.get(p.suffix, "application/octet-stream")
