"""``ortwasm package OUT``: onnxruntime-web itself (npm tarball) and a wheel with the same files, byte-reproducible.

Inputs are what one build leaves in OUT: ``<variant>/`` dirs (checked again here, see ``inputs``) and
``onnxruntime-web/`` (the JS stage's npm package, built from the same tree).  Output, written atomically into
``--dest``: ``onnxruntime-web-<ort>-ortwasm.<n>.tgz`` (a drop-in onnxruntime-web, see ``npm``) and
``ortwasm_artifacts-<ort>.post<n>-py3-none-any.whl`` (the same files as package data, see ``skbuild``).

Versions: npm ``<ort>-ortwasm.<n>`` (a prerelease of the ORT version it was built from, so it never poses as
upstream's release) and wheel ``<ort>.post<n>``; ``n`` from ``ORTWASM_PACKAGE_REVISION`` (default 1), so a rebuild
of the same ORT version can be republished.

Reproducible: nothing that ships (package.json's ``"ortwasm"``, the wheel's ``manifest.json``) holds a timing or
an absolute path of the build machine (``portable``): the ORT source path, the build and JS timings and any
path-valued entry stay in the local records, ``OUT/<variant>/manifest.json`` and ``OUT/onnxruntime-web/
manifest.json``.  So the same artifacts give the same bytes whatever ORTWASM_HOME, OUT or --dest is.

Staging: everything is written in one hidden temp dir inside ``--dest`` (same filesystem, so the results move
into place by rename, never by copy), removed on every exit path, Ctrl-C included; the wheel backend's temp dirs
are in it too.  Before anything is written, the space it needs (``space_needed``) is compared with what --dest's
filesystem has free; too little is one line, not a half-written package.

Modules: ``inputs`` (read and vet OUT), ``npm`` (package.json, entry points, README), ``skbuild`` (the wheel),
``archive`` (the reproducible tarball, all-or-nothing moves).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks.rules import CheckReport, default_budgets_path, refuse_unknown
from ..checks.sizes import Budgets, load_budgets
from ..errors import PackageCannotCheck, PackageError
from ..recipe import load_recipe
from .archive import GENERATOR, package_revision, sha256, source_date_epoch, write_tgz
from .inputs import KINDS, VariantFiles, WebPackage, check_all, check_same_source, collect, read_web
from .npm import NPM_NAME, Layout, check_embedded_glue, npm_files
from .skbuild import NPM_ROOT, WHEEL_DIST, build_wheel, payload_files, stage

__all__ = ["NPM_NAME", "NPM_ROOT", "WHEEL_DIST", "PackageResult", "VariantFiles", "build_packages", "collect",
           "package", "portable", "space_needed", "write_tgz"]


WHEEL_MANIFEST_FORMAT = 2  # the wheel's combined manifest(), a document of its own (not manifest.json's format)
# Free space `package` asks of --dest's filesystem, per byte of the package's files (P, uncompressed): the staged
# wheel tree (P) and the backend's install of it (P), plus the tarball and the wheel (each at most P, deflated);
# measured on a real wasm32-memfs out dir: peak 2.5 P (docs in the test, tests/test_package_repro.py).
SPACE_FACTOR = 4
# Keys of a build record that are about the machine or the run, not the artifact: never shipped.
LOCAL_ONLY_KEYS = frozenset({"timings", "checks", "source", "origin", "origin_fingerprint"})


@dataclass(frozen=True)
class PackageResult:
    tgz: Path
    wheel: Path
    variants: tuple[str, ...]
    ort_version: str
    seconds: dict[str, float]
    default: str
    npm_version: str
    staged_bytes: int = 0  # the package's files, uncompressed (what the space estimate scales)
    recipe_version: str = ""  # whose recipe judged it: an unproven build's patch set's, else ort_version

    @property
    def unproven(self) -> bool:
        return self.recipe_version not in ("", self.ort_version)


def _is_machine_path(value: str) -> bool:
    return value.startswith(("/", "~")) or (len(value) > 2 and value[1] == ":" and value[2] in "\\/")


def portable(record: Any) -> Any:
    """``record`` without what only this machine or this run knows: the LOCAL_ONLY_KEYS (timings, the ORT source
    path) and every string that is an absolute path (a CMake define naming a file, say).  What is left describes the
    artifacts, so two builds of the same bytes ship the same record."""
    if isinstance(record, dict):
        return {k: portable(v) for k, v in record.items()
                if k not in LOCAL_ONLY_KEYS and not (isinstance(v, str) and _is_machine_path(v))}
    if isinstance(record, list):
        return [portable(v) for v in record if not (isinstance(v, str) and _is_machine_path(v))]
    return record


def _webgpu_keys(v: VariantFiles) -> dict[str, Any]:
    """A WebGPU variant's key as its manifest states it (``jsep``, ``webgpu``); none for a CPU one, so a CPU-only
    package's record reads as before the WebGPU variants."""
    return {"jsep": True} if v.jsep else {"webgpu": v.webgpu} if v.webgpu else {}


