"""Read and vet what a build left in OUT: the ``<variant>/`` dirs and ``onnxruntime-web/``.

Why the checks run here again: packaging is the last step before users get the files, and packaging artifacts
nobody checked (a MEMFS manifest over a glue without the FS, a wasm over budget, a file edited after the build) is
the mistake this package exists to prevent.  Every ``OUT/<variant>/`` must carry ``manifest.json``, pass
``checks.check_dir``, and the bytes packaged must be the bytes checked (their sha256 is compared with the check's
and the manifest's).  The JS gets the same treatment in its own terms: every file of ``onnxruntime-web/package/``
must be the one its manifest lists, and it must come from the ORT version, patch set and source tree the wasm
came from, because the package pairs them and a JS/wasm mismatch fails at run time, far from its cause.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.manifest import Manifest, record_json
from ..checks.glue import PairKind
from ..checks.rules import CheckReport, Finding, c_api_for, check_dir, pair_kind
from ..checks.sizes import Budgets
from ..errors import CannotCheck, PackageCannotCheck, PackageCheckFailed, PackageError
from ..js.web import JS_DIR_NAME, JS_FORMAT, upstream_stem
from ..variants import Variant, load_table
from .archive import sha256

KINDS = ("wasm", "mjs")
# What each pair kind runs on, as the package's README and messages name it.
EP_LABELS: dict[PairKind, str] = {"cpu": "CPU", "jsep": "WebGPU (JSEP)", "asyncify": "WebGPU EP (asyncify)",
                                  "jspi": "WebGPU EP (jspi)"}
SAME_SOURCE_KEYS = ("version", "patchset", "source")  # what must agree between the wasm and the JS
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # a variant name becomes a path, an export and a JS string


@dataclass(frozen=True)
class VariantFiles:
    """One checked-to-be ``OUT/<variant>/``, its bytes read once so the bytes checked are the bytes packaged."""

    name: str
    arch: str
    memfs: bool
    jsep: bool
    webgpu: str  # Variant.webgpu: "", "asyncify" or "jspi"
    directory: Path
    stem: str
    manifest: Manifest
    data: dict[str, bytes]  # kind -> bytes
    sha256: dict[str, str]  # kind -> hex

    @property
    def kind(self) -> PairKind:
        """Which pair this is, hence the bundles that load it: what its name says (read_variant checked the name)."""
        return pair_kind(self.stem)

    @property
    def ort(self) -> dict[str, Any]:
        return record_json(self.manifest.ort) if self.manifest.ort else {}

    @property
    def ort_version(self) -> str:
        version = self.manifest.ort.version if self.manifest.ort else None
        if not version:
            raise PackageError(f"{self.name}: {self.directory}/manifest.json has no ort.version",
                               "rebuild with a current ortwasm; the package is named after the ORT version")
        return version

    @property
    def recipe_version(self) -> str:
        """Whose recipe judges this variant: an unproven build's patch set's (manifest.OrtInfo), else its own."""
        return (self.manifest.ort.recipe_version if self.manifest.ort else None) or self.ort_version

    @property
    def emscripten(self) -> str:
        return self.manifest.toolchain.emscripten if self.manifest.toolchain else "?"


@dataclass(frozen=True)
class WebPackage:
    """``OUT/onnxruntime-web/``: the JS stage's unpacked npm package, every file read and matched to its manifest."""

    directory: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]  # path inside package/ -> bytes
    package_json: dict[str, Any]

    @property
    def ort(self) -> dict[str, Any]:
        ort = self.manifest["ort"]
        assert isinstance(ort, dict)
        return ort

    @property
    def dropped(self) -> list[str]:
        return [str(d) for d in self.manifest.get("dropped", [])]

    @property
    def dropped_paths(self) -> set[str]:
        """The dropped files as package.json's targets name them (``dist/<name>``)."""
        return {f"dist/{name}" for name in self.dropped}


