"""Package checked artifacts: an npm tarball and a Python wheel, byte-reproducible.

Why the checks run here again: packaging is the last step before users get
the files, and packaging artifacts nobody checked (a MEMFS manifest over a
glue without the FS, a wasm over budget, a file edited after the build) is the
mistake this module exists to prevent.  Every ``OUT/<variant>/`` must carry
``manifest.json``, pass ``checks.check_dir``, and the bytes packaged must be the
bytes checked (their sha256 is compared with the check's and the manifest's).

Why the wheel is written directly (wheel spec: ``WHEEL``, ``METADATA``,
``RECORD`` with sha256) instead of by hatchling or scikit-build-core via
``python -m build``: the wheel holds no code to build, only data and a
generated ``__init__.py``.  A build backend would copy 60 MB into a project
dir, stamp its own mtimes and generator versions, and need its own pinned
version installed to stay reproducible; writing the zip ourselves is faster,
needs nothing installed, and lets this module own every byte (sorted entries,
fixed date, fixed modes).

Reproducibility: entries sorted, mtimes from ``SOURCE_DATE_EPOCH`` (default
npm's own constant 1985-10-26T08:15:00Z), uid/gid 0 with empty owner names,
modes 0644, gzip header mtime 0 and no file name.  Same artifacts in, same
bytes out (with the same zlib: deflate output may differ between zlib builds).
Compression level 6: 0.8 % larger than 9 on the wasm at half the time.

Versions: npm ``<ort>-<n>`` and wheel ``<ort>.post<n>`` (PEP 440's spelling of
the same), ``n`` from ``ORTWASM_PACKAGE_REVISION`` (default 1), so a rebuild of
the same ORT version can be republished without pretending to be another ORT.

Names in ``dist/``: the wasm32 MEMFS-OFF build keeps the names onnxruntime-web
loads (``ort-wasm-simd-threaded.wasm/.mjs``); the others get infixes that
cannot be mistaken for it (``.memfs``, ``.wasm64``, ``.wasm64.memfs``).  The
glue's default ``locateFile`` still asks for the original ``.wasm`` name, so
users pass ``env.wasm.wasmPaths = {mjs, wasm}`` (or ``locateFile``); the
package's README and ``package.json`` say so.  Pthread workers load the glue
through ``import.meta.url``, so renaming the ``.mjs`` is safe.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .checks import CheckReport, check_dir, default_budgets_path, load_manifest
from .errors import CannotCheck, PackageError
from .sizes import Budgets, load_budgets

NPM_NAME = "ortwasm-onnxruntime-web"
WHEEL_DIST = "ortwasm_artifacts"
DEFAULT_EPOCH = 499162500  # 1985-10-26T08:15:00Z: what `npm pack` stamps on every entry
ZIP_MIN_EPOCH = 315532800  # 1980-01-01: a zip cannot date anything earlier
KINDS = ("wasm", "mjs")
LEVEL = 6
_FILE_MODE = 0o644

GENERATOR = "ortwasm"  # no version: the bytes must not depend on whether ortwasm is pip-installed or a checkout


@dataclass(frozen=True)
class VariantFiles:
    """One checked-to-be ``OUT/<variant>/``, its bytes read once so the bytes checked are the bytes packaged."""

    name: str
    arch: str
    memfs: bool
    directory: Path
    stem: str
    manifest: dict[str, Any]
    data: dict[str, bytes]  # kind -> bytes
    sha256: dict[str, str]  # kind -> hex

    def dist_name(self, kind: str) -> str:
        infix = (".wasm64" if self.arch == "wasm64" else "") + (".memfs" if self.memfs else "")
        return f"{self.stem}{infix}.{kind}"

    @property
    def ort_version(self) -> str:
        ort = self.manifest.get("ort")
        version = ort.get("version") if isinstance(ort, dict) else None
        if not isinstance(version, str) or not version:
            raise PackageError(f"{self.name}: {self.directory}/manifest.json has no ort.version",
                               "rebuild with a current ortwasm; the package is named after the ORT version")
        return version


@dataclass(frozen=True)
class PackageResult:
    tgz: Path
    wheel: Path
    variants: tuple[str, ...]
    ort_version: str
    seconds: dict[str, float]


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise PackageError(f"{name}={raw!r} is not an integer >= {minimum}", f"unset {name} or fix its value")
    return int(raw)


def source_date_epoch() -> int:
    return _env_int("SOURCE_DATE_EPOCH", DEFAULT_EPOCH, 0)


def package_revision() -> int:
    """The ``<n>`` in ``1.21.0-<n>``: bump ``ORTWASM_PACKAGE_REVISION`` to republish the same ORT version."""
    return _env_int("ORTWASM_PACKAGE_REVISION", 1, 1)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_variant(d: Path) -> VariantFiles:
    """Validate one variant dir (manifest, one .wasm/.mjs pair, listed in the manifest, unchanged) and read it."""
    name = d.name
    mf = d / "manifest.json"
    if not mf.is_file():
        raise PackageError(f"refusing to package {name}: {d} has no manifest.json, so nothing says what it was "
                           "built as or that it was checked", "rebuild it with `python build.py --variants "
                           f"{name}`; only OUT/<variant>/ dirs written by the build can be packaged")
    try:
        manifest = load_manifest(mf)
    except CannotCheck as exc:
        raise PackageError(f"refusing to package {name}: {exc.message}", exc.hint) from None
    v = manifest.get("variant")
    if not (isinstance(v, dict) and v.get("arch") in ("wasm32", "wasm64") and isinstance(v.get("memfs"), bool)):
        raise PackageError(f"refusing to package {name}: {mf} has no valid 'variant' (name, arch, memfs)",
                           "rebuild with a current ortwasm")
    if v.get("name") != name:
        raise PackageError(f"refusing to package {name}: its manifest says it is variant {v.get('name')!r}",
                           "the directory name is the variant name; do not rename OUT/<variant>/ dirs")
    stems = sorted(p.name[:-5] for p in d.glob("*.wasm") if p.is_file())
    if len(stems) != 1:
        raise PackageError(f"refusing to package {name}: expected one .wasm in {d}, found {len(stems)}",
                           "an OUT/<variant>/ holds exactly one .wasm/.mjs pair")
    stem = stems[0]
    listed = {str(e.get("name")): e for e in manifest.get("files", []) if isinstance(e, dict)}
    data: dict[str, bytes] = {}
    sums: dict[str, str] = {}
    for kind in KINDS:
        fname = f"{stem}.{kind}"
        path = d / fname
        if not path.is_file():
            raise PackageError(f"refusing to package {name}: {path} is missing", "rebuild the variant")
        entry = listed.get(fname)
        if entry is None or not isinstance(entry.get("sha256"), str):
            raise PackageError(f"refusing to package {name}: {mf} does not list {fname} with a sha256",
                               "rebuild the variant; the manifest is what ties the files to their build")
        data[kind] = path.read_bytes()
        sums[kind] = _sha256(data[kind])
        if sums[kind] != entry["sha256"]:
            raise PackageError(f"refusing to package {name}: {fname} is sha256 {sums[kind][:16]} but the manifest "
                               f"says {str(entry['sha256'])[:16]}: changed after the build", "rebuild the variant")
    return VariantFiles(name, str(v["arch"]), bool(v["memfs"]), d, stem, manifest, data, sums)


def collect(out: Path, exclude: Path | None = None) -> list[VariantFiles]:
    """Every ``out/<variant>/`` (hidden dirs are a build's temporaries; ``exclude`` is --dest if it is inside)."""
    if not out.is_dir():
        raise PackageError(f"{out} is not a directory", "pass the OUT dir of a build (it holds <variant>/ dirs)")
    if (out / "manifest.json").is_file():
        raise PackageError(f"{out} is one variant's dir, not an OUT dir", f"pass its parent: {out.parent}")
    skip = exclude.resolve() if exclude is not None else None
    dirs = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and p.resolve() != skip)
    if not dirs:
        raise PackageError(f"{out} has no <variant>/ dirs", "build first: python build.py --variants ... --out OUT")
    variants = [read_variant(d) for d in dirs]
    versions = sorted({v.ort_version for v in variants})
    if len(versions) > 1:
        raise PackageError(f"refusing to package ORT versions {', '.join(versions)} together",
                           "one package holds one ONNX Runtime version; build every variant from the same source")
    seen: dict[str, str] = {}
    for v in variants:
        for kind in KINDS:
            other = seen.setdefault(v.dist_name(kind), v.name)
            if other != v.name:
                raise PackageError(f"variants {other} and {v.name} would both be dist/{v.dist_name(kind)}",
                                   "give them different arch/memfs/simd/threads, or package them separately")
    return variants


