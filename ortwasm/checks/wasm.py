"""A strict, stdlib-only reader for the few wasm facts the artifact check needs.

Why not a package: wasm-tools/wabt wheels carry native binaries and the check
must run on a bare CI machine; pywasm misreads the limits flags.  Only the
import, table, memory and export sections are decoded; of function, global,
tag, code and data only the entry count is read (for the module-level
validation), the rest is skipped by size, so a 28 MB ORT module parses in
milliseconds.

Why strict: the check judges release artifacts, so anything this reader does
not understand (a truncated file, a component instead of a core module, an
unknown limits flag) becomes ``CannotCheck`` with the byte offset, never a
silent guess and never a Python exception of another type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import CannotCheck

PAGE_SIZE = 65536
_MAGIC = b"\0asm"
_SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
                  7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}
# The binary format fixes the order of non-custom sections; tag (13) sits between memory and global,
# datacount (12) between element and code.
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
_EXTERN_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
# Sections read only for their entry count (function, global, tag, code, data, datacount): the index-space
# validation needs the counts, never the entries.
_COUNTED = (3, 6, 13, 10, 11, 12)
_FLAG_HAS_MAX, _FLAG_SHARED, _FLAG_64, _FLAG_PAGESIZE = 1, 2, 4, 8


class _Malformed(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Limits:
    """Memory or table limits.  ``is64`` is the memory64/table64 flag (bit 2)."""

    minimum: int
    maximum: int | None
    shared: bool
    is64: bool
    page_size_log2: int | None = None  # custom-page-sizes proposal; None means the default 64 KiB

    @property
    def flags(self) -> int:
        return ((self.maximum is not None) * _FLAG_HAS_MAX | self.shared * _FLAG_SHARED | self.is64 * _FLAG_64
                | (self.page_size_log2 is not None) * _FLAG_PAGESIZE)


@dataclass(frozen=True)
class Memory:
    limits: Limits
    imported_from: str | None  # "module.field" for an imported memory (pthread builds import theirs)


@dataclass(frozen=True)
class Table:
    limits: Limits
    ref_type: int
    imported_from: str | None


@dataclass(frozen=True)
class Export:
    name: str
    kind: str  # func | table | memory | global | tag
    index: int


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str


@dataclass(frozen=True)
class Section:
    id: int
    name: str  # "code", "data", ... or the custom section's own name (e.g. "name")
    offset: int  # of the payload
    size: int  # payload bytes (without the id byte and size field)

    @property
    def custom(self) -> bool:
        return self.id == 0


@dataclass(frozen=True)
class WasmInfo:
    path: str
    file_size: int
    memories: tuple[Memory, ...]
    tables: tuple[Table, ...]
    exports: tuple[Export, ...]
    imports: tuple[Import, ...]
    sections: tuple[Section, ...]

    @property
    def memory(self) -> Memory | None:
        return self.memories[0] if self.memories else None

    @property
    def memory64(self) -> bool | None:
        return None if self.memory is None else self.memory.limits.is64

    @property
    def table64(self) -> bool | None:
        """True if any table is 64-bit: emscripten's MEMORY64 makes the indirect function table 64-bit."""
        return None if not self.tables else any(t.limits.is64 for t in self.tables)

    @property
    def max_memory_bytes(self) -> int | None:
        mem = self.memory
        if mem is None or mem.limits.maximum is None:
            return None
        return mem.limits.maximum << (mem.limits.page_size_log2 if mem.limits.page_size_log2 is not None else 16)

    @property
    def export_names(self) -> frozenset[str]:
        return frozenset(e.name for e in self.exports)

    def function_exports(self) -> frozenset[str]:
        return frozenset(e.name for e in self.exports if e.kind == "func")

    def section_sizes(self) -> dict[str, int]:
        """Bytes per section: ``code``, ``data``, ``custom:<name>`` and the others by name; plus ``header``."""
        sizes: dict[str, int] = {"header": 8}
        for s in self.sections:
            key = f"custom:{s.name}" if s.custom else s.name
            sizes[key] = sizes.get(key, 0) + s.size
        return sizes


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self, end: int, what: str) -> int:
        if self.pos >= end:
            raise _Malformed(f"truncated: expected {what}", self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self, end: int, bits: int, what: str) -> int:
        """Unsigned LEB128 with the spec's length and unused-bit limits (so no input can make it loop long)."""
        start, result, shift = self.pos, 0, 0
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            b = self.byte(end, what)
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if i == max_bytes - 1 and (b & 0x7F) >> (bits - 7 * i):
                    raise _Malformed(f"{what}: LEB128 value exceeds {bits} bits", start)
                return result
            shift += 7
        raise _Malformed(f"{what}: LEB128 longer than {max_bytes} bytes", start)

    def sleb(self, end: int, bits: int, what: str) -> int:
        start, result, shift = self.pos, 0, 0
        for _ in range((bits + 6) // 7):
            b = self.byte(end, what)
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result
        raise _Malformed(f"{what}: signed LEB128 longer than {(bits + 6) // 7} bytes", start)

    def take(self, n: int, end: int, what: str) -> bytes:
        if n > end - self.pos:
            raise _Malformed(f"truncated: {what} needs {n} bytes, {end - self.pos} left", self.pos)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def name(self, end: int, what: str) -> str:
        n = self.uleb(end, 32, f"{what} length")
        raw = self.take(n, end, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"{what} is not valid UTF-8", self.pos - n) from None

    def count(self, end: int, what: str) -> int:
        n = self.uleb(end, 32, f"{what} count")
        if n > end - self.pos:  # every entry takes at least one byte
            raise _Malformed(f"{what} count {n} exceeds the {end - self.pos} bytes left in the section", self.pos)
        return n

    def limits(self, end: int, what: str) -> Limits:
        at = self.pos
        flags = self.byte(end, f"{what} limits flags")
        if flags & ~0x0F:
            raise _Malformed(f"{what} limits flags 0x{flags:02x} has unknown bits", at)
        is64 = bool(flags & _FLAG_64)
        bits = 64 if is64 else 32
        minimum = self.uleb(end, bits, f"{what} minimum")
        maximum = self.uleb(end, bits, f"{what} maximum") if flags & _FLAG_HAS_MAX else None
        page = self.uleb(end, 32, f"{what} page size") if flags & _FLAG_PAGESIZE else None
        if maximum is not None and maximum < minimum:
            raise _Malformed(f"{what} maximum {maximum} is below its minimum {minimum}", at)
        if flags & _FLAG_SHARED and maximum is None:
            raise _Malformed(f"{what} is shared but has no maximum", at)
        return Limits(minimum, maximum, bool(flags & _FLAG_SHARED), is64, page)

    def memory_limits(self, end: int, what: str) -> Limits:
        """Limits within the spec's range: 2**16 pages for a 32-bit memory, 2**48 for a 64-bit one (64 KiB pages).

        Why: the limits flags decide memory64, so a "32-bit" memory asking for more than 4 GiB is not a
        32-bit memory at all; engines refuse it, and so does this reader.
        """
        at = self.pos
        lim = self.limits(end, what)
        if lim.page_size_log2 not in (None, 0, 16):
            raise _Malformed(f"{what} page size 2**{lim.page_size_log2} B is neither 1 B nor 64 KiB", at)
        bits = 64 if lim.is64 else 32
        cap = 1 << (bits - (16 if lim.page_size_log2 is None else lim.page_size_log2))
        for label, pages in (("minimum", lim.minimum), ("maximum", lim.maximum)):
            if pages is not None and pages > cap:
                raise _Malformed(f"{what} {label} {pages} pages exceeds the {cap} a {bits}-bit memory can hold", at)
        return lim

    def ref_type(self, end: int, what: str) -> int:
        at = self.pos
        t = self.byte(end, what)
        if 0x69 <= t <= 0x74:  # funcref, externref and the GC/exception abbreviations
            return t
        if t in (0x63, 0x64):  # (ref null ht) / (ref ht)
            self.sleb(end, 33, f"{what} heap type")
            return t
        raise _Malformed(f"{what}: unknown reference type 0x{t:02x}", at)

    def val_type(self, end: int, what: str) -> int:
        t = self.data[self.pos] if self.pos < end else -1
        if t in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B):
            self.pos += 1
            return t
        return self.ref_type(end, what)

    def const_expr(self, end: int, what: str) -> None:
        """Skip a constant expression: the MVP and extended-const opcodes.  Others are refused, not guessed."""
        while True:
            at = self.pos
            op = self.byte(end, what)
            if op == 0x0B:
                return
            if op == 0x41:
                self.sleb(end, 32, what)
            elif op == 0x42:
                self.sleb(end, 64, what)
            elif op == 0x43:
                self.take(4, end, what)
            elif op == 0x44:
                self.take(8, end, what)
            elif op in (0x23, 0xD2):  # global.get, ref.func
                self.uleb(end, 32, what)
            elif op == 0xD0:  # ref.null
                self.sleb(end, 33, what)
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended-const add/sub/mul
                pass
            elif op == 0xFD and self.uleb(end, 32, what) == 12:  # v128.const
                self.take(16, end, what)
            else:
                raise _Malformed(f"{what}: unsupported constant-expression opcode 0x{op:02x}", at)


