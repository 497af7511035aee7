"""Facts from emscripten's JS glue (the ``.mjs``), as closure leaves it.

Why text patterns: Release glue is closure-minified, so ``FS.`` members and
most identifiers are renamed.  What survives are string literals the FS
initialisation needs (``'/dev/tty1'`` and friends, measured on real ORT
1.21.0 glue: FS build 2/1/2/20/1, OFF build 0) and the quoted ``_Ort*`` keys
that onnxruntime-web calls.  ``'/home/web_user'`` is deliberately *not* a
marker: it is the default ``HOME`` and is in ``FILESYSTEM=0`` glue too.

Why the export mapping: a Release ``.wasm`` exports ``$a``/``wd``, not
``OrtInit``; the glue's ``_OrtInit=H.$a`` is the only place that says which
wasm export a C function became.

Why ``PTR_SIZE`` and the memory constructor: they are the glue's pointer width.
ORT links ``js_post_js.js`` (``Module["PTR_SIZE"] = 4``) or, for MEMORY64,
``js_post_js_64.js`` (8), and onnxruntime-web sizes every pointer it reads by
it; a threaded glue creates the memory the wasm imports, 64-bit only with an
``index``/``address: "i64"`` key.  ``BigInt`` is no signal: ORT links every
build with ``WASM_BIGINT=1``.

Why the execution-provider markers: onnxruntime-web picks a pair by its name
(``.jsep``, ``.asyncify``, ``.jspi``, none) and then calls what only that
build's glue defines.  Each marker is a ``Module["..."]`` key an ORT pre/post-js
file sets (closure keeps quoted keys) or a browser global closure cannot
rename; emscripten's own ``Asyncify`` object is renamed, so it is no marker.
Counts in the official onnxruntime-web 1.30.0 glues (asyncify / jspi / jsep /
plain): ``jsepInit`` 0/0/1/0, ``webgpuInit`` 1/1/0/0, ``asyncInit`` 1/0/1/0,
``WebAssembly.Suspending``/``.promising`` 0/3/0/0; 1.21.0's JSEP glue has
``jsepInit`` alone (no pre-async.js yet), so a JSEP glue is told by jsepInit only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import CannotCheck
from ..toolchain.gluefix import MEMORY64_KEY

# What every emscripten glue has and other JavaScript rarely does, closure-minified or not (measured on the official
# onnxruntime-web 1.21.0 and 1.30.0 glues, ours, and emscripten's unminified output): the instantiation call, and the
# Module hooks and abort text the runtime keeps by name.  "WebAssembly" alone is in any loader script or bundle.
GLUE_CALL = re.compile(r"\bWebAssembly\s*\.\s*instantiate(?:Streaming)?\b")
GLUE_MARKERS: tuple[str, ...] = ("locateFile", "instantiateWasm", "wasmBinary", "Aborted(")
GLUE_MIN_MARKERS = 2  # besides the instantiation call

FS_MARKERS: tuple[str, ...] = ("/dev/tty1", "/dev/shm/tmp", "/proc/self/fd", "ErrnoError", "MEMFS")
# At least this many distinct markers means "FS linked in"; 1..(this-1) is inconclusive, not a guess.
FS_MIN_MARKERS = 3

_ID = r"[A-Za-z_$][\w$]*"


def _word(marker: str) -> re.Pattern[str]:
    """``marker`` as a whole identifier: ``MEMFS`` must not count inside ``NOTMEMFS``."""
    return re.compile(r"(?<![\w$])" + re.escape(marker) + r"(?![\w$])")


_MARKER_RES = {m: _word(m) for m in FS_MARKERS}
# `h._OrtInit=H.$a` (closure), `_OrtInit = Module['_OrtInit'] = wasmExports['OrtInit']` (unminified),
# `Module["_OrtInit"] = createExportWrapper("OrtInit")` (assertions builds), `Module["asm"]["OrtInit"]` (old).
# The right-hand sides sit in lookaheads so that chained assignments (`_X = Module['_X'] = wasmExports['X']`)
# are matched at every `_X =`, not consumed by the first one.
# onnxruntime-web calls _Ort* always and, on a JSEP build, _JsepOutput/_JsepGetNodeName; a WebGPU-EP glue's own
# post-webgpu.js calls _wgpuCreateInstance/_wgpuBufferRelease (onnxruntime_webassembly.cmake exports them for it).
_C_NAME = r"((?:Ort|Jsep|wgpu)\w+)"
_LHS = r"(?<![\w$])_" + _C_NAME + r"['\"]?\]?\s*=\s*(?="
_MAP_DOT = re.compile(_LHS + r"(" + _ID + r")\s*\.\s*(" + _ID + r")(?![\w$]*\s*[(=]))")
_MAP_BRACKET = re.compile(_LHS + r"(" + _ID + r")((?:\s*\[\s*['\"][\w$]+['\"]\s*\])+))")
_MAP_WRAPPER = re.compile(_LHS + r"createExportWrapper\(\s*['\"]([\w$]+)['\"])")
# What the JS sees: a property `X._OrtFoo=`, `X["_OrtFoo"]=` or a top-level `var _OrtFoo =`.
_EXPOSED = re.compile(r"(?:\.\s*_" + _C_NAME + r"|\[\s*['\"]_" + _C_NAME + r"['\"]\s*\]|\bvar\s+_" + _C_NAME +
                      r")\s*=(?!=)")
# The execution-provider markers, by the name a message shows.  pre-jsep.js defines Module.jsepInit, the one entry
# onnxruntime-web's JSEP backend calls.  post-webgpu.js defines Module["webgpuInit"], which ort.webgpu*.mjs and
# ort.jspi*.mjs call unconditionally; ORT links it only with onnxruntime_USE_WEBGPU.  pre-async.js defines
# Module["asyncInit"] (it wraps OrtRun & co. to return Asyncify's promise); ORT links it exactly with -sASYNCIFY=1,
# i.e. in every JSEP or WebGPU-EP build that is not a JSPI one.  -sJSPI=1 makes emscripten wrap the imports that
# suspend in `new WebAssembly.Suspending` and the exports that may in `WebAssembly.promising`: browser globals that
# minified glue keeps (an aliased `c=WebAssembly,c.promising` is not counted; the direct calls are there too).
JSEP_INIT, WEBGPU_INIT, ASYNC_INIT = "jsepInit", "webgpuInit", "asyncInit"
JSPI_CALLS = "WebAssembly.Suspending/promising"
EP_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (JSEP_INIT, _word(JSEP_INIT)), (WEBGPU_INIT, _word(WEBGPU_INIT)), (ASYNC_INIT, _word(ASYNC_INIT)),
    (JSPI_CALLS, re.compile(r"(?<![\w$.])WebAssembly\s*\.\s*(?:Suspending|promising)(?![\w$])")))
_EXPORTS_OBJ = re.compile(r"(?<![\w$.])(" + _ID + r")\s*=\s*" + _ID + r"\s*\.\s*exports\s*[;,]")
# `h.PTR_SIZE=4` (closure), `Module["PTR_SIZE"] = 8` (unminified); `PTR_SIZE===8` is a read, not a setting.
_PTR_SIZE = re.compile(r"""(?<![\w$])PTR_SIZE['"]?\]?\s*=(?!=)\s*(\d+)(?![\w$.])""")
_NEW_MEMORY = re.compile(r"\bnew\s+WebAssembly\s*\.\s*Memory\s*\(")

IndexKey = Literal["index", "address"]
# What a pair is, named as its file-name suffix names it (onnxruntime_webassembly.cmake appends `.jsep` with
# onnxruntime_USE_JSEP, else `.jspi` or `.asyncify` with onnxruntime_USE_WEBGPU); "cpu" has no suffix.
PairKind = Literal["cpu", "jsep", "asyncify", "jspi"]


@dataclass(frozen=True)
class ExportMapping:
    c_name: str  # "OrtInit"
    wasm_export: str | None  # "$a" for minified glue, "OrtInit" unminified, None if no mapping was found
    via: str  # the glue text that gave the mapping, for the report


@dataclass(frozen=True)
class GlueFacts:
    path: str
    size: int
    fs_markers: tuple[tuple[str, int], ...]  # (marker, count) in FS_MARKERS order
    exposed: tuple[str, ...]  # C names the glue exposes as Module._X, sorted
    mappings: tuple[ExportMapping, ...]  # one per exposed name
    exports_object: str | None  # the glue's name for instance.exports ("H"), if found
    memory64_index_key: IndexKey | None  # key next to "i64" in WebAssembly.Memory({...}); "index" = fix missing
    mentions_mount_external_data: bool
    ptr_sizes: tuple[int, ...] = ()  # every distinct value the glue assigns to PTR_SIZE, in order; () = none
    creates_memory: bool = False  # `new WebAssembly.Memory(` appears: the glue makes the memory a wasm imports
    ep_markers: tuple[str, ...] = ()  # the EP_MARKERS found, in EP_MARKERS order

    @property
    def jsep(self) -> bool:
        """A JSEP build's glue (ORT links pre-jsep.js only then)."""
        return JSEP_INIT in self.ep_markers

    @property
    def webgpu(self) -> bool:
        """A native WebGPU EP build's glue (post-webgpu.js)."""
        return WEBGPU_INIT in self.ep_markers

    @property
    def wait(self) -> Literal["asyncify", "jspi"] | None:
        """How the wasm waits for the GPU (JSEP builds wait too); None when neither or both markers say."""
        asyncify, jspi = ASYNC_INIT in self.ep_markers, JSPI_CALLS in self.ep_markers
        return None if asyncify == jspi else ("jspi" if jspi else "asyncify")

    @property
    def kind(self) -> PairKind | None:
        """Which pair this glue is, hence the name it must have; None when its markers contradict each other
        (both jsepInit and webgpuInit, or a WebGPU-EP glue that waits by neither or both of Asyncify and JSPI)."""
        if self.jsep:
            return None if self.webgpu else "jsep"
        return self.wait if self.webgpu else "cpu"

    @property
    def ep_evidence(self) -> str:
        """What the glue has and lacks of the EP markers, for a message that must show why it says what it says."""
        lacks = [m for m in (JSEP_INIT, WEBGPU_INIT) if m not in self.ep_markers]
        return "; ".join(part for part in (f"has {', '.join(self.ep_markers)}" if self.ep_markers else "",
                                           f"lacks {' and '.join(lacks)}" if lacks else "") if part)

    @property
    def ptr_size(self) -> int | None:
        """The glue's pointer width in bytes (its first PTR_SIZE), None when it sets none."""
        return self.ptr_sizes[0] if self.ptr_sizes else None

    @property
    def marker_count(self) -> int:
        return sum(1 for _, n in self.fs_markers if n)

    @property
    def fs_present(self) -> bool | None:
        """True with >= FS_MIN_MARKERS of the markers, False with none; None in between (a new emscripten?)."""
        found = self.marker_count
        if found >= FS_MIN_MARKERS:
            return True
        return False if found == 0 else None

    def mapping(self, c_name: str) -> ExportMapping | None:
        return next((m for m in self.mappings if m.c_name == c_name), None)


def _mappings(text: str, exports_obj: str | None) -> dict[str, ExportMapping]:
    """Collect C name -> wasm export; a mapping through the instance's exports object wins over others."""
    found: dict[str, ExportMapping] = {}

    def add(c_name: str, export: str, via: str, obj: str | None) -> None:
        prior = found.get(c_name)
        if prior is None or (exports_obj is not None and obj == exports_obj and not prior.via.startswith(obj + ".")):
            found[c_name] = ExportMapping(c_name, export, via)

    for m in _MAP_DOT.finditer(text):
        if m.group(2) in ("Module", "window", "globalThis", "self"):
            continue  # `_OrtInit=Module._OrtInit` re-exposes, it does not map
        add(m.group(1), m.group(3), f"{m.group(2)}.{m.group(3)}", m.group(2))
    for m in _MAP_BRACKET.finditer(text):
        last = re.findall(r"['\"]([\w$]+)['\"]", m.group(3))[-1]
        if m.group(2) == "Module" and last.startswith("_"):
            continue
        add(m.group(1), last, f"{m.group(2)}{m.group(3)}".replace(" ", ""), m.group(2))
    for m in _MAP_WRAPPER.finditer(text):
        add(m.group(1), m.group(2), f"createExportWrapper({m.group(2)!r})", None)
    return found


def not_glue(text: str) -> str | None:
    """Why ``text`` is not emscripten glue, or None when it is: the instantiation call and at least
    GLUE_MIN_MARKERS of GLUE_MARKERS.  A user's loader, a bundle or an ES module next to a .wasm is skipped by name,
    never judged as a glue with no FS and no C API."""
    found = [m for m in GLUE_MARKERS if m in text]
    if GLUE_CALL.search(text) is None:
        return "no WebAssembly.instantiate call"
    if len(found) < GLUE_MIN_MARKERS:
        return (f"only {len(found)} of the runtime markers {', '.join(GLUE_MARKERS)} "
                f"({', '.join(found) or 'none'}); emscripten glue has all of them")
    return None


def parse_text(text: str, label: str = "<glue>") -> GlueFacts:
    if "WebAssembly" not in text:
        raise CannotCheck(f"{label}: does not look like emscripten glue (no 'WebAssembly' in {len(text)} chars)",
                          "pair each .wasm with the .mjs emcc wrote next to it")
    markers = tuple((m, len(_MARKER_RES[m].findall(text))) for m in FS_MARKERS)
    exposed = sorted({next(g for g in m.groups() if g) for m in _EXPOSED.finditer(text)})
    obj_match = _EXPORTS_OBJ.search(text)
    exports_obj = obj_match.group(1) if obj_match else None
    found = _mappings(text, exports_obj)
    mappings = tuple(found.get(name, ExportMapping(name, None, "")) for name in exposed)
    keys = {m["key"] for m in MEMORY64_KEY.finditer(text)}
    key: IndexKey | None = "index" if "index" in keys else ("address" if "address" in keys else None)
    ptr_sizes = tuple(dict.fromkeys(int(m.group(1)) for m in _PTR_SIZE.finditer(text)))
    return GlueFacts(label, len(text.encode("utf-8")), markers, tuple(exposed), mappings, exports_obj, key,
                     "mountExternalData" in text, ptr_sizes, _NEW_MEMORY.search(text) is not None,
                     tuple(m for m, r in EP_MARKERS if r.search(text)))


def read_text(path: Path) -> str:
    """The glue's text, or CannotCheck naming why it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CannotCheck(f"{path}: cannot read: {exc.strerror or exc}", "check the path and permissions") from None
    if not raw:
        raise CannotCheck(f"{path}: empty file", "rebuild: emcc writes the glue next to the .wasm")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CannotCheck(f"{path}: not UTF-8 text (byte {exc.start}); is it really JavaScript?",
                          "pair each .wasm with the .mjs emcc wrote next to it") from None
    return text


def parse_file(path: Path) -> GlueFacts:
    return parse_text(read_text(path), str(path))
