"""Shared test fixtures.

The fast tier must never start a real compiler by accident: an autouse
fixture makes emcc/cmake/ninja invocations through subprocess raise unless the
test is marked integration/artifacts/browser.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.harness.apps import Apps

_GUARDED = ("emcc", "em++", "emcmake", "ninja")
_REAL_MARKS = ("integration", "artifacts", "browser")


@pytest.fixture(autouse=True)
def _no_toolchain_in_fast_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if any(request.node.get_closest_marker(m) for m in _REAL_MARKS):
        yield
        return
    real_popen = subprocess.Popen

    class GuardedPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *a: Any, **kw: Any) -> None:
            text = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
            if any(f"/{tool} " in f"/{text} " or text.startswith(tool) for tool in _GUARDED):
                raise AssertionError(f"fast-tier test tried to run the toolchain: {text[:200]}")
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)
    yield



def _artifacts_lines() -> list[str]:
    """One line per ORT version: the default version's dir (ORTWASM_ARTIFACTS), then each other recipe's out dir."""
    from ortwasm import paths
    from ortwasm.recipe import default_version, load_recipe, supported

    dirs = [(default_version(), paths.artifact_cache_dir())]
    for version in supported():
        recipe = load_recipe(version)
        if version != default_version() and recipe is not None:
            dirs.append((version, recipe.out_dir))
    lines = []
    for version, where in dirs:
        found = sorted(p.parent.name for p in where.glob("*/manifest.json")) if where.is_dir() else []
        lines.append(f"ortwasm artifacts {version}: {where} "
                     f"({', '.join(found) if found else 'none built: its artifact tests will skip'})")
    return lines


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which artifacts the artifact tests will use, so a summary is never ambiguous about what it proved."""
    return _artifacts_lines()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Count the tests that ran on real artifacts (a green run with them all skipped proves nothing)."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "skipped"):
        for rep in terminalreporter.stats.get(outcome, []):
            if "artifacts" in getattr(rep, "keywords", {}) and (rep.when == "call" or outcome == "skipped"):
                counts[outcome] = counts.get(outcome, 0) + 1
    for line in _artifacts_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line("artifact tests: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                                if counts else "artifact tests: none collected")


@pytest.fixture(scope="module")
def configure_setup() -> tuple[Any, Any, Any]:
    """(BuildOptions, Toolchain, PreparedSource) for real configures of the fetched ORT tree.

    The build dirs live under $ORTWASM_HOME/test-configure, so a warm machine reconfigures in seconds.
    """
    from ortwasm import paths
    from ortwasm.options import BuildOptions
    from ortwasm.recipe import default_version, require_recipe
    from ortwasm.source.tree import prepare
    from ortwasm.toolchain.emscripten import find_toolchain

    if not (require_recipe(default_version()).source_dir / "VERSION_NUMBER").exists():
        tree = require_recipe(default_version()).source_dir
        pytest.skip(f"!!! no ORT tree at {tree}: run `bash ci/fetch-sources.sh`")
    try:
        tc = find_toolchain(need_wasm64=True)
    except Exception as exc:
        pytest.skip(f"!!! no usable emscripten ({exc}): run `bash ci/provision-toolchain.sh`")
    work = paths.ortwasm_home() / "test-configure"
    opts = BuildOptions(ort_source=require_recipe(default_version()).source_dir, build_dir=work, out_dir=work / "out",
                        deps_dir=require_recipe(default_version()).deps_dir)
    return opts, tc, prepare(opts.ort_source, work)


@pytest.fixture(scope="session")
def our_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Package whatever is built, then npm-install the tarball as onnxruntime-web (the drop-in route)."""
    from ortwasm.paths import artifact_cache_dir
    from tests.harness.client import our_package_app

    out = artifact_cache_dir()
    if not (out / "onnxruntime-web" / "manifest.json").exists():
        pytest.skip(f"NO JS BUILD: {out}/onnxruntime-web missing (python build.py without --skip-js builds it)")
    return our_package_app(out, tmp_path_factory.mktemp("pkg"))


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Apps:
    """Both clients of every version (tests/harness/apps.py), installed once per session for every test file."""
    from tests.harness.apps import Apps

    return Apps(tmp_path_factory)


def _required() -> list[str]:
    """ORTWASM_REQUIRE=<variant>,...: the variants (and `js`, the onnxruntime-web JS stage) that must be tested.

    A plain name is the default ORT version's variant; `<version>:<variant>` names another version's."""
    import os

    return [n.strip() for n in os.environ.get("ORTWASM_REQUIRE", "").split(",") if n.strip()]


def _names_required(reason: str, required: list[str]) -> str | None:
    """The required name a skip reason mentions (whole names: `wasm32` does not match `wasm32-memfs`), for the
    version the entry means: a skip that names another ORT version is that version's, not the default's."""
    import re

    from ortwasm.recipe import default_version, supported

    others = [v for v in supported() if v != default_version()]
    for entry in required:
        version, _, name = entry.rpartition(":")
        token = "NO JS BUILD" if name == "js" else name
        if not re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", reason):
            continue
        named = [v for v in others if re.search(rf"(?<![\d.]){re.escape(v)}(?![\d.])", reason)]
        if (version and version in named) or (not version and not named):
            return entry
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skip that names a variant in ORTWASM_REQUIRE is a failure: CI built or found that variant, so a test that
    cannot find it (a wrong path, a manifest it cannot read) is a regression, never a quiet skip."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    required = _required()
    if not required or not report.skipped or getattr(report, "wasxfail", None) is not None:
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    name = _names_required(reason, required)
    if name is not None:
        report.outcome = "failed"
        report.longrepr = f"ORTWASM_REQUIRE names {name}, so this skip is a failure: {reason}"
