"""configure/reduced_ops.py: ORT's op reduction script, run before configure, stamped and swapped in whole.

The fast tests run a fake ``reduce_op_kernels.py`` in a tiny tree on the host (its command line is upstream's), with
a stub ``flatbuffers`` module on PYTHONPATH, so they need neither ORT nor the chroot.  The integration tests run the
real script of ORT 1.30 (a copy of the files it reads, never the pristine tree) in the sid chroot, as a WebGPU build
will, and compare its output with the host's Python running the same script when the host has flatbuffers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ortwasm.configure import reduced_ops as ro
from ortwasm.errors import BuildError, OrtWasmError, SourceError, ToolchainError, UsageError
from ortwasm.proc.execenv import ExecEnv
from ortwasm.proc.runner import Runner

REGISTRATIONS = "onnxruntime/core/providers/cpu/cpu_execution_provider.cc"
INC = "onnxruntime/core/providers/op_kernel_type_control_overrides.inc"
CONFIG = "onnxruntime/wasm/reduced_types.config"

# The fake script: upstream's command line; it records each call, mirrors the registration file (the same for either
# flag, so a flag change leaves that file's bytes alone) and writes the overrides from the config and the flag.
# Words in the config make it fail the ways the real one can.
FAKE_SCRIPT = '''
import argparse, json, os, sys
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("config_path")
p.add_argument("--cmake_build_dir", required=True)
p.add_argument("--is_extended_minimal_build_or_higher", action="store_true")
p.add_argument("--enable_type_reduction", action="store_true")
p.add_argument("--use_cuda", action="store_true")
a = p.parse_args()
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
text = Path(a.config_path).read_text()
if "FAIL" in text:
    sys.exit("ValueError: Unknown type in config: FAIL")
if "NOFB" in text:
    sys.exit("ImportError: cannot import name 'parse_config' from 'util' (tools/python/util/__init__.py)")
if "NOOUT" in text:
    sys.exit(0)
tree = Path(__file__).resolve().parents[2]
root = Path(a.cmake_build_dir) / "op_reduction.generated"
for rel, body in (("@REG@", "".join("// " + l if "double" in l else l
                                      for l in (tree / "@REG@").read_text().splitlines(True))),
                  ("@INC@", f"types {text.strip()} reduction={a.enable_type_reduction}\\n")):
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(body)
'''.replace("@REG@", REGISTRATIONS).replace("@INC@", INC)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, Runner, Path]]:
    """(tree, build dir, host runner, calls file): a tree with the fake script, a stub flatbuffers importable."""
    tree = tmp_path / "ort"
    for rel, text in ((ro.SCRIPT, FAKE_SCRIPT), (CONFIG, "!globally_allowed_types;float\n"),
                      (REGISTRATIONS, "Kernel<float, Relu>,\nKernel<double, Relu>,\n"), (INC, "// upstream\n")):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    stub = tmp_path / "stub"
    (stub / "flatbuffers").mkdir(parents=True)
    (stub / "flatbuffers" / "__init__.py").write_text("__version__ = 'stub'\n")
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PYTHONPATH", str(stub))
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    yield tree, tmp_path / "build", Runner(ExecEnv(), {}, tmp_path / "log" / "build.log", "t", echo=False), calls


def _run(fake: tuple[Path, Path, Runner, Path], config: str = CONFIG, type_reduction: bool = True,
         python: str = sys.executable) -> ro.ReducedOps:
    tree, build, runner, _ = fake
    return ro.reduce_ops(runner, tree, build, config, type_reduction=type_reduction, python=python)


def _calls(fake: tuple[Path, Path, Runner, Path]) -> list[list[str]]:
    calls = fake[3]
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def _generated(fake: tuple[Path, Path, Runner, Path]) -> Path:
    return fake[1] / ro.GENERATED


def test_a_first_run_generates_with_upstreams_arguments(fake: tuple[Path, Path, Runner, Path]) -> None:
    tree, build, _, _ = fake
    result = _run(fake)
    assert result.ran and result.defines == {"onnxruntime_REDUCED_OPS_BUILD": "ON"}
    assert _calls(fake) == [[str(tree / CONFIG), "--cmake_build_dir", str(build / ro.PARTIAL),
                             "--is_extended_minimal_build_or_higher", "--enable_type_reduction"]]
    gen = _generated(fake)
    assert (gen / INC).read_text() == "types !globally_allowed_types;float reduction=True\n"
    assert (gen / REGISTRATIONS).read_text() == "Kernel<float, Relu>,\n// Kernel<double, Relu>,\n"
    assert (result.files, result.size) == (2, sum((gen / r).stat().st_size for r in (INC, REGISTRATIONS)))
    assert result.digest == ro._summary(gen, ro._files(gen))["digest"]
    assert result.python.startswith("python 3.") and "flatbuffers stub (the host)" in result.python
    assert sorted(p.name for p in build.iterdir()) == [ro.GENERATED, ro.STAMP_NAME]  # no partial, no old
    assert not list(tree.rglob("__pycache__")), "the script must not write bytecode into the ORT tree"
    assert ro.recorded(build) == {**result.manifest()}
    assert result.manifest()["digest"] == result.digest and result.manifest()["type_reduction"] is True


def test_without_type_reduction_the_flag_is_not_passed(fake: tuple[Path, Path, Runner, Path]) -> None:
    result = _run(fake, type_reduction=False)
    assert "--enable_type_reduction" not in _calls(fake)[0]
    assert result.defines == {"onnxruntime_REDUCED_OPS_BUILD": "ON"} and not result.type_reduction


def test_a_rerun_with_the_same_inputs_runs_nothing(fake: tuple[Path, Path, Runner, Path]) -> None:
    first = _run(fake)
    mtimes = {p: p.stat().st_mtime_ns for p in _generated(fake).rglob("*")}
    second = _run(fake)
    assert not second.ran and len(_calls(fake)) == 1
    assert (second.digest, second.files, second.size) == (first.digest, first.files, first.size)
    assert {p: p.stat().st_mtime_ns for p in _generated(fake).rglob("*")} == mtimes


def test_another_flag_regenerates_and_keeps_the_mtime_of_unchanged_files(
        fake: tuple[Path, Path, Runner, Path]) -> None:
    first = _run(fake, type_reduction=True)
    gen = _generated(fake)
    os.utime(gen / REGISTRATIONS, ns=(10**18, 10**18))  # far from now: a rewrite would change it
    os.utime(gen / INC, ns=(10**18, 10**18))
    second = _run(fake, type_reduction=False)
    assert second.ran and len(_calls(fake)) == 2 and second.digest != first.digest
    assert (gen / INC).read_text().endswith("reduction=False\n") and (gen / INC).stat().st_mtime_ns != 10**18
    assert (gen / REGISTRATIONS).stat().st_mtime_ns == 10**18, "unchanged bytes must keep their mtime for Ninja"
    assert not (fake[1] / ro.PARTIAL).exists() and not (fake[1] / (ro.GENERATED + ".old")).exists()


@pytest.mark.parametrize("edit", [CONFIG, REGISTRATIONS, ro.SCRIPT, ro._SCRIPT_FILES[1]])
def test_a_changed_input_regenerates(fake: tuple[Path, Path, Runner, Path], edit: str) -> None:
    """The config, a source the script mirrors, the script, and a module it imports (absent here, then added)."""
    tree = fake[0]
    _run(fake)
    path = tree / edit
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write("\n# edited\n")
    assert _run(fake).ran and len(_calls(fake)) == 2


def test_an_edited_output_is_regenerated(fake: tuple[Path, Path, Runner, Path]) -> None:
    first = _run(fake)
    (_generated(fake) / INC).write_text("hand-edited\n")
    again = _run(fake)
    assert again.ran and again.digest == first.digest
    (_generated(fake) / INC).unlink()
    assert _run(fake).ran


def test_an_unreadable_stamp_regenerates(fake: tuple[Path, Path, Runner, Path]) -> None:
    _run(fake)
    (fake[1] / ro.STAMP_NAME).write_text("{not json")
    assert ro.recorded(fake[1]) is None
    assert _run(fake).ran


def test_a_failed_run_keeps_the_previous_output_and_names_the_config(fake: tuple[Path, Path, Runner, Path]) -> None:
    tree, build, runner, _ = fake
    good = _run(fake)
    stamp = (build / ro.STAMP_NAME).read_text()
    (tree / CONFIG).write_text("FAIL\n")
    with pytest.raises(BuildError) as err:
        _run(fake)
    assert "op reduction of t failed" in err.value.message and "Unknown type in config: FAIL" in err.value.message
    assert str(tree / CONFIG) in err.value.hint and ro.CONFIG_FORMAT_URL in err.value.hint
    assert str(runner.log_path) in err.value.hint
    assert (build / ro.STAMP_NAME).read_text() == stamp and ro._summary(
        _generated(fake), ro._files(_generated(fake)))["digest"] == good.digest
    assert not (build / ro.PARTIAL).exists()


def test_a_script_that_writes_nothing_is_an_error(fake: tuple[Path, Path, Runner, Path]) -> None:
    (fake[0] / CONFIG).write_text("NOOUT\n")
    with pytest.raises(BuildError, match="exited 0 but wrote no"):
        _run(fake)
    assert not (fake[1] / ro.PARTIAL).exists() and not _generated(fake).exists()


def test_the_scripts_swallowed_import_error_is_a_toolchain_error(fake: tuple[Path, Path, Runner, Path]) -> None:
    (fake[0] / CONFIG).write_text("NOFB\n")
    with pytest.raises(ToolchainError) as err:
        _run(fake)
    assert "flatbuffers" in err.value.message and "pip install flatbuffers" in err.value.hint


def test_no_flatbuffers_in_the_environment_says_how_to_install_it(fake: tuple[Path, Path, Runner, Path],
                                                                  tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"  # no site-packages, no PYTHONPATH: the stdlib only
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S -E "$@"\n')
    bare.chmod(0o755)
    with pytest.raises(ToolchainError) as err:
        _run(fake, python=str(bare))
    assert "has no flatbuffers module" in err.value.message and "the host" in err.value.message
    assert "pip install flatbuffers" in err.value.hint
    assert _calls(fake) == [], "the script must not run when the probe already knows it would fail"


def test_the_flatbuffers_hint_for_each_environment() -> None:
    from ortwasm.toolchain.emscripten import PROVIDERS

    sid = PROVIDERS["sid"]
    assert ro._flatbuffers_hint(ExecEnv(root=sid.root)) == (
        f"run `ORTWASM_TOOLCHAIN=sid bash ci/provision-toolchain.sh`: it installs python3-flatbuffers into {sid.root}")
    assert "apt-get install python3-flatbuffers" in ro._flatbuffers_hint(ExecEnv(root=PROVIDERS["trixie"].root))


def test_no_python_is_a_toolchain_error(fake: tuple[Path, Path, Runner, Path], tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="could not run"):
        _run(fake, python=str(tmp_path / "no-such-python"))


def test_a_missing_config_names_the_file_and_the_fix(fake: tuple[Path, Path, Runner, Path]) -> None:
    (fake[0] / CONFIG).unlink()
    with pytest.raises(SourceError) as err:
        _run(fake)
    assert str(fake[0] / CONFIG) in err.value.message and "predates" in err.value.hint
    with pytest.raises(SourceError) as err:
        _run(fake, config="mine/ops.config")
    assert ro.CONFIG_FORMAT_URL in err.value.hint and ro.UPSTREAM_CONFIG in err.value.hint
    assert _calls(fake) == []


@pytest.mark.parametrize("config", ["../outside.config", "/etc/ops.config", ""])
def test_a_config_outside_the_tree_is_refused(fake: tuple[Path, Path, Runner, Path], config: str) -> None:
    with pytest.raises(UsageError, match="not a path inside"):
        _run(fake, config=config)


def test_a_tree_without_the_script_is_refused(fake: tuple[Path, Path, Runner, Path]) -> None:
    (fake[0] / ro.SCRIPT).unlink()
    with pytest.raises(SourceError, match=re.escape(ro.SCRIPT)):
        _run(fake)


def test_the_chroot_sees_the_tree_and_the_build_dir(tmp_path: Path) -> None:
    """Only what no bind covers is added: the build's dirs are usually bound already (pipeline.variant_runner)."""
    covered, other = tmp_path / "build", tmp_path.parent / f"{tmp_path.name}-tree"
    runner = Runner(ExecEnv(root=Path("/nonexistent-root"), binds=(covered,)), {"A": "1"}, tmp_path / "l.log", "t")
    seen = ro._runner_seeing(runner, covered / "wasm32", other)
    assert seen.exec_env.binds == (covered, other.resolve())
    assert seen.env == {"A": "1", "PYTHONDONTWRITEBYTECODE": "1"} and seen.log_path == runner.log_path
    assert ro._runner_seeing(Runner(ExecEnv(), {}, tmp_path / "l.log", "t"), other).exec_env == ExecEnv()


