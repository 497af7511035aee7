"""ortwasm.lock: one run per stage dir, the second waits (saying who holds it) or refuses, stale records are taken
over, nothing is left behind.  Real processes, since flock is per open file and the point is two runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ortwasm import lock
from ortwasm.errors import LockBusy
from tests.harness.homes import isolated_home  # noqa: F401  (the fixture)

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("isolated_home")

# Holds DIR's lock, says so on stdout, appends "start/end <pid>" to LOG inside the lock, keeps it SECONDS.
HOLDER = """
import os, sys, time
from pathlib import Path
from ortwasm import lock
from ortwasm.cli import stop_on_sigterm
from ortwasm.errors import LockBusy
stop_on_sigterm()
d, log_path, seconds, wait = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "wait"
try:
    with lock.held(d, "build dir", wait=wait):
        with log_path.open("a") as f:
            f.write(f"start {os.getpid()} {time.time()}\\n")
        print("held", flush=True)
        time.sleep(seconds)
        with log_path.open("a") as f:
            f.write(f"end {os.getpid()} {time.time()}\\n")
except LockBusy as exc:
    print(exc.message, file=sys.stderr)
    sys.exit(exc.return_code)
except KeyboardInterrupt:
    sys.exit(130)
"""


def start_holder(d: Path, log_path: Path, seconds: float, wait: bool = True) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(d), str(log_path), str(seconds),
                             "wait" if wait else "nowait"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def wait_held(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held", proc.stderr.read() if proc.stderr else ""


def test_held_leaves_nothing(tmp_path: Path) -> None:
    d = tmp_path / "home" / "build"
    with lock.held(d, "build dir"):
        assert (d / lock.LOCK_NAME).exists()
        holder = lock.read_holder(d)
        assert holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname()
        with lock.held(d, "out dir"):  # the same run again (--out = --build-dir): no deadlock
            pass
        assert (d / lock.RECORD_NAME).exists()
    assert not d.exists()  # created for the lock, empty: removed
    d.mkdir(parents=True)
    (d / "kept").write_text("x")
    with lock.held(d, "build dir"):
        pass
    assert sorted(p.name for p in d.iterdir()) == ["kept"]


def test_released_on_error(tmp_path: Path) -> None:
    d = tmp_path / "out"
    d.mkdir()
    with pytest.raises(RuntimeError), lock.held(d, "out dir"):
        raise RuntimeError("boom")
    assert list(d.iterdir()) == []


def test_second_process_waits_then_runs(tmp_path: Path) -> None:
    """Two processes on one build dir: the second says once who holds it, waits, and runs after the first."""
    d, log_path = tmp_path / "build", tmp_path / "log"
    first = start_holder(d, log_path, 2.0)
    wait_held(first)
    second = start_holder(d, log_path, 0.1)
    _, err = second.communicate(timeout=60)
    first.communicate(timeout=60)
    assert first.returncode == second.returncode == 0
    assert err.count("waiting for build dir") == 1, err
    assert f"pid {first.pid} on {socket.gethostname()}" in err and "since" in err
    events = [line.split() for line in log_path.read_text().splitlines()]
    assert [(e[0], int(e[1])) for e in events] == [("start", first.pid), ("end", first.pid),
                                                   ("start", second.pid), ("end", second.pid)]
    assert not d.exists()


def test_no_wait_refuses_naming_the_holder(tmp_path: Path) -> None:
    d, log_path = tmp_path / "build", tmp_path / "log"
    first = start_holder(d, log_path, 30.0)
    try:
        wait_held(first)
        second = start_holder(d, log_path, 0.1, wait=False)
        _, err = second.communicate(timeout=60)
        assert second.returncode == LockBusy.return_code
        assert "in use by `" in err and f"pid {first.pid}" in err, err
        with pytest.raises(LockBusy, match=f"pid {first.pid}") as exc:
            with lock.held(d, "build dir", wait=False):
                pass
        assert f"kill {first.pid}" in exc.value.hint
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 130  # SIGTERM is Ctrl-C: the lock and its record go on the way out
    assert not d.exists()
    assert [line.split()[0] for line in log_path.read_text().splitlines()] == ["start"]


def test_stale_record_of_a_dead_process_is_taken_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """kill -9 leaves the record (the kernel drops the flock): the next run says whose it was and continues."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    d = tmp_path / "sources"
    d.mkdir()
    (d / lock.LOCK_NAME).write_text("")
    since = time.time() - 3600
    (d / lock.RECORD_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                                  "command": "ortwasm fetch-sources", "since": since}))
    with lock.held(d, "sources dir", wait=False):
        holder = lock.read_holder(d)
        assert holder is not None and holder.pid == os.getpid()
    err = capsys.readouterr().err
    assert f"taking over the stale lock of `ortwasm fetch-sources` (pid {dead.pid}" in err
    assert "no longer running" in err and "1:00:" in err
    assert list(d.iterdir()) == []


def test_killed_holder_leaves_a_record_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, log_path = tmp_path / "build", tmp_path / "log"
    d.mkdir()
    first = start_holder(d, log_path, 30.0)
    wait_held(first)
    first.kill()
    first.communicate(timeout=60)
    assert (d / lock.RECORD_NAME).exists()
    with lock.held(d, "build dir", wait=False):  # no wait: the kernel released the flock
        pass
    assert f"pid {first.pid}" in capsys.readouterr().err
