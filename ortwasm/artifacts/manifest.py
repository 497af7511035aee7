"""``OUT/<variant>/manifest.json``: the one contract between the build and every stage after it.

Why typed and validated in one place: checks, package and the benches each used to re-validate the dict they
needed by hand, with three different error messages for the same broken file.  ``Manifest.from_json`` is the
only reader: it names the file and the key that is wrong.  ``to_json`` writes exactly the keys the build has
always written, and nothing for a section the file did not have, so a manifest read and written again is the
same JSON (manifests already on disk, and the minimal ones tests and ``check``'s report write, stay readable).

Sections (``format`` 1): ``variant``, ``files`` (name, bytes, sha256), ``toolchain``, ``ort`` (version, patch
set, source, commit, and whose patch set it was: ``patchset_version``, ``proven``), ``dependencies`` (each one's
pin: version, source, and the tarball/sdist with its sha256 or the git commit it came from; or the FetchContent
marker), ``defines``, ``timings``, ``glue_fix``, and ``checks`` (added by ``ortwasm check --json``, read back as a
baseline).

``timings`` also holds the variant's ccache counters (``ccache.Usage.timings``): ``ccache_hits``/``ccache_misses``,
``ccache_local_hits``/``ccache_local_misses`` and, when a remote was used, ``ccache_remote_hits``/``_misses``/
``_errors``/``_timeouts``; the local and remote hit rates follow from them.  Numbers in ``timings`` because it is the
section the package never ships (``package.LOCAL_ONLY_KEYS``): how a build was cached, and from where, is this
machine's business, not the artifact's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from ..errors import CannotCheck
from ..toolchain.gluefix import GlueFix

if TYPE_CHECKING:  # only its fields are read: the manifest's readers (check, package) need no source stage
    from ..source.tree import PreparedSource

MANIFEST_FORMAT = 1
FETCHCONTENT: Final = "FetchContent (cmake/deps.txt)"  # `dependencies` when ORT's own FetchContent fetched them
ARCHES = ("wasm32", "wasm64")
Arch = Literal["wasm32", "wasm64"]


class ManifestError(CannotCheck):
    """A manifest that cannot be trusted: unreadable, from a newer ortwasm, or with a key of the wrong type."""


def _bad(where: Path | str, key: str, want: str, got: object) -> ManifestError:
    return ManifestError(f"{where}: {key!r} must be {want}; got {got!r}", "rebuild with a current ortwasm")


class _Reader:
    """Typed access to one JSON object, every error naming the file and the dotted key."""

    def __init__(self, data: Mapping[str, Any], where: Path | str, prefix: str = "") -> None:
        self.data, self.where, self.prefix = data, where, prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, want: str, ok: Callable[[object], bool]) -> Any:
        v = self.data.get(key)
        if not ok(v):
            raise _bad(self.where, self._key(key), want, v)
        return v

    def text(self, key: str) -> str:
        return cast(str, self._get(key, "a string", lambda v: isinstance(v, str)))

    def flag(self, key: str) -> bool:
        return cast(bool, self._get(key, "true or false", lambda v: isinstance(v, bool)))

    def integer(self, key: str) -> int:
        return cast(int, self._get(key, "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)))

    def opt_str(self, key: str) -> str | None:
        return None if key not in self.data else self.text(key)

    def opt_bool(self, key: str) -> bool | None:
        return None if key not in self.data else self.flag(key)

    def obj(self, key: str) -> _Reader:
        return _Reader(self._get(key, "an object", lambda v: isinstance(v, dict)), self.where, f"{self._key(key)}.")

    def str_map(self, key: str) -> dict[str, str]:
        r = self.obj(key)
        for k, v in r.data.items():
            if not isinstance(v, str):
                raise _bad(self.where, r._key(k), "a string", v)
        return dict(r.data)

    def only(self, *keys: str) -> None:
        extra = sorted(set(self.data) - set(keys))
        if extra:
            raise ManifestError(f"{self.where}: unknown key {self._key(extra[0])!r} (known: {', '.join(keys)})",
                                "written by another tool or a newer ortwasm? rebuild with this one")


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


_READERS: dict[str, Callable[[_Reader, str], Any]] = {
    "str": _Reader.text, "Arch": _Reader.text, "bool": _Reader.flag, "int": _Reader.integer}
R = TypeVar("R")


def read_record(cls: type[R], r: _Reader) -> R:
    """A record dataclass from its JSON object: each field's key read at the field's type (``X | None``: the key
    may be absent), any other key refused.  One reader for every section, so they all fail the same way."""
    values: dict[str, Any] = {}
    names = [f.name for f in fields(cast(Any, cls))]
    r.only(*names)
    for f in fields(cast(Any, cls)):
        base, _, optional = str(f.type).partition(" | ")
        if not (optional and f.name not in r.data):
            values[f.name] = _READERS[base](r, f.name)
    return cls(**values)


def record_json(record: object) -> dict[str, Any]:
    """A record as JSON: its fields, none of the absent (``None``) ones."""
    return _drop_none(asdict(cast(Any, record)))


@dataclass(frozen=True)
class VariantInfo:
    """What the build was asked for; ``simd``/``threads``/``jsep``/``webgpu`` are absent in manifests older than
    them."""

    name: str
    arch: Arch
    memfs: bool
    simd: bool | None = None
    threads: bool | None = None
    jsep: bool | None = None
    webgpu: str | None = None  # "" (no WebGPU EP), "asyncify" or "jspi" (variants.WEBGPU_KINDS)

    @classmethod
    def read(cls, r: _Reader) -> VariantInfo:
        arch = r.data.get("arch")
        if not (isinstance(r.data.get("name"), str) and arch in ARCHES and isinstance(r.data.get("memfs"), bool)):
            raise ManifestError(f"{r.where}: 'variant' must hold name, arch (wasm32|wasm64) and memfs (bool); "
                                f"got {dict(r.data)!r}", "rebuild with a current ortwasm")
        return read_record(cls, r)


@dataclass(frozen=True)
class FileEntry:
    """A file as built: the check and the package compare the bytes on disk with these (edited after the build?)."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ToolchainInfo:
    """Which emcc built it (``kind``: emsdk, path, native-debian, chroot) and whether the patch set is proven
    with that version."""

    emscripten: str
    kind: str | None = None
    provider: str | None = None
    proven: bool | None = None  # False: built with --allow-unproven-toolchain


