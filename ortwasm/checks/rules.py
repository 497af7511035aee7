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

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from ..artifacts.manifest import MANIFEST_FORMAT, Manifest, ort_versions_of
from ..errors import CannotCheck, CheckFailed
from ..recipe import load_recipe, require_recipe, supported
from ..variants import WEBGPU_KINDS
from . import glue as gluemod
from . import wasm as wasmmod
from .glue import PairKind
from .sizes import DEFAULT_BROTLI_LIMIT, MEASURES, Budget, Budgets, FileSizes, load_budgets, measure

__all__ = ["JSEP_C_API", "MANIFEST_FORMAT", "PAIR_SUFFIXES", "WEBGPU_C_API", "ArtifactReport", "Budget", "Budgets",
           "CheckReport", "Delta", "DirJudge", "Expectation", "Finding", "Growth", "Rules", "c_api_from_header",
           "check_dir", "discover", "load_budgets", "pair_kind", "refuse_unknown", "resolve_version"]

# What a JSEP build adds to the C API: the kernels' callbacks into C++ (core/providers/js/js_export.h, exported by
# onnxruntime_webassembly.cmake's EXPORTED_FUNCTIONS only with onnxruntime_USE_JSEP).  onnxruntime-web's WebGPU
# backend calls both on every kernel run.
JSEP_C_API: tuple[str, ...] = ("JsepOutput", "JsepGetNodeName")
# What a WebGPU-EP build adds: api.h's USE_WEBGPU section and the two Dawn functions onnxruntime_webassembly.cmake
# exports with onnxruntime_USE_WEBGPU; the glue's own post-webgpu.js calls all three (custom devices, GPU buffers).
WEBGPU_C_API: tuple[str, ...] = ("OrtGetWebGpuDevice", "wgpuCreateInstance", "wgpuBufferRelease")
EP_C_API: dict[PairKind, tuple[str, ...]] = {"jsep": JSEP_C_API, "asyncify": WEBGPU_C_API, "jspi": WEBGPU_C_API}
JSEP_SUFFIX = ".jsep"  # ORT appends it to the output name of a JSEP build; onnxruntime-web's JSEP bundles load it
# The suffix ORT's cmake appends to a pair's name and the kind it names; a pair without one is a CPU pair.
PAIR_SUFFIXES: dict[str, PairKind] = {JSEP_SUFFIX: "jsep", ".asyncify": "asyncify", ".jspi": "jspi"}
KIND_TEXT: dict[PairKind, str] = {"cpu": "a CPU build", "jsep": "a JSEP (WebGPU) build",
                                  "asyncify": "a WebGPU EP build that waits by Asyncify",
                                  "jspi": "a WebGPU EP build that waits by JSPI"}
# Who loads a pair of each name (onnxruntime-web 1.30's dist and 1.21's), and what
# breaks for them: why a pair under another kind's name is a failure, not a curiosity.
LOADED_BY: dict[PairKind, str] = {
    "cpu": "its CPU bundles (ort.wasm*.mjs, ort.node*) load the pair without a suffix and expect no WebGPU code",
    "jsep": "its JSEP bundles (ort.mjs, ort.all*.mjs; in 1.21 ort.webgpu*.mjs too) load *.jsep.mjs and call jsepInit",
    "asyncify": "ort.webgpu*.mjs loads *.asyncify.mjs, calls webgpuInit and waits through asyncInit's Asyncify "
                "wrappers, in every browser with WebGPU",
    "jspi": "ort.jspi*.mjs loads *.jspi.mjs, calls webgpuInit and waits by JSPI, only where WebAssembly.Suspending "
            "exists"}

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
    webgpu: str | None = None  # Variant.webgpu ("", "asyncify", "jspi"); None: not stated (manifests before it)


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
    version: str | None = None  # the ONNX Runtime version of the artifacts (their tree's)
    version_from: str = ""  # how that version was known: "manifest.json", "--ort-version", "the glue's C API"
    skipped: tuple[str, ...] = ()  # files and dirs seen and not judged, each with why
    judged_dirs: tuple[str, ...] = ()  # dirs judged by their own rules (the JS stage), by name
    recipe_version: str | None = None  # whose recipe gave the C API and budgets: ``version``'s, or an unproven
    # build's patch set's (manifest.OrtInfo)

    @property
    def unproven(self) -> bool:
        return self.recipe_version not in (None, self.version)

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
        versions = {r.version for r in reports}
        recipes = {r.recipe_version for r in reports}
        return cls(root, tuple(a for r in reports for a in r.artifacts), tuple(d for r in reports for d in r.deltas),
                   tuple(g for r in reports for g in r.growth), tuple(f for r in reports for f in r.findings),
                   versions.pop() if len(versions) == 1 else None, reports[0].version_from if reports else "",
                   tuple(x for r in reports for x in r.skipped), tuple(x for r in reports for x in r.judged_dirs),
                   recipes.pop() if len(recipes) == 1 else None)


