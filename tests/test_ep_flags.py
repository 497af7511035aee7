"""The WebGPU EP's pairs as data: the variant table's ``webgpu`` key, the recipe's upstream build.py flags, and what
configure makes of them.

Why these matter: the flags are upstream's CI line, and the translation is the only place that turns them into
CMake defines; a flag dropped or mistranslated builds a pair that differs from upstream's without any error.
The CMakeCache comparison with ORT's own build.py (test_buildpy_fidelity.py) checks the result end to end.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ortwasm.configure import ep_flags
from ortwasm.configure.plan import variant_defines
from ortwasm.errors import UsageError
from ortwasm.fetch.dawn import CMAKE_VAR as DAWN_VAR
from ortwasm.options import BuildOptions
from ortwasm.proc.execenv import ExecEnv
from ortwasm.recipe import load_recipe
from ortwasm.toolchain.emscripten import Toolchain
from ortwasm.variants import load_table

TABLE = load_table()
REDUCED = {"onnxruntime_DISABLE_ML_OPS", "onnxruntime_DISABLE_GENERATION_OPS", "onnxruntime_DISABLE_STRING_TYPE",
           "onnxruntime_DISABLE_FLOAT4_TYPES", "onnxruntime_DISABLE_FLOAT8_TYPES",
           "onnxruntime_DISABLE_OPTIONAL_TYPE", "onnxruntime_DISABLE_SPARSE_TENSORS"}


def _opts(tmp_path: Path) -> BuildOptions:
    return BuildOptions(ort_source=tmp_path, build_dir=tmp_path / "b", out_dir=tmp_path / "o", deps_dir=None)


def _recipe_flags(kind: str) -> tuple[str, ...]:
    recipe = load_recipe("1.30.0")
    assert recipe is not None
    return recipe.webgpu_flags[kind]


def test_upstreams_asyncify_line_translates_as_build_py_does() -> None:
    ep = ep_flags.parse(_recipe_flags("asyncify"), "test")
    assert ep.defines == {"onnxruntime_USE_WEBGPU": "ON", "onnxruntime_USE_WEBNN": "ON",
                          **{k: "ON" for k in REDUCED}}
    assert ep.api_exception_catching and not ep.disable_rtti
    assert (ep.reduce_config, ep.type_reduction) == ("onnxruntime/wasm/reduced_types.config", True)


def test_upstreams_jspi_line_adds_jspi_and_keeps_wasm_exceptions() -> None:
    ep = ep_flags.parse(_recipe_flags("jspi"), "test")
    assert ep.defines["onnxruntime_ENABLE_WEBASSEMBLY_JSPI"] == "ON"
    assert not ep.api_exception_catching


@pytest.mark.parametrize(("flags", "says"), [
    (("--use_webgpu", "--use_jsep"), "does not translate: --use_jsep"),
    (("--disable_types", "int4"), "invalid choice: 'int4'"),
    (("--enable_reduced_operator_type_support",), "without --include_ops_by_config"),
    (("--enable_wasm_jspi", "--enable_wasm_api_exception_catching"), "wasm exceptions"),
])
def test_a_flag_it_cannot_translate_is_refused_by_name(flags: tuple[str, ...], says: str) -> None:
    with pytest.raises(UsageError) as exc:
        ep_flags.parse(flags, "patches/x/recipe.toml [webgpu] asyncify")
    assert says in exc.value.message + exc.value.hint
    assert "patches/x/recipe.toml [webgpu] asyncify" in exc.value.message


def test_the_asyncify_pair_configures_as_upstream_names_it(tmp_path: Path) -> None:
    v = TABLE["wasm32-asyncify"]
    assert (v.ep, v.jspi, v.artifact_stem) == ("webgpu", False, "ort-wasm-simd-threaded.asyncify")
    assert TABLE["wasm32-jspi-memfs"].artifact_stem == "ort-wasm-simd-threaded.jspi"
    dawn = tmp_path / "dawn"
    d = variant_defines(_opts(tmp_path), v, patched=True, version="1.30.0", dawn=dawn)
    assert {k: d[k] for k in REDUCED} == {k: "ON" for k in REDUCED}
    assert (d["onnxruntime_USE_WEBGPU"], d["onnxruntime_USE_WEBNN"], d["onnxruntime_REDUCED_OPS_BUILD"]) == \
        ("ON", "ON", "ON")
    # --enable_wasm_api_exception_catching, as build.py turns it into three defines
    assert (d["onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING"],
            d["onnxruntime_ENABLE_WEBASSEMBLY_API_EXCEPTION_CATCHING"],
            d["onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_THROWING"]) == ("OFF", "ON", "ON")
    assert d[DAWN_VAR] == str(dawn) and d["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == "OFF"
    memfs = variant_defines(_opts(tmp_path), TABLE["wasm32-asyncify-memfs"], patched=True, version="1.30.0",
                            dawn=dawn)
    assert {k: x for k, x in memfs.items() if "MEMFS" not in k} == {k: x for k, x in d.items() if "MEMFS" not in k}


def test_the_cpu_pairs_get_none_of_it(tmp_path: Path) -> None:
    d = variant_defines(_opts(tmp_path), TABLE["wasm32"], patched=True, version="1.30.0", dawn=tmp_path)
    assert d["onnxruntime_USE_WEBGPU"] == "OFF" and DAWN_VAR not in d
    assert d["onnxruntime_REDUCED_OPS_BUILD"] == "OFF"
    assert d["onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING"] == "ON"


def test_a_version_without_webgpu_flags_refuses_the_pairs() -> None:
    reason = TABLE["wasm32-asyncify"].unsupported_reason("1.21.0")
    assert reason is not None and "[webgpu] asyncify" in reason
    assert TABLE["wasm32-jspi-memfs"].unsupported_reason("1.30.0") is None


def test_wasm64_webgpu_takes_ortwasms_recipe_line_without_webnn(tmp_path: Path) -> None:
    """Upstream never built the WebGPU EP on Memory64, so wasm64-jspi-memfs takes the recipe's own
    ``wasm64-jspi`` line (the jspi one minus --use_webnn: embind is not MEMORY64-safe) and the wasm32 pairs keep
    upstream's; a wasm64 kind with no line of its own is refused, naming the line it lacks."""
    dawn = tmp_path / "dawn"
    d64 = variant_defines(_opts(tmp_path), TABLE["wasm64-jspi-memfs"], patched=True, version="1.30.0", dawn=dawn)
    d32 = variant_defines(_opts(tmp_path), TABLE["wasm32-jspi-memfs"], patched=True, version="1.30.0", dawn=dawn)
    assert (d64["onnxruntime_USE_WEBNN"], d32["onnxruntime_USE_WEBNN"]) == ("OFF", "ON")
    assert d64["onnxruntime_ENABLE_WEBASSEMBLY_MEMORY64"] == "ON" and d64["onnxruntime_ENABLE_WEBASSEMBLY_JSPI"] == "ON"
    same = {k for k in d32 if k not in ("onnxruntime_USE_WEBNN", "onnxruntime_ENABLE_WEBASSEMBLY_MEMORY64")}
    assert {k: d64[k] for k in same} == {k: d32[k] for k in same}
    assert TABLE["wasm64-jspi-memfs"].unsupported_reason("1.30.0") is None
    reason = TABLE["wasm64-jspi-memfs"].unsupported_reason("1.21.0")
    assert reason is not None and "[webgpu] wasm64-jspi" in reason
    asyncify64 = replace(TABLE["wasm32-asyncify-memfs"], name="wasm64-asyncify-memfs", arch="wasm64")
    reason = asyncify64.unsupported_reason("1.30.0")
    assert reason is not None and "[webgpu] wasm64-asyncify" in reason


