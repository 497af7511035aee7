"""The wheel, built by scikit-build-core from the ``cmake/wheel/`` project: the npm package's files as Python
package data, plus a small generated API (``payload_files``).

Why the whole npm package and not just the wasm pairs: a Python server that serves onnxruntime-web to browsers
(or hands it to a Node subprocess) needs the JS that matches the wasm, and the only JS that does is the one in the
npm package; ``files()`` is that package's root, servable as is.

Why a build backend: the wheel's file list is an ``install()`` rule and its metadata a ``pyproject.toml`` anyone
can read, instead of zip code only this tool understands.  The payload is symlinked into the project, not copied;
``wheel.reproducible`` fixes dates (``SOURCE_DATE_EPOCH``) and modes; the backend is pinned in
``cmake/wheel/pyproject.toml`` and checked before the build, so a different scikit-build-core cannot change the
bytes silently.  Everything the backend writes (its build dir, its own temp dirs: ``TMPDIR`` points there) stays
in the staging dir ``build_wheel`` is given, which the caller places next to ``--dest`` and removes on every exit
path: nothing is left in the system temp dir, even after Ctrl-C.

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

WHEEL_DIST = "ortwasm_artifacts"
NPM_ROOT = "npm/package"  # inside the wheel's package dir: the npm tarball's ``package/``, unchanged

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
    """Write a wheel's package files (``payload_files`` output) as the tree ``build_wheel`` takes:
    ``staging/ortwasm_artifacts/...``."""
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
                           "stage the wheel's package tree with ortwasm.package.skbuild.stage(payload_files(...))"
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

    def __init__(self, epoch: int, tmpdir: Path | None = None) -> None:
        self.epoch, self.tmpdir = epoch, tmpdir
        self.output: list[str] = []

    def __call__(self, cmd: Sequence[str], cwd: str | None = None,
                 extra_environ: Mapping[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SETTINGS_ENV_PREFIX) and k not in _SETTINGS_ENV}
        env |= dict(extra_environ or {})
        env["SOURCE_DATE_EPOCH"] = str(self.epoch)
        if self.tmpdir is not None:  # the backend's own temp dirs (its build and wheel trees) go where we clean up
            env["TMPDIR"] = str(self.tmpdir)
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        self.output.append(proc.stdout)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, list(cmd), proc.stdout)


def _failed(what: str, runner: _Runner, log_dir: Path | None = None) -> PackageError:
    """``<what> failed: <the error line>``, the whole backend output in a log that outlives the temp dir (in
    ``log_dir``, --dest, when given): one line to read, the rest one ``less`` away."""
    text = "".join(runner.output)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    fd, log = tempfile.mkstemp(prefix="ortwasm-wheel-", suffix=".log", dir=log_dir)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return PackageError(f"{what} failed: {(errors or lines or ['no output'])[-1]}", f"full log: {log}")


def _unavailable(e: Exception) -> PackageError:
    return PackageError(f"scikit-build-core cannot be imported by {sys.executable}: {str(e).splitlines()[0]}",
                        _install_hint(build_requirements()[:1]))


def build_wheel(staging: Path, dest: Path, epoch: int, log_dir: Path | None = None) -> Path:
    """Build the ``ortwasm_artifacts`` wheel from ``staging`` (``ortwasm_artifacts/`` as ``stage`` writes it) with
    scikit-build-core, dated ``epoch``, and move it into ``dest`` in one rename: ``dest`` never holds half a wheel.
    Same staging, same epoch, same scikit-build-core: same bytes.  Every temp dir, the backend's included, is
    made inside ``dest``; a failure's full log goes to ``log_dir`` (default the system temp dir)."""
    if not (staging / WHEEL_DIST).is_dir():
        raise PackageError(f"{staging} has no {WHEEL_DIST}/ to build a wheel from",
                           "stage the wheel's package tree with ortwasm.package.skbuild.stage(payload_files(...))")
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
    with tempfile.TemporaryDirectory(prefix=".ortwasm-wheel.", dir=dest) as tmp:
        (Path(tmp) / "tmp").mkdir()
        runner = _Runner(epoch, Path(tmp) / "tmp")
        project = _prepare_project(staging, Path(tmp) / "project")
        hooks = BuildBackendHookCaller(str(project), BACKEND, runner=runner)
        try:
            out = Path(tmp) / "out"
            out.mkdir()
            name = hooks.build_wheel(str(out), {})
        except BackendUnavailable as e:
            raise _unavailable(e) from None
        except subprocess.CalledProcessError:
            raise _failed("building the wheel with scikit-build-core", runner, log_dir) from None
        built = out / name
        if not name.endswith("-py3-none-any.whl"):
            raise PackageError(f"scikit-build-core wrote {name}, not a py3-none-any wheel",
                               f"check [tool.scikit-build] wheel.py-api/platlib in {project_dir()}/pyproject.toml")
        with built.open("rb+") as f:
            os.fsync(f.fileno())
        built.chmod(0o644)
        os.replace(built, dest / name)
    return dest / name


def payload_files(npm: Mapping[str, bytes], pairs: dict[str, dict[str, str]], default: str,
                  manifest: Mapping[str, object], version: str, npm_version: str, ort: str) -> dict[str, bytes]:
    """The wheel's package files, archive path -> bytes: the npm package under ``ortwasm_artifacts/npm/package/``,
    a generated ``__init__.py``, ``manifest.json`` and ``py.typed``.  The ``.dist-info`` is the backend's."""
    pkg = {f"{WHEEL_DIST}/{NPM_ROOT}/{p}": data for p, data in npm.items()}
    pkg[f"{WHEEL_DIST}/__init__.py"] = _init_py(version, npm_version, ort, pairs, default).encode()
    pkg[f"{WHEEL_DIST}/manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    pkg[f"{WHEEL_DIST}/py.typed"] = b""
    return {p: pkg[p] for p in sorted(pkg)}


def _init_py(version: str, npm_version: str, ort: str, pairs: dict[str, dict[str, str]], default: str) -> str:
    return f'''"""ONNX Runtime {ort} for the web, built by ortwasm: the onnxruntime-web npm package as package data.

Generated by ortwasm.package.  ``files()`` is the npm package's root (``package.json``, ``dist/``; serve it as is),
``artifact_path(variant, kind)`` one variant's ``.wasm`` or ``.mjs``, ``manifest()`` how each was built and checked.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__version__ = {version!r}
ONNXRUNTIME_VERSION = {ort!r}
NPM_VERSION = {npm_version!r}
DEFAULT_VARIANT = {default!r}
KINDS = ("wasm", "mjs")
# variant -> kind -> path inside files()
VARIANTS: dict[str, dict[str, str]] = {json.dumps(pairs, sort_keys=True)}


def files() -> Traversable:
    """The npm package onnxruntime-web {npm_version}, as ``npm pack`` would unpack it."""
    return resources.files(__name__){"".join(f" / {part!r}" for part in NPM_ROOT.split("/"))}


def artifact_path(variant: str, kind: str = "wasm") -> Path:
    """Path of one variant's ``wasm`` or ``mjs`` file."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant {{variant!r}}; this package has {{', '.join(VARIANTS)}}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {{KINDS}}, got {{kind!r}}")
    found = files() / VARIANTS[variant][kind]
    if not isinstance(found, Path):
        raise RuntimeError(f"{{__name__}} is not installed as files; use importlib.resources.as_file(files())")
    return found


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((resources.files(__name__) / "manifest.json").read_text())
    return data
'''