def _ortwasm_field(layout: Layout, web: WebPackage) -> dict[str, Any]:
    """``package.json``'s ``"ortwasm"``: which pair is where, with its sha256, and what it was built from."""
    emscripten = sorted({v.emscripten for v in layout.variants})
    return {
        "variants": {v.name: {"arch": v.arch, "memfs": v.memfs} | _webgpu_keys(v)
                     | {"files": {layout.pair_path(v, k): v.sha256[k] for k in KINDS}} for v in layout.variants},
        "default": layout.default,
        "ort": {k: web.ort.get(k) for k in ("version", "patched", "patchset")}
        | {k: web.ort[k] for k in ("patchset_version", "proven") if k in web.ort},
        "toolchain": {"emscripten": ", ".join(emscripten)},
        "generator": GENERATOR,
    }


def combined_manifest(layout: Layout, web: WebPackage, reports: dict[str, CheckReport], npm_version: str,
                      wheel_version: str) -> dict[str, Any]:
    """The wheel's ``manifest()``: every variant's build record and check summary, and the JS build's record, each
    ``portable`` (no timing, no path of the build machine)."""
    out: dict[str, Any] = {}
    for v in layout.variants:
        rep = reports[v.name]
        files = {k: {"path": layout.pair_path(v, k), "built_as": f"{v.stem}.{k}", "bytes": len(v.data[k]),
                     "sha256": v.sha256[k]} for k in KINDS}
        out[v.name] = {"arch": v.arch, "memfs": v.memfs, "jsep": v.jsep, "webgpu": v.webgpu, "files": files,
                       "entries": layout.entries(v),
                       "checks": {"passed": len(rep.findings), "rules": sorted({f.rule for f in rep.findings})},
                       "build": portable(v.manifest.to_json())}
    js = portable({k: val for k, val in web.manifest.items() if k != "files"})
    return {"format": WHEEL_MANIFEST_FORMAT, "onnxruntime": web.ort.get("version"), "generator": GENERATOR,
            "npm": {"name": NPM_NAME, "version": npm_version},
            "wheel": {"name": WHEEL_DIST, "version": wheel_version, "npm_root": NPM_ROOT},
            "default": layout.default, "variants": out, "web": js}


def space_needed(staged_bytes: int) -> int:
    """Bytes --dest's filesystem must have free to package files of ``staged_bytes`` (SPACE_FACTOR says why)."""
    return SPACE_FACTOR * staged_bytes


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _check_space(dest: Path, staged_bytes: int) -> None:
    need = space_needed(staged_bytes)
    free = shutil.disk_usage(dest).free
    if free < need:
        raise PackageError(f"--dest {dest} has {_mib(free)} free; packaging needs about {_mib(need)} there "
                           f"({SPACE_FACTOR} x the package's {_mib(staged_bytes)}: staging, the wheel backend's "
                           "install, the tarball and the wheel)", "free space there, or pass another --dest")


def _known_version(variants: list[VariantFiles]) -> tuple[str, str]:
    """The ORT version the manifests claim (the package's name) and whose recipe judges it (an unproven build's
    patch set's); one with no recipe is refused."""
    ort, recipe = variants[0].ort_version, variants[0].recipe_version
    if load_recipe(recipe) is None:
        refusal = refuse_unknown(ort, f"{variants[0].directory}/manifest.json", None if recipe == ort else recipe)
        raise PackageCannotCheck(f"refusing to package: {refusal.message}", refusal.hint)
    return ort, recipe


