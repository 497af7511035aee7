"""CMake defines as data, the init-cache file, and the emcmake configure step.

Every configure starts from what ORT's own tools/ci_build/build.py passes for
``--build_wasm --enable_wasm_simd --enable_wasm_threads --config Release``,
kept as data beside the version's patch set (``patches/<version>/build-py-defines.txt``, read by recipe.py),
so that for the flags both accept our CMakeCache equals build.py's.  The keys
that depend on the variant and on our own flags are then set on top.  They are written to an init-cache file (``-C``) so
that `--print-cmake` shows exactly what configure will see.  A stamp records
the toolchain, the source state and the defines; when any changes the build
dir is reconfigured from scratch instead of failing confusingly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ..deps.dirs import cmake_defines as deps_defines
from ..errors import UsageError
from ..fetch.dawn import CMAKE_VAR as DAWN_VAR
from ..options import BuildOptions
from ..paths import shipped
from ..recipe import load_recipe, require_recipe
from ..source.tree import PreparedSource
from ..toolchain.emscripten import Toolchain
from ..toolchain.gluefix import needs_fix
from ..variants import Variant
from .ep_flags import EpFlags
from .ep_flags import parse as parse_ep_flags
from .reduced_ops import DEFINES as REDUCED_OPS_DEFINES


@dataclass(frozen=True)
class ConfigurePlan:
    variant: Variant
    source_dir: Path  # the CMake source dir (<tree>/cmake)
    build_dir: Path
    defines: dict[str, str]

    @property
    def init_cache(self) -> Path:
        return self.build_dir / "ortwasm-init-cache.cmake"

    def argv(self, toolchain: Toolchain) -> list[str]:
        return [toolchain.emcmake, "cmake", "-S", str(self.source_dir), "-B", str(self.build_dir), "-G", "Ninja",
                "-C", str(self.init_cache)]

    def fingerprint(self, toolchain: Toolchain, source: PreparedSource) -> str:
        """`<toolchain hash>:<inputs hash>`: only a toolchain change needs a clean cache.

        A new patch set or changed defines only need a reconfigure: Ninja itself rebuilds what the changed
        sources touch, and the objects of everything else stay.
        """
        env = json.dumps({"emcc": toolchain.version, "kind": toolchain.kind}, sort_keys=True)
        defs = json.dumps({"defines": self.defines, "source": source.state_id}, sort_keys=True)
        return (f"{hashlib.sha256(env.encode()).hexdigest()[:16]}:"
                f"{hashlib.sha256(defs.encode()).hexdigest()[:16]}")


def _onoff(flag: bool) -> str:
    return "ON" if flag else "OFF"


SHARED_INIT_CACHE = shipped("cmake/ortwasm-init.cmake", "_cmake/ortwasm-init.cmake")
_SET = re.compile(r'^set\((\w+) "([^"]*)" CACHE (?:BOOL|STRING) "" FORCE\)\s*(?:#.*)?$')


@functools.cache
def shared_init_cache() -> dict[str, str]:
    """The defines every variant shares, from the committed ``cmake/ortwasm-init.cmake``.

    Why a CMake file and not a dict here: it is the one place that says what ortwasm sets beyond ORT's own
    build.py, in the language the cache is written in, and it can be read (or used with ``cmake -C``) without
    reading Python.  Any line that is not a comment, blank or the exact ``set(...)`` form is refused.
    """
    out: dict[str, str] = {}
    for n, line in enumerate(SHARED_INIT_CACHE.read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        m = _SET.match(text)
        if m is None:
            raise UsageError(f"{SHARED_INIT_CACHE}:{n}: not of the form "
                             'set(KEY "VALUE" CACHE BOOL|STRING "" FORCE)',
                             "fix that line; ortwasm reads only that form")
        out[m.group(1)] = m.group(2)
    return out


def ep_flags(variant: Variant, version: str) -> EpFlags | None:
    """Upstream's build.py flags for ``variant``'s execution provider in ``version`` (recipe ``[webgpu]``), parsed;
    None for a CPU or JSEP pair, whose flags are ortwasm's own switches."""
    recipe = load_recipe(version) if version and variant.webgpu else None
    flags = recipe.webgpu_flags.get(variant.webgpu_recipe_key) if recipe else None
    if recipe is None or flags is None:
        return None
    return parse_ep_flags(flags, f"patches/{recipe.version}/recipe.toml [webgpu] {variant.webgpu_recipe_key}")


