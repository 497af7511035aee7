"""Options -> cmake defines, variant table resolution, and the CLI's --print-cmake (no toolchain needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.configure.plan import plan, variant_defines
from ortwasm.errors import UsageError
from ortwasm.options import BuildOptions
from ortwasm.source.tree import PreparedSource
from ortwasm.variants import load_table, resolve_requested
from tests.harness.trees import minimal_ort_tree


def _opts(tmp_path: Path, **kw: object) -> BuildOptions:
    return BuildOptions(ort_source=tmp_path, build_dir=tmp_path / "b", out_dir=tmp_path / "o", deps_dir=None,
                        **kw)  # type: ignore[arg-type]


def test_memfs_flag_maps_to_define(tmp_path: Path) -> None:
    table = load_table()
    on = variant_defines(_opts(tmp_path), table["wasm32-memfs"], patched=True)
    off = variant_defines(_opts(tmp_path), table["wasm32"], patched=True)
    assert on["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == "ON"
    assert off["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == "OFF"
    assert {k: v for k, v in on.items() if "MEMFS" not in k} == {k: v for k, v in off.items() if "MEMFS" not in k}


def test_wasm64_sets_memory64_and_threads_simd(tmp_path: Path) -> None:
    d = variant_defines(_opts(tmp_path), load_table()["wasm64-memfs"], patched=True)
    assert d["onnxruntime_ENABLE_WEBASSEMBLY_MEMORY64"] == "ON"
    assert d["onnxruntime_ENABLE_WEBASSEMBLY_THREADS"] == "ON"
    assert d["onnxruntime_ENABLE_WEBASSEMBLY_SIMD"] == "ON"
    assert d["onnxruntime_BUILD_UNIT_TESTS"] == "OFF"
    assert "MALLOC=dlmalloc" in d["onnxruntime_EMSCRIPTEN_SETTINGS"]


def test_unpatched_tree_gets_no_memfs_option(tmp_path: Path) -> None:
    d = variant_defines(_opts(tmp_path), load_table()["wasm32"], patched=False)
    assert "onnxruntime_ENABLE_WEBASSEMBLY_MEMFS" not in d


def test_ort_style_variant_names_follow_the_flag() -> None:
    table = load_table()
    assert [v.name for v in resolve_requested(table, None, memfs=True)] == ["wasm32-memfs", "wasm64-memfs"]
    assert [v.name for v in resolve_requested(table, None, memfs=False)] == ["wasm32", "wasm64"]
    assert [v.name for v in resolve_requested(table, ["wasm64-memfs"], memfs=False)] == ["wasm64-memfs"]
    # the README's WebGPU command: a base name that exists only with MEMFS maps onto it, the OFF one stays
    assert [v.name for v in resolve_requested(table, ["wasm32-jsep", "wasm64-jsep"], memfs=True)] == \
        ["wasm32-jsep-memfs", "wasm64-jsep-memfs"]
    assert [v.name for v in resolve_requested(table, ["wasm32-jsep"], memfs=False)] == ["wasm32-jsep"]
    with pytest.raises(UsageError, match="wasm64-jsep"):
        resolve_requested(table, ["wasm64-jsep"], memfs=False)


def test_unknown_variant_suggests() -> None:
    with pytest.raises(UsageError) as err:
        resolve_requested(load_table(), ["wasm46"], memfs=False)
    assert "wasm64" in err.value.hint


def test_corrupt_table_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "v.toml"
    bad.write_text('[variants]\nwasm32 = { arch = "wasm32", memfs = false }\nx = { arch = "wasm32", memfz = true }\n')
    with pytest.raises(UsageError) as err:
        load_table(bad)
    assert ":3" in err.value.message and "memfz" in err.value.message and "memfs" in err.value.hint
    bad.write_text("[variants\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_table(bad)


def test_nothreads_variant_is_refused_with_reason() -> None:
    reason = load_table()["wasm32-nothreads"].unsupported_reason("1.21.0")
    assert reason and "BUILD_MLAS_NO_ONNXRUNTIME" in reason


def test_plan_uses_per_variant_build_dirs(tmp_path: Path) -> None:
    src = PreparedSource(tmp_path / "src", "1.21.0", True, "x", "o")
    dirs = {plan(_opts(tmp_path), v, src).build_dir for v in load_table().values()}
    assert len(dirs) == len(load_table())


def test_print_cmake_shows_define_per_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cmake").mkdir()
    (tmp_path / "onnxruntime" / "core").mkdir(parents=True)
    (tmp_path / "cmake" / "onnxruntime_webassembly.cmake").write_text("")
    (tmp_path / "VERSION_NUMBER").write_text("1.21.0\n")
    rc = cli.main(["--enable_wasm_memfs", "--print-cmake", "--ort-source", str(tmp_path), "--online-deps",
                   "--build-dir", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.count("-Donnxruntime_ENABLE_WEBASSEMBLY_MEMFS=ON") == 2
    assert "-Donnxruntime_ENABLE_WEBASSEMBLY_MEMORY64=ON" in out and "emcmake cmake" in out


def test_bad_define_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--print-cmake", "--cmake_extra_defines", "NOEQUALS"]) == UsageError.return_code
    assert "KEY=VALUE" in capsys.readouterr().err


def test_shared_init_cache_is_the_committed_cmake_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cmake/ortwasm-init.cmake is where the shared defines live: every variant's defines carry each of its keys,
    and a line ortwasm cannot read is refused naming the file and line, never skipped."""
    from ortwasm.configure import plan as plan_mod

    shared = plan_mod.shared_init_cache()
    assert shared["onnxruntime_BUILD_UNIT_TESTS"] == "OFF" and shared["CMAKE_EXPORT_COMPILE_COMMANDS"] == "ON"
    for v in load_table().values():
        d = variant_defines(_opts(tmp_path), v, patched=True, version="1.21.0")
        assert {k: d[k] for k in shared} == shared
    bad = tmp_path / "init.cmake"
    bad.write_text('# ok\nset(onnxruntime_ENABLE_PYTHON "OFF" CACHE BOOL "" FORCE)\nset(X ON)\n')
    monkeypatch.setattr(plan_mod, "SHARED_INIT_CACHE", bad)
    plan_mod.shared_init_cache.cache_clear()
    try:
        with pytest.raises(UsageError, match=r"init\.cmake:3: not of the form"):
            plan_mod.shared_init_cache()
    finally:
        plan_mod.shared_init_cache.cache_clear()


