"""The run helper: logs, progress with ETA, first-error extraction, Ctrl-C handling (host commands only)."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from ortwasm.errors import BuildError, Interrupted
from ortwasm.progress import Progress, fmt_duration
from ortwasm.runner import Runner, first_error
from ortwasm.toolchain import ExecEnv


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


def test_ctrl_c_becomes_interrupted_and_is_logged(tmp_path: Path) -> None:
    r = Runner(ExecEnv(), {}, tmp_path / "build.log", "wasm32", echo=False)
    pid = os.getpid()
    threading.Thread(target=lambda: (time.sleep(1.0), os.kill(pid, signal.SIGINT)), daemon=True).start()
    with pytest.raises(Interrupted) as err:
        r.run(_py("import time; print('[1/9] x', flush=True); time.sleep(30)"), "build", progress=True)
    assert "rerun the same command" in err.value.hint
    assert "### interrupted" in (tmp_path / "build.log").read_text()
