"""Which emscripten provider a build uses (ORTWASM_TOOLCHAIN / --toolchain), and what depends on its version.

Fast tier: no chroot is entered and no real emcc runs.  Provider roots are fake directories under a temporary
ORTWASM_HOME (``_candidates`` only looks for ``usr/bin/emcc``), and version-dependent behaviour is driven by
Toolchain records or a ``fake-emcc`` script, as in test_toolchain_proven.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.artifacts import collect as artifacts
from ortwasm.configure.plan import plan
from ortwasm.errors import PatchError, ToolchainError
from ortwasm.options import BuildOptions
from ortwasm.source.tree import PreparedSource
from ortwasm.toolchain import emscripten as toolchain
from ortwasm.toolchain import gluefix
from ortwasm.toolchain.emscripten import (
    PROVIDER_ENV,
    ExecEnv,
    Toolchain,
    check_proven,
    find_toolchain,
    proven_toolchains,
    toolchain_notes,
    writable_emscripten_env,
)
from ortwasm.variants import load_table
from tests.harness.trees import minimal_ort_tree

REPO = Path(__file__).resolve().parents[1]
BANNER = "emcc (Emscripten gcc/clang-like replacement + linker emulating GNU ld)"
OLD_GLUE = 'a=new WebAssembly.Memory({initial:1,maximum:2,shared:!0,index:"i64"});b={index:"i64"};'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ORTWASM_HOME, no EMSDK, no emcc on PATH, ORTWASM_TOOLCHAIN unset (restored afterwards)."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("ORTWASM_HOME", str(h))
    monkeypatch.delenv("EMSDK", raising=False)
    monkeypatch.setenv(PROVIDER_ENV, "")  # "" is unset; setenv makes the CLI's own assignment undone too
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    return h


def provision(home: Path, suite: str) -> Path:
    """What ci/provision-toolchain.sh leaves behind, as far as _candidates looks: <home>/<suite>/usr/bin/emcc."""
    emcc = home / suite / "usr" / "bin" / "emcc"
    emcc.parent.mkdir(parents=True)
    emcc.write_text("#!/bin/sh\nexit 99\n")
    emcc.chmod(0o755)
    return home / suite


def tc(version: str, provider: str = "") -> Toolchain:
    return Toolchain("chroot", "/usr/bin/emcc", version, ExecEnv(), provider=provider)


# --- selection ---------------------------------------------------------------------------------------------


def test_unset_keeps_the_search_order(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: EMSDK first, then PATH, then the trixie chroot; a provisioned sid is never picked implicitly."""
    provision(home, "trixie")
    provision(home, "sid")
    assert toolchain._candidates() == [("chroot", "/usr/bin/emcc", ExecEnv(root=home / "trixie"))]
    emsdk = tmp_path / "emsdk"
    (emsdk / "upstream" / "emscripten").mkdir(parents=True)
    (emsdk / "upstream" / "emscripten" / "emcc").write_text("")
    monkeypatch.setenv("EMSDK", str(emsdk))
    assert toolchain._candidates()[0][0] == "emsdk"


@pytest.mark.parametrize("suite", ["trixie", "sid"])
def test_selected_provider_wins_over_emsdk_and_path(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    suite: str) -> None:
    provision(home, "trixie")
    provision(home, "sid")
    emsdk = tmp_path / "emsdk"
    (emsdk / "upstream" / "emscripten").mkdir(parents=True)
    (emsdk / "upstream" / "emscripten" / "emcc").write_text("")
    monkeypatch.setenv("EMSDK", str(emsdk))
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: "/opt/bin/emcc")
    monkeypatch.setenv(PROVIDER_ENV, suite)
    assert toolchain._candidates() == [("chroot", "/usr/bin/emcc", ExecEnv(root=home / suite))]