@pytest.mark.parametrize(("line", "says"), [
    ('x = { arch = "wasm32", memfs = false, webgpu = "webgl" }', "webgpu must be one of asyncify, jspi"),
    ('x = { arch = "wasm32", memfs = false, webgpu = "jspi", jsep = true }', "jsep and webgpu both set"),
])
def test_the_table_refuses_a_bad_webgpu_entry(tmp_path: Path, line: str, says: str) -> None:
    table = tmp_path / "variants.toml"
    table.write_text(f"[variants]\n{line}\n")
    with pytest.raises(UsageError, match=says):
        load_table(table)


@pytest.mark.parametrize(("version", "catching", "jspi", "want"), [
    ("6.0.5", "OFF", "OFF", "-sDISABLE_EXCEPTION_CATCHING=0"),  # the .asyncify pair: no exception mode
    ("6.0.5", "ON", "OFF", None),  # the CPU pairs: -sDISABLE_EXCEPTION_CATCHING=0 in the flags already
    ("6.0.5", "ON", "ON", None),  # .jspi: -fwasm-exceptions, which refuses the flag
    ("3.1.69", "OFF", "OFF", None),  # trixie links these checks
])
def test_configure_checks_get_the_link_flag_only_where_they_would_fail(version: str, catching: str, jspi: str,
                                                                       want: str | None) -> None:
    tc = Toolchain("chroot", "/usr/bin/emcc", version, ExecEnv())
    out = tc.cmake_defines({"onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING": catching,
                            "onnxruntime_ENABLE_WEBASSEMBLY_JSPI": jspi})
    assert out.get("CMAKE_REQUIRED_LINK_OPTIONS") == want