def check_all(variants: list[VariantFiles], budgets: Budgets) -> dict[str, CheckReport]:
    """Run the full check on every variant (in parallel: compression drops the GIL); refuse on any failure."""
    def one(v: VariantFiles) -> CheckReport:
        try:
            return check_dir(v.directory, expect=None, budgets=budgets, baseline=None)
        except CannotCheck as exc:
            raise PackageError(f"refusing to package {v.name}: it cannot be checked: {exc.message}", exc.hint) from None

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(variants)))) as pool:
        reports = dict(zip((v.name for v in variants), pool.map(one, variants), strict=True))
    bad = [(v.name, f) for v in variants for f in reports[v.name].failures]
    if bad:
        names = ", ".join(dict.fromkeys(n for n, _ in bad))
        lines = "\n  ".join(f.message for _, f in bad)
        raise PackageError(f"refusing to package: {names} failed {len(bad)} check(s):\n  {lines}",
                           f"fix the build (or ci/budgets.toml if the growth is intended); "
                           f"`python -m ortwasm check {variants[0].directory.parent}/<variant>` shows the report")
    for v in variants:  # the bytes packaged are the bytes the check measured
        measured = {Path(fs.name).suffix[1:]: fs.sha256 for a in reports[v.name].artifacts for fs in a.sizes}
        if measured != v.sha256:
            raise PackageError(f"refusing to package {v.name}: its files changed while being checked",
                               "let the build finish, then package again")
    return reports


