"""The build stages in order, per variant: source -> configure -> compile -> artifacts -> checks.

Each stage takes typed inputs and returns typed results; this module only
sequences them, times them, and prints the closing summary.  Everything that can refuse (the tree's version
and its patch set, the variants, the toolchain) does so before anything is written; then the build dir's and the
out dir's locks (``ortwasm.lock``) are held for the whole build, so a second build on the same dirs waits (or,
with ``wait=False``, refuses naming the holder).
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import ccache, lock, log, paths
from .artifacts import collect as artifacts
from .checks.report import check_and_report
from .configure import plan as configure
from .configure.reduced_ops import reduce_ops
from .deps.dirs import read_stamp
from .errors import BuildError, UsageError
from .fetch.dawn import CMAKE_VAR as DAWN_VAR
from .fetch.dawn import DAWN_REPO, dawn_cmake_defines, default_dest, read_dawn_pin
from .js import web
from .options import ALLOW_UNPROVEN_VERSION, BuildOptions
from .proc.runner import Runner
from .source.patchset import choose_patchset
from .source.tree import PreparedSource, peek_version, prepare
from .toolchain.emscripten import Toolchain, check_proven, find_toolchain
from .variants import Variant, load_table

TARGET = "onnxruntime_webassembly"
DAWN_BUILD_DIR = "_deps/dawn-build"  # where FetchContent builds the Dawn tree a WebGPU pair's configure adds


@dataclass
class VariantResult:
    variant: Variant
    artifacts: artifacts.Artifacts
    timings: dict[str, float]
    did_nothing: bool
    ccache: dict[str, int] = field(default_factory=dict)


def ccache_base_dir(toolchain: Toolchain, opts: BuildOptions) -> Path:
    """ccache's base_dir: the deepest directory holding the build dir, the dependency dir and emscripten's cache.

    Why that one: ccache rewrites every absolute path under base_dir into one relative to the compile's directory,
    in the hash and in the command it runs, so the ``__FILE__`` strings of ORT, of its dependencies (protobuf,
    abseil, onnx: about 50 in a wasm) and the sysroot's come out relative.  Two ``ORTWASM_HOME`` paths with the
    same layout then give the same objects, cache keys and sha256s; with the build dir alone, the dependencies'
    paths stayed absolute, and a home of another length shifted the wasm's data section and missed every cache
    entry of another machine.  A dir that shares nothing but the root with the others (an emsdk's cache, a
    ``--build-dir`` on another tree) is left out, and stays absolute: rewriting the whole file system would put
    ``../../..`` chains of the machine's layout in the binary instead."""
    base = opts.build_dir.resolve()
    more = [opts.deps_dir] if opts.deps_dir else []
    if "EM_CACHE" in toolchain.env:
        more.append(Path(toolchain.env["EM_CACHE"]))
    for d in more:
        common = Path(os.path.commonpath([base, d.resolve()]))
        if common != Path(common.anchor):
            base = common
    return base


def build_env(toolchain: Toolchain, opts: BuildOptions) -> dict[str, str]:
    """ccache through EM_COMPILER_WRAPPER (absolute path, or emcc's os.execv fails), with a fixed cache dir.

    CCACHE_BASEDIR (``ccache_base_dir``) makes per-variant dirs, the unpatched baseline (another build dir with the
    same layout) and another machine's home share objects, the last through the remote storage
    (``opts.ccache_remote``, passed in the environment: the runner echoes and logs argv only).
    """
    env = dict(toolchain.env)
    wrapper = "/usr/bin/ccache" if toolchain.exec_env.is_chroot else shutil.which("ccache")
    if opts.use_ccache and wrapper and toolchain.exec_env.host_path(wrapper).exists():
        env.update({"EM_COMPILER_WRAPPER": wrapper, "CCACHE_DIR": str(paths.ccache_dir()),
                    "CCACHE_BASEDIR": str(ccache_base_dir(toolchain, opts)), "CCACHE_MAXSIZE": "20G"})
        if opts.ccache_remote is not None:
            env.update(opts.ccache_remote.env())
    return env