def variant_defines(opts: BuildOptions, variant: Variant, patched: bool, version: str = "",
                    dawn: Path | None = None) -> dict[str, str]:
    """``dawn``: the prepared Dawn tree a WebGPU pair compiles (fetch/dawn.py), checked by the caller."""
    ep = ep_flags(variant, version)
    if ep is not None:  # the pair's own build.py flags act as the run's would
        opts = replace(opts, enable_wasm_api_exception_catching=opts.enable_wasm_api_exception_catching
                       or ep.api_exception_catching, disable_rtti=opts.disable_rtti or ep.disable_rtti)
    settings = list(opts.emscripten_settings)
    for key, value in (("MALLOC", "dlmalloc"), ("STACK_SIZE", "5242880")):
        if not any(s.split("=", 1)[0] == key for s in settings):
            settings.append(f"{key}={value}")
    catching = not opts.disable_wasm_exception_catching and not opts.enable_wasm_api_exception_catching
    recipe = load_recipe(version) if version else None
    d: dict[str, str] = {**recipe.build_py_defines, **recipe.configure_defines} if recipe else {}
    d.update({"CMAKE_BUILD_TYPE": opts.config, **shared_init_cache()})
    d.update({
        "onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING": _onoff(catching),
        "onnxruntime_ENABLE_WEBASSEMBLY_API_EXCEPTION_CATCHING": _onoff(opts.enable_wasm_api_exception_catching),
        "onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_THROWING": _onoff(
            not opts.disable_wasm_exception_catching or opts.enable_wasm_api_exception_catching),
        "onnxruntime_DISABLE_RTTI": _onoff(opts.disable_rtti),
        "onnxruntime_ENABLE_WEBASSEMBLY_SIMD": _onoff(variant.simd),
        "onnxruntime_ENABLE_WEBASSEMBLY_THREADS": _onoff(variant.threads),
        "onnxruntime_ENABLE_WEBASSEMBLY_MEMORY64": _onoff(variant.memory64),
        "onnxruntime_USE_JSEP": _onoff(variant.jsep),  # what ORT's build.py --use_jsep sets
        "onnxruntime_EMSCRIPTEN_SETTINGS": ";".join(settings),
    })
    if ep is not None:
        d.update(ep.defines)
        if ep.reduce_config is not None:
            d.update(REDUCED_OPS_DEFINES)
        if dawn is not None:
            d[DAWN_VAR] = str(dawn)
    if patched:
        # Unpatched trees don't know the option; leaving it out keeps the baseline an honest upstream configure.
        d["onnxruntime_ENABLE_WEBASSEMBLY_MEMFS"] = _onoff(variant.memfs)
    if opts.deps_dir is not None:
        d.update(deps_defines(opts.deps_dir, require_recipe(version)))
    d.update(dict(opts.extra_defines))
    return d


def plan(opts: BuildOptions, variant: Variant, source: PreparedSource,
         toolchain: Toolchain | None = None, dawn: Path | None = None) -> ConfigurePlan:
    build_dir = opts.build_dir / variant.name
    defines = variant_defines(opts, variant, source.patched, source.recipe_version, dawn)
    if toolchain is not None:  # flags this emscripten release needs (toolchain.COMPILE_FLAGS), appended last
        defines.update(toolchain.cmake_defines(defines))
        if variant.memory64 and needs_fix(toolchain.version):
            # ORT's own project() includes this after it is declared; the hook adds the glue fix as a POST_BUILD
            # step of the link, so Ninja runs it (and reruns it) with the link it belongs to.
            defines[GLUEFIX_HOOK_VAR] = str(build_dir / GLUEFIX_HOOK)
    return ConfigurePlan(variant, source.path / "cmake", build_dir, defines)