def _expectation(manifest: Manifest, where: Path) -> Expectation:
    v = manifest.variant
    if v is None:
        raise CannotCheck(f"{where}: 'variant' must hold name, arch (wasm32|wasm64) and memfs (bool); got None",
                          "rebuild with a current ortwasm")
    return Expectation(v.name, v.arch, v.memfs, v.jsep, v.webgpu)  # None: a manifest from before the key


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


# A directory judged by rules of its own rather than as .wasm/.mjs pairs (the JS stage's OUT/onnxruntime-web/):
# called with the dir and the ORT version being checked.  The caller passes these by dir name, because the
# stages that know those dirs (js/, package/) come after checks/.
DirJudge = Callable[[Path, str], list[Finding]]
PACKAGE_FIELD = "ortwasm"  # package.json's record of the pairs `ortwasm package` put in an npm package


@dataclass
class Survey:
    """What a directory holds, before anything is judged: its pairs, the dirs judged by their own rules, the
    pairs an ortwasm npm package lists (with what each must be), and what was skipped and why."""

    root: Path
    pairs: list[tuple[Path, str]] = field(default_factory=list)
    judged: list[tuple[str, Path]] = field(default_factory=list)
    package: dict[tuple[Path, str], tuple[Expectation, dict[str, str]]] = field(default_factory=dict)
    package_version: str | None = None
    package_patchset_version: str | None = None
    skipped: list[str] = field(default_factory=list)

    def add_stems(self, d: Path) -> None:
        for stem in _pairs(d):
            reason = gluemod.not_glue(gluemod.read_text(d / f"{stem}.mjs"))
            if reason is None:
                self.pairs.append((d, stem))
            elif stem.startswith("ort-wasm"):
                raise CannotCheck(f"{d / stem}.mjs is named like ONNX Runtime's glue but is not emscripten glue: "
                                  f"{reason}", "copy the .mjs emcc wrote next to the .wasm")
            else:
                self.skipped.append(f"{d / stem}.mjs: not emscripten glue ({reason}); {stem}.wasm not judged")