def read_variant(d: Path, table: dict[str, Variant]) -> VariantFiles:
    """Validate one variant dir (manifest, one .wasm/.mjs pair, listed in the manifest, unchanged) and read it."""
    name = d.name
    mf = d / "manifest.json"
    if not mf.is_file():
        raise PackageError(f"refusing to package {name}: {d} has no manifest.json, so nothing says what it was "
                           "built as or that it was checked", "rebuild it with `python build.py --variants "
                           f"{name}`; only OUT/<variant>/ dirs written by the build can be packaged")
    try:
        manifest = Manifest.read(mf)
    except CannotCheck as exc:
        raise PackageCannotCheck(f"refusing to package {name}: {exc.message}", exc.hint) from None
    v = manifest.variant
    if v is None:
        raise PackageCannotCheck(f"refusing to package {name}: {mf} has no valid 'variant' (name, arch, memfs)",
                                 "rebuild with a current ortwasm")
    if v.name != name:
        raise PackageError(f"refusing to package {name}: its manifest says it is variant {v.name!r}",
                           "the directory name is the variant name; do not rename OUT/<variant>/ dirs")
    if name not in table or not _SAFE_NAME.match(name):
        raise PackageError(f"refusing to package {name}: not a variant of the variant table "
                           "(ortwasm/data/variants.toml); its name becomes an import path, onnxruntime-web/<variant>",
                           f"package only table variants ({', '.join(table)}); move {d} out of the OUT dir")
    # manifests from before the JSEP or the WebGPU-EP variants lack the key: they state neither, i.e. CPU builds
    said = {"arch": v.arch, "memfs": v.memfs, "jsep": bool(v.jsep), "webgpu": v.webgpu or ""}
    want = {"arch": table[name].arch, "memfs": table[name].memfs, "jsep": table[name].jsep,
            "webgpu": table[name].webgpu}
    if said != want:
        diff = [k for k in want if said[k] != want[k]]
        raise PackageError(f"refusing to package {name}: {mf} says " + ", ".join(f"{k}={said[k]!r}" for k in diff)
                           + " where the variant table (ortwasm/data/variants.toml) says "
                           + ", ".join(f"{k}={want[k]!r}" for k in diff)
                           + ": the dir holds another build than the variant names, and the package would put its "
                           "pair where onnxruntime-web expects another kind", "rebuild it with this ortwasm's variant "
                           "table (`python build.py --variants " + name + "`)")
    pair = pair_kind(table[name].artifact_stem)
    stems = sorted(p.name[:-5] for p in d.glob("*.wasm") if p.is_file())
    if len(stems) != 1:
        raise PackageError(f"refusing to package {name}: expected one .wasm in {d}, found {len(stems)}",
                           "an OUT/<variant>/ holds exactly one .wasm/.mjs pair")
    stem = stems[0]
    if stem != upstream_stem(pair):
        raise PackageError(f"refusing to package {name}: its pair is {d}/{stem}.wasm/.mjs, but onnxruntime-web "
                           f"{manifest.ort.version if manifest.ort and manifest.ort.version else ''} loads only "
                           f"{upstream_stem(pair)}.wasm/.mjs for a {EP_LABELS[pair]} variant",
                           "package SIMD + threads variants only (the release variants of the table), each under "
                           "the name its build gave it")
    data: dict[str, bytes] = {}
    sums: dict[str, str] = {}
    for kind in KINDS:
        fname = f"{stem}.{kind}"
        path = d / fname
        if not path.is_file():
            raise PackageError(f"refusing to package {name}: {path} is missing", "rebuild the variant")
        entry = manifest.file(fname)
        if entry is None:
            raise PackageError(f"refusing to package {name}: {mf} does not list {fname} with a sha256",
                               "rebuild the variant; the manifest is what ties the files to their build")
        data[kind] = path.read_bytes()
        sums[kind] = sha256(data[kind])
        if sums[kind] != entry.sha256:  # check's "manifest" rule, found before the full check runs
            raise PackageCheckFailed(f"refusing to package {name}: {fname} is sha256 {sums[kind][:16]} but the "
                                     f"manifest says {entry.sha256[:16]}: changed after the build",
                                     "rebuild the variant")
    return VariantFiles(name, v.arch, v.memfs, bool(v.jsep), v.webgpu or "", d, stem, manifest, data, sums)


