"""Operator and type reduction: ORT's own ``tools/ci_build/reduce_op_kernels.py``, run before configure.

Why a step of its own: upstream's WebGPU and size-reduced wasm builds pass ``--include_ops_by_config
onnxruntime/wasm/reduced_types.config --enable_reduced_operator_type_support`` to build.py, and build.py does not
hand that to CMake.  On ``--update``, before cmake, it calls (``build.py:2480-2492`` in 1.30)::

    reduce_ops(config_path=args.include_ops_by_config, build_dir=<build>/<config>,
               enable_type_reduction=args.enable_reduced_operator_type_support, use_cuda=args.use_cuda,
               is_extended_minimal_build_or_higher=args.minimal_build is None or "extended" in args.minimal_build)

which writes ``<CMAKE_BINARY_DIR>/op_reduction.generated/``: copies of the CPU kernel registration files with the
excluded registrations commented out, and ``op_kernel_type_control_overrides.inc`` with the allowed types.  The
only CMake define that goes with it is ``onnxruntime_REDUCED_OPS_BUILD=ON`` (``build.py:492``), with which
``cmake/onnxruntime_providers_cpu.cmake`` swaps those copies in; type reduction has no define of its own, it is
the ``.inc``.  So ortwasm runs the same script, through its command line (which calls the same function with the
same arguments: no minimal build, so ``--is_extended_minimal_build_or_higher``; no CUDA), into the dir it will
configure, before configuring it.

Why in the toolchain's environment: the script needs the ``flatbuffers`` module (``tools/python/util`` imports
``ort_flatbuffers_py``), and the place ortwasm provisions is the toolchain's chroot (sid's ``python3-flatbuffers``
23.5.26 is the release ORT's generated bindings come from), not whatever Python runs ortwasm.

Why a stamp: the generated files are sources of the CPU provider's biggest objects, so rewriting them with new
mtimes recompiles those.  A rerun with the same inputs (the config, the flag, the script and the files it reads,
the interpreter) does nothing; other inputs regenerate into ``op_reduction.partial`` and swap it in, keeping the
mtime of every file whose bytes did not change.  The stamp also carries the digest of the generated files, for the
manifest.  The caller holds the build dir's lock, as for configure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import log
from ..digest import sha256_file
from ..errors import BuildError, SourceError, ToolchainError, UsageError
from ..proc.execenv import ExecEnv
from ..proc.runner import Runner
from ..toolchain.emscripten import PROVIDERS

SCRIPT = "tools/ci_build/reduce_op_kernels.py"
UPSTREAM_CONFIG = "onnxruntime/wasm/reduced_types.config"  # what upstream's wasm CI passes (1.30)
GENERATED = "op_reduction.generated"  # the script's OP_REDUCTION_DIR; cmake/onnxruntime_providers.cmake reads it
PARTIAL = "op_reduction.partial"  # --cmake_build_dir of a regeneration: the script writes PARTIAL/GENERATED
STAMP_NAME = "ortwasm-reduced-ops.json"
STAMP_FORMAT = 1
DEFINES: dict[str, str] = {"onnxruntime_REDUCED_OPS_BUILD": "ON"}
CONFIG_FORMAT_URL = "https://onnxruntime.ai/docs/reference/operators/reduced-operator-config-file.html"

# What the script reads besides the config and the sources it mirrors into GENERATED (those are listed in the
# stamp from its output): its own modules, the config parser with the flatbuffers bindings it imports, and the
# header that names the ops an extended minimal build (or higher) must keep.
_SCRIPT_FILES = (SCRIPT, "tools/ci_build/op_registration_utils.py", "tools/ci_build/logger.py",
                 "onnxruntime/core/optimizer/layout_transformation/layout_transformation_potentially_added_ops.h")
_SCRIPT_DIRS = ("tools/python/util", "onnxruntime/core/flatbuffers/ort_flatbuffers_py")

# The interpreter's identity, and the import the script cannot do without (it fails later and less clearly).
_PROBE = ("import sys; print(sys.version.split()[0]); import flatbuffers; "
          "print(getattr(flatbuffers, '__version__', 'unknown'))")
_NO_FLATBUFFERS = "No module named 'flatbuffers'"
# tools/python/util/__init__.py swallows the ImportError of flatbuffers (or of the bindings that import it) and
# leaves parse_config undefined; the script then fails on this import.
_NO_PARSE_CONFIG = "cannot import name 'parse_config'"


@dataclass(frozen=True)
class ReducedOps:
    """What a reduction left in the build dir, and whether this call had to run the script."""

    config: str  # relative to the ORT tree
    type_reduction: bool
    generated_dir: Path
    digest: str  # sha256 over "<sha256>  <path>" lines of every generated file, sorted by path
    files: int
    size: int  # bytes of all generated files
    python: str  # e.g. "python 3.14.10, flatbuffers 23.5.26 (chroot /var/cache/ortwasm/sid)"
    ran: bool
    seconds: float

    @property
    def defines(self) -> dict[str, str]:
        """What build.py adds to cmake for ``--include_ops_by_config``; the same whether or not types are reduced."""
        return dict(DEFINES)

    def manifest(self) -> dict[str, object]:
        """The manifest's record: enough to tell two builds' reductions apart without the build dir."""
        return {"script": SCRIPT, "config": self.config, "type_reduction": self.type_reduction,
                "digest": self.digest, "files": self.files, "bytes": self.size, "python": self.python}


def reduce_ops(runner: Runner, tree: Path, build_dir: Path, config: str = UPSTREAM_CONFIG, *,
               type_reduction: bool, python: str = "python3") -> ReducedOps:
    """Leave ``build_dir/op_reduction.generated`` as ORT's build.py would for this config and flag.

    ``tree`` is the (patched) ORT tree the build compiles, ``build_dir`` the dir configure will use as
    CMAKE_BINARY_DIR, ``config`` a path inside ``tree``.  ``runner`` says where commands run (its ExecEnv) and
    where the log goes; the tree and the build dir are bound into a chroot when its binds do not cover them.
    """
    cfg = _config_path(tree, config)
    if not (tree / SCRIPT).is_file():
        raise SourceError(f"{tree} has no {SCRIPT}, ORT's op reduction script",
                          "point at a complete ONNX Runtime source tree (`bash ci/fetch-sources.sh`)")
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = _runner_seeing(runner, tree.resolve(), build_dir.resolve())
    interpreter = _probe(runner, python)
    request = {"format": STAMP_FORMAT, "config": config, "type_reduction": type_reduction, "use_cuda": False,
               "is_extended_minimal_build_or_higher": True, "python": interpreter}
    generated = build_dir / GENERATED
    stamp = _read_stamp(build_dir)
    why = _why_regenerate(stamp, request, tree, generated)
    if why is None and stamp is not None:
        log.say(f"op reduction: {generated} is current ({config}, type reduction "
                f"{'on' if type_reduction else 'off'})", stage=runner.label)
        return _result(stamp, generated, ran=False, seconds=0.0)
    log.say(f"op reduction: {why} ({config}, type reduction {'on' if type_reduction else 'off'})",
            stage=runner.label)
    seconds = _generate(runner, tree, build_dir, cfg, type_reduction, python)
    files = _files(generated)
    mirrored = [rel for rel in files if (tree / rel).is_file()]
    new = {"request": request, "inputs": _inputs_digest(tree, config, mirrored), "mirrored": mirrored,
           **_summary(generated, files)}
    _write_stamp(build_dir, new)
    return _result(new, generated, ran=True, seconds=seconds)


def recorded(build_dir: Path) -> dict[str, object] | None:
    """The manifest record of the reduction in ``build_dir`` (None without one), for stages after the build."""
    stamp = _read_stamp(build_dir)
    if stamp is None:
        return None
    return _result(stamp, build_dir / GENERATED, ran=False, seconds=0.0).manifest()


# --- inputs ---------------------------------------------------------------------------------------------------

def _config_path(tree: Path, config: str) -> Path:
    rel = PurePosixPath(config)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UsageError(f"op reduction config {config!r} is not a path inside the ONNX Runtime tree",
                         f"give it relative to the tree's root, e.g. {UPSTREAM_CONFIG}")
    path = tree / rel
    if not path.is_file():
        fix = (f"this ONNX Runtime tree predates upstream's {UPSTREAM_CONFIG} (1.21 has none, 1.30 has it): "
               "use a newer tree, or give a config inside this one" if config == UPSTREAM_CONFIG
               else f"create it (format: {CONFIG_FORMAT_URL}), or use upstream's {UPSTREAM_CONFIG}")
        raise SourceError(f"op reduction config {path} does not exist", fix)
    return path


def _inputs_digest(tree: Path, config: str, mirrored: list[str]) -> str:
    """sha256 over every file the script reads, by path relative to the tree; "-" for one that is missing."""
    rels = {config, *_SCRIPT_FILES, *mirrored}
    for d in _SCRIPT_DIRS:
        if (tree / d).is_dir():
            rels.update(p.relative_to(tree).as_posix() for p in (tree / d).rglob("*.py") if p.is_file())
    h = hashlib.sha256()
    for rel in sorted(rels):
        path = tree / rel
        h.update(f"{sha256_file(path) if path.is_file() else '-'}  {rel}\n".encode())
    return h.hexdigest()


def _runner_seeing(runner: Runner, *dirs: Path) -> Runner:
    """The runner with ``dirs`` bound into its chroot (those no bind covers yet), and never writing bytecode.

    Why no bytecode: Python would leave ``__pycache__`` dirs in the ORT tree, whose state the source stage
    fingerprints; ``-B`` on the command line covers the script, this covers the probe's imports too.
    """
    env = runner.exec_env
    if env.is_chroot:
        missing = [d for d in dirs if not any(d.is_relative_to(b) for b in env.binds)]
        env = env.with_binds(*missing) if missing else env
    return Runner(env, {**runner.env, "PYTHONDONTWRITEBYTECODE": "1"}, runner.log_path, runner.label,
                  echo=runner.echo)


def _where(env: ExecEnv) -> str:
    return f"chroot {env.root}" if env.root is not None else "the host"


def _flatbuffers_hint(env: ExecEnv) -> str:
    """The fix for a missing flatbuffers module: sid's provisioning installs it; elsewhere, Debian's or PyPI's."""
    if env.root is None:
        return "`pip install flatbuffers` (what ORT's CI does) or `apt-get install python3-flatbuffers`"
    sid = PROVIDERS.get("sid")
    if sid is not None and env.root == sid.root:
        return f"run `{sid.provision}`: it installs python3-flatbuffers into {env.root}"
    return f"`chroot {env.root} apt-get install python3-flatbuffers`"