def _preset_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["build", "--ort-source", str(minimal_ort_tree(tmp_path / "ort")), "--online-deps", *extra]


def test_release_preset_sets_the_release_pipelines_flags_and_its_own_dirs(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset is the recipe's build.py flags, applied as if typed: RTTI off, API-level exception catching."""
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ORTWASM_ARTIFACTS", raising=False)
    parser = cli.make_parser()
    plain = cli.build_options(parser.parse_args(_preset_args(tmp_path)))
    release = cli.build_options(parser.parse_args(_preset_args(tmp_path, "--preset", "release")))
    assert release.preset == "release" and release.disable_rtti and release.enable_wasm_api_exception_catching
    assert release.build_dir == plain.build_dir.with_name(plain.build_dir.name + "-release")
    assert release.out_dir == plain.out_dir.with_name(plain.out_dir.name + "-release")
    variant = load_table()["wasm32"]
    on, off = (variant_defines(o, variant, patched=True, version="1.21.0") for o in (release, plain))
    changed = {k: (off.get(k), on.get(k)) for k in on.keys() | off.keys() if on.get(k) != off.get(k)}
    assert changed == {"onnxruntime_DISABLE_RTTI": ("OFF", "ON"),
                       "onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING": ("ON", "OFF"),
                       "onnxruntime_ENABLE_WEBASSEMBLY_API_EXCEPTION_CATCHING": ("OFF", "ON")}
    given = cli.build_options(parser.parse_args(_preset_args(tmp_path, "--preset", "release", "--out",
                                                             str(tmp_path / "mine"))))
    assert given.out_dir == (tmp_path / "mine").resolve()  # an explicit --out wins


def test_unknown_preset_is_a_usage_error_naming_the_known_ones(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([*_preset_args(tmp_path, "--preset", "fast"), "--print-cmake"])
    err = capsys.readouterr().err
    assert rc == UsageError.return_code
    assert "no preset 'fast'" in err and "release" in err


def test_a_preset_flag_the_cli_does_not_take_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe typo (a build.py flag ortwasm has no switch for) must not be dropped silently."""
    root = tmp_path / "patches"
    (root / "1.21.0").mkdir(parents=True)
    (root / "1.21.0" / "recipe.toml").write_text('[toolchain]\nproven = ["3.1.69"]\n[presets]\nodd = ["--use_webnn"]\n')
    monkeypatch.setattr("ortwasm.recipe.patch_root", lambda: root)
    with pytest.raises(UsageError, match="--use_webnn"):
        cli.build_options(cli.make_parser().parse_args(_preset_args(tmp_path, "--preset", "odd")))
