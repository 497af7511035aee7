"""Upstream's build.py flags for an execution-provider pair, read as data and turned into what configure needs.

Why build.py's own flags and not CMake defines in the recipe: the fact a release engineer checks is upstream's CI
line (``tools/ci_build/github/azure-pipelines/templates/linux-wasm-ci.yml`` in 1.30, ``--use_webgpu --use_webnn
... $(reducedSizeBuildArgs)``), so ``patches/<version>/recipe.toml`` ``[webgpu]`` keeps that line as it is, and this
module is the one translation.  Each flag maps to what ORT's build.py itself does with it (``build.py`` line numbers
of 1.30 beside each); ``tests/test_buildpy_fidelity.py`` compares the resulting CMakeCache with build.py's own.
A flag outside this small set is refused by name, so a new upstream flag cannot be dropped silently.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..errors import UsageError

# --disable_types values -> the define build.py sets for each (build.py:387-393, 488-497)
_TYPE_DEFINES = {"string": "onnxruntime_DISABLE_STRING_TYPE", "float4": "onnxruntime_DISABLE_FLOAT4_TYPES",
                 "float8": "onnxruntime_DISABLE_FLOAT8_TYPES", "optional": "onnxruntime_DISABLE_OPTIONAL_TYPE",
                 "sparsetensor": "onnxruntime_DISABLE_SPARSE_TENSORS"}
# switches -> the define build.py sets ON for each
_SWITCH_DEFINES = {"use_webgpu": "onnxruntime_USE_WEBGPU",  # build.py:500
                   "use_webnn": "onnxruntime_USE_WEBNN",  # build.py:530, 881-884
                   "enable_wasm_jspi": "onnxruntime_ENABLE_WEBASSEMBLY_JSPI",  # build.py:523
                   "disable_ml_ops": "onnxruntime_DISABLE_ML_OPS",  # build.py:477
                   "disable_generation_ops": "onnxruntime_DISABLE_GENERATION_OPS"}  # build.py:478


@dataclass(frozen=True)
class EpFlags:
    """One pair's upstream flags, split by who acts on them."""

    flags: tuple[str, ...]  # as the recipe gives them (the manifest records them)
    defines: dict[str, str]  # cache entries set directly
    api_exception_catching: bool  # --enable_wasm_api_exception_catching: three defines, variant_defines computes them
    disable_rtti: bool
    reduce_config: str | None  # --include_ops_by_config, relative to the ORT tree: reduce_ops runs before configure
    type_reduction: bool  # --enable_reduced_operator_type_support


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="build.py", add_help=False, exit_on_error=False)
    for name in _SWITCH_DEFINES:
        p.add_argument(f"--{name}", action="store_true")
    p.add_argument("--enable_wasm_api_exception_catching", action="store_true")
    p.add_argument("--disable_rtti", action="store_true")
    p.add_argument("--disable_types", nargs="+", default=[], choices=sorted(_TYPE_DEFINES))
    p.add_argument("--include_ops_by_config", default=None)
    p.add_argument("--enable_reduced_operator_type_support", action="store_true")
    return p


def parse(flags: tuple[str, ...], where: str) -> EpFlags:
    """``where`` names the recipe entry, for the refusal of a flag this module does not translate."""
    try:
        a, rest = _parser().parse_known_args(list(flags))
    except argparse.ArgumentError as exc:
        raise UsageError(f"{where}: {exc}", "fix the flags; they are ORT build.py's") from None
    if rest:
        raise UsageError(f"{where}: build.py flag(s) ortwasm does not translate: {' '.join(rest)}",
                         "remove them, or teach ortwasm/configure/ep_flags.py what build.py does with them")
    if a.enable_reduced_operator_type_support and a.include_ops_by_config is None:
        raise UsageError(f"{where}: --enable_reduced_operator_type_support without --include_ops_by_config",
                         "build.py reduces types only with a config; add it")
    if a.enable_wasm_jspi and a.enable_wasm_api_exception_catching:
        raise UsageError(f"{where}: --enable_wasm_jspi with --enable_wasm_api_exception_catching",
                         "a JSPI build uses wasm exceptions (adjust_global_compile_flags.cmake); drop one")
    defines = {define: "ON" for name, define in _SWITCH_DEFINES.items() if getattr(a, name)}
    defines.update({_TYPE_DEFINES[t]: "ON" for t in a.disable_types})
    return EpFlags(tuple(flags), defines, a.enable_wasm_api_exception_catching, a.disable_rtti,
                   a.include_ops_by_config, a.enable_reduced_operator_type_support)
