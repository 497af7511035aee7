"""`ortwasm doctor`: one PASS/FAIL line per need, a fix for every FAIL, exit 0 or 3.

The fast tier replaces the toolchain with a fake (no emcc runs) and points ORTWASM_HOME at an empty dir; the
integration test runs the real probes on this machine.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest

from ortwasm import doctor, paths
from ortwasm.cli import main
from ortwasm.errors import ToolchainError
from ortwasm.recipe import default_version, require_recipe
from ortwasm.toolchain import emscripten as toolchain
from ortwasm.toolchain.emscripten import ExecEnv

LINE = re.compile(r"^(PASS|FAIL)  (\S.*?)\s{2,}(\S.*)$")


@dataclass
class FakeToolchain:
    """Answers `cmake/ninja/protoc/ccache --version` like the trixie tools; `missing` ones exit 127."""

    cache: Path
    missing: tuple[str, ...] = ()
    version: str = "3.1.69"
    provider: str = "trixie"
    exec_env: ExecEnv = field(default_factory=ExecEnv)
    calls: list[list[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"EM_CACHE": str(self.cache)}

    def describe(self) -> str:
        return f"emscripten {self.version} (fake)"

    def supports_wasm64(self) -> bool:
        return tuple(int(x) for x in self.version.split(".")) >= (3, 1, 69)

    def run(self, argv: list[str], timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        if argv[0] in self.missing:
            return subprocess.CompletedProcess(argv, 127, "", f"env: '{argv[0]}': No such file or directory\n")
        out = {"cmake": "cmake version 3.31.6\n", "ninja": "1.12.1\n", "protoc": "libprotoc 3.21.12\n",
               "ccache": "ccache version 4.11.2\n"}[argv[0]]
        return subprocess.CompletedProcess(argv, 0, out, "")


def run(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    buf = StringIO()
    rc = doctor.run_doctor(buf)
    text = buf.getvalue()
    lines = {m[2]: (m[1], m[3]) for m in (LINE.match(s) for s in text.splitlines()) if m}
    return rc, lines, text


@pytest.fixture
def healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeToolchain:
    """A provisioned machine: fake toolchain, a Node 24 and a Chromium that answer --version, probes for the
    source and dependencies passing."""
    home = tmp_path / "home"
    monkeypatch.setenv("ORTWASM_HOME", str(home))
    monkeypatch.delenv("ORTWASM_CCACHE_DIR", raising=False)
    node = paths.node_prefix() / "bin" / "node"
    node.parent.mkdir(parents=True)
    node.write_text("#!/bin/sh\necho v24.21.0\n")
    node.chmod(0o755)
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\necho 'Chromium 156.0.8078.79 built on Debian'\n")
    chromium.chmod(0o755)
    monkeypatch.setattr(doctor, "CHROMIUM", chromium)
    tc = FakeToolchain(cache=home / "emscripten" / "cache")
    monkeypatch.setattr(doctor, "find_toolchain", lambda: tc)
    monkeypatch.setattr(doctor, "probe_ort_source", lambda: doctor.Probe("ort source", True, "ONNX Runtime 1.21.0"))
    monkeypatch.setattr(doctor, "probe_deps", lambda: doctor.Probe("dependencies", True, "11 sources"))
    return tc


NAMES = ["emscripten", "cmake", "ninja", "protoc", "node", "chromium", "ort source", "dependencies", "ccache"]


def test_all_pass(healthy: FakeToolchain, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, text = run(capsys)
    assert rc == 0, text
    assert list(lines) == NAMES and all(s == "PASS" for s, _ in lines.values())
    assert "3.1.69" in lines["emscripten"][1] and "wasm64 ok" in lines["emscripten"][1]
    assert "proven for ORT 1.21.0" in lines["emscripten"][1]
    assert "writable" in lines["emscripten"][1]
    assert lines["protoc"][1] == "libprotoc 3.21.12" and lines["node"][1].startswith("v24.21.0")
    assert "fix:" not in text and text.rstrip().endswith("9/9 ok (ORTWASM_HOME=" + str(paths.ortwasm_home())
                                                          + "); ready to build")
    assert [c[0] for c in healthy.calls] == ["cmake", "ninja", "protoc", "ccache"]  # all inside the toolchain env


def test_missing_protoc_and_frozen_cache(healthy: FakeToolchain, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    healthy.missing = ("protoc",)
    blocker = tmp_path / "file"
    blocker.write_text("")
    healthy.cache = blocker / "cache"  # cannot be created: like Debian's read-only frozen cache
    rc, lines, text = run(capsys)
    assert rc == ToolchainError.return_code == 3
    assert lines["protoc"][0] == "FAIL" and "No such file" in lines["protoc"][1]
    assert "fix: run `bash ci/provision-toolchain.sh` (installs protobuf-compiler" in text
    assert lines["emscripten"][0] == "FAIL" and "NOT writable" in lines["emscripten"][1]
    assert lines["cmake"][0] == "PASS" and "missing: emscripten, protoc" in text


def test_old_emscripten_and_old_node(healthy: FakeToolchain, capsys: pytest.CaptureFixture[str]) -> None:
    healthy.version = "3.1.6"
    (paths.node_prefix() / "bin" / "node").write_text("#!/bin/sh\necho v18.19.0\n")
    rc, lines, _ = run(capsys)
    assert rc == 3
    assert "too old for wasm64" in lines["emscripten"][1]
    assert lines["node"] == ("FAIL", f"{paths.node_prefix() / 'bin' / 'node'} is v18.19.0; Memory64 needs Node >= 24")


def test_unproven_emscripten(healthy: FakeToolchain, capsys: pytest.CaptureFixture[str]) -> None:
    """A newer emcc is not a proven one: doctor says which version it found and which are proven."""
    healthy.version = "3.1.70"
    rc, lines, text = run(capsys)
    assert rc == 3
    status, detail = lines["emscripten"]
    assert status == "FAIL" and "emscripten 3.1.70" in detail and "wasm64 ok" in detail
    assert "NOT proven for ORT 1.21.0 (proven: 3.1.69)" in detail
    assert "--allow-unproven-toolchain to use 3.1.70 anyway" in text


def test_proven_against_the_default_source(healthy: FakeToolchain, capsys: pytest.CaptureFixture[str]) -> None:
    """With an ORT tree at the default place, its version's recipe decides (here: one without a recipe)."""
    tree = require_recipe(default_version()).source_dir
    (tree / "cmake").mkdir(parents=True)
    (tree / "onnxruntime" / "core").mkdir(parents=True)
    (tree / "cmake" / "onnxruntime_webassembly.cmake").write_text("")
    (tree / "VERSION_NUMBER").write_text("1.99.0\n")
    assert doctor.proven_note("3.1.69") == (False, "ORT 1.99.0 declares no proven emscripten (no recipe.toml)")
    (tree / "VERSION_NUMBER").write_text("1.21.0\n")
    assert doctor.proven_note("3.1.69") == (True, "proven for ORT 1.21.0")