def build_packages(path: Path, dest: Path, *, budgets: Budgets | None = None, say: bool = False) -> PackageResult:
    """Vet and check everything in ``path`` (OUT), then write the npm tarball and the wheel into ``dest`` atomically."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    variants = collect(path, exclude=dest)
    ort, recipe = _known_version(variants)  # the manifests pick the rules; a version with no recipe is refused
    web = read_web(path)
    check_same_source(variants, web)  # cheap refusals first, the full checks (compression) after
    reports = check_all(variants, budgets or load_budgets(default_budgets_path(recipe)))
    t1 = time.perf_counter()
    timings["check_s"] = t1 - t0
    epoch, rev = source_date_epoch(), package_revision()
    npm_version, wheel_version = f"{ort}-ortwasm.{rev}", f"{ort}.post{rev}"
    layout = Layout.of(variants)
    check_embedded_glue(layout, web)
    npm = npm_files(layout, web, npm_version, _ortwasm_field(layout, web))
    manifest = combined_manifest(layout, web, reports, npm_version, wheel_version)
    pairs = {v.name: {k: layout.pair_path(v, k) for k in KINDS} for v in variants}
    whl = payload_files(npm, pairs, layout.default, manifest, wheel_version, npm_version, ort)
    staged = sum(len(b) for b in whl.values())
    tgz_name = f"{NPM_NAME}-{npm_version}.tgz"
    whl_name = f"{WHEEL_DIST}-{wheel_version}-py3-none-any.whl"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _check_space(dest, staged)
        if say:
            print(f"staging {_mib(staged)} in {dest} (needs about {_mib(space_needed(staged))} free there)",
                  flush=True)
        with tempfile.TemporaryDirectory(prefix=".ortwasm-package.", dir=dest) as tmp:
            work = Path(tmp)
            built = build_wheel(stage(whl, work / "staging"), work, epoch, log_dir=dest)
            if built.name != whl_name:
                raise PackageError(f"internal error: scikit-build-core named the wheel {built.name}, not {whl_name}",
                                   "report this to ortwasm's maintainers with cmake/wheel/pyproject.toml")
            shutil.rmtree(work / "staging")  # the wheel holds it now: free that space before the tarball
            tgz_tmp = work / tgz_name
            with tgz_tmp.open("wb") as f:
                write_tgz(f, npm, epoch)
                f.flush()
                os.fsync(f.fileno())
            for p in (tgz_tmp, built):
                p.chmod(0o644)
            # both are complete: into place by rename (same filesystem), so --dest never holds half a package
            os.replace(tgz_tmp, dest / tgz_name)
            os.replace(built, dest / whl_name)
    except OSError as exc:
        raise PackageError(f"cannot write the package into {dest}: {exc.strerror or exc}"
                           + (f" ({exc.filename})" if exc.filename else ""),
                           "check that --dest is writable and has space (the old package, if any, is intact)"
                           ) from None
    timings["write_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    return PackageResult(dest / tgz_name, dest / whl_name, tuple(v.name for v in variants), ort, timings,
                         layout.default, npm_version, staged, recipe)


def package(path: Path, dest: Path) -> None:
    """CLI entry for ``ortwasm package OUT --dest DIR``."""
    res = build_packages(path, dest, say=True)
    unproven = f", unproven: built with {res.recipe_version}'s patch set" if res.unproven else ""
    print(f"packaged {NPM_NAME} {res.npm_version} (ONNX Runtime {res.ort_version}{unproven}): "
          f"{', '.join(res.variants)}, "
          f"default {res.default} (checked in {res.seconds['check_s']:.1f} s, written in "
          f"{res.seconds['write_s']:.1f} s)")
    for p in (res.tgz, res.wheel):
        print(f"  {p}  {p.stat().st_size:,} B  sha256 {sha256(p.read_bytes())}")
    print(f"  install: npm install {NPM_NAME}@file:{res.tgz}")