def _package_layout(path: Path, survey: Survey) -> bool:
    """An npm package ``ortwasm package`` wrote (unpacked): its package.json says where each variant's pair is,
    what it was built as and its sha256, so each pair is judged as that variant."""
    pj = path / "package.json"
    if not pj.is_file():
        return False
    try:
        data = json.loads(pj.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    field_ = data.get(PACKAGE_FIELD) if isinstance(data, dict) else None
    variants = field_.get("variants") if isinstance(field_, dict) else None
    if not isinstance(variants, dict):
        return False
    assert isinstance(field_, dict)
    ort = field_.get("ort")
    if isinstance(ort, dict):
        survey.package_version, survey.package_patchset_version = ort.get("version"), ort.get("patchset_version")
    for name, info in sorted(variants.items()):
        files = info.get("files") if isinstance(info, dict) else None
        arch = info.get("arch") if isinstance(info, dict) else None
        if not (isinstance(files, dict) and arch in ("wasm32", "wasm64") and len(files) == 2
                and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            raise CannotCheck(f"{pj}: \"{PACKAGE_FIELD}\".variants.{name} lacks arch and the two files with their "
                              "sha256", "repackage with a current ortwasm")
        assert isinstance(info, dict)
        wasm = next((k for k in files if k.endswith(".wasm")), "")
        d, stem = (path / wasm).parent, Path(wasm).name[:-5]
        if not (d / f"{stem}.wasm").is_file() or not (d / f"{stem}.mjs").is_file():
            raise CannotCheck(f"{path}: package.json lists {name}'s pair at {wasm}, which is missing",
                              "reinstall or unpack the package again")
        kind = pair_kind(stem)
        exp = Expectation(name, arch, bool(info.get("memfs")), kind == "jsep", _webgpu_of(kind))
        survey.package[(d, stem)] = (exp, {Path(k).name: v for k, v in files.items()})
        survey.pairs.append((d, stem))
    return True


def survey(path: Path, judges: Mapping[str, DirJudge] | None = None) -> Survey:
    """Classify what ``path`` holds: a variant dir or an npm dist/ (pairs in ``path``), an OUT dir (one variant
    per subdir, the JS stage judged by ``judges``), or an unpacked ortwasm npm package (``package.json`` with
    ``"ortwasm"``, pairs in dist/ and dist/<variant>/)."""
    judges = judges or {}
    if not path.is_dir():
        raise CannotCheck(f"{path}: not a directory",
                          "pass OUT/<variant>/, OUT/, an npm dist/ directory or an unpacked ortwasm npm package")
    found = Survey(path)
    if path.name in judges and (path / "manifest.json").is_file():
        found.judged.append((path.name, path))
        return found
    if _package_layout(path, found):
        return found
    found.add_stems(path)
    if found.pairs or found.skipped:
        return found
    for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if d.name in judges:
            found.judged.append((d.name, d))
            continue
        before = len(found.pairs)
        found.add_stems(d)
        if len(found.pairs) == before and (d / "manifest.json").is_file():
            if '"variant"' in (d / "manifest.json").read_text(errors="replace"):
                raise CannotCheck(f"{d}: has manifest.json but no .wasm/.mjs", "did that variant's build fail?")
            found.skipped.append(f"{d}: a manifest.json that is not a variant's, and no .wasm/.mjs pair")
    return found


def discover(path: Path, judges: Mapping[str, DirJudge] | None = None) -> list[tuple[Path, str]]:
    """(dir, stem) of every artifact: in ``path`` itself (a variant dir, an npm dist/) or one level down."""
    found = survey(path, judges)
    if not found.pairs and not found.judged:
        raise CannotCheck(f"{path}: no .wasm/.mjs pairs here or in its subdirectories" +
                          (f" ({'; '.join(found.skipped)})" if found.skipped else ""), "is the build finished?")
    return found.pairs


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


def pair_kind(stem: str) -> PairKind:
    """What a pair's name says it is: the suffix ORT's cmake appends (``.jsep``, ``.asyncify``, ``.jspi``)."""
    return PAIR_SUFFIXES.get(Path(stem).suffix, "cpu")


def _pair_name(kind: PairKind) -> str:
    return next((f"*{suffix}.mjs" for suffix, k in PAIR_SUFFIXES.items() if k == kind), "a name without a suffix")


def _webgpu_of(kind: PairKind) -> str:
    """The kind as ``Variant.webgpu`` says it: the WebGPU EP's wait mechanism, "" for any other pair."""
    return kind if kind in WEBGPU_KINDS else ""


def _ep_findings(art: str, stem: str, glue: gluemod.GlueFacts, exp: Expectation | None) -> list[Finding]:
    """A pair's name (``.jsep``, ``.asyncify``, ``.jspi`` or none) must say what its glue is (JSEP, WebGPU EP
    waiting by Asyncify or by JSPI, CPU); the manifest, where it states jsep or webgpu, must agree with the name.

    Why judge by the file name even without a manifest: onnxruntime-web picks the pair by name and then calls
    what only that build's glue has (``LOADED_BY``), so a glue under another kind's name (a renamed file, two
    builds mixed) is what breaks a user: a CPU glue where ``webgpuInit`` is called, a JSPI glue in a browser
    without JSPI.  The finding keeps its old name ``jsep`` between CPU and JSEP pairs (reports and scripts match
    on it) and is ``webgpu`` when either the name or the glue is a WebGPU EP one.
    """
    gf = Path(glue.path).name
    named, actual = pair_kind(stem), glue.kind
    if actual is None:
        raise CannotCheck(f"{art}/{gf}: cannot tell which execution provider the glue carries: it has "
                          f"{', '.join(glue.ep_markers) or 'no EP marker'}, which no ONNX Runtime build combines",
                          "a new emscripten or ORT may have changed what the glue keeps; update EP_MARKERS in "
                          "ortwasm/checks/glue.py")
    rule = "webgpu" if {named, actual} & set(WEBGPU_KINDS) else "jsep"
    out = [_fail(art, gf, rule, named == actual, f"{art}/{gf}: {KIND_TEXT[actual]} ({glue.ep_evidence}), as its "
                 "name says",
                 f"{art}/{gf}: the name says {KIND_TEXT[named]} but the glue is {KIND_TEXT[actual]} "
                 f"({glue.ep_evidence}), which belongs under {_pair_name(actual)}: the file was renamed or comes "
                 f"from another build, and onnxruntime-web picks a pair by its name: {LOADED_BY[named]}")]
    if exp is not None:
        stated = (("jsep", exp.jsep, named == "jsep"), ("webgpu", exp.webgpu, _webgpu_of(named)))
        out += [_fail(art, gf, f"{key}_manifest", want == have,
                      f"{art}: variant {exp.name} {key}={want!r} matches the pair's name",
                      f"{art}: variant {exp.name} has {key}={want!r} but its pair is {stem}.wasm/.mjs, the name of "
                      f"{KIND_TEXT[named]}: the output was put under another kind's name, or the dir mixes builds; "
                      f"{LOADED_BY[named]}")
                for key, want, have in stated if want is not None]
    return out


def _judge(art: str, wasm: wasmmod.WasmInfo, glue: gluemod.GlueFacts, exp: Expectation | None,
           required: Sequence[str], stem: str = "") -> list[Finding]:
    wf, gf = Path(wasm.path).name, Path(glue.path).name
    out: list[Finding] = _ep_findings(art, stem, glue, exp)
    required = (*required, *EP_C_API.get(pair_kind(stem), ()))
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
              budgets: Budgets, futs: Sequence[Future[FileSizes]],
              packaged: tuple[Expectation, dict[str, str]] | None = None) -> ArtifactReport:
    mf = d / "manifest.json"
    manifest = Manifest.read(mf) if mf.is_file() and packaged is None else None
    exp = expect or (packaged[0] if packaged else None) or \
        (_expectation(manifest, mf) if manifest is not None else None)
    name = exp.name if exp else d.name
    name = f"{name}/{stem}" if multi and packaged is None else name
    wp, gp = d / f"{stem}.wasm", d / f"{stem}.mjs"
    wasm, glue = wasmmod.parse_file(wp), gluemod.parse_file(gp)
    sizes = (futs[0].result(), futs[1].result())
    findings = _judge(name, wasm, glue, exp, required, stem)
    findings += _budget_findings(name, exp.name if exp else d.name, sizes, budgets)
    if manifest is not None:
        findings += _manifest_findings(name, d, manifest, sizes)
    if packaged is not None:
        for fs in sizes:
            want = packaged[1].get(fs.name)
            findings.append(_fail(name, fs.name, "package_files", want == fs.sha256,
                                  f"{name}/{fs.name}: matches package.json's \"{PACKAGE_FIELD}\" sha256",
                                  f"{name}/{fs.name}: sha256 {fs.sha256[:16]} but package.json's \"{PACKAGE_FIELD}\" "
                                  f"says {str(want)[:16]}: changed after packaging"))
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


def check_dir(path: Path, *, expect: Expectation | None, budgets: Budgets | None, baseline: Path | None,
              required_api: Sequence[str] | None = None, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT,
              size_cache: Path | None = None, max_growth_percent: float | None = None, version: str | None = None,
              judges: Mapping[str, DirJudge] | None = None) -> CheckReport:
    """Check every artifact under ``path``.  Raises ``CannotCheck``; rule breaks are in ``report.failures``.

    The C API (``required_api``) and the budgets (``budgets``), when not given, are the recipe's of the ORT version
    being checked: ``resolve_version`` (the manifests', else ``version``, else the one the glue's C API matches).
    ``judges`` judge the dirs they name (the JS stage) by their own rules.
    """
    found = survey(path, judges)
    if not found.pairs and not found.judged:
        discover(path, judges)  # raises, naming what was skipped
    rules = resolve_version(found, version) if (required_api is None or budgets is None or found.judged) \
        else Rules(version, version, "the caller")
    if required_api is None:
        assert rules.recipe_version is not None
        required_api = c_api_for(rules.recipe_version)
    if budgets is None:
        assert rules.recipe_version is not None
        budgets = load_budgets(default_budgets_path(rules.recipe_version))
    pairs = found.pairs
    stems_per_dir = {d: sum(1 for dd, _ in pairs if dd == d) for d, _ in pairs}
    # Compression is the slow part; zlib and brotli drop the GIL, so every file is measured at once while the
    # wasm and glue are parsed.  On bad input the queued measurements are cancelled, not waited for.
    pool = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1)))
    try:
        futs = {(d, s): [pool.submit(measure, d / f"{s}{ext}", brotli_limit=brotli_limit, cache_dir=size_cache)
                         for ext in (".wasm", ".mjs")] for d, s in pairs}
        arts = [_artifact(d, s, stems_per_dir[d] > 1, expect, required_api, budgets, futs[(d, s)],
                          found.package.get((d, s))) for d, s in pairs]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    deltas, findings = _deltas(arts, budgets)
    for name, d in found.judged:
        assert judges is not None and rules.version is not None
        findings += judges[name](d, rules.version)
    growth: list[Growth] = []
    if baseline is not None:
        pct = budgets.max_growth_percent if max_growth_percent is None else max_growth_percent
        growth, more = _baseline(baseline, arts, pct)
        findings += more
    every = tuple(f for a in arts for f in a.findings) + tuple(findings)
    return CheckReport(path, tuple(arts), tuple(deltas), tuple(growth), every, rules.version, rules.how,
                       tuple(found.skipped), tuple(name for name, _ in found.judged), rules.recipe_version)