def _ccache_counts(runner: Runner) -> dict[str, int]:
    """The shared cache dir's counters (ccache.COUNTERS); a variant's share is the delta around its compile."""
    if "EM_COMPILER_WRAPPER" not in runner.env:
        return {}
    return ccache.parse_stats(runner.capture([runner.env["EM_COMPILER_WRAPPER"], "--print-stats"]))


def remote_for_build(opts: BuildOptions, toolchain: Toolchain) -> BuildOptions:
    """The options this build runs with: its ccache remote kept only when it answers now.

    Why probe once here: a remote that is down from the start would cost every compile a failed connect (ccache
    retries per compile), and say so nowhere; one warning and a build on the local cache is what the user needs.
    A remote that dies later is ccache's to survive (its timeouts), and the summary's to report.  A
    ``redis+unix`` socket the chroot cannot be shown is refused here, before anything is written."""
    remote = opts.ccache_remote
    if remote is None:
        return opts
    if not opts.use_ccache:
        log.say(f"ccache remote {remote.masked}: not used (--no-ccache)")
        return replace(opts, ccache_remote=None)
    ccache.chroot_binds(remote, toolchain.exec_env)
    answer = ccache.probe(remote)
    if not answer.ok:
        log.warn(ccache.unreachable_warning(remote, answer))
        return replace(opts, ccache_remote=None)
    log.say(f"ccache remote: {remote.masked} ({answer.detail})" + (", read-only" if remote.read_only else ""))
    return opts


def variant_runner(opts: BuildOptions, toolchain: Toolchain, build_dir: Path, label: str,
                   dawn: Path | None = None) -> Runner:
    """The runner of one variant's build dir: the build's dirs (the Dawn tree of a WebGPU pair's, and a
    ``redis+unix`` socket's) visible in the toolchain's chroot, the build environment, the log in ``build_dir``.

    Why the Dawn tree by name: a configure that cannot see it does not fail (FetchContent only warns that the
    source dir is missing), it builds without Dawn and fails an hour later on a missing generated header."""
    exec_env = toolchain.exec_env.with_binds(opts.build_dir, *([opts.deps_dir] if opts.deps_dir else []),
                                             *([dawn] if dawn else []),
                                             *ccache.chroot_binds(opts.ccache_remote, toolchain.exec_env))
    return Runner(exec_env, build_env(toolchain, opts), build_dir / "build.log", label)


def preflight(opts: BuildOptions, variants: list[Variant]) -> tuple[str, str]:
    """Every refusal that needs no toolchain, before anything is copied or written; returns the tree's version and
    the version whose recipe governs the build (the patch set's: another one only for an unproven version).

    A version without a patch set (unless --no-patches), or without one that applies exactly and the user's
    --allow-unproven-version; a variant the version cannot build; a MEMFS variant without the patch set."""
    version = recipe_version = peek_version(opts.ort_source)
    if opts.apply_patches:
        recipe_version = choose_patchset(opts.ort_source, version, allow_unproven=opts.allow_unproven_version).version
    unproven = recipe_version != version
    if unproven:  # said before anything else happens, so no log of such a build lacks it
        log.warn(f"ONNX Runtime {version} is unproven: it has no patch set of its own, so it is built with "
                 f"{recipe_version}'s, which applies to it exactly; everything else version-specific is "
                 f"{recipe_version}'s too (dependency pins, build.py defines, checks, size budgets), and its "
                 f"manifests say so (ort.proven: false) ({ALLOW_UNPROVEN_VERSION})")
    built_as = f"ONNX Runtime {version}" + (f" (with {recipe_version}'s patch set)" if unproven else "")
    for v in variants:
        reason = v.unsupported_reason(recipe_version)
        if reason:
            raise UsageError(f"variant {v.name} cannot be built from {built_as}: {reason}",
                             "choose another variant (python -m ortwasm matrix --format names lists them)")
        if v.memfs and not opts.apply_patches:
            raise UsageError(f"variant {v.name} needs the patch set, but --no-patches was given",
                             "drop --no-patches, or build the OFF variants only")
    return version, recipe_version


