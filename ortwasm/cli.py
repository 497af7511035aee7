"""The command line: parse once, resolve options once, call the pipeline or one tool.

Why thin: every decision (which version, which dirs, which variants) is the recipe's or a stage's, so the CLI
only turns argv into typed options.  `python build.py --enable_wasm_memfs ...` and `ortwasm build ...` are the
same command, and `--help` shows the build flags first, as ORT's own build.py does.  One error boundary turns
every OrtWasmError into one line plus a hint and the error's exit code; --debug shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import ccache, log, paths
from .errors import EnvironmentProblem, OrtWasmError, SourceError, UsageError
from .options import ALLOW_UNPROVEN_VERSION, CONFIGS, BuildOptions
from .recipe import default_version, require_recipe, supported, unsupported_version

if TYPE_CHECKING:
    from .recipe import Recipe

SUBCOMMANDS = ("build", "check", "doctor", "matrix", "package", "fetch-sources", "support-matrix")


BUILD_DESCRIPTION = """Build ONNX Runtime's WebAssembly artifacts (ort-wasm-simd-threaded.wasm/.mjs, the files
onnxruntime-web loads) for wasm32 and wasm64, and onnxruntime-web's JS from the same tree.
Flags carry ORT build.py's names."""

BUILD_EPILOG = """other commands (each takes --help):
  python -m ortwasm check DIR          check built artifacts (or an out dir, or a dist)
  python -m ortwasm package OUT        the drop-in onnxruntime-web npm package and a wheel
  python -m ortwasm fetch-sources      fetch an ONNX Runtime version's tree and its pinned dependencies
  python -m ortwasm doctor             what a build needs, pass/fail each
  python -m ortwasm matrix             the CI matrix from the variant table
  python -m ortwasm support-matrix     the support matrix (versions x variants x toolchains x runtimes)
examples:
  python build.py --enable_wasm_memfs --variants wasm32,wasm64
  python build.py --ort-version VERSION --enable_wasm_memfs --variants wasm32"""


