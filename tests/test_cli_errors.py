"""No traceback for anything a user can cause, and nothing left by a refusal: read-only homes and --dest, a full
disk, a version without a patch set under --print-cmake, a refused tree, and any string as --variants or
--ort-version."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ortwasm import cli
from ortwasm.errors import EnvironmentProblem, SourceError, UsageError
from ortwasm.recipe import supported
from ortwasm.source.tree import prepare
from ortwasm.variants import load_table
from tests.harness.trees import minimal_ort_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("ORTWASM_HOME", str(h))
    monkeypatch.setenv("ORTWASM_ARTIFACTS", str(h / "out"))
    return h


# --- OSError -> one line ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("err", "fix"), [
    (OSError(errno.EROFS, "Read-only file system", "/x/home/sources"), "read-only"),
    (OSError(errno.EACCES, "Permission denied", "/x/home/sources"), "ls -ld /x/home/sources"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/home/sources"), "df -h /x/home/sources"),
    (OSError(errno.ENOENT, "No such file or directory", "/x/home/sources"), "does not exist"),
])
def test_every_oserror_is_one_line_naming_the_path(err: OSError, fix: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def boom(a: object) -> int:
        raise err

    monkeypatch.setitem(cli._COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == EnvironmentProblem.return_code
    out = capsys.readouterr().err
    assert "Traceback" not in out
    assert f"ortwasm: error: {err.strerror}: /x/home/sources" in out and fix in out
    with pytest.raises(OSError):  # --debug still shows the traceback
        cli.main(["--debug", "doctor"])


def test_a_full_disk_without_a_file_name_names_where_it_wrote(monkeypatch: pytest.MonkeyPatch, home: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    def boom(a: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(cli._COMMANDS, "fetch-sources", boom)
    assert cli.main(["fetch-sources"]) == EnvironmentProblem.return_code
    out = capsys.readouterr().err
    assert f"No space left on device (writing under {home})" in out and "df -h" in out


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {tmp} {tmp} && "
                            f"mount -o remount,bind,ro {tmp} && ! touch {tmp}/x"], capture_output=True, check=False)
    return probe.returncode == 0


def run_read_only(ro: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`argv` with `ro` mounted read-only (a private mount namespace: nothing else sees it)."""
    script = f'mount --bind "{ro}" "{ro}" && mount -o remount,bind,ro "{ro}" && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *argv], capture_output=True, text=True,
                          env={**os.environ, **env, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=300, check=False)


@pytest.fixture
def ro(tmp_path: Path) -> Path:
    d = tmp_path / "ro"
    d.mkdir()
    if not _can_mount_read_only(d):
        pytest.skip("needs unshare -m and mount (root in a container) to make a read-only directory")
    return d


# The build up to its locks, without a toolchain (a fake one) or a compile.
BUILD = """
import sys
from ortwasm import cli, pipeline
pipeline.find_toolchain = lambda **kw: type("T", (), {"describe": lambda self: "fake"})()
pipeline.check_proven = lambda *a, **kw: None
sys.exit(cli.main(sys.argv[1:]))
"""


def test_read_only_home(ro: Path, tmp_path: Path) -> None:
    """fetch-sources and build.py on a read-only ORTWASM_HOME: one line naming the path; --print-cmake writes
    nothing, so it still works."""
    env = {"ORTWASM_HOME": str(ro / "home"), "ORTWASM_ARTIFACTS": str(ro / "home" / "out")}
    fetch = run_read_only(ro, [sys.executable, "-m", "ortwasm", "fetch-sources"], env)
    assert fetch.returncode == EnvironmentProblem.return_code, fetch.stderr
    assert f"Read-only file system: {ro / 'home'}" in fetch.stderr and "Traceback" not in fetch.stderr
    tree = minimal_ort_tree(tmp_path / "ort", "1.21.0")
    build = run_read_only(ro, [sys.executable, "-c", BUILD, "build", "--ort-source", str(tree), "--variants",
                               "wasm32", "--no-patches"], env)
    assert build.returncode == EnvironmentProblem.return_code, build.stderr
    assert f"Read-only file system: {ro / 'home'}" in build.stderr and "Traceback" not in build.stderr
    plan = run_read_only(ro, [sys.executable, "-m", "ortwasm", "build", "--ort-source", str(tree), "--variants",
                              "wasm32", "--print-cmake"], env)
    assert plan.returncode == 0, plan.stderr
    assert "emcmake cmake" in plan.stdout
    assert list(ro.iterdir()) == []