# --- the real script, in the sid chroot -----------------------------------------------------------------------

def _pristine() -> Path:
    """ORT 1.30's fetched tree (read only), where its recipe says: /var/cache/ortwasm/sources/onnxruntime-1.30.0."""
    from ortwasm.recipe import require_recipe

    return require_recipe("1.30.0").source_dir


# What ORT 1.30's reduce_op_kernels.py reads (the module docstring of reduced_ops.py says why each).
CONTRIB = "onnxruntime/contrib_ops/cpu/cpu_contrib_kernels.cc"
TRAINING = "orttraining/orttraining/training_ops/cpu/cpu_training_kernels.cc"
_REAL_FILES = (*ro._SCRIPT_FILES, REGISTRATIONS, CONTRIB, TRAINING, INC, CONFIG)


def _copy_tree(dest: Path) -> Path:
    """The parts of the pristine tree the script reads, copied: the script never runs in (or writes to) the original."""
    for rel in _REAL_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_pristine() / rel, dest / rel)
    for rel in ro._SCRIPT_DIRS:
        shutil.copytree(_pristine() / rel, dest / rel)
    return dest


@pytest.fixture(scope="module")
def sid_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ro.ReducedOps, ro.ReducedOps]:
    """(copied tree, first run, second run) of the real script in the sid chroot, as a WebGPU build runs it."""
    from ortwasm.toolchain.emscripten import PROVIDER_ENV, PROVIDERS, find_toolchain

    pristine = _pristine()
    if not (pristine / ro.SCRIPT).is_file() or not (pristine / CONFIG).is_file():
        pytest.skip(f"!!! no ORT 1.30 tree at {pristine} (no {ro.SCRIPT} or {CONFIG}): run `bash ci/fetch-sources.sh`")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PROVIDER_ENV, "sid")
        try:
            toolchain = find_toolchain()
        except OrtWasmError as exc:
            pytest.skip(f"!!! no sid toolchain ({exc.message}): run `{PROVIDERS['sid'].provision}`")
    work = tmp_path_factory.mktemp("reduced-ops")
    tree = _copy_tree(work / "onnxruntime-1.30.0")
    runner = Runner(toolchain.exec_env, toolchain.env, work / "build.log", "reduced-ops", echo=False)
    try:
        first = ro.reduce_ops(runner, tree, work / "build", CONFIG, type_reduction=True)
    except ToolchainError as exc:
        pytest.skip(f"!!! sid chroot cannot run {ro.SCRIPT}: {exc.message} ({exc.hint})")
    second = ro.reduce_ops(runner, tree, work / "build", CONFIG, type_reduction=True)
    return tree, first, second