def _build_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("build", help="build ORT wasm artifacts (the default command)", description=BUILD_DESCRIPTION,
                       epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--enable_wasm_memfs", action="store_true",
                   help="read external data through Emscripten's MEMFS with 64-bit offsets, so weights past 4 GiB "
                        "load (-Donnxruntime_ENABLE_WEBASSEMBLY_MEMFS=ON; OFF builds upstream's artifact)")
    b.add_argument("--variants", default=None,
                   help="comma-separated names from the variant table, e.g. wasm32,wasm64,wasm32-jsep; with "
                        "--enable_wasm_memfs wasm32 means wasm32-memfs (default wasm32,wasm64)")
    b.add_argument("--ort-source", type=Path, default=None,
                   help="ONNX Runtime tree (a git checkout) or release archive (default: the tree "
                        "`fetch-sources --version <--ort-version>` fetched)")
    b.add_argument("--ort-version", default=None,
                   help="with no --ort-source: build the fetched tree of this version "
                        "(default: the version whose recipe says [version] default = true)")
    b.add_argument("--deps-dir", type=Path, default=None,
                   help="offline dependency sources (default: the fetched cache if present, else FetchContent)")
    b.add_argument("--online-deps", action="store_true", help="use ORT's own FetchContent (needs internet)")
    b.add_argument("--build-dir", type=Path, default=None,
                   help="per-variant build trees and the patched source copy (default: $ORTWASM_HOME/<dir>, "
                        "<dir> from patches/<version>/recipe.toml [layout])")
    b.add_argument("--out", type=Path, default=None,
                   help="where finished variants land, one dir each; the tests read the same default "
                        "(default: $ORTWASM_HOME/<[layout] out> of the version's recipe; the default version's "
                        "is $ORTWASM_ARTIFACTS when set, another version's $ORTWASM_ARTIFACTS_<X_Y_Z>, e.g. "
                        "ORTWASM_ARTIFACTS_1_30_0)")
    b.add_argument("--enable_wasm_simd", action="store_true", default=True, help="(default; ORT ships SIMD only)")
    b.add_argument("--enable_wasm_threads", action="store_true", default=True, help="(default)")
    b.add_argument("--config", choices=CONFIGS, default="Release")
    b.add_argument("--enable_wasm_api_exception_catching", action="store_true")
    b.add_argument("--disable_wasm_exception_catching", action="store_true")
    b.add_argument("--disable_rtti", action="store_true", help="-Donnxruntime_DISABLE_RTTI=ON (as ORT's build.py)")
    b.add_argument("--preset", default=None, metavar="NAME",
                   help="a named set of ORT build.py flags from patches/<version>/recipe.toml [presets] "
                        "(release: the official dist's flags); builds into <build-dir>-NAME and <out>-NAME "
                        "unless --build-dir/--out are given")
    b.add_argument("--emscripten_settings", nargs="*", default=[], help="extra -s KEY=VALUE settings")
    b.add_argument("--cmake_extra_defines", nargs="*", default=[], help="extra KEY=VALUE cache entries")
    b.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    b.add_argument("--no-ccache", action="store_true")
    b.add_argument("--ccache-remote", default=None, metavar="URL",
                   help="a ccache remote storage shared across machines and CI jobs: redis://[[USER:]PASSWORD@]HOST"
                        "[:PORT][/DB], redis+unix:/SOCKET or http://HOST[:PORT][/PATH], then |attributes such as "
                        "|read-only (default: $ORTWASM_CCACHE_REMOTE; empty: none).  Probed at the start: a remote "
                        "that does not answer is warned about once and the build goes on without it.  The password "
                        "is shown masked; prefer the variable for it (a command line is visible to `ps`).  "
                        "docs/remote-cache.md")
    b.add_argument("--no-patches", action="store_true", help="build the tree as it is (the OFF identity baseline)")
    b.add_argument("--skip-checks", action="store_true")
    b.add_argument("--skip-js", action="store_true",
                   help="do not build onnxruntime-web's JS from the tree (needed by `ortwasm package`)")
    b.add_argument("--toolchain", default=None, metavar="trixie|sid",
                   help="which provisioned emscripten to use (ortwasm/data/toolchains.toml) "
                        "(same as ORTWASM_TOOLCHAIN; default: EMSDK, then emcc on PATH, then trixie)")
    b.add_argument("--allow-unproven-toolchain", action="store_true",
                   help="build even with an emscripten version that patches/<version>/recipe.toml does not list "
                        "as proven")
    b.add_argument(ALLOW_UNPROVEN_VERSION, action="store_true",
                   help="build a tree whose version has no patch set of its own (e.g. a newer ONNX Runtime) with the "
                        "nearest supported version's below it, if every patch applies exactly; the manifests then say "
                        "it is unproven (docs/new-version.md)")
    b.add_argument("--print-cmake", "--dry-run", dest="print_cmake", action="store_true",
                   help="print the emcmake/cmake/ninja commands per variant and stop")
    b.add_argument("--no-wait", action="store_true",
                   help="exit (code 11, naming the holder) instead of waiting when another run holds the build or "
                        "out dir")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ortwasm", description=BUILD_DESCRIPTION)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")
    _build_parser(sub)
    c = sub.add_parser("check", help="check a directory of artifacts",
                       description="Judge OUT/<variant>/, an OUT dir (its variants and the JS stage), an npm dist/ "
                                   "or an unpacked ortwasm npm package, by the rules of the ORT version that built "
                                   "it: its manifest's, else --ort-version, else the one recipe whose C API the "
                                   "glue exports (refused when none or several match).")
    c.add_argument("path", type=Path)
    c.add_argument("--ort-version", default=None,
                   help="the ONNX Runtime version to judge by when no manifest says (a folder of patches/)")
    c.add_argument("--budgets", type=Path, default=None)
    c.add_argument("--baseline", type=Path, default=None)
    c.add_argument("--report", type=Path, default=None, help="markdown report path ($GITHUB_STEP_SUMMARY works)")
    c.add_argument("--json", type=Path, default=None)
    sub.add_parser("doctor", help="list what a build needs, pass/fail each")
    m = sub.add_parser("matrix", help="print the CI matrix from the variant table")
    m.add_argument("--format", choices=("github", "names"), default="github")
    m.add_argument("--variants", default=None)
    m.add_argument("--table", type=Path, default=None)
    m.add_argument("--ort-version", default=None,
                   help="the release variants this version can build (default: the default version's)")
    pk = sub.add_parser("package", help="npm tarball and wheel from checked artifacts")
    pk.add_argument("path", type=Path)
    pk.add_argument("--dest", type=Path, default=Path("dist"))
    pk.add_argument("--no-wait", action="store_true",
                    help="exit (code 11, naming the holder) instead of waiting when another run packages into --dest")
    f = sub.add_parser("fetch-sources", help="fill $ORTWASM_HOME/sources: an ORT version's tree and its pinned deps")
    f.add_argument("--version", default=None, dest="ort_version",
                   help="ONNX Runtime version, a folder of patches/ (default: the version whose recipe says "
                        "[version] default = true)")
    f.add_argument("--git-mirror", action="append", default=[], metavar="DIR|NAME=PATH",
                   help="local git repositories to take git pins from: a directory of mirrors "
                        "(<owner>+<name>/repo, <owner>/<name>, <name>.git) or NAME=PATH for one dependency "
                        "(or onnxruntime); repeatable.  Pins no mirror has are fetched with git (--depth 1)")
    f.add_argument("--mirror", default=os.environ.get("ORTWASM_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
                   help="Debian mirror for debian: pins (default $ORTWASM_DEBIAN_MIRROR or deb.debian.org)")
    f.add_argument("--no-wait", action="store_true",
                   help="exit (code 11, naming the holder) instead of waiting when another run fills the sources dir")
    sm = sub.add_parser("support-matrix", help="the support matrix (versions x variants x toolchains x runtimes), "
                        "generated from the recipes and the variant table")
    sm.add_argument("--check", type=Path, default=None, metavar="FILE", help="exit 1 when FILE's copy is stale")
    sm.add_argument("--write", type=Path, default=None, metavar="FILE", help="replace FILE's copy")
    return parser


def _version_dirs(a: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """Build dir, out dir and deps dir: given, or the tree's version's defaults (two versions never share).

    A version without a recipe gets dirs named after it (``recipe.default_layout``); built unproven, its dependency
    pins and presets are the patch set's, so it takes that version's fetched deps dir."""
    from .recipe import default_layout, load_recipe, nearest_below
    from .source.tree import peek_version

    if a.ort_source is None:
        wanted = _known_version(a.ort_version, "--ort-version")
        wanted_recipe = require_recipe(wanted)
        a.ort_source = wanted_recipe.source_dir
        if not a.ort_source.is_dir():
            raise SourceError(f"no fetched ONNX Runtime {wanted} tree at {a.ort_source}",
                              f"run `bash ci/fetch-sources.sh --version {wanted}`, or pass --ort-source <tree>")
    elif a.ort_version is not None:
        raise UsageError("--ort-version and --ort-source both given",
                         "--ort-version picks a fetched tree; with your own tree, its VERSION_NUMBER decides")
    version = peek_version(a.ort_source)
    recipe = load_recipe(version)
    layout = default_layout(version)
    build = a.build_dir or (recipe.build_dir if recipe else paths.ortwasm_home() / layout.build)
    out = a.out or (recipe.out_dir if recipe else paths.ortwasm_home() / layout.out)
    if recipe is None and a.allow_unproven_version and not a.no_patches:
        below = nearest_below(version)  # whether its patch set applies is the source stage's to say
        recipe = load_recipe(below) if below else None
    if a.preset is not None:
        _apply_preset(a, recipe, version)
        build = a.build_dir or paths.preset_dir(build, a.preset)
        out = a.out or paths.preset_dir(out, a.preset)
    deps = a.deps_dir
    if deps is None and not a.online_deps and recipe is not None and recipe.deps_dir.is_dir():
        deps = recipe.deps_dir
    return build, out, deps


def _apply_preset(a: argparse.Namespace, recipe: Recipe | None, version: str) -> None:
    """Set a preset's build.py flags as if given on the command line: our flags carry build.py's names, so the
    recipe keeps upstream's exact flags and nothing translates them."""
    presets = recipe.presets if recipe else {}
    folder = recipe.version if recipe else version  # an unproven build's presets are its patch set's
    if a.preset not in presets:
        raise UsageError(f"ONNX Runtime {version} has no preset {a.preset!r} "
                         f"(patches/{folder}/recipe.toml [presets]: {', '.join(sorted(presets)) or 'none'})",
                         "pick one of those, or give the build.py flags yourself")
    for flag in presets[a.preset]:
        dest = flag.lstrip("-").replace("-", "_")
        if not isinstance(getattr(a, dest, None), bool):
            raise UsageError(f"preset {a.preset!r} of ONNX Runtime {version} uses {flag}, which ortwasm build "
                             "does not take as a switch", f"fix patches/{folder}/recipe.toml [presets]")
        setattr(a, dest, True)


def build_options(a: argparse.Namespace) -> BuildOptions:
    remote = ccache.configured(a.ccache_remote)  # a bad URL is refused before any directory is looked at
    build_dir, out_dir, deps = _version_dirs(a)
    defines: list[tuple[str, str]] = []
    for item in a.cmake_extra_defines:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--cmake_extra_defines {item!r} is not KEY=VALUE", "write it as KEY=VALUE")
        defines.append((key, value))
    return BuildOptions(
        ort_source=a.ort_source, build_dir=build_dir.resolve(), out_dir=out_dir.resolve(),
        deps_dir=deps.resolve() if deps else None, config=a.config, enable_wasm_memfs=a.enable_wasm_memfs,
        apply_patches=not a.no_patches, jobs=max(1, a.jobs), use_ccache=not a.no_ccache, ccache_remote=remote,
        enable_wasm_api_exception_catching=a.enable_wasm_api_exception_catching,
        disable_wasm_exception_catching=a.disable_wasm_exception_catching, disable_rtti=a.disable_rtti,
        preset=a.preset or "",
        emscripten_settings=tuple(a.emscripten_settings), extra_defines=tuple(defines), skip_checks=a.skip_checks,
        skip_js=a.skip_js,
        allow_unproven_toolchain=a.allow_unproven_toolchain, allow_unproven_version=a.allow_unproven_version,
    )


def _known_version(given: str | None, flag: str) -> str:
    """A supported version, or a usage error naming the valid values (any string, `1.30`, `latest`, `v1.21.0`)."""
    if given is None:
        return default_version()
    if given in supported():
        return given
    refusal = unsupported_version(given)
    raise UsageError(f"{flag} {given!r}: {refusal.message}", refusal.hint)


def _cmd_build(a: argparse.Namespace) -> int:
    from . import pipeline
    from .toolchain.emscripten import PROVIDER_ENV, selected_provider
    from .variants import load_table, resolve_requested

    if a.toolchain is not None:  # the flag is ORTWASM_TOOLCHAIN for this run (and what it starts)
        os.environ[PROVIDER_ENV] = a.toolchain
        selected_provider()  # an unknown name fails here, naming the choices
    requested = None if a.variants is None else [n.strip() for n in a.variants.split(",") if n.strip()]
    table = load_table()
    try:
        variants = resolve_requested(table, requested, a.enable_wasm_memfs)  # refused before anything is read
    except UsageError as exc:
        if all(name in exc.message + exc.hint for name in table):
            raise
        valid = f"valid: {', '.join(table)}"  # a "did you mean" alone leaves a typo's author guessing the rest
        raise UsageError(exc.message, f"{exc.hint}; {valid}" if exc.hint else valid) from None
    opts = build_options(a)
    if a.print_cmake:
        pipeline.print_cmake(opts, variants)
        return 0
    pipeline.run(opts, variants, wait=not a.no_wait)
    return 0


def _cmd_check(a: argparse.Namespace) -> int:
    from .checks.report import run_check
    from .js.web import JS_DIR_NAME
    from .package.inputs import judge_js_dir

    return run_check(a.path, a.budgets, a.baseline, a.report, json_path=a.json, version=_checked_version(a),
                     judges={JS_DIR_NAME: judge_js_dir})


def _checked_version(a: argparse.Namespace) -> str | None:
    """--ort-version, refused (exit 2, naming the supported versions) unless it has a recipe.  The manifests under
    the path decide when they say (checks.rules.resolve_version); a disagreeing --ort-version is refused there."""
    return None if a.ort_version is None else _known_version(a.ort_version, "--ort-version")


def _cmd_doctor(a: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor()


def _cmd_matrix(a: argparse.Namespace) -> int:
    from .matrix import print_matrix

    version = None if a.ort_version is None else _known_version(a.ort_version, "--ort-version")
    return print_matrix(a.format, a.variants, a.table, version=version)


def _cmd_package(a: argparse.Namespace) -> int:
    from . import lock
    from .package import package

    with lock.held(a.dest, "package dest", wait=not a.no_wait):  # two packages into one --dest: one at a time
        package(a.path, a.dest)
    return 0


def _cmd_fetch(a: argparse.Namespace) -> int:
    from .fetch.sources import fetch_sources
    from .toolchain.emscripten import find_toolchain

    fetch_sources(_known_version(a.ort_version, "--version"), git_mirrors=a.git_mirror, debian_mirror=a.mirror,
                  toolchain=find_toolchain, wait=not a.no_wait)
    return 0


def _cmd_support_matrix(a: argparse.Namespace) -> int:
    from .support import main as support_main

    argv = [*(["--check", str(a.check)] if a.check else []), *(["--write", str(a.write)] if a.write else [])]
    return support_main(argv)


_COMMANDS = {"build": _cmd_build, "check": _cmd_check, "doctor": _cmd_doctor, "matrix": _cmd_matrix,
             "package": _cmd_package, "fetch-sources": _cmd_fetch, "support-matrix": _cmd_support_matrix}


_ERRNO_FIXES = {
    errno.EROFS: "that file system is read-only: point ORTWASM_HOME (or --build-dir, --out, --dest) at a "
                 "writable directory",
    errno.ENOSPC: "free some space there (`df -h {path}`), or point ORTWASM_HOME (or --build-dir, --out, --dest) "
                  "at a file system with room",
    errno.EDQUOT: "your disk quota is used up: free some space, or point ORTWASM_HOME (or --build-dir, --out, "
                  "--dest) elsewhere",
    errno.EACCES: "make it writable for this user (`ls -ld {path}`), or point ORTWASM_HOME (or --build-dir, --out, "
                  "--dest) at a directory you own",
    errno.ENOENT: "check the path: it (or a directory above it) does not exist",
    errno.ENOTDIR: "a file sits where a directory is needed: move it away, or pick another path",
}
_ERRNO_FIXES[errno.EPERM] = _ERRNO_FIXES[errno.EACCES]


def environment_problem(exc: OSError, near: Path | None = None) -> EnvironmentProblem:
    """One line for an OSError a user can cause: what failed, on which path, and the fix for its errno.

    A write that fails on a full disk names no file: then ``near``, the dir the command writes under, is named."""
    path = exc.filename if exc.filename is not None else (str(near) if near is not None else "")
    what = exc.strerror or str(exc)
    where = f"{path}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    message = f"{what}: {where}" if exc.filename is not None else f"{what} (writing under {where})" if where else what
    hint = _ERRNO_FIXES.get(exc.errno or 0, "fix the path or the machine, then rerun; --debug shows where it "
                                            "happened").format(path=shlex.quote(str(path)) if path else ".")
    return EnvironmentProblem(message, hint)


def stop_on_sigterm() -> None:
    """A CI cancel or `kill` sends SIGTERM: stop the way Ctrl-C does (the running child terminated, the log says
    interrupted, nothing half-written published), instead of dying and leaving ninja and its compilers running."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stop_on_sigterm()
    debug = "--debug" in args
    rest = [x for x in args if x != "--debug"]
    if not rest or rest[0] not in SUBCOMMANDS:
        rest = ["build", *rest]  # `python build.py --enable_wasm_memfs` (and `--help`) means build
    parser = make_parser()
    ns = parser.parse_args(rest)
    try:
        return _COMMANDS[ns.command](ns)
    except OrtWasmError as exc:
        if debug:
            raise
        log.error(exc.message, exc.hint)
        return exc.return_code
    except OSError as exc:  # read-only, full disk, permission, a missing path: the machine's, not a bug
        if debug:
            raise
        problem = environment_problem(exc, getattr(ns, "dest", None) if ns.command == "package"
                                      else paths.ortwasm_home())
        log.error(problem.message, problem.hint)
        return problem.return_code
    except KeyboardInterrupt:
        log.say("interrupted; rerun the same command to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
