"""The variant table: one committed TOML file that the driver, CI and packaging read.

A variant's name is stable (``wasm64-memfs``) because it names build dirs,
output dirs, CI jobs and package file names.  Errors in the table name the
line, because a release engineer edits it by hand.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import UsageError

_KEYS = {"arch": str, "memfs": bool, "simd": bool, "threads": bool, "jsep": bool, "webgpu": str, "release": bool}
# The WebGPU EP's two builds, named as upstream names their pairs (`ort-wasm-simd-threaded.asyncify.wasm`, loaded
# by ort.webgpu*.mjs; `.jspi`, loaded by ort.jspi*.mjs): how the wasm waits for the GPU, Asyncify or JSPI.
WEBGPU_KINDS = ("asyncify", "jspi")


def _stem(simd: bool, threads: bool) -> str:
    """ORT names its outputs after simd/threads, as onnxruntime-web expects."""
    return "ort-wasm" + ("-simd" if simd else "") + ("-threaded" if threads else "")


# The name every pair onnxruntime-web >= 1.19 loads starts with (ORT ships SIMD + threads only); suffixes such as
# `.jsep` or `.asyncify` name the execution provider.  The package and the JS stage tell pair files by it.
PAIR_PREFIX = _stem(simd=True, threads=True)


@dataclass(frozen=True)
class Variant:
    name: str
    arch: str  # "wasm32" | "wasm64"
    memfs: bool
    simd: bool = True
    threads: bool = True
    jsep: bool = False  # WebGPU through ORT's JS execution provider (onnxruntime_USE_JSEP, upstream's `.jsep` pair)
    webgpu: str = ""  # the native WebGPU EP (onnxruntime_USE_WEBGPU): "" or one of WEBGPU_KINDS
    release: bool = True

    @property
    def ep(self) -> str:
        """``cpu``, ``jsep`` or ``webgpu``: which execution provider the pair carries besides the CPU one."""
        return "jsep" if self.jsep else ("webgpu" if self.webgpu else "cpu")

    @property
    def jspi(self) -> bool:
        return self.webgpu == "jspi"

    @property
    def memory64(self) -> bool:
        return self.arch == "wasm64"

    @property
    def webgpu_recipe_key(self) -> str:
        """The recipe ``[webgpu]`` entry holding this pair's build.py flags: upstream's own line for a wasm32 pair,
        an ortwasm line (``wasm64-jspi``) for wasm64, which upstream never built with the WebGPU EP."""
        return self.webgpu if self.arch == "wasm32" else f"{self.arch}-{self.webgpu}"

    @property
    def artifact_stem(self) -> str:
        stem = _stem(self.simd, self.threads)
        if self.jsep:  # onnxruntime_webassembly.cmake appends it; ort.webgpu*.mjs import the pair by this name
            stem += ".jsep"
        elif self.webgpu:  # the same cmake names the WebGPU EP's pairs `.asyncify` / `.jspi`
            stem += f".{self.webgpu}"
        return stem

    def unsupported_reason(self, ort_version: str) -> str | None:
        """Why ``ort_version`` cannot build this variant (its recipe's ``[variants] unsupported``), or None."""
        from .recipe import load_recipe

        recipe = load_recipe(ort_version)
        return self.refused_by(recipe.version, recipe.webgpu_flags, recipe.unsupported_variants) if recipe else None

    def refused_by(self, version: str, webgpu_flags: Mapping[str, object], unsupported: Mapping[str, str]
                   ) -> str | None:
        """The one rule, from a recipe's ``[webgpu]`` kinds and ``[variants] unsupported``: a WebGPU-EP pair needs
        upstream's flags for its kind, any pair may be refused by name."""
        key = self.webgpu_recipe_key
        if self.webgpu and key not in webgpu_flags:
            return (f"ortwasm builds the native WebGPU EP ({key}) from ONNX Runtime 1.30 on; "
                    f"patches/{version}/recipe.toml has no [webgpu] {key} flags")
        return unsupported.get(self.name)


def _table_text(path: Path | None) -> tuple[str, str]:
    if path is not None:
        return path.read_text(), str(path)
    res = resources.files("ortwasm") / "data" / "variants.toml"
    return res.read_text(), "ortwasm/data/variants.toml"


def _line_of(text: str, name: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(f"{name} ") or line.strip().startswith(f"{name}="):
            return i
    return 0


def load_table(path: Path | None = None) -> dict[str, Variant]:
    text, label = _table_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"variant table {label} is not valid TOML: {exc}", "fix that line") from None
    raw = data.get("variants")
    if not isinstance(raw, dict) or not raw:
        raise UsageError(f"variant table {label} has no [variants] entries", "add lines like `wasm32 = { arch = ... }`")
    table: dict[str, Variant] = {}
    for name, spec in raw.items():
        where = f"{label}:{_line_of(text, name)} ({name})"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: expected an inline table", "write `name = { arch = \"wasm32\", ... }`")
        unknown = set(spec) - set(_KEYS)
        if unknown:
            key = sorted(unknown)[0]
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            raise UsageError(f"{where}: unknown key {key!r}", f"did you mean {close[0]!r}?" if close else
                             f"known keys: {', '.join(_KEYS)}")
        for key, typ in _KEYS.items():
            if key in spec and not isinstance(spec[key], typ):
                raise UsageError(f"{where}: {key} must be a {typ.__name__}, got {spec[key]!r}", "fix the value")
        if "arch" not in spec or "memfs" not in spec:
            raise UsageError(f"{where}: arch and memfs are required", "add them")
        if spec["arch"] not in ("wasm32", "wasm64"):
            raise UsageError(f"{where}: arch must be wasm32 or wasm64, got {spec['arch']!r}", "fix the value")
        if spec.get("webgpu", "") not in ("", *WEBGPU_KINDS):
            raise UsageError(f"{where}: webgpu must be one of {', '.join(WEBGPU_KINDS)}, got {spec['webgpu']!r}",
                             "fix the value")
        if spec.get("webgpu") and spec.get("jsep"):
            raise UsageError(f"{where}: jsep and webgpu both set", "a pair carries one WebGPU provider: pick one")
        table[name] = Variant(name=name, **spec)
    return table


def select(table: dict[str, Variant], names: list[str]) -> list[Variant]:
    chosen: list[Variant] = []
    for name in names:
        if name not in table:
            close = difflib.get_close_matches(name, list(table), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known variants: {', '.join(table)}"
            raise UsageError(f"unknown variant {name!r}", hint)
        chosen.append(table[name])
    return chosen


def resolve_requested(table: dict[str, Variant], requested: list[str] | None, memfs: bool) -> list[Variant]:
    """Map `--variants wasm32,wasm64` plus `--enable_wasm_memfs` onto table names.

    `wasm32` with the flag means `wasm32-memfs`, so ORT-style commands keep working; so does a base name
    that exists only with MEMFS (`wasm64-jsep` -> `wasm64-jsep-memfs`); a full table name is taken as it is.
    """
    if requested is not None and not requested:  # `--variants ''` (an unset shell variable): never "everything"
        raise UsageError("--variants is empty", f"name one or more of: {', '.join(table)} (comma-separated); "
                         "omit --variants for the default wasm32,wasm64")
    names = ["wasm32", "wasm64"] if requested is None else requested
    out: list[str] = []
    for name in names:
        if memfs and f"{name}-memfs" in table and (name not in table or not table[name].memfs):
            name = f"{name}-memfs"
        out.append(name)
    return select(table, list(dict.fromkeys(out)))


def release_variants(table: dict[str, Variant]) -> list[Variant]:
    return [v for v in table.values() if v.release]