def refuse_unknown(version: str, where: str, built_with: str | None = None) -> CannotCheck:
    """``built_with``: the patch set an unproven build names, when that is the version without a recipe."""
    known = supported()
    recipe = built_with or version
    says = f"ONNX Runtime {version}" + (f", built with {built_with}'s patch set" if built_with else "")
    return CannotCheck(f"{where} says {says}, which has no recipe, so nothing says what its artifacts "
                       f"must export or weigh (supported: {', '.join(known)})",
                       f"use artifacts of a supported version, or add patches/{recipe}/ (docs/new-version.md)")


class Rules(NamedTuple):
    """Which version's rules judge the artifacts, and how that was known."""

    version: str | None  # the artifacts' ONNX Runtime version (their tree's): what the JS stage must match
    recipe_version: str | None  # whose recipe gives the C API and budgets: an unproven build's patch set's
    how: str


def _claims(found: Survey) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """ORT version -> the records that claim it (variant and JS manifests, an npm package's package.json); and
    patch set version -> the records that name one (an unproven build's; absent from older and JS records)."""
    claims: dict[str, list[str]] = {}
    patchsets: dict[str, list[str]] = {}
    records: list[tuple[str, tuple[str, str | None] | None]] = []
    dirs = {found.root, *(d for d, _ in found.pairs), *(d for _, d in found.judged)}
    for d in sorted(dirs):
        mf = d / "manifest.json"
        records.append((str(mf), ort_versions_of(mf) if mf.is_file() and not found.package else None))
    if found.package_version is not None:
        records.append((str(found.root / "package.json"), (found.package_version, found.package_patchset_version)))
    for where, versions in records:
        if versions is not None:
            claims.setdefault(versions[0], []).append(where)
            if versions[1] is not None:
                patchsets.setdefault(versions[1], []).append(where)
    return claims, patchsets