def _import_section(r: _Reader, end: int, imports: list[Import], memories: list[Memory], tables: list[Table]) -> None:
    for _ in range(r.count(end, "import")):
        module = r.name(end, "import module name")
        field = r.name(end, "import field name")
        at = r.pos
        kind = r.byte(end, "import kind")
        where = f"{module}.{field}"
        if kind == 0:
            r.uleb(end, 32, "imported function type index")
        elif kind == 1:
            ref = r.ref_type(end, "imported table element type")
            tables.append(Table(r.limits(end, f"imported table {where}"), ref, where))
        elif kind == 2:
            memories.append(Memory(r.memory_limits(end, f"imported memory {where}"), where))
        elif kind == 3:
            r.val_type(end, "imported global type")
            if r.byte(end, "imported global mutability") > 1:
                raise _Malformed(f"imported global {where}: mutability must be 0 or 1", r.pos - 1)
        elif kind == 4:
            if r.byte(end, "imported tag attribute") != 0:
                raise _Malformed(f"imported tag {where}: attribute must be 0", r.pos - 1)
            r.uleb(end, 32, "imported tag type index")
        else:
            raise _Malformed(f"import {where}: unknown kind 0x{kind:02x}", at)
        imports.append(Import(module, field, _EXTERN_KINDS[kind]))


