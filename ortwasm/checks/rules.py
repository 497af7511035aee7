"""Judge finished artifacts: memory64/table64, FS presence, glue fix, C API, size budgets.

Why a separate stage: a build that links is not a build that works.  A wasm64
glue that still says ``index:"i64"`` loads nowhere, a MEMFS build without the
FS cannot mount files, a 64-bit memory next to a 32-bit table or glue is two
builds mixed, and 10 KB of unintended glue goes unnoticed unless a budget says
so.  What the files say about each other (memory64, table64, the glue's
PTR_SIZE) is judged with or without a manifest.  Rule breaks are *findings*
(``CheckFailed``, exit 8); input that cannot be judged at all (including a
module that fails validation) raises ``CannotCheck`` (exit 9) at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..artifacts.manifest import MANIFEST_FORMAT, Manifest
from ..errors import CannotCheck, CheckFailed
from ..recipe import default_version, require_recipe
from . import glue as gluemod
from . import wasm as wasmmod
from .sizes import DEFAULT_BROTLI_LIMIT, MEASURES, Budget, Budgets, FileSizes, load_budgets, measure

__all__ = ["JSEP_C_API", "MANIFEST_FORMAT", "ArtifactReport", "Budget", "Budgets", "CheckReport", "Delta",
           "Expectation", "Finding", "Growth", "c_api_from_header", "check_dir", "discover", "load_budgets"]

# What a JSEP build adds to the C API: the kernels' callbacks into C++ (core/providers/js/js_export.h, exported by
# onnxruntime_webassembly.cmake's EXPORTED_FUNCTIONS only with onnxruntime_USE_JSEP).  onnxruntime-web's WebGPU
# backend calls both on every kernel run.
JSEP_C_API: tuple[str, ...] = ("JsepOutput", "JsepGetNodeName")
JSEP_SUFFIX = ".jsep"  # ORT appends it to the output name of a JSEP build; onnxruntime-web's WebGPU bundles load it

Arch = Literal["wasm32", "wasm64"]


def c_api_from_header(path: Path) -> tuple[str, ...]:
    """The ``Ort*`` functions a header declares, skipping ``ENABLE_TRAINING_APIS`` and ``USE_WEBGPU`` blocks
    (neither is in a CPU build)."""
    names: list[str] = []
    depth, skip_at = 0, -1
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("#if"):
            depth += 1
            if skip_at < 0 and ("ENABLE_TRAINING_APIS" in s or "USE_WEBGPU" in s):
                skip_at = depth
        elif s.startswith("#endif"):
            skip_at = -1 if depth == skip_at else skip_at
            depth -= 1
        elif skip_at < 0:
            names += re.findall(r"EMSCRIPTEN_KEEPALIVE\s+(Ort\w+)\s*\(", line)
    return tuple(names)


@dataclass(frozen=True)
class Expectation:
    """What a variant's artifacts must be; from manifest.json's ``variant`` unless given explicitly."""

    name: str
    arch: Arch
    memfs: bool
    jsep: bool | None = None  # None: not stated (manifests from before JSEP variants); the file name decides


@dataclass(frozen=True)
class Finding:
    """One rule applied to one file; ``message`` names the file, the measured value and the limit."""

    artifact: str
    file: str
    rule: str
    ok: bool
    message: str


@dataclass(frozen=True)
class ArtifactReport:
    name: str
    directory: Path
    stem: str
    expectation: Expectation | None
    manifest: Manifest | None
    wasm: wasmmod.WasmInfo
    glue: gluemod.GlueFacts
    sizes: tuple[FileSizes, FileSizes]  # (.wasm, .mjs)
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Delta:
    """ON - OFF of one file between ``X`` and ``X-memfs``: what MEMFS costs."""

    off: str
    on: str
    file: str
    raw: int
    gzip: int
    brotli: int | None


@dataclass(frozen=True)
class Growth:
    artifact: str
    file: str
    measure: str
    before: int
    after: int

    @property
    def percent(self) -> float:
        return 100.0 * (self.after - self.before) / self.before if self.before else 0.0


BUDGET_HINT = "fix the build, or raise the budget in patches/<version>/budgets.toml if the growth is intended"


@dataclass(frozen=True)
class CheckReport:
    root: Path
    artifacts: tuple[ArtifactReport, ...]
    deltas: tuple[Delta, ...]
    growth: tuple[Growth, ...]
    findings: tuple[Finding, ...]  # all of them, artifact findings included

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_if_failed(self, refusing: str = "", hint: str = BUDGET_HINT,
                        error: type[CheckFailed] = CheckFailed) -> None:
        """Every failed rule in one ``CheckFailed`` (exit 8 from every command that checks).

        ``refusing`` names what the failure stops (``package``: "refusing to package"); ``error`` lets that
        stage raise its own subclass, which keeps the exit code of the failure kind.
        """
        if not self.failures:
            return
        lines = "\n  ".join(f.message for f in self.failures)
        n = len(self.failures)
        if refusing:
            names = ", ".join(dict.fromkeys(f.artifact for f in self.failures))
            raise error(f"{refusing}: {names} failed {n} check(s):\n  {lines}", hint)
        raise error(f"{n} check(s) failed:\n  {lines}", hint)

    @classmethod
    def merge(cls, root: Path, reports: Sequence[CheckReport]) -> CheckReport:
        """Several checks as one (``package`` checks each variant dir on its own, in parallel)."""
        return cls(root, tuple(a for r in reports for a in r.artifacts), tuple(d for r in reports for d in r.deltas),
                   tuple(g for r in reports for g in r.growth), tuple(f for r in reports for f in r.findings))


def _expectation(manifest: Manifest, where: Path) -> Expectation:
    v = manifest.variant
    if v is None:
        raise CannotCheck(f"{where}: 'variant' must hold name, arch (wasm32|wasm64) and memfs (bool); got None",
                          "rebuild with a current ortwasm")
    return Expectation(v.name, v.arch, v.memfs, v.jsep)


def _pairs(d: Path) -> list[str]:
    """Stems with both ``.wasm`` and ``.mjs``.  A lone ``ort-wasm*.mjs`` or any lone ``.wasm`` is bad input."""
    wasm = {p.name[:-5] for p in d.glob("*.wasm") if p.is_file()}
    glue = {p.name[:-4] for p in d.glob("*.mjs") if p.is_file()}
    lone_wasm = sorted(wasm - glue)
    if lone_wasm:
        raise CannotCheck(f"{d / lone_wasm[0]}.wasm has no {lone_wasm[0]}.mjs next to it",
                          "copy the glue emcc wrote with it; the C API and FS checks read the glue")
    lone_glue = sorted(s for s in glue - wasm if s.startswith("ort-wasm"))  # dist/ also holds ort.*.mjs bundles
    if lone_glue:
        raise CannotCheck(f"{d / lone_glue[0]}.mjs has no {lone_glue[0]}.wasm next to it",
                          "copy the .wasm emcc wrote with it")
    return sorted(wasm & glue)


def discover(path: Path) -> list[tuple[Path, str]]:
    """(dir, stem) of every artifact: in ``path`` itself (a variant dir, an npm dist/) or one level down."""
    if not path.is_dir():
        raise CannotCheck(f"{path}: not a directory", "pass OUT/<variant>/, OUT/ or an npm dist/ directory")
    found = [(path, s) for s in _pairs(path)]
    if not found:
        for d in sorted(p for p in path.iterdir() if p.is_dir()):
            stems = _pairs(d)
            if not stems and (d / "manifest.json").is_file():
                raise CannotCheck(f"{d}: has manifest.json but no .wasm/.mjs", "did that variant's build fail?")
            found += [(d, s) for s in stems]
    if not found:
        raise CannotCheck(f"{path}: no .wasm/.mjs pairs here or in its subdirectories", "is the build finished?")
    return found


def _fail(art: str, file: str, rule: str, ok: bool, good: str, bad: str) -> Finding:
    return Finding(art, file, rule, ok, good if ok else bad)


def _budget_findings(art: str, variant: str, sizes: Sequence[FileSizes], budgets: Budgets) -> list[Finding]:
    out: list[Finding] = []
    for fs in sizes:
        budget, source = budgets.for_file(variant, fs.name)
        for m in MEASURES:
            limit, value = (budget.limit(m) if budget else None), fs.get(m)
            if limit is None or value is None:
                continue
            excess = value - limit
            out.append(_fail(art, fs.name, f"budget.{m}", excess <= 0,
                             f"{art}/{fs.name}: {m} {value:,} B within budget {limit:,} B ([{source}])",
                             f"{art}/{fs.name}: {m} {value:,} B exceeds budget {limit:,} B ([{source}] in "
                             f"{budgets.source}) by {excess:,} B (+{100 * excess / max(limit, 1):.1f}%)"))
    return out


def _width_findings(art: str, wasm: wasmmod.WasmInfo, glue: gluemod.GlueFacts) -> list[Finding]:
    """memory64, table64 and the glue's pointer width must agree, judged with or without a manifest.

    Why: emscripten's MEMORY64 makes the memory *and* the indirect function table 64-bit and ORT links
    ``js_post_js_64.js`` (PTR_SIZE 8) with it; a wasm32 build has none of the three.  Any mix means files
    from different builds or a hand-edited module: it traps on the first call_indirect or onnxruntime-web
    reads every pointer at the wrong width.  That needs no manifest to see.
    """
    mem = wasm.memory
    if mem is None:  # the "memory" rule already failed
        return []
    wf, gf = Path(wasm.path).name, Path(glue.path).name
    m64 = mem.limits.is64
    bits, other = (64, 32) if m64 else (32, 64)
    out: list[Finding] = []
    if wasm.tables:
        odd = [f"table {i}" + (f" ({t.imported_from})" if t.imported_from else "")
               for i, t in enumerate(wasm.tables) if t.limits.is64 != m64]
        out.append(_fail(art, wf, "memory_table64", not odd,
                         f"{art}/{wf}: memory and table(s) are all {bits}-bit",
                         f"{art}/{wf}: memory is {bits}-bit (memory64={m64}) but {', '.join(odd)} is "
                         f"{other}-bit (table64={not m64}): an emscripten MEMORY64 build makes both 64-bit, "
                         "a wasm32 build neither; rebuild, the module was mixed or edited"))
    claims = [(8 * p, f"sets PTR_SIZE={p}") for p in glue.ptr_sizes]
    if glue.memory64_index_key is not None:
        claims.append((64, f'creates its memory with {glue.memory64_index_key}:"i64"'))
    elif glue.creates_memory and mem.imported_from is not None:
        claims.append((32, "creates the imported memory without an i64 address type"))
    if claims:
        wrong = [f"{what} ({width}-bit)" for width, what in claims if width != bits]
        out.append(_fail(art, gf, "glue_ptr_width", not wrong,
                         f"{art}/{gf}: glue {', '.join(w for _, w in claims)}: matches {bits}-bit memory",
                         f"{art}/{gf}: glue pointer width does not match {wf}: the glue {'; '.join(wrong)} but "
                         f"the wasm memory is {bits}-bit (memory64={m64}); the .mjs and .wasm come from different "
                         "builds (a MEMORY64 link uses js_post_js_64.js, PTR_SIZE 8): copy both from one build"))
    return out


def _jsep_findings(art: str, stem: str, glue: gluemod.GlueFacts, exp: Expectation | None) -> list[Finding]:
    """A ``.jsep`` pair must be a JSEP build and only it; the manifest, when it says, must agree with the name.

    Why judge by the file name even without a manifest: onnxruntime-web picks the pair by name (its WebGPU
    bundles load ``*.jsep.mjs``), so a CPU glue under a ``.jsep`` name (or the reverse) is what breaks a user.
    """
    gf = Path(glue.path).name
    named = stem.endswith(JSEP_SUFFIX)
    out = [_fail(art, gf, "jsep", glue.jsep == named,
                 f"{art}/{gf}: {'JSEP (WebGPU) glue, jsepInit present' if named else 'no JSEP in the glue'}, "
                 "as its name says",
                 f"{art}/{gf}: the name says {'a JSEP' if named else 'a CPU'} build but the glue "
                 f"{'has' if glue.jsep else 'lacks'} jsepInit (pre-jsep.js): the file was renamed or comes from "
                 "another build; onnxruntime-web's WebGPU bundles load only *.jsep.mjs, its CPU bundles the rest")]
    if exp is not None and exp.jsep is not None:
        out.append(_fail(art, gf, "jsep_manifest", exp.jsep == named,
                         f"{art}: variant {exp.name} jsep={exp.jsep} matches the pair's name",
                         f"{art}: variant {exp.name} has jsep={exp.jsep} but its pair is {stem}.wasm/.mjs"))
    return out


def _judge(art: str, wasm: wasmmod.WasmInfo, glue: gluemod.GlueFacts, exp: Expectation | None,
           required: Sequence[str], stem: str = "") -> list[Finding]:
    wf, gf = Path(wasm.path).name, Path(glue.path).name
    out: list[Finding] = _jsep_findings(art, stem, glue, exp)
    if stem.endswith(JSEP_SUFFIX):
        required = (*required, *JSEP_C_API)
    if wasm.memory is None:
        out.append(Finding(art, wf, "memory", False, f"{art}/{wf}: no memory, neither defined nor imported"))
    out += _width_findings(art, wasm, glue)
    if exp is not None:
        want64 = exp.arch == "wasm64"
        for rule, have in (("memory64", wasm.memory64), ("table64", wasm.table64)):
            out.append(_fail(art, wf, rule, bool(have) == want64, f"{art}/{wf}: {rule}={have} matches {exp.arch}",
                             f"{art}/{wf}: {rule} is {have} but variant {exp.name} ({exp.arch}) needs {want64}"))
        counts = ", ".join(f"{m} x{n}" for m, n in glue.fs_markers)
        if glue.fs_present is None:
            raise CannotCheck(f"{art}/{gf}: cannot tell whether the FS is linked in: markers {counts}",
                              "a new emscripten may have changed FS strings; "
                              "update FS_MARKERS in ortwasm/checks/glue.py")
        out.append(_fail(art, gf, "fs", glue.fs_present == exp.memfs,
                         f"{art}/{gf}: FS {'present' if exp.memfs else 'absent'} matches memfs={exp.memfs}",
                         f"{art}/{gf}: FS {'present' if glue.fs_present else 'absent'} ({counts}) but variant "
                         f"{exp.name} has memfs={exp.memfs}"))
    if wasm.memory64 or (exp is not None and exp.arch == "wasm64"):  # broken whatever the manifest says
        out.append(_fail(art, gf, "glue_fix", glue.memory64_index_key != "index",
                         f"{art}/{gf}: memory64 key is {glue.memory64_index_key!r}",
                         f"{art}/{gf}: glue fix missing: the glue still says index:\"i64\" (an emscripten before the "
                         "`address` key); "
                         "Node 24 ignores it and treats the memory as 32-bit (wants address:\"i64\")"))
    exports = wasm.function_exports()
    missing: list[str] = []
    for name in required:
        m = glue.mapping(name)
        target = (m.wasm_export if m else None) or name
        if m is None:
            missing.append(f"{name} (not exposed as _{name} by the glue)")
        elif target not in exports:
            missing.append(f"{name} (glue maps it to wasm export {target!r}, which {wf} lacks)")
    out.append(_fail(art, gf, "c_api", not missing, f"{art}: all {len(required)} C API functions present",
                     f"{art}: {len(missing)} of {len(required)} C API functions missing: {'; '.join(missing)}"))
    return out


def _manifest_findings(art: str, d: Path, manifest: Manifest, sizes: Sequence[FileSizes]) -> list[Finding]:
    by_name = {s.name: s for s in sizes}
    out: list[Finding] = []
    for entry in manifest.files or ():
        fs = by_name.get(entry.name)
        if fs is None:
            continue
        same = entry.bytes == fs.raw and entry.sha256 == fs.sha256
        out.append(_fail(art, fs.name, "manifest", same, f"{art}/{fs.name}: matches manifest.json",
                         f"{art}/{fs.name}: file is {fs.raw:,} B sha256 {fs.sha256[:16]} but {d}/manifest.json says "
                         f"{entry.bytes} B sha256 {entry.sha256[:16]}: changed after the build"))
    return out


def _artifact(d: Path, stem: str, multi: bool, expect: Expectation | None, required: Sequence[str],
              budgets: Budgets, futs: Sequence[Future[FileSizes]]) -> ArtifactReport:
    mf = d / "manifest.json"
    manifest = Manifest.read(mf) if mf.is_file() else None
    exp = expect or (_expectation(manifest, mf) if manifest is not None else None)
    name = exp.name if exp else d.name
    name = f"{name}/{stem}" if multi else name
    wp, gp = d / f"{stem}.wasm", d / f"{stem}.mjs"
    wasm, glue = wasmmod.parse_file(wp), gluemod.parse_file(gp)
    sizes = (futs[0].result(), futs[1].result())
    findings = _judge(name, wasm, glue, exp, required, stem)
    findings += _budget_findings(name, exp.name if exp else d.name, sizes, budgets)
    if manifest is not None:
        findings += _manifest_findings(name, d, manifest, sizes)
    return ArtifactReport(name, d, stem, exp, manifest, wasm, glue, sizes, tuple(findings))


def _deltas(arts: Sequence[ArtifactReport], budgets: Budgets) -> tuple[list[Delta], list[Finding]]:
    by_dir = {(a.directory.parent, a.directory.name, a.stem): a for a in arts}
    deltas: list[Delta] = []
    findings: list[Finding] = []
    for (parent, dname, stem), on in sorted(by_dir.items(), key=lambda kv: kv[1].name):
        off = by_dir.get((parent, dname.removesuffix("-memfs"), stem)) if dname.endswith("-memfs") else None
        if off is None:
            continue
        for fo, fn in zip(off.sizes, on.sizes, strict=True):
            br = fn.brotli - fo.brotli if fn.brotli is not None and fo.brotli is not None else None
            delta = Delta(off.name, on.name, fn.name, fn.raw - fo.raw, fn.gzip - fo.gzip, br)
            deltas.append(delta)
            budget = budgets.memfs_delta.get(Path(fn.name).suffix)
            for m in MEASURES:
                limit, value = (budget.limit(m) if budget else None), getattr(delta, m)
                if limit is None or value is None:
                    continue
                findings.append(_fail(on.name, fn.name, f"memfs_delta.{m}", value <= limit,
                                      f"MEMFS cost {on.name}/{fn.name}: {m} {value:+,} B within {limit:,} B",
                                      f"MEMFS cost {on.name}/{fn.name} vs {off.name}: {m} {value:+,} B exceeds "
                                      f"[memfs_delta] {limit:,} B by {value - limit:,} B"))
    return deltas, findings


def _baseline(path: Path, arts: Sequence[ArtifactReport], pct: float) -> tuple[list[Growth], list[Finding]]:
    base = Manifest.read(path)
    bname = base.variant.name if base.variant else None
    art = next((a for a in arts if bname in (a.name, a.expectation.name if a.expectation else None)), None)
    if art is None and len(arts) == 1:
        art = arts[0]
    if art is None:
        raise CannotCheck(f"baseline {path} is for variant {bname!r}; none of {[a.name for a in arts]} is",
                          "check one variant dir, or pass that variant's baseline manifest")
    before: dict[tuple[str, str], int] = {(e.name, "raw"): e.bytes for e in base.files or ()}
    for e in (base.checks or {}).get("files", []):  # written by report.manifest_with_checks
        for m in ("gzip", "brotli"):
            if isinstance(e, dict) and isinstance(e.get(m), int):
                before[(e.get("name", ""), m)] = e[m]
    growth: list[Growth] = []
    findings: list[Finding] = []
    for fs in art.sizes:
        for m in MEASURES:
            now, was = fs.get(m), before.get((fs.name, m))
            if now is None or was is None:
                continue
            g = Growth(art.name, fs.name, m, was, now)
            growth.append(g)
            findings.append(_fail(art.name, fs.name, f"baseline.{m}", g.percent <= pct,
                                  f"{art.name}/{fs.name}: {m} {g.percent:+.2f}% vs baseline",
                                  f"{art.name}/{fs.name}: {m} grew {was:,} -> {now:,} B ({g.percent:+.2f}%), over the "
                                  f"{pct:.2f}% threshold by {g.percent - pct:.2f} points ({path})"))
    return growth, findings


def check_dir(path: Path, *, expect: Expectation | None, budgets: Budgets, baseline: Path | None,
              required_api: Sequence[str] | None = None, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT,
              size_cache: Path | None = None, max_growth_percent: float | None = None) -> CheckReport:
    """Check every artifact under ``path``.  Raises ``CannotCheck``; rule breaks are in ``report.failures``.

    ``required_api`` defaults to the default ORT version's C API; callers that know the version pass its own.
    """
    if required_api is None:
        required_api = c_api_for(None)
    found = discover(path)
    stems_per_dir = {d: sum(1 for dd, _ in found if dd == d) for d, _ in found}
    # Compression is the slow part; zlib and brotli drop the GIL, so every file is measured at once while the
    # wasm and glue are parsed.  On bad input the queued measurements are cancelled, not waited for.
    pool = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1)))
    try:
        futs = {(d, s): [pool.submit(measure, d / f"{s}{ext}", brotli_limit=brotli_limit, cache_dir=size_cache)
                         for ext in (".wasm", ".mjs")] for d, s in found}
        arts = [_artifact(d, s, stems_per_dir[d] > 1, expect, required_api, budgets, futs[(d, s)])
                for d, s in found]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    deltas, findings = _deltas(arts, budgets)
    growth: list[Growth] = []
    if baseline is not None:
        pct = budgets.max_growth_percent if max_growth_percent is None else max_growth_percent
        growth, more = _baseline(baseline, arts, pct)
        findings += more
    every = tuple(f for a in arts for f in a.findings) + tuple(findings)
    return CheckReport(path, tuple(arts), tuple(deltas), tuple(growth), every)


def version_or_default(version: str | None) -> str:
    """The ORT version whose rules judge an artifact: the one given (a manifest's, or ``--ort-version``), else the
    default version's; a version with no recipe is refused (SourceError), never judged by another's rules."""
    return require_recipe(version or default_version()).version


def c_api_for(version: str | None) -> tuple[str, ...]:
    """The C API ORT ``version``'s CPU artifacts must export: its recipe's ``[checks] c_api``."""
    recipe = require_recipe(version_or_default(version))
    if not recipe.c_api:
        raise CannotCheck(f"patches/{recipe.version}/recipe.toml has no [checks] c_api: nothing says what its "
                          "artifacts must export",
                          f"add the Ort* functions of {recipe.version}'s onnxruntime/wasm/api.h")
    return recipe.c_api


def default_budgets_path(version: str | None = None) -> Path:
    """The size budgets of ORT ``version`` (``patches/<version>/budgets.toml``), from the checkout this package runs
    from (or the wheel's copy); never the working directory's, so a check judges the same way wherever it runs."""
    path = require_recipe(version_or_default(version)).budgets_path
    if not path.is_file():
        raise CannotCheck(f"no size budgets for ONNX Runtime {version_or_default(version)}: {path} is missing",
                          f"add {path} (format: ortwasm/checks/sizes.py), or pass --budgets FILE")
    return path
