"""The wheel built by scikit-build-core from the ``cmake/wheel/`` project, in place of ``archive.write_wheel``.

Not wired in yet.  In ``build_packages`` (ortwasm/package/__init__.py) it replaces the hand-written path::

    tgz, wheel = write_all(dest, {tgz_name: lambda f: write_tgz(f, npm, epoch),
                                  whl_name: lambda f: write_wheel(f, whl, epoch)})

with::

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ortwasm-wheel.", dir=dest) as tmp:
        built = build_wheel(stage(whl, Path(tmp) / "staging"), Path(tmp), epoch)
        tgz, wheel = write_all(dest, {tgz_name: lambda f: write_tgz(f, npm, epoch),
                                      built.name: lambda f: f.write(built.read_bytes())})

(imports ``tempfile`` and ``from .skbuild import build_wheel, stage``; ``whl`` stays ``wheel_files(...)``, and
``stage`` drops its ``.dist-info``, which the backend writes.  The built wheel goes through ``write_all`` so the
tarball and the wheel still appear together or not at all.  Then ``write_wheel`` is unused, and test_package's
``test_failed_write_keeps_the_old_pair`` patches ``build_wheel`` instead.)

Why a build backend after all (archive.py says why there was none): the design card asks for the wheel to be a
CMake project built by scikit-build-core, so its file list is an ``install()`` rule and its metadata a
``pyproject.toml`` anyone can read, instead of zip code only this tool understands.  The costs archive.py names
are handled here: the payload is symlinked into the project, not copied; ``wheel.reproducible`` fixes dates
(``SOURCE_DATE_EPOCH``) and modes; the backend is pinned in ``cmake/wheel/pyproject.toml`` and checked before the
build, so a different scikit-build-core cannot change the bytes silently.

What a user sees differ from the hand-written wheel (tests/test_wheel_skbuild.py pins this list): ``Metadata-Version:
2.2`` instead of 2.1 (scikit-build-core's floor since 0.11; no field changes), ``WHEEL``'s ``Generator:
scikit-build-core <version>`` and a trailing blank line, and the zip's entry order (path parts sorted, so
``dist/wasm64/`` before ``dist/wasm64-memfs/``); RECORD follows the entry order.  Names, bytes, dates and modes of
every package file are the same.

Requirements, the way scikit-build-core's ``get_requires_for_build_wheel`` declares them: the pinned backend and
``pyproject_hooks`` always (ortwasm's ``wheel`` extra); ``cmake`` and ``ninja`` from PyPI only when the backend's
own hook asks for them, i.e. when no suitable binary is on PATH.  Missing ones are a ``PackageError`` naming the
pip command that installs them, never a silent download.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path

from ..errors import PackageError
from .wheel import WHEEL_DIST

BACKEND = "scikit_build_core.build"
PROJECT_FILES = ("pyproject.toml", "CMakeLists.txt")
README_TEMPLATE = "README.md.in"
FRONTEND = ("pyproject_hooks>=1.0",)  # the PEP 517 caller; ``build`` uses the same library
# Settings scikit-build-core also reads from the environment: a stray one would change the wheel (its tag, its
# files), so the build sees only what cmake/wheel/pyproject.toml says.
_SETTINGS_ENV_PREFIX = "SKBUILD_"
_SETTINGS_ENV = ("CMAKE_ARGS",)
# A Python exception's last line, CMake's "CMake Error at ...", a tool's "error: ..."
_ERROR_LINE = re.compile(r"^(\w+(Error|Exception)\b|CMake Error|error:)")


def project_dir() -> Path:
    """``cmake/wheel/`` of the checkout this package runs from, else the copy an installed ortwasm carries."""
    repo = Path(__file__).resolve().parents[2] / "cmake" / "wheel"
    if (repo / "pyproject.toml").is_file():
        return repo
    return Path(str(resources.files("ortwasm") / "_cmake_wheel"))


def build_requirements(project: Path | None = None) -> list[str]:
    """What must be installed before the build starts: the backend exactly as the project pins it, and the
    frontend.  One pin, in ``cmake/wheel/pyproject.toml``; ortwasm's extras repeat it (a test keeps them equal)."""
    with ((project or project_dir()) / "pyproject.toml").open("rb") as f:
        requires = tomllib.load(f)["build-system"]["requires"]
    return [str(r) for r in requires] + list(FRONTEND)