def _allowed_types(config: Path) -> list[str]:
    line = next(t for t in config.read_text().splitlines() if t.startswith("!globally_allowed_types;"))
    return sorted(line.split(";", 1)[1].split(","))


@pytest.mark.integration
def test_the_real_script_in_the_sid_chroot(sid_run: tuple[Path, ro.ReducedOps, ro.ReducedOps]) -> None:
    tree, first, second = sid_run
    gen = first.generated_dir
    assert first.ran and not second.ran and second.digest == first.digest
    assert "flatbuffers" in first.python and "chroot" in first.python
    assert first.defines == {"onnxruntime_REDUCED_OPS_BUILD": "ON"}
    inc = (gen / INC).read_text()
    assert f"ORT_SPECIFY_OP_KERNEL_GLOBAL_ALLOWED_TYPES({', '.join(_allowed_types(tree / CONFIG))});" in inc
    assert ro._files(gen) == sorted([REGISTRATIONS, INC, CONTRIB, TRAINING]) and first.files == 4
    original = (tree / REGISTRATIONS).read_text().splitlines()
    reduced = (gen / REGISTRATIONS).read_text().splitlines()
    assert len(reduced) == len(original)
    commented = [o for o, r in zip(original, reduced, strict=True) if r != o]
    assert all(r in (o, f"// {o}") for o, r in zip(original, reduced, strict=True))
    assert len(commented) > 100, "the type reduction should drop hundreds of double/int16/... registrations"
    # all ops stay (the config lists none): Relu's float registrations stay, its double ones go
    for typ, dropped in (("float", False), ("double", True)):
        lines = [i for i, o in enumerate(original) if re.search(rf"\b{typ}, Relu\)>,", o)]
        assert lines and all(reduced[i].startswith("// ") == dropped for i in lines), typ
    assert not list(tree.rglob("__pycache__"))


@pytest.mark.integration
def test_the_host_python_generates_the_same_files(sid_run: tuple[Path, ro.ReducedOps, ro.ReducedOps],
                                                  tmp_path: Path) -> None:
    """The same script under another Python and flatbuffers (PyPI's, if the host has it) gives the same bytes."""
    if importlib.util.find_spec("flatbuffers") is None:
        pytest.skip(f"!!! {sys.executable} has no flatbuffers: no host run to compare the sid chroot's with")
    tree, sid, _ = sid_run
    runner = Runner(ExecEnv(), {}, tmp_path / "build.log", "host", echo=False)
    host = ro.reduce_ops(runner, tree, tmp_path / "build", CONFIG, type_reduction=True, python=sys.executable)
    assert "(the host)" in host.python
    assert (host.digest, host.files, host.size) == (sid.digest, sid.files, sid.size)