def collect(out: Path, exclude: Path | None = None) -> list[VariantFiles]:
    """Every ``out/<variant>/``, in variant-table order (hidden dirs are a build's temporaries; ``onnxruntime-web/``
    is the JS, read by ``read_web``; ``exclude`` is --dest if it is inside)."""
    if not out.is_dir():
        raise PackageError(f"{out} is not a directory", "pass the OUT dir of a build (it holds <variant>/ dirs)")
    if (out / "manifest.json").is_file():
        raise PackageError(f"{out} is one variant's dir, not an OUT dir", f"pass its parent: {out.parent}")
    skip = exclude.resolve() if exclude is not None else None
    dirs = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != JS_DIR_NAME
                  and p.resolve() != skip)
    if not dirs:
        raise PackageError(f"{out} has no <variant>/ dirs", "build first: python build.py --variants ... --out OUT")
    table = load_table()
    order = list(table)
    variants = sorted((read_variant(d, table) for d in dirs), key=lambda v: order.index(v.name))
    versions = sorted({v.ort_version for v in variants})
    if len(versions) > 1:
        raise PackageError(f"refusing to package ORT versions {', '.join(versions)} together",
                           "one package holds one ONNX Runtime version; build every variant from the same source")
    return variants


def check_all(variants: list[VariantFiles], budgets: Budgets) -> dict[str, CheckReport]:
    """Run the full check on every variant (in parallel: compression drops the GIL); refuse on any failure."""
    def one(v: VariantFiles) -> CheckReport:
        try:
            return check_dir(v.directory, expect=None, budgets=budgets, baseline=None,
                             required_api=c_api_for(v.recipe_version))
        except CannotCheck as exc:
            raise PackageCannotCheck(f"refusing to package {v.name}: it cannot be checked: {exc.message}",
                                     exc.hint) from None

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(variants)))) as pool:
        reports = dict(zip((v.name for v in variants), pool.map(one, variants), strict=True))
    CheckReport.merge(variants[0].directory.parent, [reports[v.name] for v in variants]).raise_if_failed(
        "refusing to package", "fix the build (or patches/<version>/budgets.toml if the growth is intended); "
        f"`python -m ortwasm check {variants[0].directory.parent}/<variant>` shows the report", PackageCheckFailed)
    for v in variants:  # the bytes packaged are the bytes the check measured
        measured = {Path(fs.name).suffix[1:]: fs.sha256 for a in reports[v.name].artifacts for fs in a.sizes}
        if measured != v.sha256:
            raise PackageError(f"refusing to package {v.name}: its files changed while being checked",
                               "let the build finish, then package again")
    return reports


_REBUILD_JS = (f"delete OUT/{JS_DIR_NAME} and rerun the build without --skip-js (it rebuilds the JS only when "
               "its manifest is missing or stale)")


def _bad_web(what: str, hint: str = _REBUILD_JS) -> PackageError:
    return PackageError(f"refusing to package: {what}", hint)


def read_web(out: Path) -> WebPackage:
    """``OUT/onnxruntime-web/``, with every file of ``package/`` matched to the sha256 the JS stage recorded."""
    return read_web_dir(out / JS_DIR_NAME)


def judge_js_dir(d: Path, version: str) -> list[Finding]:
    """``ortwasm check``'s rules for the JS stage's dir (``OUT/onnxruntime-web/``): what ``package`` would refuse,
    as findings.  Its files are the ones its manifest lists, byte for byte; it is of the version being checked;
    and it comes from the same ORT version, patch set and source as every variant dir next to it."""
    name = d.name
    try:
        web = read_web_dir(d)
    except PackageError as exc:
        return [Finding(name, "manifest.json", "js.files", False,
                        f"{name}: {exc.message.removeprefix('refusing to package: ')} ({exc.hint})")]
    out = [Finding(name, "package/", "js.files", True,
                   f"{name}: all {len(web.files)} files of package/ match its manifest; package.json has exports")]
    got = web.ort.get("version")
    out.append(Finding(name, "manifest.json", "js.version", got == version,
                       f"{name}: ONNX Runtime {got}" if got == version else
                       f"{name}: built from ONNX Runtime {got}, but the artifacts checked are {version}"))
    for mf in sorted(d.parent.glob("*/manifest.json")):
        if mf.parent == d:
            continue
        try:
            m = Manifest.read(mf)
        except CannotCheck:
            continue  # judged (and reported) as a variant
        if m.variant is None or m.ort is None:
            continue
        ort = record_json(m.ort)
        diff = [f"{k} {_show(ort.get(k))} vs {_show(web.ort.get(k))}" for k in SAME_SOURCE_KEYS
                if ort.get(k) != web.ort.get(k)]
        out.append(Finding(name, "manifest.json", "js.same_source", not diff,
                           f"{name}: same ORT source as {m.variant.name}" if not diff else
                           f"{name}: not built with {m.variant.name} ({'; '.join(diff)}); `package` refuses to pair "
                           "them: build the variants and the JS in one run"))
    return out