def combined_manifest(variants: list[VariantFiles], reports: dict[str, CheckReport], npm_version: str,
                      wheel_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in variants:
        rep = reports[v.name]
        files = {k: {"name": v.dist_name(k), "built_as": f"{v.stem}.{k}", "bytes": len(v.data[k]),
                     "sha256": v.sha256[k]} for k in KINDS}
        out[v.name] = {"arch": v.arch, "memfs": v.memfs, "files": files,
                       "checks": {"passed": len(rep.findings), "rules": sorted({f.rule for f in rep.findings})},
                       "build": v.manifest}
    return {"format": 1, "onnxruntime": variants[0].ort_version, "generator": GENERATOR,
            "npm": {"name": NPM_NAME, "version": npm_version},
            "wheel": {"name": WHEEL_DIST, "version": wheel_version}, "variants": out}


def _json(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def npm_files(variants: list[VariantFiles], manifest: dict[str, Any], version: str) -> dict[str, bytes]:
    """Paths inside ``package/`` -> bytes, SHA256SUMS last computed over all the others."""
    files = {f"dist/{v.dist_name(k)}": v.data[k] for v in variants for k in KINDS}
    table = {v.name: {"arch": v.arch, "memfs": v.memfs, **{k: f"dist/{v.dist_name(k)}" for k in KINDS}}
             for v in variants}
    pkg = {"name": NPM_NAME, "version": version, "license": "MIT",
           "description": f"ONNX Runtime {variants[0].ort_version} WebAssembly artifacts "
                          f"({', '.join(v.name for v in variants)}) built by ortwasm, for onnxruntime-web",
           "files": ["dist/", "manifest.json", "SHA256SUMS", "README.md"],
           "exports": {"./dist/*": "./dist/*", "./manifest.json": "./manifest.json",
                       "./package.json": "./package.json"},
           "ortwasm": {"onnxruntime": variants[0].ort_version, "variants": table, "usage": NPM_USAGE}}
    files["package.json"] = _json(pkg)
    files["manifest.json"] = _json(manifest)
    files["README.md"] = _readme(NPM_NAME, version, variants[0].ort_version, table).encode()
    files["SHA256SUMS"] = "".join(f"{_sha256(files[p])}  {p}\n" for p in sorted(files)).encode()
    return files


def write_tgz(f: IO[bytes], files: dict[str, bytes], epoch: int) -> None:
    with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=LEVEL, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mtime, info.mode = len(files[path]), epoch, _FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[path]))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_files(variants: list[VariantFiles], manifest: dict[str, Any], version: str) -> dict[str, bytes]:
    """Archive path -> bytes in wheel order: the package sorted, then ``.dist-info`` with RECORD last."""
    pkg = {f"{WHEEL_DIST}/dist/{v.dist_name(k)}": v.data[k] for v in variants for k in KINDS}
    table = {v.name: {k: v.dist_name(k) for k in KINDS} for v in variants}
    pkg[f"{WHEEL_DIST}/__init__.py"] = _init_py(version, variants[0].ort_version, table).encode()
    pkg[f"{WHEEL_DIST}/manifest.json"] = _json(manifest)
    pkg[f"{WHEEL_DIST}/py.typed"] = b""
    info = f"{WHEEL_DIST}-{version}.dist-info"
    meta = {f"{info}/METADATA": _metadata(WHEEL_DIST, version, variants[0].ort_version).encode(),
            f"{info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n").encode()}
    ordered = {p: pkg[p] for p in sorted(pkg)} | {p: meta[p] for p in sorted(meta)}
    record = "".join(f"{p},{_record_hash(b)},{len(b)}\n" for p, b in ordered.items()) + f"{info}/RECORD,,\n"
    return ordered | {f"{info}/RECORD": record.encode()}