def print_cmake(opts: BuildOptions, variants: list[Variant]) -> None:
    """Show the exact configure per variant without touching anything (the tree is only read); refused as a build
    would be (a version without a patch set, a variant it cannot build)."""
    version, recipe_version = preflight(opts, variants)
    src = opts.build_dir / "src" / f"onnxruntime-{version}"
    fake = PreparedSource(src, version, opts.apply_patches, "", str(opts.ort_source),
                          patchset_version=recipe_version if opts.apply_patches else "")
    dawn = default_dest(opts.ort_source) if any(v.webgpu for v in variants) else None
    for v in variants:
        p = configure.plan(opts, v, fake, dawn=dawn)
        defines = " ".join(shlex.quote(f"-D{k}={val}") for k, val in p.defines.items())
        print(f"# {v.name}\nemcmake cmake -S {p.source_dir} -B {p.build_dir} -G Ninja {defines}\n"
              f"ninja -C {p.build_dir} -j{opts.jobs} {TARGET}\n")


def run(opts: BuildOptions, variants: list[Variant], wait: bool = True) -> list[VariantResult]:
    started = time.monotonic()
    # Everything that can refuse does so before the source is copied (hundreds of MB) or anything is written.
    _, recipe_version = preflight(opts, variants)
    toolchain = find_toolchain(need_wasm64=any(v.memory64 for v in variants))
    log.say(f"toolchain: {toolchain.describe()}")
    check_proven(toolchain, recipe_version, allow=opts.allow_unproven_toolchain)
    opts = remote_for_build(opts, toolchain)
    with lock.held(opts.build_dir, "build dir", wait=wait), lock.held(opts.out_dir, "out dir", wait=wait):
        return _run_locked(opts, variants, toolchain, started)


def _run_locked(opts: BuildOptions, variants: list[Variant], toolchain: Toolchain,
                started: float) -> list[VariantResult]:
    source = prepare(opts.ort_source, opts.build_dir, opts.apply_patches, allow_unproven=opts.allow_unproven_version)
    state = f"patch set {source.patchset}" if source.patched else "unpatched"
    log.say(f"source: ONNX Runtime {source.version} at {source.path} "
            f"({state}{', unproven' if source.unproven else ''})")
    dawn = dawn_for(source) if any(v.webgpu for v in variants) else None
    results = [_build_variant(opts, v, toolchain, source, dawn) for v in variants]
    if not opts.skip_js:
        with log.group("build onnxruntime-web JS"):
            web.build_js(source, opts.build_dir, opts.out_dir, web.built_glues(opts.out_dir))
    log.summary([_summary_row(r) for r in results], time.monotonic() - started,
                remote=opts.ccache_remote.masked if opts.ccache_remote else "")
    return results


def dawn_for(source: PreparedSource) -> Path:
    """The prepared Dawn tree the source's WebGPU pairs compile, checked against the tree's pin and patches before
    anything is configured (a wrong Dawn fails an hour later, or builds)."""
    dest = default_dest(source.path)
    if not dest.is_dir():
        pin = read_dawn_pin(source.path)
        raise UsageError(f"the WebGPU pairs of ONNX Runtime {source.version} need Dawn {pin.tag} at {dest}, "
                         "and it is not there",
                         f"run `python -m ortwasm fetch-sources --version {source.recipe_version} --git-mirror "
                         f"dawn=PATH` with PATH a clone of {DAWN_REPO} that has the tag {pin.tag}")
    return Path(dawn_cmake_defines(dest, source.path)[DAWN_VAR])


