"""Bad input around the toolchain and dependencies gets a clear error, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.configure.plan import GLUEFIX_SCRIPT
from ortwasm.deps.dirs import verify_deps_dir
from ortwasm.errors import BuildError, DependencyError, ToolchainError
from ortwasm.recipe import require_recipe
from ortwasm.toolchain import gluefix
from ortwasm.toolchain.emscripten import find_toolchain, parse_emcc_version
from tests.harness.trees import minimal_ort_tree


def test_no_emcc_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EMSDK", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    with pytest.raises(ToolchainError) as err:
        find_toolchain()
    assert "provision-toolchain.sh" in err.value.hint and "EMSDK" in err.value.hint


def test_no_emcc_exit_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("EMSDK", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    tree = minimal_ort_tree(tmp_path / "ort")  # a tree the build accepts, so that the toolchain is what fails
    rc = cli.main(["--ort-source", str(tree), "--online-deps", "--build-dir", str(tmp_path / "b")])
    assert rc == ToolchainError.return_code
    assert "no emscripten found" in capsys.readouterr().err


def test_bad_emsdk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMSDK", str(tmp_path))
    with pytest.raises(ToolchainError, match="EMSDK"):
        find_toolchain()


def test_version_parsing() -> None:
    text = "emcc (Emscripten gcc/clang-like replacement + linker emulating GNU ld) 3.1.69 (Debian 3.1.69+dfsg-3)\n"
    assert parse_emcc_version(text) == "3.1.69"
    with pytest.raises(ToolchainError):
        parse_emcc_version("bash: emcc: not found")


def test_missing_dependency_in_deps_dir(tmp_path: Path) -> None:
    recipe = require_recipe("1.21.0")
    (tmp_path / "re2").mkdir()
    (tmp_path / "re2" / "CMakeLists.txt").write_text("")
    with pytest.raises(DependencyError) as err:
        verify_deps_dir(tmp_path, recipe)
    assert "abseil_cpp" in err.value.message and "fetch-sources" in err.value.hint
    assert "--version 1.21.0" in err.value.hint
    with pytest.raises(DependencyError, match="does not exist"):
        verify_deps_dir(tmp_path / "nope", recipe)


def _cmake() -> str:
    """The host's cmake, else the one ci/test.sh put in this venv for the wheel backend (a bare host has none)."""
    venv = Path(sys.executable).parent / "cmake"
    found = shutil.which("cmake") or (str(venv) if venv.exists() else None)
    if found is None:
        pytest.skip("NO CMAKE on PATH or in the venv: apt-get install cmake (the glue fix is a cmake -P step)")
    return found


def test_glue_fix_rewrites_both_occurrences(tmp_path: Path) -> None:
    """cmake/ortwasm-gluefix.cmake, the link's POST_BUILD step: every quoting, both occurrences, the count stamped,
    a lookalike name left alone; the result is what the glue fix's OLD_KEY pattern says it should be."""
    mjs = tmp_path / "g.mjs"
    text = "var a=new WebAssembly.Memory({initial:1n,index:\"i64\"});b={'index':'i64',shared:!0};reindex:\"i64\";"
    mjs.write_text(text)
    run = subprocess.run([_cmake(), f"-DGLUE={mjs}", "-P", str(GLUEFIX_SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    want = gluefix.OLD_KEY.sub(lambda m: f"{m['q']}address{m['q']}{m['sep']}{m['v']}i64{m['v']}", text)
    assert mjs.read_text() == want and want.count("address") == 2 and "reindex" in want
    assert (tmp_path / "g.mjs.ortwasm-gluefix").read_text().strip() == "2"
    fix = gluefix.recorded(mjs, memory64=True, emscripten="3.1.69")
    assert fix.applied and fix.replaced == 2
    assert gluefix.recorded(mjs, memory64=False).reason.startswith("wasm32")
    mjs.write_text(text)  # linked again after the step: the stamp is older than the glue
    os.utime(mjs, (time.time() + 5, time.time() + 5))
    with pytest.raises(BuildError, match="did not run after the last link"):
        gluefix.recorded(mjs, memory64=True, emscripten="3.1.69")


def test_deps_dir_of_the_wrong_version_names_dependency_found_and_pinned(tmp_path: Path) -> None:
    """A 1.30 build pointed at a deps dir filled for 1.21: the error names the dependency, both versions, the fix."""
    import json

    from ortwasm.deps.dirs import STAMP, stamp_entry
    from ortwasm.recipe import load_recipe

    old, new = load_recipe("1.21.0"), load_recipe("1.30.0")
    assert old is not None and new is not None
    for dep in new.dependencies:
        (tmp_path / dep.name).mkdir()
        (tmp_path / dep.name / dep.marker).write_text("")
    (tmp_path / STAMP).write_text(json.dumps({d.name: stamp_entry(d) for d in old.dependencies}))
    with pytest.raises(DependencyError) as err:
        verify_deps_dir(tmp_path, new)
    assert "abseil_cpp is version 20240722.0" in err.value.message and "pins 20250814.0" in err.value.message
    assert "fetch-sources.sh --version 1.30.0" in err.value.hint