def write_wheel(f: IO[bytes], files: dict[str, bytes], epoch: int) -> None:
    date = time.gmtime(max(epoch, ZIP_MIN_EPOCH))[:6]
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=LEVEL) as zf:
        for path, data in files.items():  # already in wheel order
            zi = zipfile.ZipInfo(path, date_time=date)
            zi.create_system = 3  # unix, so external_attr's mode bits are read
            zi.external_attr = (stat.S_IFREG | _FILE_MODE) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data, compresslevel=LEVEL)


def _write_tmp(dest: Path, name: str, writer: Callable[[IO[bytes]], None]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=dest)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_all(dest: Path, writers: dict[str, Callable[[IO[bytes]], None]]) -> list[Path]:
    """Write every file under a temporary name (in parallel: zlib drops the GIL), rename only when all succeeded:
    ``dest`` never holds half a package, nor a new tarball next to an old wheel."""
    dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        futs = {name: pool.submit(_write_tmp, dest, name, w) for name, w in writers.items()}
    tmps = {name: f.result() for name, f in futs.items() if f.exception() is None}
    errors = [e for f in futs.values() if (e := f.exception()) is not None]
    if errors:
        for t in tmps.values():
            t.unlink(missing_ok=True)
        raise errors[0]
    finals = []
    for name, t in tmps.items():
        os.replace(t, dest / name)
        finals.append(dest / name)
    return finals