def infer_version(found: Survey) -> str:
    """The one recipe whose C API the glue of every pair exposes (Ort* names; the JSEP ones aside).  Why the C API:
    it is what onnxruntime-web of that version calls, and it changes between versions (1.30 replaced
    OrtGetInputName/OrtGetOutputName by OrtGetInputOutputMetadata).  Several or no matches: CannotCheck."""
    apis = {v: set(r.c_api) for v in supported() if (r := load_recipe(v)) is not None and r.c_api}
    verdicts: dict[str, set[str]] = {}
    for d, stem in found.pairs:
        exposed = {n for n in gluemod.parse_file(d / f"{stem}.mjs").exposed if n.startswith("Ort")}
        match = {v for v, api in apis.items() if api <= exposed}
        exact = {v for v in match if apis[v] == exposed}
        chosen = exact if len(match) > 1 and len(exact) == 1 else match
        if len(chosen) != 1:
            lacks = "; ".join(f"{v}'s lacks {len(api - exposed)} ({', '.join(sorted(api - exposed)[:3])})"
                              if api - exposed else f"{v}'s matches" for v, api in sorted(apis.items()))
            raise CannotCheck(f"{d / stem}.mjs: no manifest.json says which ONNX Runtime version built it, and its "
                              f"{len(exposed)} Ort* functions match {'several' if chosen else 'no'} recipe's C API "
                              f"({lacks})", f"pass --ort-version, one of: {', '.join(sorted(apis))}")
        verdicts.setdefault(chosen.pop(), set()).add(f"{d / stem}.mjs")
    if len(verdicts) != 1:
        raise CannotCheck(f"{found.root}: the glues match different ONNX Runtime versions' C API: " +
                          "; ".join(f"{v}: {', '.join(sorted(w))}" for v, w in sorted(verdicts.items())),
                          "check one version's artifacts at a time, or pass --ort-version")
    return next(iter(verdicts))