@dataclass(frozen=True)
class OrtInfo:
    """The ONNX Runtime tree: what the wasm and the JS must agree on before they are packaged together.

    ``version`` is always the tree's.  ``patchset_version`` names whose patch set was applied, and ``proven`` is
    false exactly when that is another version's (``--allow-unproven-version``): then that version's recipe says
    what the artifacts must export and weigh.  Both are absent in unpatched builds and older manifests.
    """

    version: str | None = None
    patched: bool | None = None
    patchset: str | None = None
    source: str | None = None
    commit: str | None = None  # "" for a tree that is not a git checkout
    patchset_version: str | None = None
    proven: bool | None = None

    @property
    def recipe_version(self) -> str | None:
        """Whose recipe judges the artifacts: the patch set's version, else the tree's."""
        return self.patchset_version or self.version

    @classmethod
    def of(cls, source: PreparedSource) -> OrtInfo:
        """The section a build writes for ``source``: the one translation of a prepared tree into the record."""
        return cls(source.version, source.patched, source.patchset, source.origin, source.commit,
                   source.patchset_version or None, not source.unproven if source.patched else None)

    @classmethod
    def read(cls, r: _Reader) -> OrtInfo:
        info = read_record(cls, r)
        other = info.patchset_version not in (None, info.version)
        if other != (info.proven is False):
            raise ManifestError(f"{r.where}: 'ort.proven' must be false exactly when 'ort.patchset_version' names "
                                f"another version than 'ort.version'; got version {info.version!r}, "
                                f"patchset_version {info.patchset_version!r}, proven {info.proven!r}",
                                "rebuild with a current ortwasm")
        return info


@dataclass(frozen=True)
class DependencyPin:
    """One offline dependency as fetch-sources recorded it (its stamp entry): enough to fetch it again.

    ``tarball``/``sdist`` name what was unpacked (``sha256`` is the sdist's; a Debian tarball is verified
    against Debian's signed lists by name), ``commit`` is the git commit a tag resolved to.
    """

    version: str
    source: str
    patches: str | None = None  # ORT's own patches applied to it, comma-separated ("" for none)
    tarball: str | None = None
    sdist: str | None = None
    sha256: str | None = None
    commit: str | None = None

    @classmethod
    def from_stamp(cls, entry: Mapping[str, str], where: Path | str, name: str) -> DependencyPin:
        return read_record(cls, _Reader(entry, where, f"dependencies.{name}."))


Dependencies = Mapping[str, DependencyPin] | Literal["FetchContent (cmake/deps.txt)"]