def test_read_only_package_dest(ro: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = run_read_only(ro, [sys.executable, "-m", "ortwasm", "package", str(out), "--dest", str(ro / "dist")],
                         {"ORTWASM_HOME": str(tmp_path / "home")})
    assert proc.returncode == EnvironmentProblem.return_code, proc.stderr
    assert f"Read-only file system: {ro / 'dist'}" in proc.stderr and "Traceback" not in proc.stderr
    assert "hint:" in proc.stderr


def test_package_refusal_leaves_no_dest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dist"
    assert cli.main(["package", str(tmp_path / "missing"), "--dest", str(dest)]) != 0
    assert "Traceback" not in capsys.readouterr().err
    assert not dest.exists()  # created only for its lock, and removed again


# --- refuse early, leave nothing --------------------------------------------------------------------------


def test_print_cmake_refuses_a_version_without_a_patch_set(tmp_path: Path, home: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    tree = minimal_ort_tree(tmp_path / "ort", "1.25.0")
    assert cli.main(["--ort-source", str(tree), "--variants", "wasm32", "--print-cmake"]) == SourceError.return_code
    err = capsys.readouterr().err
    assert "ONNX Runtime 1.25.0 has no patch set" in err and "--no-patches" in err
    assert cli.main(["--ort-source", str(tree), "--variants", "wasm32", "--print-cmake", "--no-patches"]) == 0
    assert "emcmake cmake" in capsys.readouterr().out
    assert not home.exists()


def test_a_version_refusal_leaves_nothing(tmp_path: Path) -> None:
    build = tmp_path / "build"
    with pytest.raises(SourceError, match=r"1\.25\.0 has no patch set"):
        prepare(minimal_ort_tree(tmp_path / "ort", "1.25.0"), build)
    assert not build.exists()  # no src/, no src/.lock
    with pytest.raises(SourceError):
        prepare(tmp_path / "not-a-tree", build)
    assert not build.exists()


def test_a_build_refused_before_the_toolchain_writes_nothing(tmp_path: Path, home: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    tree = minimal_ort_tree(tmp_path / "ort", "1.25.0")
    assert cli.main(["--ort-source", str(tree), "--variants", "wasm32"]) == SourceError.return_code
    tree = minimal_ort_tree(tmp_path / "ort130", "1.30.0")
    assert cli.main(["--ort-source", str(tree), "--variants", "wasm32-jsep"]) == UsageError.return_code
    assert "Traceback" not in capsys.readouterr().err
    assert not home.exists()


# --- any string as --variants or --ort-version ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fetched_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose sources hold a (minimal) tree of every supported version: --ort-version V can resolve."""
    h = tmp_path_factory.mktemp("prop") / "home"
    for v in supported():
        minimal_ort_tree(h / "sources" / f"onnxruntime-{v}", v)
    return h


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)


@pytest.fixture
def prop_env(fetched_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ORTWASM_HOME", str(fetched_home))
    monkeypatch.setenv("ORTWASM_ARTIFACTS", str(fetched_home / "out"))
    yield fetched_home


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=20), st.sampled_from(["1.21.0", "1.30.0", "1.30", "v1.21.0", "latest",
                                                               " 1.21.0", "1.21.0\n", "-1", "../1.21.0"])))
def test_any_ort_version_resolves_or_exits_2(value: str, prop_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _main(["build", f"--ort-version={value}", "--variants", "wasm32", "--print-cmake"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if rc == 0:
        assert value in supported() and "emcmake cmake" in out
    else:
        assert rc == UsageError.return_code, err
        assert all(v in err for v in supported()), err
    assert not (prop_env / "build").exists() and not any(prop_env.glob("build-*"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=30), st.sampled_from(["wasm32", "wasm32,wasm64", ",", "", " , ", "WASM32",
                                                               "wasm32-memfs,", "wasm99", "wasm32;wasm64",
                                                               "wasm32-nothreads", "w64"])))
def test_any_variants_resolve_or_exit_2(value: str, prop_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _main(["build", f"--variants={value}", "--ort-version", "1.21.0", "--print-cmake"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if rc == 0:
        assert "emcmake cmake" in out
    else:
        assert rc == UsageError.return_code, err
        if "cannot be built from ONNX Runtime 1.21.0" not in err:  # a real variant this version cannot build
            assert all(name in err for name in load_table()), err  # else every valid name, not only the nearest