def test_sid_toolchain_says_which_and_gets_its_flags(home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """find_toolchain runs the selected provider's emcc; describe() and the record name the provider."""
    script = tmp_path / "fake-emcc"
    script.write_text(f"#!/bin/sh\necho '{BANNER} 6.0.5 ()'\n")
    script.chmod(0o755)
    monkeypatch.setattr(toolchain, "_candidates", lambda: [("path", str(script), ExecEnv())])
    monkeypatch.setenv(PROVIDER_ENV, "sid")
    found = find_toolchain(need_wasm64=True)
    assert (found.version, found.provider) == ("6.0.5", "sid")
    assert "emscripten 6.0.5 (Debian sid provider" in found.describe()
    assert found.compile_flags == ("-Wno-deprecated-pragma",)


def test_trixie_chroot_is_named_trixie_when_found_by_search(home: Path) -> None:
    provision(home, "trixie")
    assert toolchain._provider_named(ExecEnv(root=home / "trixie")) == "trixie"
    assert toolchain._provider_named(ExecEnv()) == ""


@pytest.mark.parametrize("value", ["bookworm", "SID", "emsdk"])
def test_unknown_provider_names_the_choices(home: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PROVIDER_ENV, value)
    with pytest.raises(ToolchainError) as err:
        find_toolchain()
    assert f"unknown toolchain {value!r}" in err.value.message and "choices: trixie, sid" in err.value.message
    assert err.value.return_code == 3


def test_sid_not_provisioned_gives_the_one_line_fix(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provision(home, "trixie")  # the default provider being there does not stand in for sid
    monkeypatch.setenv(PROVIDER_ENV, "sid")
    with pytest.raises(ToolchainError) as err:
        find_toolchain()
    assert "not provisioned" in err.value.message and str(home / "sid" / "usr" / "bin" / "emcc") in err.value.message
    assert err.value.hint.startswith("run `ORTWASM_TOOLCHAIN=sid bash ci/provision-toolchain.sh`")


def test_trixie_not_provisioned_points_at_the_default_command(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "trixie")
    with pytest.raises(ToolchainError) as err:
        find_toolchain()
    assert err.value.hint.startswith("run `bash ci/provision-toolchain.sh`")


def test_build_flag_threads_to_the_provider(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`build --toolchain sid` is ORTWASM_TOOLCHAIN=sid: not provisioned here, so exit 3 before any build dir."""
    argv = ["build", "--ort-source", str(minimal_ort_tree(tmp_path / "ort", "1.30.0")), "--online-deps",
            "--build-dir", str(tmp_path / "b"), "--out", str(tmp_path / "o"), "--toolchain", "sid"]
    assert cli.main(argv) == 3
    err = capsys.readouterr().err
    assert "ORTWASM_TOOLCHAIN=sid asks for Debian sid's emscripten" in err and "provision-toolchain.sh" in err
    assert not (tmp_path / "b").exists()


def test_build_flag_unknown_value(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--ort-source", str(tmp_path), "--toolchain", "stretch", "--print-cmake"]) == 3
    assert "unknown toolchain 'stretch'" in capsys.readouterr().err


def test_provision_script_refuses_unknown_suite(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ORTWASM_HOME": str(tmp_path / "h")}
    for extra, args in (({"ORTWASM_TOOLCHAIN": "bookworm"}, []), ({}, ["--suite", "bookworm"])):
        proc = subprocess.run(["bash", str(REPO / "ci" / "provision-toolchain.sh"), *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 2 and "unknown toolchain 'bookworm'" in proc.stderr and "sid" in proc.stderr
    assert not (tmp_path / "h").exists()  # refused before touching anything


# --- per-provider writable cache ---------------------------------------------------------------------------


def fake_debian_root(root: Path, frozen_cache: bool) -> None:
    share = root / "usr" / "share" / "emscripten"
    share.mkdir(parents=True)
    (share / ".emscripten").write_text("LLVM_ROOT = '/usr/bin'\n# FROZEN_CACHE = True # never clears the cache\n")
    if frozen_cache:
        (share / "cache" / "sysroot").mkdir(parents=True)
        (share / "cache" / "sysroot" / "libc.a").write_text("wasm32 libc")


def test_sid_gets_its_own_empty_writable_cache(home: Path) -> None:
    """sid ships no cache: an empty one under emscripten-sid, never trixie's emscripten/ (another release's)."""
    root = home / "sid"
    fake_debian_root(root, frozen_cache=False)
    env = writable_emscripten_env(ExecEnv(root=root), "/usr/bin/emcc", "sid")
    assert env["EM_CACHE"] == str(home / "emscripten-sid" / "cache")
    assert Path(env["EM_CACHE"]).is_dir() and not any(Path(env["EM_CACHE"]).iterdir())
    cfg = Path(env["EM_CONFIG"]).read_text()
    assert cfg.startswith("LLVM_ROOT") and f"CACHE = {env['EM_CACHE']!r}" in cfg and "FROZEN_CACHE = False" in cfg
    assert not (home / "emscripten").exists()


def test_trixie_cache_is_where_it_always_was(home: Path) -> None:
    root = home / "trixie"
    fake_debian_root(root, frozen_cache=True)
    env = writable_emscripten_env(ExecEnv(root=root), "/usr/bin/emcc", "trixie")
    assert env["EM_CACHE"] == str(home / "emscripten" / "cache")
    assert (home / "emscripten" / "cache" / "sysroot" / "libc.a").read_text() == "wasm32 libc"
    assert writable_emscripten_env(ExecEnv(root=root), "/usr/bin/emcc") == env  # found by search: same place


# --- proven versions and notes -----------------------------------------------------------------------------


def recipe(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "patches"
    (root / "9.0.0").mkdir(parents=True)
    (root / "9.0.0" / "recipe.toml").write_text(body)
    return root


def test_ort_130_takes_both_debian_toolchains_and_refuses_another() -> None:
    """Today's data: 1.30.0 is proven with trixie's 3.1.69 and sid's 6.0.5; another release is refused unless
    allowed, naming both and how to get them."""
    assert proven_toolchains("1.30.0") == ("3.1.69", "6.0.5")
    check_proven(tc("6.0.5", "sid"), "1.30.0")
    check_proven(tc("3.1.69", "trixie"), "1.30.0")
    with pytest.raises(ToolchainError) as err:
        check_proven(tc("6.0.6", "sid"), "1.30.0")
    assert "emscripten 6.0.6 (Debian sid provider" in err.value.message
    assert "proven: 3.1.69, 6.0.5" in err.value.message
    hint = err.value.hint
    assert "ORTWASM_TOOLCHAIN=trixie (Debian trixie ships 3.1.69)" in hint and "--allow-unproven-toolchain" in hint


def test_refusal_quotes_the_recipe_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = recipe(tmp_path, '[toolchain]\nproven = ["3.1.69"]\n'
                            'notes = { "6.0.5" = "configures with -Wno-deprecated-pragma; not built/run yet" }\n')
    assert toolchain_notes("9.0.0", root) == {"6.0.5": "configures with -Wno-deprecated-pragma; not built/run yet"}
    with pytest.raises(ToolchainError) as err:
        check_proven(tc("6.0.5", "sid"), "9.0.0", root=root)
    assert "known about 6.0.5: configures with -Wno-deprecated-pragma; not built/run yet" in err.value.message
    with pytest.raises(ToolchainError) as err:
        check_proven(tc("6.0.6", "sid"), "9.0.0", root=root)
    assert "known about" not in err.value.message  # a note is about one exact version
    check_proven(tc("6.0.5", "sid"), "9.0.0", allow=True, root=root)
    assert "known about 6.0.5" in capsys.readouterr().err  # the warning says it too


def test_proven_sid_passes_and_hint_offers_sid(tmp_path: Path) -> None:
    root = recipe(tmp_path, '[toolchain]\nproven = ["6.0.5"]\n')
    check_proven(tc("6.0.5", "sid"), "9.0.0", root=root)
    with pytest.raises(ToolchainError) as err:
        check_proven(tc("3.1.69", "trixie"), "9.0.0", root=root)
    assert "ORTWASM_TOOLCHAIN=sid bash ci/provision-toolchain.sh` then ORTWASM_TOOLCHAIN=sid" in err.value.hint


@pytest.mark.parametrize(("body", "needle"), [
    ('[toolchain]\nproven = ["3.1.69"]\nnote = { "6.0.5" = "x" }\n',
     "unknown key `note` in [toolchain]; did you mean `notes`?"),
    ('[toolchain]\nproven = ["3.1.69"]\nnotes = { "6.0" = "x" }\n', "notes has key(s) '6.0', not X.Y.Z"),
    ('[toolchain]\nproven = ["3.1.69"]\nnotes = { "6.0.5" = 1 }\n', "notes must be a table"),
    ('[toolchain]\nproven = ["3.1.69"]\nnotes = ["6.0.5"]\n', "notes must be a table"),
    ('[toolchain]\nproven = ["3.1.69"]\nnotes = { "6.0.5" = " " }\n', "notes must be a table"),
])
def test_notes_are_validated_strictly(tmp_path: Path, body: str, needle: str) -> None:
    root = recipe(tmp_path, body)
    with pytest.raises(PatchError) as err:
        proven_toolchains("9.0.0", root)
    assert needle in err.value.message and "recipe.toml" in err.value.message


# --- version-dependent build steps -------------------------------------------------------------------------


def test_compile_flags_for_6x_only(tmp_path: Path) -> None:
    opts = BuildOptions(ort_source=tmp_path, build_dir=tmp_path / "b", out_dir=tmp_path / "o", deps_dir=None)
    source = PreparedSource(tmp_path, "1.30.0", True, "x", "test")
    v = load_table()["wasm32"]
    base = plan(opts, v, source).defines
    assert "CMAKE_CXX_FLAGS" not in base
    assert plan(opts, v, source, tc("3.1.69")).defines == base  # trixie: same defines, same fingerprint
    six = plan(opts, v, source, tc("6.0.5")).defines
    assert six["CMAKE_C_FLAGS"] == six["CMAKE_CXX_FLAGS"] == "-Wno-deprecated-pragma"
    assert {k: val for k, val in six.items() if not k.startswith("CMAKE_C")} == \
        {k: val for k, val in base.items() if not k.startswith("CMAKE_C")}
    user = BuildOptions(ort_source=tmp_path, build_dir=tmp_path / "b", out_dir=tmp_path / "o", deps_dir=None,
                        extra_defines=(("CMAKE_CXX_FLAGS", "-g1"),))
    mixed = plan(user, v, source, tc("6.0.5")).defines
    assert mixed["CMAKE_CXX_FLAGS"] == "-g1 -Wno-deprecated-pragma"
    assert mixed["CMAKE_C_FLAGS"] == "-Wno-deprecated-pragma"
    assert tc("7.0.0").compile_flags == () and tc("4.0.11-git").compile_flags == ()


def test_glue_fix_is_for_old_emscripten_only(tmp_path: Path) -> None:
    """The link gets the glue-fix step only for wasm64 with an emscripten before the rename; newer glue is left
    exactly as the toolchain wrote it, and collect records why."""
    from ortwasm.configure.plan import GLUEFIX_HOOK_VAR

    user = BuildOptions(ort_source=tmp_path, build_dir=tmp_path / "b", out_dir=tmp_path / "o", deps_dir=None)
    source = PreparedSource(tmp_path, "1.30.0", True, "x", "test")
    for name, version, hooked in (("wasm64", "3.1.69", True), ("wasm64", "6.0.5", False), ("wasm32", "3.1.69", False)):
        defines = plan(user, load_table()[name], source, tc(version)).defines
        assert (GLUEFIX_HOOK_VAR in defines) is hooked, (name, version)
    mjs = tmp_path / "g.mjs"
    for version in ("6.0.5", "3.1.71", "4.0.23"):
        mjs.write_text(OLD_GLUE)
        fix = gluefix.recorded(mjs, memory64=True, emscripten=version)
        assert not fix.applied and fix.replaced == 0 and f"emscripten {version}" in fix.reason
        assert mjs.read_text() == OLD_GLUE


@pytest.mark.parametrize(("version", "applied"), [("6.0.5", False), ("3.1.69", True)])
def test_manifest_records_whether_the_fix_ran(tmp_path: Path, version: str, applied: bool) -> None:
    v = load_table()["wasm64"]
    build = tmp_path / "build"
    build.mkdir()
    (build / f"{v.artifact_stem}.wasm").write_bytes(b"\0asm\1\0\0\0")
    (build / f"{v.artifact_stem}.mjs").write_text(OLD_GLUE.replace('index:"i64"', 'address:"i64"') if applied
                                                  else OLD_GLUE)  # what the link's fix step left
    if applied:
        (build / f"{v.artifact_stem}.mjs.ortwasm-gluefix").write_text("2\n")
    source = PreparedSource(tmp_path, "1.30.0", True, "x", "test")
    arts = artifacts.collect(v, build, tmp_path / "out", tc(version, "sid"), source, {}, {})
    manifest = json.loads((arts.directory / "manifest.json").read_text())
    assert manifest["glue_fix"]["applied"] is applied and manifest["toolchain"]["emscripten"] == version
    assert ('index:"i64"' in (arts.directory / f"{v.artifact_stem}.mjs").read_text()) is not applied
