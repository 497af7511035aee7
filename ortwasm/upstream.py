"""ONNX Runtime's own tools/ci_build/build.py, driven in our toolchain environment.

Why: "MEMFS OFF changes nothing" and "our configure equals upstream's" only mean something against what ORT's
maintainers would build themselves.  This runs their driver on a build-owned copy of the same tree, with the same
emscripten and the same offline dependency dirs, so that the CMakeCache and the artifacts can be compared.

build.py expects emsdk inside the tree (``cmake/external/emsdk``) and runs ``emsdk install``; source archives
have no such submodule.  The copy gets a link to the toolchain's emscripten and a no-op ``emsdk`` script, which
is what an emsdk checkout would look like after ``emsdk activate``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .deps.dirs import cmake_defines as deps_defines
from .errors import UsageError
from .fetch.dawn import CMAKE_VAR as DAWN_VAR
from .options import BuildOptions
from .recipe import require_recipe
from .source.tree import read_version
from .toolchain.emscripten import Toolchain
from .variants import Variant

# Flags of build.py that give the configuration our default variants mirror.  One place: the configure of our
# own driver starts from the defines this produces (patches/<version>/build-py-defines.txt).
BUILD_PY_FLAGS = ("--build_wasm", "--enable_wasm_simd", "--enable_wasm_threads")

# What build.py cannot do offline, and why we pass it anyway.
OFFLINE_DEFINES = {
    "onnxruntime_BUILD_UNIT_TESTS": "OFF",  # ON: onnxruntime_unittests.cmake looks for npm and fails configure
    "ONNX_CUSTOM_PROTOC_EXECUTABLE": "/usr/bin/protoc",  # offline: no protoc download
}


def emscripten_root(toolchain: Toolchain) -> str:
    """The directory holding emcc.py, as seen inside the toolchain's environment."""
    return "/usr/share/emscripten" if toolchain.emcc.startswith("/usr/bin/") else str(Path(toolchain.emcc).parent)


def add_emsdk_shim(tree: Path, toolchain: Toolchain) -> None:
    """Make build.py's emsdk lookup find our emscripten; idempotent."""
    emsdk = tree / "cmake" / "external" / "emsdk"
    (emsdk / "upstream").mkdir(parents=True, exist_ok=True)
    link = emsdk / "upstream" / "emscripten"
    target = emscripten_root(toolchain)
    if link.is_symlink() and os.readlink(link) != target:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(target)
    script = emsdk / "emsdk"
    if not script.exists():
        script.write_text("#!/bin/sh\n# ortwasm: the toolchain is provided; emsdk install/activate are no-ops\n"
                          "exit 0\n")
        script.chmod(0o755)


@dataclass(frozen=True)
class UpstreamBuild:
    """One build.py invocation: the tree it runs from, its build dir and what it is asked to do."""

    tree: Path
    build_dir: Path
    deps_dir: Path | None
    config: str = "Release"
    jobs: int = 2
    extra_flags: tuple[str, ...] = ()
    # cache entries build.py is given besides the offline ones: what the toolchain needs (toolchain.cmake_defines),
    # the Dawn tree of a WebGPU build; the same as ortwasm's configure passes, so the caches compare one to one
    extra_defines: tuple[tuple[str, str], ...] = ()

    @property
    def config_dir(self) -> Path:
        """build.py puts everything under <build_dir>/<config>."""
        return self.build_dir / self.config

    def argv(self, build: bool) -> list[str]:
        recipe = require_recipe(read_version(self.tree))
        defines = {**OFFLINE_DEFINES, **recipe.configure_defines}
        if self.deps_dir is not None:
            defines.update(deps_defines(self.deps_dir, recipe))
        defines.update(dict(self.extra_defines))
        return [
            "python3", str(self.tree / "tools" / "ci_build" / "build.py"),
            "--build_dir", str(self.build_dir), "--config", self.config, "--update", *(["--build"] if build else []),
            *BUILD_PY_FLAGS, *self.extra_flags,
            "--allow_running_as_root", "--skip_submodule_sync", "--cmake_generator", "Ninja", "--skip_tests",
            "--target", "onnxruntime_webassembly", "--parallel", str(self.jobs),
            "--cmake_extra_defines", *(f"{k}={v}" for k, v in defines.items()),
        ]


def no_counterpart(variant: Variant, version: str) -> UsageError | None:
    """Why build.py cannot build ``variant`` of ``version``, or None: asked before a tree is copied."""
    if variant.memfs or variant.memory64:
        return UsageError(f"{variant.name} has no build.py counterpart in ONNX Runtime {version}",
                          "compare a MEMFS-OFF wasm32 variant (wasm32, wasm32-jsep, wasm32-asyncify, wasm32-jspi)")
    recipe = require_recipe(version)
    if variant.webgpu and variant.webgpu_recipe_key not in recipe.webgpu_flags:
        return UsageError(f"patches/{recipe.version}/recipe.toml has no [webgpu] {variant.webgpu_recipe_key} line",
                          f"ONNX Runtime {version} has no WebGPU-EP pair of that kind")
    return None


def for_variant(variant: Variant, tree: Path, build_dir: Path, opts: BuildOptions, toolchain: Toolchain,
                dawn: Path | None = None, jobs: int = 2) -> UpstreamBuild:
    """build.py asked for ``variant`` the way upstream's CI asks for that pair.

    Why one function: the CMakeCache comparison and the sha256 comparison must ask build.py the same thing our
    configure is asked, or either proves nothing.  That is the pair's execution-provider flags from the recipe
    (``[webgpu]``), the Dawn tree our WebGPU pairs compile, and the flags this emscripten release needs
    (``Toolchain.cmake_defines``), exactly as configure/plan.py appends them.
    """
    from .configure.plan import variant_defines  # configure reads this module's flags; import it when used

    recipe = require_recipe(read_version(tree))
    refusal = no_counterpart(variant, recipe.version)
    if refusal is not None:
        raise refusal
    if variant.webgpu:
        flags = recipe.webgpu_flags[variant.webgpu_recipe_key]
        if dawn is None:
            raise UsageError(f"{variant.name} compiles Dawn, and no Dawn tree was given",
                             "pass the tree pipeline.dawn_for() checks")
    else:
        flags = ("--use_jsep",) if variant.jsep else ()
    ours = variant_defines(opts, variant, patched=False, version=recipe.version, dawn=dawn)
    extra = (((DAWN_VAR, str(dawn)),) if variant.webgpu and dawn else ()) + tuple(toolchain.cmake_defines(ours).items())
    return UpstreamBuild(tree, build_dir, opts.deps_dir, jobs=jobs, extra_flags=tuple(flags), extra_defines=extra)


def read_cmake_cache(path: Path) -> dict[str, str]:
    """User-visible cache entries (``KEY:TYPE=VALUE``), without CMake's INTERNAL/STATIC bookkeeping."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line or line.startswith(("#", "//")):
            continue
        head, sep, value = line.partition("=")
        key, _, typ = head.partition(":")
        if sep and typ not in ("INTERNAL", "STATIC"):
            out[key] = value
    return out