def _table_section(r: _Reader, end: int, tables: list[Table]) -> None:
    for i in range(r.count(end, "table")):
        with_init = r.pos + 1 < end and r.data[r.pos] == 0x40 and r.data[r.pos + 1] == 0x00
        if with_init:
            r.pos += 2
        ref = r.ref_type(end, f"table {i} element type")
        tables.append(Table(r.limits(end, f"table {i}"), ref, None))
        if with_init:
            r.const_expr(end, f"table {i} initializer")


def _export_section(r: _Reader, end: int, exports: list[Export]) -> None:
    for _ in range(r.count(end, "export")):
        name = r.name(end, "export name")
        at = r.pos
        kind = r.byte(end, f"export {name!r} kind")
        if kind not in _EXTERN_KINDS:
            raise _Malformed(f"export {name!r}: unknown kind 0x{kind:02x}", at)
        exports.append(Export(name, _EXTERN_KINDS[kind], r.uleb(end, 32, f"export {name!r} index")))


def _validate(imports: list[Import], memories: list[Memory], tables: list[Table], exports: list[Export],
              counted: dict[int, int], section_at: dict[int, int]) -> None:
    """The module-level rules over the sections read: one body per function, unique exports in range.

    Why: each section can be well-formed while the module is not (a download cut exactly between the function
    and code sections, an export naming a function that does not exist).  Engines refuse such a module, so a
    check that accepted it would pass an artifact that cannot load.
    """
    funcs, bodies = counted.get(3, 0), counted.get(10, 0)
    if funcs != bodies:
        cut = " (file cut short before the code section?)" if 10 not in section_at else ""
        raise _Malformed(f"the function section declares {funcs} function(s) but the code section has {bodies} "
                         f"bod{'y' if bodies == 1 else 'ies'}{cut}", section_at.get(10, section_at.get(3, 8)))
    if 12 in counted and counted[12] != counted.get(11, 0):
        raise _Malformed(f"the datacount section says {counted[12]} data segment(s) but the data section has "
                         f"{counted.get(11, 0)}", section_at.get(11, section_at[12]))
    imported = Counter(i.kind for i in imports)
    space = {"func": imported["func"] + funcs, "table": len(tables), "memory": len(memories),
             "global": imported["global"] + counted.get(6, 0), "tag": imported["tag"] + counted.get(13, 0)}
    seen: set[str] = set()
    for e in exports:
        if e.name in seen:
            raise _Malformed(f"export name {e.name!r} appears twice", section_at[7])
        seen.add(e.name)
        if e.index >= space[e.kind]:
            raise _Malformed(f"export {e.name!r} is {e.kind} {e.index}, but the module has only {space[e.kind]} "
                             f"{e.kind}(s)", section_at[7])