def _probe(runner: Runner, python: str) -> str:
    """``python X.Y.Z, flatbuffers V (where)``; a ToolchainError with the provisioning fix when it cannot work."""
    env = runner.exec_env
    argv, wrapped_env = env.wrap([python, "-B", "-c", _PROBE], None, runner.env)
    try:
        proc = subprocess.run(argv, env=wrapped_env, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"could not run {python} in {_where(env)} for ORT's op reduction: {exc}",
                             "check the toolchain with `ortwasm doctor`") from None
    lines = proc.stdout.split()
    if proc.returncode == 0 and len(lines) == 2:
        return f"python {lines[0]}, flatbuffers {lines[1]} ({_where(env)})"
    output = (proc.stderr or proc.stdout).strip()
    if _NO_FLATBUFFERS in output:
        raise ToolchainError(f"{python} in {_where(env)} has no flatbuffers module, which ORT's {SCRIPT} "
                             f"imports (python {lines[0] if lines else '?'})", _flatbuffers_hint(env))
    if proc.returncode == 127 or "No such file" in output:
        raise ToolchainError(f"no {python} in {_where(env)} to run ORT's {SCRIPT}",
                             "install python3 there (ci/provision-toolchain.sh does for its chroots)")
    raise ToolchainError(f"{python} in {_where(env)} failed to start: {output[-300:] or f'exit {proc.returncode}'}",
                         "check the toolchain with `ortwasm doctor`")