def read_web_dir(d: Path) -> WebPackage:
    """The JS stage's dir ``d``, with every file of ``package/`` matched to the sha256 the JS stage recorded."""
    if not d.is_dir():
        raise PackageError(f"refusing to package: {d} is missing; the package is onnxruntime-web itself, and its "
                           "JavaScript comes from the build's JS stage",
                           "rerun the build without --skip-js (`python build.py --variants ... --out OUT`); it writes "
                           f"OUT/{JS_DIR_NAME}/ next to the variants")
    mf = d / "manifest.json"
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _bad_web(f"{mf} is not readable JSON: {exc}") from None
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt <= JS_FORMAT:
        raise _bad_web(f"{mf} has format {fmt!r}; this ortwasm reads JS manifests of format 1..{JS_FORMAT}",
                       "use the ortwasm that built it, or rebuild the JS with this one")
    assert isinstance(manifest, dict)
    ort, listed, dropped = manifest.get("ort"), manifest.get("files"), manifest.get("dropped", [])
    if not (isinstance(ort, dict) and isinstance(ort.get("version"), str) and isinstance(listed, dict)
            and all(isinstance(v, str) for v in listed.values()) and isinstance(dropped, list)):
        raise _bad_web(f"{mf} lacks ort {{version, patchset, source}}, files {{path: sha256}} or dropped [...]")
    pkg = d / "package"
    on_disk = {p.relative_to(pkg).as_posix(): p for p in sorted(pkg.rglob("*")) if p.is_file()} \
        if pkg.is_dir() else {}
    missing, added = sorted(set(listed) - set(on_disk)), sorted(set(on_disk) - set(listed))
    if missing or added:
        what = (f"{len(missing)} listed file(s) missing ({', '.join(missing[:3])})" if missing else "") + \
               ("; " if missing and added else "") + \
               (f"{len(added)} file(s) not in its manifest ({', '.join(added[:3])})" if added else "")
        raise _bad_web(f"{pkg} is not what the JS stage wrote: {what}")
    files: dict[str, bytes] = {}
    changed: list[str] = []
    for rel in sorted(listed):
        files[rel] = on_disk[rel].read_bytes()
        got = sha256(files[rel])
        if got != listed[rel]:
            changed.append(f"{rel} is sha256 {got[:16]}, the manifest says {listed[rel][:16]}")
    if changed:
        raise _bad_web(f"{len(changed)} file(s) of {pkg} changed after the JS build: " + "; ".join(changed[:3]))
    try:
        package_json = json.loads(files["package.json"])
    except (KeyError, UnicodeDecodeError, ValueError) as exc:
        raise _bad_web(f"{pkg}/package.json is missing or not JSON ({exc})") from None
    if not (isinstance(package_json, dict) and isinstance(package_json.get("exports"), dict)):
        raise _bad_web(f"{pkg}/package.json has no \"exports\" map")
    return WebPackage(d, manifest, files, package_json)


def _show(value: object) -> str:
    return "(not recorded)" if value is None else repr(value)


def check_same_source(variants: list[VariantFiles], web: WebPackage) -> None:
    """Refuse to pair wasm and JS built from different trees: every mismatch at once, naming both values."""
    lines = [f"{v.name}: ORT {key} {_show(v.ort.get(key))}, but {JS_DIR_NAME}: {_show(web.ort.get(key))}"
             for v in variants for key in SAME_SOURCE_KEYS if v.ort.get(key) != web.ort.get(key)]
    if lines:
        names = ", ".join(dict.fromkeys(line.split(":")[0] for line in lines))
        raise PackageError(f"refusing to package {names} with {web.directory}: the wasm and the JS come from "
                           "different builds:\n  " + "\n  ".join(lines),
                           "build the variants and the JS in one run from one tree (`python build.py --variants "
                           "... --out OUT` writes both), then package again")