def _parse(data: bytes, label: str) -> WasmInfo:
    if len(data) < 8:
        raise _Malformed(f"only {len(data)} bytes: too short for a wasm header", 0)
    if data[:4] != _MAGIC:
        raise _Malformed(f"not a wasm module: starts with {data[:4]!r}, not b'\\x00asm'", 0)
    version = int.from_bytes(data[4:8], "little")
    if version != 1:
        kind = "a component-model binary" if data[6:8] == b"\x01\x00" else f"binary version {version:#x}"
        raise _Malformed(f"{kind}; only core wasm modules (version 1) are understood", 4)
    r = _Reader(data, 8)
    n = len(data)
    imports: list[Import] = []
    memories: list[Memory] = []
    tables: list[Table] = []
    exports: list[Export] = []
    sections: list[Section] = []
    counted: dict[int, int] = {}  # section id -> entry count, for _COUNTED
    section_at: dict[int, int] = {}  # section id -> offset of its id byte, for error messages
    last_order = 0
    while r.pos < n:
        at = r.pos
        sid = r.byte(n, "section id")
        if sid not in _SECTION_NAMES:
            raise _Malformed(f"unknown section id {sid}", at)
        size = r.uleb(n, 32, f"{_SECTION_NAMES[sid]} section size")
        start = r.pos
        if size > n - start:
            raise _Malformed(f"truncated: {_SECTION_NAMES[sid]} section declares {size} bytes, "
                             f"file has {n - start} left (file cut short?)", at)
        end = start + size
        if sid == 0:
            sections.append(Section(0, r.name(end, "custom section name"), start, size))
            r.pos = end
            continue
        order = _ORDER[sid]
        if order <= last_order:
            raise _Malformed(f"{_SECTION_NAMES[sid]} section out of order or repeated", at)
        last_order = order
        section_at[sid] = at
        if sid == 2:
            _import_section(r, end, imports, memories, tables)
        elif sid == 4:
            _table_section(r, end, tables)
        elif sid == 5:
            for i in range(r.count(end, "memory")):
                memories.append(Memory(r.memory_limits(end, f"memory {i}"), None))
        elif sid == 7:
            _export_section(r, end, exports)
        elif sid == 12:
            counted[sid] = r.uleb(end, 32, "datacount")
        elif sid in _COUNTED:
            counted[sid] = r.count(end, _SECTION_NAMES[sid])
            r.pos = end
        else:
            r.pos = end
        if r.pos != end:
            raise _Malformed(f"{_SECTION_NAMES[sid]} section has {end - r.pos} unread bytes", r.pos)
        sections.append(Section(sid, _SECTION_NAMES[sid], start, size))
    _validate(imports, memories, tables, exports, counted, section_at)
    return WasmInfo(label, n, tuple(memories), tuple(tables), tuple(exports), tuple(imports), tuple(sections))


def parse_bytes(data: bytes, label: str = "<bytes>") -> WasmInfo:
    """Parse a core wasm module; every problem is ``CannotCheck`` naming ``label`` and the byte offset."""
    try:
        return _parse(bytes(data), label)
    except _Malformed as exc:
        raise CannotCheck(f"{label}: {exc.message} (at byte {exc.offset} of {len(data)})",
                          "rebuild or re-download it; a .wasm that does not parse cannot be checked") from None


def parse_file(path: Path) -> WasmInfo:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CannotCheck(f"{path}: cannot read: {exc.strerror or exc}", "check the path and permissions") from None
    return parse_bytes(data, str(path))