def configure_variant(opts: BuildOptions, v: Variant, toolchain: Toolchain, source: PreparedSource,
                      timings: dict[str, float], dawn: Path | None = None
                      ) -> tuple[configure.ConfigurePlan, Runner, bool]:
    """Configure when needed; return the plan, the variant's runner and whether configure ran.

    A pair whose upstream flags reduce operators gets ORT's reduction first, as build.py runs it before cmake."""
    p = configure.plan(opts, v, source, toolchain, dawn)
    runner = variant_runner(opts, toolchain, p.build_dir, v.name, dawn if v.webgpu else None)
    log.say(f"{v.name}: log {runner.log_path}")
    ep = configure.ep_flags(v, source.recipe_version)
    if ep is not None and ep.reduce_config is not None:
        reduced = reduce_ops(runner, source.path, p.build_dir, ep.reduce_config, type_reduction=ep.type_reduction)
        timings["reduce_ops_s"] = reduced.seconds
    configure.write_init_cache(p)
    fingerprint = p.fingerprint(toolchain, source)
    why = configure.needs_configure(p, fingerprint)
    if why:
        log.say(f"{v.name}: configure ({why})")
        if why == configure.ENVIRONMENT_CHANGED:
            configure.reset_build_dir(p)
        timings["configure_s"] = runner.run(p.argv(toolchain), "configure", cwd=p.build_dir)
        if not (p.build_dir / "build.ninja").exists():
            raise BuildError(f"configure of {v.name} exited 0 but wrote no build.ninja",
                             f"the CMake run is incomplete; read {runner.log_path}")
        if v.webgpu and not (p.build_dir / DAWN_BUILD_DIR).is_dir():
            raise BuildError(f"configure of {v.name} did not add Dawn ({p.build_dir / DAWN_BUILD_DIR} missing)",
                             f"FetchContent could not see {dawn}; read {runner.log_path}")
        configure.write_stamp(p, fingerprint)
    return p, runner, why is not None


def _build_variant(opts: BuildOptions, v: Variant, toolchain: Toolchain, source: PreparedSource,
                   dawn: Path | None = None) -> VariantResult:
    with log.group(f"build {v.name}"):
        try:
            result = _build_variant_steps(opts, v, toolchain, source, dawn)
        except BuildError as e:  # a failure may be the toolchain's (another emscripten's glue, flags, warnings)
            raise BuildError(f"{e.message} [{toolchain.describe()}]", e.hint) from None
    if result.did_nothing:
        log.say(f"{v.name}: nothing to do (up to date)")
    return result


def _build_variant_steps(opts: BuildOptions, v: Variant, toolchain: Toolchain,
                         source: PreparedSource, dawn: Path | None = None) -> VariantResult:
    timings: dict[str, float] = {}
    p, runner, configured = configure_variant(opts, v, toolchain, source, timings, dawn)
    before = _ccache_counts(runner)
    # an Asyncify link (JSEP, the WebGPU EP's .asyncify) takes several times a CPU one: only variants with the same
    # kind of link are peers
    peers = tuple(opts.build_dir / o.name for o in load_table().values()
                  if (o.ep, o.webgpu) == (v.ep, v.webgpu) and o.name != v.name)
    timings["build_s"] = runner.run(["ninja", "-C", str(p.build_dir), f"-j{opts.jobs}", TARGET], "build",
                                    cwd=p.build_dir, progress=True, link_output=f"{v.artifact_stem}.mjs",
                                    link_peers=peers)
    did_nothing = not configured and runner.last_output_has("ninja: no work to do")
    delta = ccache.delta(before, _ccache_counts(runner))
    if delta:  # in the manifest too: how much a variant shared with earlier builds is a benchmark figure
        timings.update(ccache.Usage.of(delta).timings(remote=opts.ccache_remote is not None))
    deps = read_stamp(opts.deps_dir) if opts.deps_dir else None
    arts = artifacts.collect(v, p.build_dir, opts.out_dir, toolchain, source, p.defines, timings, deps)
    if arts.glue_fix.applied:
        log.say(f"{v.name}: glue fix: {arts.glue_fix.reason}")
    if not opts.skip_checks:
        check_and_report(arts.directory, None, None, None, version=source.version).raise_if_failed(
            hint=f"see above; artifacts in {arts.directory}")
    return VariantResult(v, arts, timings, did_nothing, delta)


def _summary_row(r: VariantResult) -> log.SummaryRow:
    files = [(f.name, f.bytes, f.sha256) for f in r.artifacts.entries]
    return log.SummaryRow(r.variant.name, r.timings.get("configure_s", 0), r.timings["build_s"], files, r.ccache,
                          r.did_nothing)
