"""Glue facts on synthetic snippets shaped like real emscripten output.

The shapes are copied from real files: the official onnxruntime-web 1.21.0
glue (``h._OrtInit=(a,b)=>(h._OrtInit=H.$a)(a,b)``), our closure-minified
3.1.69 build (``x._OrtInit=...Z.wd``), emscripten's unminified output, and the
FS string literals FS.staticInit leaves.  The real files are checked in
test_checks.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ortwasm.checks.glue import FS_MARKERS, parse_file, parse_text
from ortwasm.errors import CannotCheck

PRELUDE = "var WebAssembly=globalThis.WebAssembly;"
OFFICIAL = (PRELUDE + 'var h=moduleArg,H;function a(d,e){H=d.exports;H=Pd();ed.push(H.Eb);return H}'
            "h._OrtInit=(a,b)=>(h._OrtInit=H.$a)(a,b);h._OrtReleaseSession=a=>(h._OrtReleaseSession=H.hb)(a);"
            "h._OrtRun=(a,b,c,d,e,f,g,k)=>(h._OrtRun=H.yb)(a,b,c,d,e,f,g,k);"
            'var ENV={HOME:"/home/web_user"};var FS={};case "i64":y[a>>>3]=BigInt(b);')
OURS = (PRELUDE + "Z=function(){function a(c,d){Z=c.exports;Z=zh();Wf.push(Z._d);cg=Z.ae;return{}}}();"
        "x._OrtInit=(a,b)=>(x._OrtInit=Z.wd)(a,b);x._OrtGetLastError=(a,b)=>(x._OrtGetLastError=Z.xd)(a,b);"
        'rent=c}},{},"/proc/self/fd")})();G.If={MEMFS:S};x.FS_createDataFile=G.Te;'
        'Ya("/dev/tty1",0);Ya("/dev/tty1",1);mkdir("/dev/shm/tmp");"/proc/self/fd";'
        + "class ErrnoError{};" * 20)
UNMINIFIED = (PRELUDE + "var wasmExports;\n"
              "var _OrtInit = Module['_OrtInit'] = (a0, a1) => (_OrtInit = Module['_OrtInit'] = "
              "wasmExports['OrtInit'])(a0, a1);\n"
              'var _OrtRun = Module["_OrtRun"] = createExportWrapper("OrtRun", 8);\n'
              'Module["_OrtFree"] = function() { return Module["asm"]["OrtFree"].apply(null, arguments) };\n'
              'var _OrtFree2 = Module["_OrtFree2"] = function() { return (_OrtFree2 = Module["_OrtFree2"] = '
              'Module["asm"]["OrtFree2"]).apply(null, arguments) };\n')


def test_official_shape_mapping() -> None:
    g = parse_text(OFFICIAL)
    assert g.exposed == ("OrtInit", "OrtReleaseSession", "OrtRun")
    assert g.exports_object == "H"
    m = g.mapping("OrtInit")
    assert m is not None and m.wasm_export == "$a" and m.via == "H.$a"
    assert {x.c_name: x.wasm_export for x in g.mappings} == {"OrtInit": "$a", "OrtReleaseSession": "hb", "OrtRun": "yb"}


def test_official_shape_has_no_fs_despite_home_and_var_fs() -> None:
    """'/home/web_user' and 'var FS' are in FILESYSTEM=0 glue too: they must not count."""
    g = parse_text(OFFICIAL)
    assert g.fs_present is False and g.marker_count == 0
    assert dict(g.fs_markers) == dict.fromkeys(FS_MARKERS, 0)


def test_ours_fs_markers_and_mapping() -> None:
    g = parse_text(OURS)
    assert dict(g.fs_markers) == {"/dev/tty1": 2, "/dev/shm/tmp": 1, "/proc/self/fd": 2, "ErrnoError": 20,
                                  "MEMFS": 1}
    assert g.fs_present is True
    assert g.exports_object == "Z"
    assert [(m.c_name, m.wasm_export) for m in g.mappings] == [("OrtGetLastError", "xd"), ("OrtInit", "wd")]


def test_unminified_shapes() -> None:
    g = parse_text(UNMINIFIED)
    assert {m.c_name: m.wasm_export for m in g.mappings} == {
        "OrtInit": "OrtInit", "OrtRun": "OrtRun", "OrtFree": None, "OrtFree2": "OrtFree2"}
    # `Module["_OrtFree"] = function(){... Module["asm"]["OrtFree"] ...}` exposes the name; its wasm export is
    # then looked up under the C name by the check.
    assert "OrtFree" in g.exposed


def test_partial_markers_are_inconclusive() -> None:
    g = parse_text(PRELUDE + '"/dev/tty1";ErrnoError')
    assert g.marker_count == 2 and g.fs_present is None


def test_marker_needs_word_boundary() -> None:
    assert parse_text(PRELUDE + "NOTMEMFS MEMFSX ErrnoErrors").marker_count == 0


@pytest.mark.parametrize(("snippet", "key"), [
    ('new WebAssembly.Memory({initial:256,maximum:262144,shared:!0,index:"i64"})', "index"),
    ("new WebAssembly.Memory({initial: 256, maximum: 262144, shared: true, 'index': 'i64'})", "index"),
    ('new WebAssembly.Memory({initial:256,maximum:262144,shared:!0,address:"i64"})', "address"),
    ('try{new WebAssembly.Memory({initial:1,address:"i64"})}catch{};M={index:"i64"}', "index"),
    ('switch(t){case "i64":break}', None),
    ("var index=i64;", None),
])
def test_memory64_index_key(snippet: str, key: str | None) -> None:
    assert parse_text(PRELUDE + snippet).memory64_index_key == key


def test_not_glue(tmp_path: Path) -> None:
    with pytest.raises(CannotCheck, match="does not look like emscripten glue"):
        parse_text("export default 42;", "x.mjs")
    empty = tmp_path / "e.mjs"
    empty.write_bytes(b"")
    with pytest.raises(CannotCheck, match="empty"):
        parse_file(empty)
    binary = tmp_path / "b.mjs"
    binary.write_bytes(b"\0asm\x01\0\0\0\xff\xfe")
    with pytest.raises(CannotCheck, match="not UTF-8"):
        parse_file(binary)
    with pytest.raises(CannotCheck, match="cannot read"):
        parse_file(tmp_path / "missing.mjs")


def test_mount_external_data_flag() -> None:
    assert parse_text(PRELUDE + "h.mountExternalData=(a,b)=>{};").mentions_mount_external_data
    assert not parse_text(PRELUDE).mentions_mount_external_data


@pytest.mark.parametrize(("snippet", "sizes"), [
    ('rg();"use strict";h.PTR_SIZE=4;moduleRtn=h', (4,)),  # the official 1.21.0 dist, closure-minified
    ('Module["PTR_SIZE"] = 8;', (8,)),  # js_post_js_64.js unminified
    ("h.PTR_SIZE=4;x.PTR_SIZE=8;h.PTR_SIZE=4", (4, 8)),  # contradictory glue: both kept for the check
    ("if(h.PTR_SIZE===8)f();var c=h.PTR_SIZE*2;var MY_PTR_SIZE=8;", ()),  # reads and other names
])
def test_ptr_size(snippet: str, sizes: tuple[int, ...]) -> None:
    """PTR_SIZE is what onnxruntime-web sizes pointers by; the check compares it with the wasm's memory."""
    assert parse_text(PRELUDE + snippet).ptr_sizes == sizes


def test_creates_memory() -> None:
    assert parse_text(PRELUDE + "a=new WebAssembly.Memory({initial:256,maximum:65536,shared:!0})").creates_memory
    assert not parse_text(OFFICIAL).creates_memory
