"""The run helper: logs, progress with ETA, first-error extraction, Ctrl-C handling (host commands only)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ortwasm.errors import BuildError, Interrupted
from ortwasm.proc.progress import (
    Progress,
    fmt_duration,
    last_step_seconds,
    link_estimate,
    link_phase,
    running_tools,
)
from ortwasm.proc.runner import Runner, first_error
from ortwasm.toolchain.emscripten import ExecEnv


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_failure_names_stage_first_error_and_log(tmp_path: Path) -> None:
    r = Runner(ExecEnv(), {}, tmp_path / "v" / "build.log", "wasm64-memfs", echo=False)
    code = "print('[1/3] CXX a.o'); print('a.cc:3:1: error: boom'); print('FAILED: a.o'); raise SystemExit(1)"
    with pytest.raises(BuildError) as err:
        r.run(_py(code), "build", progress=True)
    assert "build of wasm64-memfs failed: a.cc:3:1: error: boom" in err.value.message
    assert str(tmp_path / "v" / "build.log") in err.value.hint
    assert "error: boom" in (tmp_path / "v" / "build.log").read_text()


def test_first_error_prefers_compiler_errors() -> None:
    assert first_error(["FAILED: x.o", "x.cc:1: error: bad"]) == "x.cc:1: error: bad"
    assert first_error([]) == "(no output)"


def test_progress_plain_lines_with_eta() -> None:
    out = io.StringIO()
    p = Progress("wasm32", stream=out)
    for i in range(1, 101):
        p.feed(f"[{i}/100] step")
    text = out.getvalue()
    assert "[100/100] 100%" in text and "ETA" in text and "\r" not in text
    assert len(text.splitlines()) <= 25  # every 5 %, not every step
    assert fmt_duration(3725) == "1:02:05" and fmt_duration(65) == "1:05"


_CTRL_C = """
import os, signal, sys, threading, time
from pathlib import Path
from ortwasm.errors import Interrupted
from ortwasm.proc.progress import running_tools
from ortwasm.proc.runner import Runner
from ortwasm.toolchain.emscripten import ExecEnv

from ortwasm.cli import stop_on_sigterm

signal.signal(signal.SIGINT, signal.default_int_handler)  # a background launcher (nohup ... &) leaves it ignored
stop_on_sigterm()  # what the CLI does first
log, marker, sig = Path(sys.argv[1]), sys.argv[2], getattr(signal, sys.argv[3])
r = Runner(ExecEnv(), {}, log, "wasm32", echo=False)

def interrupt_once_running():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(marker in c for c in running_tools(os.getpid())):
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(os.getpid(), sig)

threading.Thread(target=interrupt_once_running, daemon=True).start()
child = [sys.executable, "-c", f"import os, time; print('[1/9]', os.getpid(), flush=True); time.sleep(30)  # {marker}"]
try:
    r.run(child, "build", progress=True)
    print("RETURNED")
except Interrupted as e:
    print("INTERRUPTED", e.hint)
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_becomes_interrupted_and_is_logged(tmp_path: Path, sig: str) -> None:
    """Ctrl-C, or a CI cancel's SIGTERM: the child is stopped, not left running, and the log says interrupted.

    In a fresh interpreter: in a long pytest session a KeyboardInterrupt can land in a GC finalizer of some
    earlier test's garbage, where Python swallows it; what is tested here is the runner, not that race."""
    log = tmp_path / "build.log"
    marker = f"ortwasm-ctrl-c-{os.getpid()}-{time.monotonic_ns()}"
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", _CTRL_C, str(log), marker, sig], capture_output=True, text=True,
                          timeout=120, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.stdout.startswith("INTERRUPTED"), proc.stdout + proc.stderr
    assert "rerun the same command" in proc.stdout
    text = log.read_text()
    assert "### interrupted" in text
    child = int(re.search(r"\[1/9\] (\d+)", text)[1])  # type: ignore[index]
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the child is gone: a killed driver leaves no build running


@pytest.mark.parametrize("script", [
    "print('[3/9] x', flush=True); print('ninja: build stopped: interrupted by user.', flush=True); "
    "raise SystemExit(2)",
    "import os, signal; print('[3/9] x', flush=True); os.kill(os.getpid(), signal.SIGINT)",
], ids=["ninja-says-so", "killed-by-sigint"])
def test_a_child_interrupted_alone_is_an_interruption(tmp_path: Path, script: str) -> None:
    """Ctrl-C that reaches the build's child but not the driver (whose SIGINT is ignored when it was started in
    the background, as `nohup ... &` does): an interruption with the rerun hint, not "build failed"."""
    log = tmp_path / "build.log"
    r = Runner(ExecEnv(), {}, log, "wasm32", echo=False)
    with pytest.raises(Interrupted, match="build of wasm32 interrupted") as err:
        r.run([sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); " + script],
              "build", progress=True)
    assert "rerun the same command" in err.value.hint
    assert "### interrupted" in log.read_text()


def _fake_proc(root: Path, pid: int, ppid: int, cmd: str) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "stat").write_text(f"{pid} (x y) S {ppid} 1 1 0")
    (d / "cmdline").write_bytes(cmd.replace(" ", "\0").encode() + b"\0")


