"""Our configure produces the CMakeCache that ORT's own build.py produces, for the flags both accept.

Same patched tree, same emscripten, same dependency dirs: build.py runs with ``--update`` only (configure),
ours runs through the pipeline's own configure.  Every difference must be in the allow-list below, each with
its reason.  Both build dirs live under $ORTWASM_HOME/test-configure, so a warm machine reconfigures in seconds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ortwasm.cli import build_options, make_parser
from ortwasm.options import BuildOptions
from ortwasm.pipeline import configure_variant, variant_runner
from ortwasm.recipe import require_recipe
from ortwasm.source.tree import PreparedSource
from ortwasm.toolchain.emscripten import Toolchain
from ortwasm.upstream import UpstreamBuild, add_emsdk_shim, for_variant, read_cmake_cache
from ortwasm.variants import load_table

pytestmark = pytest.mark.integration

# key -> why it may differ.  Nothing else may.
ALLOWED = {
    "CMAKE_TOOLCHAIN_FILE": "emcmake passes emscripten's Emscripten.cmake by its real path; build.py passes the "
                            "same file through the in-tree emsdk link",
    "CMAKE_EXPORT_COMPILE_COMMANDS": "we ask CMake for compile_commands.json (read when a build fails)",
    "Python_EXECUTABLE": "build.py pins the interpreter that runs it; ours lets CMake find the same python3",
    "CMAKE_CROSSCOMPILING_EMULATOR": "emcmake adds node as the emulator; the value is the same node",
    "CMAKE_ASM_COMPILER": "the same emcc, reached through the in-tree emsdk link by build.py",
    "NODE_JS_EXECUTABLE": "build.py's toolchain-file route records the node emscripten's config names; emcmake "
                          "passes node as CMAKE_CROSSCOMPILING_EMULATOR instead",
}


def _normalise(cache: dict[str, str], build_dir: Path) -> dict[str, str]:
    return {k: v.replace(str(build_dir), "<BUILD>") for k, v in cache.items()}


# id -> (our variant, build.py flags beyond the shared ones, our preset).  The preset case reads its build.py
# flags from the recipe, as `python build.py --preset` does, so the data and its translation are both checked.
CASES = {
    "off": ("wasm32", (), None),
    "memfs": ("wasm32-memfs", ("--enable_wasm_memfs",), None),
    "jsep": ("wasm32-jsep", ("--use_jsep",), None),
    "release": ("wasm32", None, "release"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cmake_cache_equals_build_py(configure_setup: tuple[BuildOptions, Toolchain, PreparedSource],
                                     case: str) -> None:
    opts, tc, src = configure_setup
    name, flags, preset = CASES[case]
    if preset is not None:
        ns = make_parser().parse_args(["build", "--preset", preset, "--ort-source", str(opts.ort_source),
                                       "--build-dir", str(opts.build_dir), "--out", str(opts.out_dir),
                                       *(["--deps-dir", str(opts.deps_dir)] if opts.deps_dir else [])])
        opts = build_options(ns)
        flags = require_recipe(src.version).presets[preset]
    assert flags is not None
    variant = load_table()[name]
    ours_plan, _, _ = configure_variant(opts, replace(variant, name=f"fidelity-ours-{case}"), tc, src, {})

    add_emsdk_shim(src.path, tc)
    up = UpstreamBuild(src.path, opts.build_dir / f"fidelity-buildpy-{case}", opts.deps_dir, extra_flags=flags)
    runner = variant_runner(opts, tc, up.build_dir, "build.py")
    runner.run(up.argv(build=False), "build.py --update", cwd=src.path)

    ours = _normalise(read_cmake_cache(ours_plan.build_dir / "CMakeCache.txt"), ours_plan.build_dir)
    theirs = _normalise(read_cmake_cache(up.config_dir / "CMakeCache.txt"), up.config_dir)
    differ = sorted(k for k in ours.keys() | theirs.keys()
                    if ours.get(k) != theirs.get(k) and k not in ALLOWED)
    detail = "\n".join(f"  {k}: ours={ours.get(k)!r} build.py={theirs.get(k)!r}" for k in differ)
    print(f"compared {len(ours.keys() & theirs.keys())} shared cache entries; allowed: {sorted(ALLOWED)}")
    assert not differ, f"CMakeCache differs from ORT build.py's on {len(differ)} keys:\n{detail}"
    assert theirs["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] == ("ON" if variant.memfs else "OFF")
    assert theirs["onnxruntime_USE_JSEP"] == ("ON" if variant.jsep else "OFF")
    if preset == "release":  # the preset did change what it is for, on both sides
        assert theirs["onnxruntime_DISABLE_RTTI"] == "ON"
        assert theirs["onnxruntime_ENABLE_WEBASSEMBLY_API_EXCEPTION_CATCHING"] == "ON"


# ------------------------------------------------------------- current ORT's native WebGPU EP, on sid's emscripten

WEBGPU_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def webgpu_setup() -> tuple[BuildOptions, Toolchain, PreparedSource, Path]:
    """(options, sid's toolchain, the prepared 1.30 tree, the prepared Dawn tree) for real WebGPU configures.

    Skips loudly when a piece is missing: the 1.30 tree, sid's chroot, or Dawn (which only a local clone of
    google/dawn provides: `fetch-sources --git-mirror dawn=PATH`)."""
    import os

    from ortwasm import paths
    from ortwasm.fetch.dawn import default_dest
    from ortwasm.pipeline import dawn_for
    from ortwasm.source.tree import prepare
    from ortwasm.toolchain.emscripten import PROVIDER_ENV, PROVIDERS, find_toolchain

    recipe = require_recipe(WEBGPU_VERSION)
    if not (recipe.source_dir / "VERSION_NUMBER").exists():
        pytest.skip(f"!!! no ORT {WEBGPU_VERSION} tree at {recipe.source_dir}: run "
                    f"`bash ci/fetch-sources.sh --version {WEBGPU_VERSION}`")
    if not default_dest(recipe.source_dir).is_dir():
        pytest.skip(f"!!! no Dawn tree at {default_dest(recipe.source_dir)}: run `python -m ortwasm fetch-sources "
                    f"--version {WEBGPU_VERSION} --git-mirror dawn=PATH` with a clone of google/dawn")
    old = os.environ.get(PROVIDER_ENV)
    os.environ[PROVIDER_ENV] = "sid"
    try:
        tc = find_toolchain(need_wasm64=False)
    except Exception as exc:
        pytest.skip(f"!!! no sid emscripten ({exc}): run `{PROVIDERS['sid'].provision}`")
    finally:
        if old is None:
            os.environ.pop(PROVIDER_ENV, None)
        else:
            os.environ[PROVIDER_ENV] = old
    work = paths.ortwasm_home() / "test-configure-webgpu"
    opts = BuildOptions(ort_source=recipe.source_dir, build_dir=work, out_dir=work / "out", deps_dir=recipe.deps_dir)
    src = prepare(opts.ort_source, work)
    return opts, tc, src, dawn_for(src)


@pytest.mark.parametrize("kind", ["asyncify", "jspi"])
def test_webgpu_cmake_cache_equals_build_py(webgpu_setup: tuple[BuildOptions, Toolchain, PreparedSource, Path],
                                            kind: str) -> None:
    """Upstream's CI line for the pair (recipe [webgpu]) through ORT's build.py, against ortwasm's translation of
    it (configure/ep_flags.py, the op reduction before configure, the Dawn tree): the same cache."""
    opts, tc, src, dawn = webgpu_setup
    variant = load_table()[f"wasm32-{kind}"]
    ours_plan, _, _ = configure_variant(opts, replace(variant, name=f"fidelity-ours-{kind}"), tc, src, {}, dawn)
    add_emsdk_shim(src.path, tc)
    up = for_variant(variant, src.path, opts.build_dir / f"fidelity-buildpy-{kind}", opts, tc, dawn)
    runner = variant_runner(opts, tc, up.build_dir, "build.py", dawn)
    runner.run(up.argv(build=False), "build.py --update", cwd=src.path)

    ours = _normalise(read_cmake_cache(ours_plan.build_dir / "CMakeCache.txt"), ours_plan.build_dir)
    theirs = _normalise(read_cmake_cache(up.config_dir / "CMakeCache.txt"), up.config_dir)
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k) and k not in ALLOWED)
    detail = "\n".join(f"  {k}: ours={ours.get(k)!r} build.py={theirs.get(k)!r}" for k in differ)
    assert not differ, f"CMakeCache differs from ORT build.py's on {len(differ)} keys:\n{detail}"
    assert theirs["onnxruntime_USE_WEBGPU"] == "ON" and theirs["onnxruntime_REDUCED_OPS_BUILD"] == "ON"
    assert theirs["onnxruntime_ENABLE_WEBASSEMBLY_JSPI"] == ("ON" if kind == "jspi" else "OFF")
    # build.py's own op reduction wrote the same files ours did
    gen = "op_reduction.generated"
    for f in sorted((ours_plan.build_dir / gen).rglob("*")):
        if f.is_file():
            rel = f.relative_to(ours_plan.build_dir / gen)
            assert f.read_bytes() == (up.config_dir / gen / rel).read_bytes(), rel