# --- the stamp ------------------------------------------------------------------------------------------------

def _read_stamp(build_dir: Path) -> dict[str, object] | None:
    """The stamp as written, or None (absent, unreadable, or another format: then the files are regenerated)."""
    try:
        data = json.loads((build_dir / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    request = data.get("request")
    if not isinstance(request, dict) or request.get("format") != STAMP_FORMAT:
        return None
    if not isinstance(data.get("mirrored"), list) or not all(isinstance(data.get(k), int) for k in ("files", "bytes")):
        return None
    return data


def _why_regenerate(stamp: dict[str, object] | None, request: dict[str, object], tree: Path,
                    generated: Path) -> str | None:
    if stamp is None:
        return "no stamp yet" if not generated.exists() else f"{generated} has no (readable) stamp"
    if stamp["request"] != request:
        return "config, flag or interpreter changed"
    listed = stamp["mirrored"]
    assert isinstance(listed, list)  # _read_stamp checked
    mirrored = [str(m) for m in listed]
    if stamp.get("inputs") != _inputs_digest(tree, str(request["config"]), mirrored):
        return "the config, the script or the sources it reads changed"
    if not generated.is_dir() or _summary(generated, _files(generated))["digest"] != stamp.get("digest"):
        return f"{generated} differs from what was generated"
    return None


def _write_stamp(build_dir: Path, stamp: dict[str, object]) -> None:
    tmp = build_dir / (STAMP_NAME + ".partial")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    tmp.replace(build_dir / STAMP_NAME)


def _result(stamp: dict[str, object], generated: Path, *, ran: bool, seconds: float) -> ReducedOps:
    request = stamp["request"]
    assert isinstance(request, dict)
    files, size = stamp["files"], stamp["bytes"]
    assert isinstance(files, int) and isinstance(size, int)
    return ReducedOps(config=str(request["config"]), type_reduction=bool(request["type_reduction"]),
                      generated_dir=generated, digest=str(stamp["digest"]), files=files, size=size,
                      python=str(request["python"]), ran=ran, seconds=seconds)


# --- the outputs ----------------------------------------------------------------------------------------------

def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def _summary(root: Path, files: list[str]) -> dict[str, object]:
    h = hashlib.sha256()
    for rel in files:
        h.update(f"{sha256_file(root / rel)}  {rel}\n".encode())
    return {"digest": f"sha256:{h.hexdigest()}", "files": len(files),
            "bytes": sum((root / rel).stat().st_size for rel in files)}


def _generate(runner: Runner, tree: Path, build_dir: Path, cfg: Path, type_reduction: bool, python: str) -> float:
    """Run the script into PARTIAL and swap its output in; on failure the previous output and stamp stay."""
    partial = build_dir / PARTIAL
    shutil.rmtree(partial, ignore_errors=True)  # a killed run's
    argv = [python, "-B", str((tree / SCRIPT).resolve()), str(cfg.resolve()),
            "--cmake_build_dir", str(partial.resolve()), "--is_extended_minimal_build_or_higher"]
    if type_reduction:
        argv.append("--enable_type_reduction")
    try:
        seconds = runner.run(argv, "op reduction", cwd=build_dir.resolve())
    except BuildError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if runner.last_output_has(_NO_FLATBUFFERS) or runner.last_output_has(_NO_PARSE_CONFIG):
            raise ToolchainError(f"ORT's {SCRIPT} could not import its config parser in {_where(runner.exec_env)}: "
                                 "the flatbuffers module (or ORT's bindings for it) is missing",
                                 f"{_flatbuffers_hint(runner.exec_env)}; {exc.hint}") from None
        raise BuildError(exc.message, f"check {cfg} (format: {CONFIG_FORMAT_URL}); {exc.hint}") from None
    produced = partial / GENERATED
    if not produced.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
        raise BuildError(f"ORT's {SCRIPT} exited 0 but wrote no {produced}",
                         f"is {tree} an ONNX Runtime tree whose script writes {GENERATED}? full log: {runner.log_path}")
    final = build_dir / GENERATED
    _keep_mtimes(final, produced)
    (build_dir / STAMP_NAME).unlink(missing_ok=True)
    old = build_dir / (GENERATED + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    produced.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    return seconds


def _keep_mtimes(old: Path, new: Path) -> None:
    """Give each regenerated file that equals its predecessor the predecessor's mtime, so Ninja keeps its objects."""
    for rel in _files(new):
        before = old / rel
        after = new / rel
        if before.is_file() and before.stat().st_size == after.stat().st_size \
                and sha256_file(before) == sha256_file(after):
            st = before.stat()
            os.utime(after, ns=(st.st_atime_ns, st.st_mtime_ns))