@dataclass(frozen=True)
class Manifest:
    """A variant's ``manifest.json``.  Every section but ``format`` may be absent (``None``): hand-made and
    minimal manifests (a report of artifacts that had none) are read too, and written back as they were."""

    format: int = MANIFEST_FORMAT
    variant: VariantInfo | None = None
    files: tuple[FileEntry, ...] | None = None
    toolchain: ToolchainInfo | None = None
    ort: OrtInfo | None = None
    dependencies: Dependencies | None = None
    defines: Mapping[str, str] | None = None
    timings: Mapping[str, float] | None = None
    glue_fix: GlueFix | None = None
    checks: Mapping[str, Any] | None = field(default=None, compare=False)  # ``check --json``'s, as written
    variant_null: bool = field(default=False, repr=False)  # `"variant": null` (report of an unmanifested pair)

    KEYS = ("format", "variant", "files", "toolchain", "ort", "dependencies", "defines", "timings", "glue_fix",
            "checks")

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files or () if f.name == name), None)

    @classmethod
    def from_json(cls, data: object, where: Path | str) -> Manifest:
        """Validate ``data`` (parsed JSON) read from ``where``; raises ``ManifestError`` naming the bad key."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: a JSON {type(data).__name__}, not an object",
                                "is this an ortwasm manifest.json?")
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
            raise ManifestError(f"{where}: no integer 'format' >= 1", "is this an ortwasm manifest.json?")
        if fmt > MANIFEST_FORMAT:
            raise ManifestError(f"{where}: format {fmt} was written by a newer ortwasm (this one reads "
                                f"{MANIFEST_FORMAT})", "upgrade ortwasm")
        r = _Reader(data, where)
        r.only(*cls.KEYS)
        variant = None if data.get("variant") is None else VariantInfo.read(r.obj("variant"))
        files = None
        if "files" in data:
            if not isinstance(data["files"], list):
                raise _bad(where, "files", "a list", data["files"])
            files = tuple(read_record(FileEntry, _Reader(e, where, f"files[{i}].")) if isinstance(e, dict)
                          else cls._not_obj(where, f"files[{i}]", e) for i, e in enumerate(data["files"]))
        deps: Dependencies | None = None
        if "dependencies" in data:
            raw = data["dependencies"]
            if raw == FETCHCONTENT:
                deps = FETCHCONTENT
            elif isinstance(raw, dict):
                deps = {n: read_record(DependencyPin, r.obj("dependencies").obj(n)) for n in raw}
            else:
                raise _bad(where, "dependencies", f"an object of pins or {FETCHCONTENT!r}", raw)
        timings = None
        if "timings" in data:
            t = r.obj("timings")
            for k, v in t.data.items():
                if not isinstance(v, int | float) or isinstance(v, bool):
                    raise _bad(where, t._key(k), "a number", v)
            timings = dict(t.data)
        checks = r.obj("checks").data if "checks" in data else None
        return cls(
            fmt, variant, files,
            read_record(ToolchainInfo, r.obj("toolchain")) if r.has("toolchain") else None,
            OrtInfo.read(r.obj("ort")) if r.has("ort") else None,
            deps,
            r.str_map("defines") if r.has("defines") else None,
            timings,
            read_record(GlueFix, r.obj("glue_fix")) if r.has("glue_fix") else None,
            checks,
            variant_null="variant" in data and data["variant"] is None,
        )

    @staticmethod
    def _not_obj(where: Path | str, key: str, got: object) -> FileEntry:
        raise _bad(where, key, "an object", got)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ManifestError(f"{path}: not readable JSON: {exc}", "rebuild, or remove the broken manifest") from None
        return cls.from_json(data, path)

    def to_json(self) -> dict[str, Any]:
        """The manifest as the build writes it: sections present, keys sorted (as ``json.dumps(sort_keys=True)``
        writes them, so a report that embeds it without sorting writes the same bytes)."""
        deps: object = None
        if self.dependencies is not None:
            deps = self.dependencies if isinstance(self.dependencies, str) else \
                {n: record_json(p) for n, p in self.dependencies.items()}
        out: dict[str, Any] = _drop_none({
            "format": self.format,
            "variant": record_json(self.variant) if self.variant else None,
            "files": [record_json(f) for f in self.files] if self.files is not None else None,
            "toolchain": record_json(self.toolchain) if self.toolchain else None,
            "ort": record_json(self.ort) if self.ort else None,
            "dependencies": deps,
            "defines": dict(self.defines) if self.defines is not None else None,
            "timings": dict(self.timings) if self.timings is not None else None,
            "glue_fix": record_json(self.glue_fix) if self.glue_fix else None,
            "checks": dict(self.checks) if self.checks is not None else None,
        })
        if self.variant_null:
            out["variant"] = None
        return _sorted(out)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")


def ort_versions_of(path: Path) -> tuple[str, str | None] | None:
    """(``ort.version``, ``ort.patchset_version``) of any ortwasm manifest (a variant's or the JS stage's), else
    None, without judging the rest: ``check`` picks the C API and budgets before the full read judges the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ort = data.get("ort") if isinstance(data, dict) else None
    if not isinstance(ort, dict) or not isinstance(ort.get("version"), str):
        return None
    patchset = ort.get("patchset_version")
    return ort["version"], patchset if isinstance(patchset, str) else None


def _sorted(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_any(obj[k]) for k in sorted(obj)}


def _sorted_any(obj: Any) -> Any:
    if isinstance(obj, dict):
        return _sorted(obj)
    if isinstance(obj, list):
        return [_sorted_any(x) for x in obj]
    return obj