def unmet(requirements: Iterable[str]) -> list[str]:
    """The requirements not satisfied by this interpreter's installed distributions."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # scikit-build-core depends on packaging: without it, nothing is installed
        return list(requirements)
    missing = []
    for text in requirements:
        req = Requirement(text)
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if not req.specifier.contains(have, prereleases=True):
            missing.append(text)
    return missing


def unmet_requirements() -> list[str]:
    """Everything building the wheel needs that this interpreter lacks: the pinned backend first, then what the
    backend itself asks for (cmake and ninja from PyPI only when no suitable binary is on PATH).  ci/test.sh
    installs exactly these into the test venv."""
    missing = unmet(build_requirements())
    if missing:
        return missing
    from pyproject_hooks import BuildBackendHookCaller

    hooks = BuildBackendHookCaller(str(project_dir()), BACKEND, runner=_Runner(0))
    return unmet(hooks.get_requires_for_build_wheel({}))


def _install_hint(missing: Sequence[str]) -> str:
    pip = " ".join([shlex.quote(sys.executable), "-m", "pip", "install", *map(shlex.quote, missing)])
    return f"install {'it' if len(missing) == 1 else 'them'} with: {pip}"


def stage(files: Mapping[str, bytes], staging: Path) -> Path:
    """Write a wheel's package files (``wheel_files`` output; its ``.dist-info`` is skipped, the backend writes
    its own) as the tree ``build_wheel`` takes: ``staging/ortwasm_artifacts/...``."""
    root = staging.resolve()
    for path, data in files.items():
        if ".dist-info/" in path:
            continue
        target = (root / path).resolve()
        if root not in target.parents:
            raise PackageError(f"refusing to stage {path!r}: it points outside {staging}",
                               "wheel paths are relative and stay inside the package")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return staging


def _ort_version(staging: Path) -> str:
    """The ONNX Runtime version the README names, from the staged manifest (the record the project's
    dynamic metadata also reads)."""
    mf = staging / WHEEL_DIST / "manifest.json"
    try:
        ort = json.loads(mf.read_text())["onnxruntime"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PackageError(f"{mf} is missing or has no \"onnxruntime\" ({e})",
                           "stage the wheel's package tree with ortwasm.package.skbuild.stage(wheel_files(...))"
                           ) from None
    if not isinstance(ort, str) or not ort:
        raise PackageError(f"{mf}: \"onnxruntime\" is {ort!r}, not a version", "rebuild the manifest with ortwasm")
    return ort


def _prepare_project(staging: Path, into: Path) -> Path:
    """The committed project files, the README with its version filled in, and the payload as a symlink (the
    80 MB of wasm are not copied; CMake's install() reads through it)."""
    src = project_dir()
    into.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copyfile(src / name, into / name)
    readme = string.Template((src / README_TEMPLATE).read_text()).substitute(ort=_ort_version(staging))
    (into / "README.md").write_text(readme)
    (into / "payload").symlink_to(staging.resolve(), target_is_directory=True)
    return into


class _Runner:
    """pyproject_hooks' subprocess runner: a clean settings environment, the given epoch, output kept for the
    error (the backend is chatty; a successful build prints nothing of it)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.output: list[str] = []

    def __call__(self, cmd: Sequence[str], cwd: str | None = None,
                 extra_environ: Mapping[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SETTINGS_ENV_PREFIX) and k not in _SETTINGS_ENV}
        env |= dict(extra_environ or {})
        env["SOURCE_DATE_EPOCH"] = str(self.epoch)
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        self.output.append(proc.stdout)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, list(cmd), proc.stdout)


def _failed(what: str, runner: _Runner) -> PackageError:
    """``<what> failed: <the error line>``, the whole backend output in a log that outlives the temp dir: one line
    to read, the rest one ``less`` away."""
    text = "".join(runner.output)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    fd, log = tempfile.mkstemp(prefix="ortwasm-wheel-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return PackageError(f"{what} failed: {(errors or lines or ['no output'])[-1]}", f"full log: {log}")


def _unavailable(e: Exception) -> PackageError:
    return PackageError(f"scikit-build-core cannot be imported by {sys.executable}: {str(e).splitlines()[0]}",
                        _install_hint(build_requirements()[:1]))


def build_wheel(staging: Path, dest: Path, epoch: int) -> Path:
    """Build the ``ortwasm_artifacts`` wheel from ``staging`` (``ortwasm_artifacts/`` as ``stage`` writes it) with
    scikit-build-core, dated ``epoch``, and move it into ``dest`` in one rename: ``dest`` never holds half a wheel.
    Same staging, same epoch, same scikit-build-core: same bytes."""
    if not (staging / WHEEL_DIST).is_dir():
        raise PackageError(f"{staging} has no {WHEEL_DIST}/ to build a wheel from",
                           "stage the wheel's package tree with ortwasm.package.skbuild.stage(wheel_files(...))")
    missing = unmet(build_requirements())
    if missing:
        raise PackageError(f"building the wheel needs {', '.join(missing)}, not installed for {sys.executable}",
                           _install_hint(missing) + " (or pip install 'ortwasm[wheel]')")
    from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller

    dest.mkdir(parents=True, exist_ok=True)
    try:
        missing = unmet_requirements()  # cmake/ninja only when missing: the backend's own answer, so its rule
    except BackendUnavailable as e:
        raise _unavailable(e) from None
    if missing:
        raise PackageError(f"building the wheel needs {', '.join(missing)}: no suitable binary on PATH "
                           f"and none installed for {sys.executable}", _install_hint(missing))
    runner = _Runner(epoch)
    with tempfile.TemporaryDirectory(prefix=".ortwasm-wheel.", dir=dest) as tmp:
        project = _prepare_project(staging, Path(tmp) / "project")
        hooks = BuildBackendHookCaller(str(project), BACKEND, runner=runner)
        try:
            out = Path(tmp) / "out"
            out.mkdir()
            name = hooks.build_wheel(str(out), {})
        except BackendUnavailable as e:
            raise _unavailable(e) from None
        except subprocess.CalledProcessError:
            raise _failed("building the wheel with scikit-build-core", runner) from None
        built = out / name
        if not name.endswith("-py3-none-any.whl"):
            raise PackageError(f"scikit-build-core wrote {name}, not a py3-none-any wheel",
                               f"check [tool.scikit-build] wheel.py-api/platlib in {project_dir()}/pyproject.toml")
        with built.open("rb+") as f:
            os.fsync(f.fileno())
        built.chmod(0o644)
        os.replace(built, dest / name)
    return dest / name