def test_running_tools_walks_descendants_only(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 10, 1, "ninja -C b")
    _fake_proc(tmp_path, 11, 10, "/usr/bin/em++ -o ort.mjs")
    _fake_proc(tmp_path, 12, 11, "/usr/bin/wasm-opt --strip-dwarf ort.wasm")
    _fake_proc(tmp_path, 99, 1, "wasm-ld unrelated")
    (tmp_path / "self").mkdir()
    tools = running_tools(10, tmp_path)
    assert sorted(tools) == ["/usr/bin/em++ -o ort.mjs", "/usr/bin/wasm-opt --strip-dwarf ort.wasm"]
    assert link_phase(tools) == "wasm-opt"
    assert link_phase(["python3 emcc.py", "java -jar closure-compiler.jar"]) == "closure compiler"
    assert link_phase(["clang++ -c a.cc"]) is None
    # the link's shell names every phase at once; only the programs running count
    shell = "/bin/sh -c cd b && em++ -o ort.mjs && node /src/js/wasm_post_build.js ort.mjs"
    assert link_phase([shell, "/usr/bin/wasm-ld -o ort.wasm"]) == "wasm-ld (LTO code generation + link)"
    assert link_phase([shell, "/usr/bin/node /src/js/wasm_post_build.js ort.mjs"]) == "post-build script"


def test_link_estimate_from_previous_ninja_log(tmp_path: Path) -> None:
    log = tmp_path / ".ninja_log"
    log.write_text("# ninja log v6\n0\t900\t1\ta.o\tx\n1000\t301000\t2\tort-wasm-simd-threaded.mjs\ty\n")
    assert last_step_seconds(log, "ort-wasm-simd-threaded.mjs") == 300.0
    assert last_step_seconds(tmp_path / "none", "x.mjs") is None
    out = io.StringIO()
    p = Progress("wasm32", stream=out, link_estimate_s=300.0)
    for i in range(1, 10):
        p.feed(f"[{i}/10] CXX")
    eta = p.eta(time.monotonic())
    assert eta is not None and eta >= 300.0  # the link still to come is in the ETA
    p.phase("wasm-opt")
    assert "link: wasm-opt" in out.getvalue().splitlines()[-1]


def test_without_a_link_on_record_the_eta_says_so() -> None:
    """A first build with no peer: the ETA covers the compiles and says the link is not in it; in the link, '?'."""
    out = io.StringIO()
    p = Progress("wasm32", stream=out)
    for i in range(1, 11):
        p.feed(f"[{i}/10] CXX")
    assert p.eta(time.monotonic()) is not None
    assert "+ link" in out.getvalue().splitlines()[-1]
    p.phase("wasm-ld (LTO code generation + link)")
    assert p.eta(time.monotonic()) is None
    assert "ETA ?  link: wasm-ld" in out.getvalue().splitlines()[-1]


def test_a_variant_that_never_linked_borrows_a_peers_link(tmp_path: Path) -> None:
    """Its own log has compiles only (a first build, or one stopped before the link): the ETA uses the peer's."""
    own, peer, empty = tmp_path / "wasm64-jsep-memfs", tmp_path / "wasm32-jsep-memfs", tmp_path / "wasm32-jsep"
    for d in (own, peer, empty):
        d.mkdir()
    (own / ".ninja_log").write_text("# ninja log v6\n0\t900\t1\ta.o\tx\n")
    (peer / ".ninja_log").write_text("# ninja log v6\n0\t2100000\t2\tort-wasm-simd-threaded.jsep.mjs\ty\n")
    assert link_estimate((own, empty, peer), "ort-wasm-simd-threaded.jsep.mjs") == 2100.0
    (own / ".ninja_log").write_text("# ninja log v6\n0\t1800000\t2\tort-wasm-simd-threaded.jsep.mjs\ty\n")
    assert link_estimate((own, peer), "ort-wasm-simd-threaded.jsep.mjs") == 1800.0  # its own link comes first
    assert link_estimate((empty,), "ort-wasm-simd-threaded.jsep.mjs") is None


def test_silent_link_shows_the_running_tool(tmp_path: Path) -> None:
    """A child that prints nothing while a `wasm-opt` runs under it: the progress line names it."""
    tool = tmp_path / "wasm-opt"
    tool.write_text(f"#!{sys.executable}\nimport time; time.sleep(4)\n")
    tool.chmod(0o755)
    code = f"import subprocess; print('[9/10] CXX', flush=True); subprocess.run([{str(tool)!r}])"
    r = Runner(ExecEnv(), {}, tmp_path / "build.log", "wasm32", echo=False, quiet_s=1.0)
    err = io.StringIO()
    real = sys.stderr
    sys.stderr = err
    try:
        r.run(_py(code), "build", progress=True)
    finally:
        sys.stderr = real
    assert "link: wasm-opt" in err.getvalue()


def test_a_variant_failure_names_the_toolchain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build can fail for its emscripten's sake (another glue, another warning), so the error says which."""
    from types import SimpleNamespace
    from typing import Any

    from ortwasm import pipeline

    def fail(*_: Any) -> Any:
        raise BuildError("build of wasm64 failed: FAILED: ort-wasm-simd-threaded.mjs", "full log: X")

    monkeypatch.setattr(pipeline, "_build_variant_steps", fail)
    tc: Any = SimpleNamespace(describe=lambda: "emscripten 6.0.5 (Debian sid provider)")
    with pytest.raises(BuildError) as err:
        pipeline._build_variant(Any, SimpleNamespace(name="wasm64"), tc, Any)  # type: ignore[arg-type]
    assert err.value.message == ("build of wasm64 failed: FAILED: ort-wasm-simd-threaded.mjs "
                                 "[emscripten 6.0.5 (Debian sid provider)]")
    assert err.value.hint == "full log: X"