def test_bogus_emcc_version_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The version a (fake) emcc printed appears in the FAIL line, with the fix."""
    script = tmp_path / "fake-emcc"  # not "emcc": the fast-tier guard refuses to run anything by that name
    script.write_text("#!/bin/sh\necho 'emcc (Emscripten gcc/clang-like replacement + linker emulating GNU ld) "
                      "9.9.9-bogus'\n")
    script.chmod(0o755)
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path))
    monkeypatch.setattr(toolchain, "_candidates", lambda: [("path", str(script), ExecEnv())])
    probe, tc = doctor.probe_emscripten()
    assert tc is None and not probe.ok and "'9.9.9-bogus'" in probe.detail and "provision-toolchain" in probe.hint


def test_bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing provisioned: every line FAILs and each says which script fixes it."""
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(doctor, "CHROMIUM", tmp_path / "no-chromium")

    def no_toolchain() -> None:
        raise ToolchainError("no emscripten found (EMSDK unset, no emcc on PATH, no provisioned chroot)",
                             "install emscripten: run `bash ci/provision-toolchain.sh`")

    monkeypatch.setattr(doctor, "find_toolchain", no_toolchain)
    rc, lines, text = run(capsys)
    assert rc == 3 and list(lines) == NAMES and all(s == "FAIL" for s, _ in lines.values())
    fixes = [s.strip() for s in text.splitlines() if s.strip().startswith("fix:")]
    assert len(fixes) == len(NAMES)
    assert "not probed: no emscripten" in lines["cmake"][1]
    assert "not found" in lines["node"][1]
    assert "not a directory" in lines["ort source"][1] and "does not exist" in lines["dependencies"][1]
    by_name = dict(zip(NAMES, fixes, strict=True))
    assert "bash ci/fetch-sources.sh" in by_name["ort source"] and "bash ci/fetch-sources.sh" in by_name["dependencies"]
    assert "bash ci/provision-toolchain.sh" in by_name["node"] and "apt-get install chromium" in by_name["chromium"]
    assert main(["doctor"]) == 3  # through the CLI too
    assert "FAIL  emscripten" in capsys.readouterr().out


def test_unsupported_ort_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path))
    tree = require_recipe(default_version()).source_dir
    (tree / "cmake").mkdir(parents=True)
    (tree / "onnxruntime" / "core").mkdir(parents=True)
    (tree / "cmake" / "onnxruntime_webassembly.cmake").write_text("")
    (tree / "VERSION_NUMBER").write_text("1.99.0\n")
    p = doctor.probe_ort_source()
    assert not p.ok and "ONNX Runtime 1.99.0" in p.detail and "no patch set (patches/ has 1.21.0" in p.detail
    assert "--no-patches" in p.hint


@pytest.mark.integration
def test_real_doctor(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, text = run(capsys)
    print(text)
    assert list(lines) == NAMES, text
    assert rc == (0 if all(s == "PASS" for s, _ in lines.values()) else 3)
    if (paths.ortwasm_home() / "toolchain-kind").exists() and require_recipe(default_version()).deps_dir.is_dir():
        assert rc == 0, f"provisioned machine ({paths.ortwasm_home()}), yet doctor fails:\n{text}"