def build_packages(path: Path, dest: Path, *, budgets: Budgets | None = None) -> PackageResult:
    """Check every ``path/<variant>/``, then write the npm tarball and the wheel into ``dest`` atomically."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    variants = collect(path, exclude=dest)
    reports = check_all(variants, budgets or load_budgets(default_budgets_path()))
    t1 = time.perf_counter()
    timings["check_s"] = t1 - t0
    epoch, rev, ort = source_date_epoch(), package_revision(), variants[0].ort_version
    npm_version, wheel_version = f"{ort}-{rev}", f"{ort}.post{rev}"
    manifest = combined_manifest(variants, reports, npm_version, wheel_version)
    npm, whl = npm_files(variants, manifest, npm_version), wheel_files(variants, manifest, wheel_version)
    tgz_name = f"{NPM_NAME}-{npm_version}.tgz"
    whl_name = f"{WHEEL_DIST}-{wheel_version}-py3-none-any.whl"
    tgz, wheel = write_all(dest, {tgz_name: lambda f: write_tgz(f, npm, epoch),
                                  whl_name: lambda f: write_wheel(f, whl, epoch)})
    timings["write_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    return PackageResult(tgz, wheel, tuple(v.name for v in variants), ort, timings)


def package(path: Path, dest: Path) -> None:
    """CLI entry for ``ortwasm package OUT --dest DIR``."""
    res = build_packages(path, dest)
    print(f"packaged ONNX Runtime {res.ort_version}: {', '.join(res.variants)} "
          f"(checked in {res.seconds['check_s']:.1f} s, written in {res.seconds['write_s']:.1f} s)")
    for p in (res.tgz, res.wheel):
        print(f"  {p}  {p.stat().st_size:,} B  sha256 {_sha256(p.read_bytes())}")


# --- generated text ------------------------------------------------------------------------------------------

NPM_USAGE = ("dist/ holds one .wasm/.mjs pair per variant; only the wasm32 MEMFS-OFF pair has the names "
             "onnxruntime-web loads by default. For any other pair set env.wasm.wasmPaths = {mjs, wasm} to that "
             "pair's two URLs (or pass locateFile), and always load a .mjs with its own .wasm.")


def _readme(name: str, version: str, ort: str, table: dict[str, dict[str, Any]]) -> str:
    rows = "\n".join(f"| `{v}` | {t['arch']} | {'on' if t['memfs'] else 'off'} | `{t['mjs']}` | `{t['wasm']}` |"
                     for v, t in table.items())
    first = next((v for v, t in table.items() if t["memfs"] or t["arch"] != "wasm32"), next(iter(table)))
    return f"""# {name} {version}

ONNX Runtime {ort} WebAssembly artifacts (SIMD + threads) built and checked by ortwasm. `manifest.json` records
how each was built and checked; `SHA256SUMS` covers every other file (`sha256sum -c SHA256SUMS`).

| variant | arch | MEMFS external data | glue | wasm |
|---|---|---|---|---|
{rows}

{NPM_USAGE}

Each glue's default `locateFile` asks for the `.wasm` name it was built under (`ort-wasm-simd-threaded.wasm`),
not its name here, so without `wasmPaths` a renamed `.mjs` would load the upstream-named (wrong) binary.
With onnxruntime-web:

```js
import * as ort from 'onnxruntime-web';
ort.env.wasm.wasmPaths = {{
  mjs: new URL('./node_modules/{name}/{table[first]['mjs']}', import.meta.url).href,
  wasm: new URL('./node_modules/{name}/{table[first]['wasm']}', import.meta.url).href,
}};
```

Loading the glue directly: `(await import(mjsUrl)).default({{ locateFile: (f, prefix) => f.endsWith('.wasm') ?
wasmUrl : prefix + f }})`. wasm64 pairs need a runtime with Memory64 (Node >= 24, Chromium >= 133).
"""


def _init_py(version: str, ort: str, table: dict[str, dict[str, str]]) -> str:
    return f'''"""ONNX Runtime {ort} WebAssembly artifacts built by ortwasm, as package data.

Generated by ortwasm.package.  ``artifact_path(variant, kind)`` gives a file's path,
``files()`` the directory holding all of them (importlib.resources), ``manifest()``
how each was built and checked.
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
KINDS = ("wasm", "mjs")
VARIANTS: dict[str, dict[str, str]] = {json.dumps(table, sort_keys=True)}


def files() -> Traversable:
    """The directory holding every .wasm/.mjs pair."""
    return resources.files(__name__) / "dist"


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


def _metadata(dist: str, version: str, ort: str) -> str:
    return (f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n"
            f"Summary: ONNX Runtime {ort} WebAssembly artifacts built by ortwasm\nLicense: MIT\n"
            "Requires-Python: >=3.9\nDescription-Content-Type: text/markdown\n\n"
            f"ONNX Runtime {ort} `.wasm`/`.mjs` pairs as package data: "
            f"`{dist}.artifact_path(variant, 'wasm')`.\n")