GLUEFIX_SCRIPT = shipped("cmake/ortwasm-gluefix.cmake", "_cmake/ortwasm-gluefix.cmake")
GLUEFIX_HOOK_VAR = "CMAKE_PROJECT_onnxruntime_INCLUDE"  # ORT's top-level project() is `onnxruntime` (1.21, 1.30)
GLUEFIX_HOOK = "ortwasm-hooks.cmake"


def _gluefix_hook(build_dir: Path) -> str:
    """The hook CMake includes after ORT's project(): at the end of the top-level directory (when
    onnxruntime_webassembly exists) it appends the glue fix to the link's POST_BUILD steps, after ORT's own.

    The script is copied into the build dir, which the toolchain's chroot can see; its sha256 is on the
    command line, so a changed script changes the link edge and Ninja relinks.
    """
    script = build_dir / GLUEFIX_SCRIPT.name
    digest = hashlib.sha256(GLUEFIX_SCRIPT.read_bytes()).hexdigest()[:16]
    return ("# Written by ortwasm (configure/plan.py): the wasm64 glue fix as a step of the link.\n"
            "cmake_language(DEFER DIRECTORY \"${CMAKE_SOURCE_DIR}\" CALL _ortwasm_gluefix_hook)\n"
            "function(_ortwasm_gluefix_hook)\n"
            "  if(TARGET onnxruntime_webassembly)\n"
            "    add_custom_command(TARGET onnxruntime_webassembly POST_BUILD\n"
            "      COMMAND \"${CMAKE_COMMAND}\" \"-DGLUE=$<TARGET_FILE:onnxruntime_webassembly>\"\n"
            f"              -DORTWASM_GLUEFIX_SHA256={digest} -P \"{script}\"\n"
            "      VERBATIM)\n"
            "  endif()\n"
            "endfunction()\n")


def write_init_cache(p: ConfigurePlan) -> None:
    p.build_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by ortwasm; every -D the configure uses.\n"]
    for key, value in p.defines.items():
        typ = "BOOL" if value in ("ON", "OFF") else "STRING"
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'set({key} "{escaped}" CACHE {typ} "" FORCE)\n')
    p.init_cache.write_text("".join(lines))
    if GLUEFIX_HOOK_VAR in p.defines:
        shutil.copyfile(GLUEFIX_SCRIPT, p.build_dir / GLUEFIX_SCRIPT.name)
        (p.build_dir / GLUEFIX_HOOK).write_text(_gluefix_hook(p.build_dir))


STAMP_NAME = "ortwasm-configure.json"


def needs_configure(p: ConfigurePlan, fingerprint: str) -> str | None:
    """Why a (re)configure is needed, or None when the build dir is current."""
    stamp = p.build_dir / STAMP_NAME
    if not (p.build_dir / "build.ninja").exists():
        return "no build.ninja yet"
    if not stamp.exists():
        return "no configure stamp"
    old = str(json.loads(stamp.read_text()).get("fingerprint", ""))
    if old.split(":")[0] != fingerprint.split(":")[0]:
        return ENVIRONMENT_CHANGED
    if old != fingerprint:
        return "defines or source changed"
    return None


ENVIRONMENT_CHANGED = "toolchain changed"


def reset_build_dir(p: ConfigurePlan) -> None:
    """A changed toolchain needs a clean cache, not a confusing partial reconfigure (sources: Ninja handles)."""
    for name in ("CMakeCache.txt", "CMakeFiles"):
        target = p.build_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def write_stamp(p: ConfigurePlan, fingerprint: str) -> None:
    (p.build_dir / STAMP_NAME).write_text(json.dumps({"fingerprint": fingerprint, "defines": p.defines},
                                                     indent=2, sort_keys=True) + "\n")
