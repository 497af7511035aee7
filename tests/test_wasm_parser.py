"""The wasm section walker: hand-built modules, every malformation we know of, and a fuzzer.

Why hand-built bytes: the fast tier has no emcc, and the facts that matter
(limits flags bits 0-2, u64 LEB limits, imported shared memory) are easiest to
pin down byte by byte.  Node 24, when present, confirms the modules are valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ortwasm.checks.wasm import parse_bytes, parse_file
from ortwasm.errors import CannotCheck
from ortwasm.paths import node_prefix

HEADER = b"\0asm\x01\0\0\0"


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s: str) -> bytes:
    raw = s.encode()
    return uleb(len(raw)) + raw


def sec(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + uleb(len(payload)) + payload


def vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def limits(minimum: int, maximum: int | None = None, *, shared: bool = False, is64: bool = False) -> bytes:
    flags = (maximum is not None) | shared << 1 | is64 << 2
    return bytes([flags]) + uleb(minimum) + (uleb(maximum) if maximum is not None else b"")


def module(*, funcs: int = 1, memory: bytes | None = None, imported_memory: bytes | None = None,
           table: bytes | None = None, imported_table: bytes | None = None,
           exports: list[tuple[str, int, int]] | None = None, customs: dict[str, bytes] | None = None) -> bytes:
    """A valid module: ``funcs`` functions of type () -> (), optional memory/table, exports, custom sections."""
    imports = []
    if imported_memory is not None:
        imports.append(name("a") + name("a") + b"\x02" + imported_memory)
    if imported_table is not None:
        imports.append(name("env") + name("table") + b"\x01\x70" + imported_table)
    parts = [HEADER, sec(1, vec([b"\x60\x00\x00"]))]
    if imports:
        parts.append(sec(2, vec(imports)))
    parts.append(sec(3, vec([b"\x00"] * funcs)))
    if table is not None:
        parts.append(sec(4, vec([b"\x70" + table])))
    if memory is not None:
        parts.append(sec(5, vec([memory])))
    if exports:
        parts.append(sec(7, vec([name(n) + bytes([k]) + uleb(i) for n, k, i in exports])))
    parts.append(sec(10, vec([b"\x02\x00\x0b"] * funcs)))
    for cname, body in (customs or {}).items():
        parts.append(sec(0, name(cname) + body))
    return b"".join(parts)


WASM64_PTHREADS = module(funcs=3, imported_memory=limits(256, 262144, shared=True, is64=True),
                         table=limits(20789, 20789, is64=True),
                         exports=[("$a", 0, 0), ("wd", 0, 1), ("Cb", 1, 0)], customs={"name": b"\x00\x01\x00"})
WASM32_PTHREADS = module(funcs=2, imported_memory=limits(256, 65536, shared=True), table=limits(10, 10),
                         exports=[("$a", 0, 0), ("ab", 0, 1), ("Cb", 1, 0)])
SAMPLES = {
    "wasm64-pthreads": WASM64_PTHREADS,
    "wasm32-pthreads": WASM32_PTHREADS,
    "defined-memory64": module(memory=limits(1, 262144, is64=True), exports=[("memory", 2, 0), ("f", 0, 0)]),
    "imported-table64": module(imported_table=limits(1, 5, is64=True), memory=limits(1)),
    "no-memory": module(exports=[("f", 0, 0)]),
    # Valid wasm (the index types are independent in the spec) yet no emscripten build: the check, not the
    # parser, refuses it (tests/test_checks.py).
    "memory64-table32": module(imported_memory=limits(256, 262144, shared=True, is64=True), table=limits(4, 4)),
}


def test_wasm64_pthreads_facts() -> None:
    info = parse_bytes(WASM64_PTHREADS, "x.wasm")
    mem = info.memory
    assert mem is not None and mem.imported_from == "a.a"
    assert (mem.limits.is64, mem.limits.shared, mem.limits.minimum, mem.limits.maximum) == (True, True, 256, 262144)
    assert mem.limits.flags == 0x07
    assert info.memory64 is True and info.table64 is True
    assert info.max_memory_bytes == 16 * 2**30
    assert [(e.name, e.kind) for e in info.exports] == [("$a", "func"), ("wd", "func"), ("Cb", "table")]
    assert info.function_exports() == {"$a", "wd"}
    assert [(i.module, i.name, i.kind) for i in info.imports] == [("a", "a", "memory")]
    sizes = info.section_sizes()
    assert sizes["custom:name"] == 3 + len(name("name")) and sizes["code"] == 1 + 3 * 3
    assert sum(sizes.values()) + sum(1 + len(uleb(s.size)) for s in info.sections) == len(WASM64_PTHREADS)


def test_wasm32_pthreads_facts() -> None:
    info = parse_bytes(WASM32_PTHREADS)
    assert info.memory64 is False and info.table64 is False
    assert info.memory is not None and info.memory.limits.flags == 0x03
    assert info.max_memory_bytes == 4 * 2**30


def test_defined_memory64() -> None:
    info = parse_bytes(SAMPLES["defined-memory64"])
    assert info.memory is not None and info.memory.imported_from is None
    assert (info.memory.limits.minimum, info.memory.limits.maximum) == (1, 262144)
    assert info.memory64 is True and info.table64 is None
    assert ("memory", "memory") in [(e.name, e.kind) for e in info.exports]


def test_memory64_limits_are_u64() -> None:
    """Past 2**32 pages a u32 reader would fail or wrap; engines cap lower, the binary format does not."""
    info = parse_bytes(module(memory=limits(2**40, 2**48, is64=True)))
    assert info.memory is not None and (info.memory.limits.minimum, info.memory.limits.maximum) == (2**40, 2**48)
    with pytest.raises(CannotCheck, match="LEB128 longer than 5 bytes"):
        parse_bytes(module(memory=limits(2**40)))  # the same value without the 64-bit flag


def test_imported_table64() -> None:
    info = parse_bytes(SAMPLES["imported-table64"])
    assert info.table64 is True and info.tables[0].imported_from == "env.table"
    assert info.memory64 is False


def test_memory64_with_table32_parses_as_it_is() -> None:
    info = parse_bytes(SAMPLES["memory64-table32"])
    assert info.memory64 is True and info.table64 is False


def test_no_memory() -> None:
    info = parse_bytes(SAMPLES["no-memory"])
    assert info.memory is None and info.memory64 is None and info.max_memory_bytes is None


NODE = next((str(p) for p in (node_prefix() / "bin" / "node",) if p.exists()), shutil.which("node"))


@pytest.mark.skipif(NODE is None, reason=f"!!! no node at {node_prefix()}/bin/node or on PATH: samples not validated")
def test_samples_are_valid_for_node(tmp_path: Path) -> None:
    """Node 24 (V8 with memory64/table64) must accept every hand-built sample, so the fixtures are honest."""
    node = str(NODE)
    for key, data in SAMPLES.items():
        (tmp_path / f"{key}.wasm").write_bytes(data)
    script = ("const fs=require('fs');const out={};for(const f of fs.readdirSync(process.argv[1]))"
              "{out[f]=WebAssembly.validate(fs.readFileSync(process.argv[1]+'/'+f))};console.log(JSON.stringify(out))")
    res = subprocess.run([node, "-e", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 24:
        pytest.skip(f"{node} is {version}; memory64/table64 validation needs Node 24")
    assert all(json.loads(res.stdout).values()), res.stdout


BAD = {
    "empty": (b"", "too short"),
    "text": (b"<!doctype html><html></html>", "not a wasm module"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "not a wasm module"),
    "version 2": (b"\0asm\x02\0\0\0", "version"),
    "component": (b"\0asm\x0d\0\x01\0", "component"),
    "section past end": (HEADER + b"\x0a\x20\x01", "truncated"),
    "unknown section": (HEADER + sec(14, b""), "unknown section id 14"),
    "out of order": (HEADER + sec(5, vec([limits(1)])) + sec(1, vec([])), "out of order"),
    "repeated memory": (HEADER + sec(5, vec([limits(1)])) + sec(5, vec([limits(1)])), "out of order or repeated"),
    "leb too long": (HEADER + bytes([5]) + b"\x81\x80\x80\x80\x80\x00", "LEB128 longer"),
    "u32 overflow": (HEADER + sec(5, vec([b"\x00\xff\xff\xff\xff\x7f"])), "exceeds 32 bits"),
    "unknown limits flag": (HEADER + sec(5, vec([b"\x10\x01"])), "unknown bits"),
    "max below min": (HEADER + sec(5, vec([limits(5, 2)])), "below its minimum"),
    "shared without max": (HEADER + sec(5, vec([b"\x02\x01"])), "shared but has no maximum"),
    "trailing bytes": (HEADER + sec(5, vec([limits(1)]) + b"\x00"), "unread bytes"),
    "bad utf8 export": (HEADER + sec(7, vec([b"\x02\xff\xfe\x00\x00"])), "UTF-8"),
    "unknown export kind": (HEADER + sec(7, vec([name("f") + b"\x09\x00"])), "unknown kind"),
    "unknown import kind": (HEADER + sec(2, vec([name("a") + name("b") + b"\x07"])), "unknown kind"),
    "huge count": (HEADER + sec(7, b"\xff\xff\xff\xff\x0f"), "exceeds"),
    "bad table type": (HEADER + sec(4, vec([b"\x7f" + limits(1)])), "reference type"),
    "custom name too long": (HEADER + sec(0, b"\x10ab"), "truncated"),
    "function without body": (HEADER + sec(1, vec([b"\x60\x00\x00"])) + sec(3, vec([b"\x00"] * 2))
                              + sec(10, vec([b"\x02\x00\x0b"])), "declares 2 function(s) but the code section has 1"),
    "body without function": (HEADER + sec(10, vec([b"\x02\x00\x0b"])), "declares 0 function(s)"),
    "export past functions": (module(funcs=2, exports=[("f", 0, 2)]), "'f' is func 2, but the module has only 2"),
    "export of no memory": (module(exports=[("memory", 2, 0)]), "has only 0 memory(s)"),
    "duplicate export": (module(funcs=2, exports=[("f", 0, 0), ("f", 0, 1)]), "export name 'f' appears twice"),
    "datacount mismatch": (HEADER + sec(5, vec([limits(1)])) + sec(12, uleb(2)) + sec(11, vec([b"\x01\x00"])),
                           "datacount section says 2"),
    "memory32 over 4 GiB": (module(memory=limits(1, 65537)), "maximum 65537 pages exceeds the 65536"),
    "memory64 over 2**48 pages": (module(memory=limits(2**48 + 1, is64=True)), "exceeds the 281474976710656"),
    "odd page size": (HEADER + sec(5, vec([b"\x08\x01\x0c"])), "neither 1 B nor 64 KiB"),
}


@pytest.mark.parametrize("key", sorted(BAD))
def test_malformed_is_cannot_check(key: str) -> None:
    data, fragment = BAD[key]
    with pytest.raises(CannotCheck) as err:
        parse_bytes(data, "bad.wasm")
    assert fragment in err.value.message and "bad.wasm" in err.value.message
    assert err.value.hint


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_every_truncation_is_cannot_check_or_a_shorter_module(key: str) -> None:
    """Cut anywhere: a valid shorter module or CannotCheck, never another error.

    A clean section boundary between the function and the code section is refused too: functions without
    bodies are no module an engine loads, and a download cut exactly there must not pass the check.
    """
    data = SAMPLES[key]
    sections = parse_bytes(data).sections
    boundaries = {8} | {s.offset + s.size for s in sections}
    func_end = next(s.offset + s.size for s in sections if s.name == "function")
    code_end = next(s.offset + s.size for s in sections if s.name == "code")
    for cut in range(len(data)):
        if cut in boundaries and not func_end <= cut < code_end:
            parse_bytes(data[:cut])
        else:
            with pytest.raises(CannotCheck):
                parse_bytes(data[:cut])


def test_parse_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CannotCheck, match="cannot read"):
        parse_file(tmp_path / "missing.wasm")
    with pytest.raises(CannotCheck, match="cannot read"):
        parse_file(tmp_path)
    (tmp_path / "ok.wasm").write_bytes(WASM32_PTHREADS)
    assert parse_file(tmp_path / "ok.wasm").path.endswith("ok.wasm")


def test_28_mb_module_parses_fast() -> None:
    """ORT's jsep wasm is 24 MB; the walker must skip code/data by size, not decode them."""
    body = b"\x00" * (26 * 2**20)
    code = sec(10, uleb(1) + uleb(len(body) + 1) + b"\x00" + body)
    data = sec(11, vec([b"\x01" + uleb(2 * 2**20) + b"\x01" * (2 * 2**20)]))
    blob = HEADER + sec(1, vec([b"\x60\x00\x00"])) + sec(2, vec([name("a") + name("a") + b"\x02"
                                                               + limits(256, 65536, shared=True)])) \
        + sec(3, vec([b"\x00"])) + code + data
    assert len(blob) > 28 * 10**6
    start = time.perf_counter()
    info = parse_bytes(blob)
    elapsed = time.perf_counter() - start
    assert info.section_sizes()["code"] > 26 * 2**20
    assert elapsed < 0.5, f"parsing {len(blob):,} B took {elapsed:.3f} s"


def _parse_or_cannot(data: bytes) -> None:
    try:
        parse_bytes(data)
    except CannotCheck as exc:
        assert exc.message and exc.hint


FUZZ = settings(deadline=timedelta(milliseconds=500), max_examples=400, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    _parse_or_cannot(data)


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_sections_after_header(data: bytes) -> None:
    _parse_or_cannot(HEADER + data)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                min_size=1, max_size=8))
def test_fuzz_mutated_valid_modules(key: str, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(SAMPLES[key])
    for pos, value, op in edits:
        i = pos % (len(data) + 1)
        if op == "insert":
            data.insert(i, value)
        elif i < len(data):
            if op == "set":
                data[i] = value
            else:
                del data[i]
    _parse_or_cannot(bytes(data))


@FUZZ
@given(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0xFF]),
       st.lists(st.integers(0, 255), max_size=24))
def test_fuzz_limits_flags(flags: int, tail: list[int]) -> None:
    _parse_or_cannot(HEADER + sec(5, bytes([1, flags, *tail])))
