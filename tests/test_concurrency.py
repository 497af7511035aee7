"""Two runs on one ORTWASM_HOME, as two real processes: two `fetch-sources` at once end with one correct result
(the second waits, or refuses with --no-wait), equal to a clean single fetch; two builds on one build dir run one
after the other (the pipeline's lock wiring, with the stages replaced: a real configure is too slow here)."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ortwasm.errors import LockBusy
from tests.harness.homes import isolated_home  # noqa: F401  (the fixture)
from tests.harness.trees import minimal_ort_tree
from tests.test_fetch import world  # noqa: F401  (the fixture: a fake 9.9.9 recipe and local git mirrors)

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("isolated_home")

# `python -m ortwasm ARGS` with the recipes read from ROOT (what test_fetch passes as root=), and with
# ORTWASM_TEST_SLOW seconds of sleep after the ORT tree's export, so that a second run surely overlaps.
FETCH = """
import os, sys, time
from pathlib import Path
from ortwasm import cli, recipe
from ortwasm.fetch import sources
recipe.patch_root = lambda: Path(os.environ["ORTWASM_TEST_PATCH_ROOT"])
slow = float(os.environ.get("ORTWASM_TEST_SLOW", "0"))
real_export = sources.git_export
def slow_export(*a, **kw):
    real_export(*a, **kw)
    print("exported", flush=True)
    time.sleep(slow)
sources.git_export = slow_export
sys.exit(cli.main(sys.argv[1:]))
"""


def fetch_proc(home: Path, world: dict[str, Path | str], *extra: str,  # noqa: F811
               slow: float = 0.0) -> subprocess.Popen[str]:
    env = {**os.environ, "ORTWASM_HOME": str(home), "ORTWASM_TEST_PATCH_ROOT": str(world["root"]),
           "ORTWASM_TEST_SLOW": str(slow), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", FETCH, "fetch-sources", "--version", "9.9.9", "--git-mirror",
                             str(world["mirrors"]), *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def started(proc: subprocess.Popen[str]) -> None:
    """Block until the run holds the sources lock and is in the middle of filling (its first export is done)."""
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "exported", proc.stderr.read() if proc.stderr else ""


def same_tree(a: Path, b: Path) -> list[str]:
    """Paths that differ between two trees (names and bytes)."""
    diff: list[str] = []

    def walk(cmp: filecmp.dircmp[str], rel: str) -> None:
        diff.extend(f"{rel}{n}" for n in cmp.left_only + cmp.right_only + cmp.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        diff.extend(f"{rel}{n}" for n in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{rel}{name}/")

    walk(filecmp.dircmp(a, b), "")
    return diff


@pytest.fixture
def clean(world: dict[str, Path | str], tmp_path: Path) -> Path:  # noqa: F811
    """The sources of one fetch alone, in a home of its own."""
    proc = fetch_proc(tmp_path / "clean-home", world)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return tmp_path / "clean-home" / "sources"


def overlapping_fetches(home: Path, world: dict[str, Path | str], slow: float,  # noqa: F811
                        *second_args: str) -> tuple[subprocess.Popen[str], str, subprocess.Popen[str], str]:
    """A slow first fetch, and a second one started once the first holds the lock; both run to their end."""
    first = fetch_proc(home, world, slow=slow)
    started(first)
    second = fetch_proc(home, world, *second_args)
    _, err2 = second.communicate(timeout=300)
    _, err1 = first.communicate(timeout=300)
    return first, err1, second, err2


def test_two_fetches_at_once_wait_and_agree(world: dict[str, Path | str], clean: Path,  # noqa: F811
                                            tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, err1, second, err2 = overlapping_fetches(home, world, 3.0)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert err2.count("waiting for sources dir") == 1 and f"pid {first.pid}" in err2, err2
    assert "nothing to do" in err2  # it found the first run's complete result, and rewrote nothing
    assert "Traceback" not in err1 + err2
    assert same_tree(home / "sources", clean) == []


def test_second_fetch_with_no_wait_refuses_and_the_first_finishes(world: dict[str, Path | str],  # noqa: F811
                                                                 clean: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, err1, second, err2 = overlapping_fetches(home, world, 2.0, "--no-wait")
    assert second.returncode == LockBusy.return_code, err2
    assert f"sources dir {home / 'sources'} is in use by `" in err2 and f"pid {first.pid}" in err2
    assert "Traceback" not in err2
    assert first.returncode == 0, err1
    assert same_tree(home / "sources", clean) == []


def test_sigterm_mid_fetch_leaves_no_temp_dir_and_a_rerun_completes(world: dict[str, Path | str],  # noqa: F811
                                                                    clean: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = fetch_proc(home, world, slow=30.0)
    started(first)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "interrupted" in err and "Traceback" not in err
    leftovers = [str(p.relative_to(home)) for p in (home / "sources").rglob(".*")]
    assert leftovers == []  # no scratch dir, no lock, no record
    again = fetch_proc(home, world)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert same_tree(home / "sources", clean) == []


# Two builds: the real cli and pipeline.run up to the locks; the locked part only records when it ran.
BUILD = """
import os, sys, time
from pathlib import Path
from ortwasm import cli, pipeline
pipeline.find_toolchain = lambda **kw: type("T", (), {"describe": lambda self: "fake"})()
pipeline.check_proven = lambda *a, **kw: None
def locked(opts, variants, toolchain, started):
    log = Path(os.environ["ORTWASM_TEST_LOG"])
    with log.open("a") as f:
        f.write(f"start {os.getpid()}\\n")
    print("building", flush=True)
    time.sleep(float(os.environ["ORTWASM_TEST_SLOW"]))
    with log.open("a") as f:
        f.write(f"end {os.getpid()}\\n")
    return []
pipeline._run_locked = locked
sys.exit(cli.main(sys.argv[1:]))
"""


def build_proc(home: Path, tree: Path, log: Path, slow: float, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ORTWASM_HOME": str(home), "ORTWASM_ARTIFACTS": str(home / "out"),
           "ORTWASM_TEST_LOG": str(log), "ORTWASM_TEST_SLOW": str(slow), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", BUILD, "build", "--ort-source", str(tree), "--variants",
                             "wasm32", "--skip-js", *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_builds_on_one_home_run_one_after_the_other(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "log"
    tree = minimal_ort_tree(tmp_path / "ort", "1.21.0")
    # the first holds the lock long enough for the next interpreter to start and import ortwasm on a loaded machine
    # (2 s was not, beside a two-core compile)
    first = build_proc(home, tree, log, 8.0)
    assert first.stdout is not None and first.stdout.readline().strip() == "building"
    refused = build_proc(home, tree, log, 0.0, "--no-wait")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == LockBusy.return_code and f"pid {first.pid}" in err, err
    assert "build dir" in err and "Traceback" not in err
    second = build_proc(home, tree, log, 0.0)
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == second.returncode == 0, err1 + err2
    assert err2.count("waiting for build dir") == 1, err2
    assert log.read_text().split() == ["start", str(first.pid), "end", str(first.pid),
                                       "start", str(second.pid), "end", str(second.pid)]
    assert not list(home.rglob(".ortwasm.lock*"))
