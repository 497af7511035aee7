"""Which emscripten a build accepts: a release X.Y.Z that the patch set's recipe.toml lists as proven.

Why fake emcc scripts: the fast tier runs no real toolchain.  The scripts print what an emcc prints and are
called ``fake-emcc`` (the conftest guard refuses anything named ``emcc``); ``_candidates`` is pointed at them
so find_toolchain runs them exactly as it runs a real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.errors import PatchError, ToolchainError
from ortwasm.toolchain import emscripten as toolchain
from ortwasm.toolchain.emscripten import ExecEnv, check_proven, find_toolchain, parse_emcc_version, proven_toolchains
from tests.harness.trees import minimal_ort_tree

REPO = Path(__file__).resolve().parents[1]
BANNER = "emcc (Emscripten gcc/clang-like replacement + linker emulating GNU ld)"


def fake_emcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version_line: str) -> Path:
    """An emcc that answers --version with ``version_line``, as the only toolchain find_toolchain sees."""
    script = tmp_path / "fake-emcc"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\necho 'Copyright (C) 2014 the Emscripten authors'\n")
    script.chmod(0o755)
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(toolchain, "_candidates", lambda: [("path", str(script), ExecEnv())])
    return script


def test_recipe_proves_exactly_3_1_69() -> None:
    """The shipped data: patches/1.21.0 has been built and run with emscripten 3.1.69 only."""
    assert proven_toolchains("1.21.0") == ("3.1.69",)
    assert (REPO / "patches" / "1.21.0" / "recipe.toml").read_text().lstrip().startswith("#")  # says why
    assert proven_toolchains("0.0.1") is None


@pytest.mark.parametrize(("text", "version"), [
    (f"{BANNER} 3.1.69 (Debian 3.1.69+dfsg-3)\n", "3.1.69"),
    (f"{BANNER} 3.1.69 (6f625bd62ee64f4f8cd11476774741b961e4a2d5)\n", "3.1.69"),
    (f"{BANNER} 4.0.10\n", "4.0.10"),
])
def test_release_versions_parse(text: str, version: str) -> None:
    assert parse_emcc_version(text) == version


@pytest.mark.parametrize("token", ["9.9.9-bogus", "4.0.11-git", "3.1", "3.1.69.1", "latest"])
def test_non_release_versions_are_refused(token: str) -> None:
    """Before: the regex read "9.9.9" out of "9.9.9-bogus" and the build went on with a version no release has."""
    with pytest.raises(ToolchainError) as err:
        parse_emcc_version(f"{BANNER} {token}\n")
    assert f"reports version {token!r}" in err.value.message and "not a release version X.Y.Z" in err.value.message
    assert "provision-toolchain.sh" in err.value.hint and err.value.return_code == 3


def test_bogus_emcc_is_refused_by_find_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 9.9.9-bogus")
    with pytest.raises(ToolchainError, match=r"reports version '9\.9\.9-bogus'"):
        find_toolchain()


@pytest.mark.parametrize("allow", [False, True])
def test_bogus_emcc_build_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], allow: bool) -> None:
    """Through the CLI, before any source is touched; --allow-unproven-toolchain cannot vouch for no version."""
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 9.9.9-bogus")
    argv = ["build", "--ort-source", str(minimal_ort_tree(tmp_path / "ort")), "--online-deps",
            "--build-dir", str(tmp_path / "b"), "--out", str(tmp_path / "o"),
            *(["--allow-unproven-toolchain"] if allow else [])]
    assert cli.main(argv) == ToolchainError.return_code == 3
    err = capsys.readouterr().err
    assert "'9.9.9-bogus', which is not a release version X.Y.Z" in err and "hint:" in err
    assert not (tmp_path / "b").exists()


def test_unproven_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 9.9.9")
    tc = find_toolchain()
    assert tc.version == "9.9.9"
    with pytest.raises(ToolchainError) as err:
        check_proven(tc, "1.21.0")
    msg = err.value.message
    assert "emscripten 9.9.9" in msg and "not proven with ONNX Runtime 1.21.0's patch set" in msg
    assert "proven: 3.1.69" in msg and str(REPO / "patches" / "1.21.0" / "recipe.toml") in msg
    assert "--allow-unproven-toolchain" in err.value.hint and "emsdk install 3.1.69" in err.value.hint


def test_unproven_version_allowed_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 9.9.9")
    check_proven(find_toolchain(), "1.21.0", allow=True)  # returns: the build goes on
    err = capsys.readouterr().err
    assert "warning" in err and "emscripten 9.9.9" in err and "--allow-unproven-toolchain" in err


def test_proven_version_passes_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 3.1.69 (Debian 3.1.69+dfsg-3)")
    check_proven(find_toolchain(), "1.21.0")
    assert capsys.readouterr().err == ""


def test_ort_version_without_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """No recipe.toml: nothing is proven for that ORT version, so the toolchain is refused unless allowed."""
    fake_emcc(tmp_path, monkeypatch, f"{BANNER} 3.1.69")
    tc = find_toolchain()
    root = tmp_path / "patches"
    (root / "1.99.0").mkdir(parents=True)
    with pytest.raises(ToolchainError) as err:
        check_proven(tc, "1.99.0", root=root)
    assert "ONNX Runtime 1.99.0 has no" in err.value.message and "recipe.toml" in err.value.message
    assert "--allow-unproven-toolchain" in err.value.hint
    check_proven(tc, "1.99.0", allow=True, root=root)
    assert "warning" in capsys.readouterr().err


def test_non_release_toolchain_version_is_refused_even_when_allowed() -> None:
    tc = toolchain.Toolchain("path", "/opt/emcc", "4.0.11-git", ExecEnv())
    with pytest.raises(ToolchainError, match="not a release version"):
        check_proven(tc, "1.21.0", allow=True)


@pytest.mark.parametrize(("text", "match"), [
    ("[toolchain\n", "not readable TOML"),
    ("proven = ['3.1.69']\n", r"unknown section \[proven\]"),
    ("[toolchain]\nproved = ['3.1.69']\n", "unknown key `proved`.*did you mean `proven`"),
    ("[toolchain]\nproven = []\n", r"\[toolchain\] proven is empty"),
    ("[toolchain]\nproven = '3.1.69'\n", "must be a list of strings"),
    ("[toolchain]\nproven = ['3.1.69', '3.1.7x']\n", "must be a list of X.Y.Z versions; got.*3.1.7x"),
])
def test_malformed_recipe(tmp_path: Path, text: str, match: str) -> None:
    """A typo in the recipe must neither prove nor disprove anything silently."""
    (tmp_path / "1.21.0").mkdir()
    (tmp_path / "1.21.0" / "recipe.toml").write_text(text)
    with pytest.raises(PatchError, match=match) as err:
        proven_toolchains("1.21.0", tmp_path)
    assert str(tmp_path / "1.21.0" / "recipe.toml") in err.value.message
    assert "proven = " in err.value.hint and err.value.return_code == 5


def test_cli_flag_reaches_build_options(tmp_path: Path) -> None:
    base = ["build", "--ort-source", str(minimal_ort_tree(tmp_path / "ort")), "--online-deps",
            "--build-dir", str(tmp_path / "b")]
    parser = cli.make_parser()
    assert cli.build_options(parser.parse_args(base)).allow_unproven_toolchain is False
    opts = cli.build_options(parser.parse_args([*base, "--allow-unproven-toolchain"]))
    assert opts.allow_unproven_toolchain is True