def resolve_version(found: Survey | Path, given: str | None = None) -> Rules:
    """Whose rules judge ``found``, and how that was known; never a silent default.

    A manifest's (or an npm package's) ``ort.version`` wins; every record must name the same one, and a given
    version (``--ort-version``) must agree with it.  An unproven build's records also name the patch set it was
    built with (``ort.patchset_version``), whose recipe then judges.  With no record: the given version, else the
    one recipe whose C API the glues expose.  A version without a recipe is refused, naming the supported ones.
    """
    if isinstance(found, Path):
        found = survey(found)
    claims, patchsets = _claims(found)
    for what, named in (("ONNX Runtime versions", claims), ("patch sets", patchsets)):
        if len(named) > 1:
            raise CannotCheck(f"{found.root} mixes {what}: " +
                              "; ".join(f"{v} ({', '.join(w[:2])})" for v, w in sorted(named.items())),
                              "check each version's out dir on its own")
    if claims:
        version, where = next(iter(claims.items()))
        recipe_version = next(iter(patchsets), version)
        if load_recipe(recipe_version) is None:
            raise refuse_unknown(version, where[0], None if recipe_version == version else recipe_version)
        if given is not None and given != version:
            raise CannotCheck(f"--ort-version {given}, but {where[0]} says ONNX Runtime {version}",
                              "drop --ort-version: the manifest says which version built the artifacts")
        return Rules(version, recipe_version, Path(where[0]).name)
    if given is not None:
        if load_recipe(given) is None:
            raise refuse_unknown(given, "--ort-version")
        return Rules(given, given, "--ort-version")
    if not found.pairs:
        raise CannotCheck(f"{found.root}: nothing says which ONNX Runtime version to judge it by",
                          f"pass --ort-version, one of: {', '.join(supported())}")
    inferred = infer_version(found)
    return Rules(inferred, inferred, "the glue's C API")


def c_api_for(version: str) -> tuple[str, ...]:
    """The C API ORT ``version``'s CPU artifacts must export: its recipe's ``[checks] c_api``."""
    recipe = require_recipe(version)
    if not recipe.c_api:
        raise CannotCheck(f"patches/{recipe.version}/recipe.toml has no [checks] c_api: nothing says what its "
                          "artifacts must export",
                          f"add the Ort* functions of {recipe.version}'s onnxruntime/wasm/api.h")
    return recipe.c_api


def default_budgets_path(version: str) -> Path:
    """The size budgets of ORT ``version`` (``patches/<version>/budgets.toml``), from the checkout this package runs
    from (or the wheel's copy); never the working directory's, so a check judges the same way wherever it runs."""
    path = require_recipe(version).budgets_path
    if not path.is_file():
        raise CannotCheck(f"no size budgets for ONNX Runtime {version}: {path} is missing",
                          f"add {path} (format: ortwasm/checks/sizes.py), or pass --budgets FILE")
    return path
