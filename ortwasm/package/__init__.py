"""``ortwasm package OUT``: onnxruntime-web itself (npm tarball) and a wheel with the same files, byte-reproducible.

Inputs are what one build leaves in OUT: ``<variant>/`` dirs (checked again here, see ``inputs``) and
``onnxruntime-web/`` (the JS stage's npm package, built from the same tree).  Output, written atomically into
``--dest``: ``onnxruntime-web-<ort>-ortwasm.<n>.tgz`` (a drop-in onnxruntime-web, see ``npm``) and
``ortwasm_artifacts-<ort>.post<n>-py3-none-any.whl`` (the same files as package data, see ``wheel``).

Versions: npm ``<ort>-ortwasm.<n>`` (a prerelease of the ORT version it was built from, so it never poses as
upstream's release) and wheel ``<ort>.post<n>``; ``n`` from ``ORTWASM_PACKAGE_REVISION`` (default 1), so a rebuild
of the same ORT version can be republished.

Modules: ``inputs`` (read and vet OUT), ``npm`` (package.json, entry points, README), ``wheel``, ``archive``
(reproducible tar/zip, all-or-nothing write).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..checks.rules import CheckReport, default_budgets_path
from ..checks.sizes import Budgets, load_budgets
from ..errors import PackageError
from .archive import (
    GENERATOR,
    package_revision,
    record_hash,
    sha256,
    source_date_epoch,
    write_all,
    write_tgz,
)
from .inputs import KINDS, VariantFiles, WebPackage, check_all, check_same_source, collect, read_web
from .npm import NPM_NAME, Layout, check_embedded_glue, choose_default, choose_default_jsep, npm_files
from .skbuild import build_wheel, stage
from .wheel import NPM_ROOT, WHEEL_DIST, wheel_files

__all__ = ["NPM_NAME", "NPM_ROOT", "WHEEL_DIST", "PackageResult", "VariantFiles", "build_packages", "collect",
           "package", "record_hash", "write_tgz"]


WHEEL_MANIFEST_FORMAT = 2  # the wheel's combined manifest(), a document of its own (not manifest.json's format)


@dataclass(frozen=True)
class PackageResult:
    tgz: Path
    wheel: Path
    variants: tuple[str, ...]
    ort_version: str
    seconds: dict[str, float]
    default: str
    npm_version: str


def _ortwasm_field(layout: Layout, web: WebPackage) -> dict[str, Any]:
    """``package.json``'s ``"ortwasm"``: which pair is where, with its sha256, and what it was built from."""
    emscripten = sorted({v.emscripten for v in layout.variants})
    return {
        "variants": {v.name: {"arch": v.arch, "memfs": v.memfs,
                              "files": {layout.pair_path(v, k): v.sha256[k] for k in KINDS}}
                     for v in layout.variants},
        "default": layout.default,
        "ort": {k: web.ort.get(k) for k in ("version", "patched", "patchset", "source")},
        "toolchain": {"emscripten": ", ".join(emscripten)},
        "generator": GENERATOR,
    }


def combined_manifest(layout: Layout, web: WebPackage, reports: dict[str, CheckReport], npm_version: str,
                      wheel_version: str) -> dict[str, Any]:
    """The wheel's ``manifest()``: every variant's build manifest and check summary, and the JS build's record."""
    out: dict[str, Any] = {}
    for v in layout.variants:
        rep = reports[v.name]
        files = {k: {"path": layout.pair_path(v, k), "built_as": f"{v.stem}.{k}", "bytes": len(v.data[k]),
                     "sha256": v.sha256[k]} for k in KINDS}
        out[v.name] = {"arch": v.arch, "memfs": v.memfs, "jsep": v.jsep, "files": files,
                       "entries": layout.entries(v),
                       "checks": {"passed": len(rep.findings), "rules": sorted({f.rule for f in rep.findings})},
                       "build": v.manifest.to_json()}
    js = {k: val for k, val in web.manifest.items() if k not in ("files", "timings")}
    return {"format": WHEEL_MANIFEST_FORMAT, "onnxruntime": web.ort.get("version"), "generator": GENERATOR,
            "npm": {"name": NPM_NAME, "version": npm_version},
            "wheel": {"name": WHEEL_DIST, "version": wheel_version, "npm_root": NPM_ROOT},
            "default": layout.default, "variants": out, "web": js}


def _copy(src: Path, f: IO[bytes]) -> None:
    with src.open("rb") as r:
        shutil.copyfileobj(r, f)


def build_packages(path: Path, dest: Path, *, budgets: Budgets | None = None) -> PackageResult:
    """Vet and check everything in ``path`` (OUT), then write the npm tarball and the wheel into ``dest`` atomically."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    variants = collect(path, exclude=dest)
    web = read_web(path)
    check_same_source(variants, web)  # cheap refusals first, the full checks (compression) after
    # the version the manifests claim picks the rules; a version with no recipe is refused here (exit 4)
    reports = check_all(variants, budgets or load_budgets(default_budgets_path(variants[0].ort_version)))
    t1 = time.perf_counter()
    timings["check_s"] = t1 - t0
    epoch, rev, ort = source_date_epoch(), package_revision(), variants[0].ort_version
    npm_version, wheel_version = f"{ort}-ortwasm.{rev}", f"{ort}.post{rev}"
    layout = Layout(tuple(variants), choose_default(variants), choose_default_jsep(variants))
    check_embedded_glue(layout, web)
    npm = npm_files(layout, web, npm_version, _ortwasm_field(layout, web))
    manifest = combined_manifest(layout, web, reports, npm_version, wheel_version)
    pairs = {v.name: {k: layout.pair_path(v, k) for k in KINDS} for v in variants}
    whl = wheel_files(npm, pairs, layout.default, manifest, wheel_version, npm_version, ort)
    tgz_name = f"{NPM_NAME}-{npm_version}.tgz"
    whl_name = f"{WHEEL_DIST}-{wheel_version}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ortwasm-wheel.", dir=dest) as tmp:
        built = build_wheel(stage(whl, Path(tmp) / "staging"), Path(tmp), epoch)
        if built.name != whl_name:
            raise PackageError(f"internal error: scikit-build-core named the wheel {built.name}, not {whl_name}",
                               "report this to ortwasm's maintainers with cmake/wheel/pyproject.toml")
        tgz, wheel = write_all(dest, {tgz_name: lambda f: write_tgz(f, npm, epoch),
                                      whl_name: lambda f: _copy(built, f)})
    timings["write_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    return PackageResult(tgz, wheel, tuple(v.name for v in variants), ort, timings, layout.default, npm_version)


def package(path: Path, dest: Path) -> None:
    """CLI entry for ``ortwasm package OUT --dest DIR``."""
    res = build_packages(path, dest)
    print(f"packaged {NPM_NAME} {res.npm_version} (ONNX Runtime {res.ort_version}): {', '.join(res.variants)}, "
          f"default {res.default} (checked in {res.seconds['check_s']:.1f} s, written in "
          f"{res.seconds['write_s']:.1f} s)")
    for p in (res.tgz, res.wheel):
        print(f"  {p}  {p.stat().st_size:,} B  sha256 {sha256(p.read_bytes())}")
    print(f"  install: npm install {NPM_NAME}@file:{res.tgz}")
