"""`ortwasm doctor`: everything a build needs, one PASS/FAIL line each, with the fix for each FAIL.

Why a separate command: an ORT wasm build takes an hour, and the things that
stop it late (no host protoc, a frozen emscripten cache that cannot take the
wasm64 libc, a dependency missing from the offline cache) are cheap to detect
up front.  Each probe is independent, so one missing thing does not hide the
others; each FAIL says the command that fixes it.  Tools the build runs inside
the toolchain environment (cmake, ninja, protoc, ccache) are probed there, with
``Toolchain.run``, because on bookworm that is a trixie chroot whose tools are
not the host's.  The emscripten line names the version found and whether the
patch set's ``recipe.toml`` lists it as proven: the build refuses it otherwise.
A ccache remote (ORTWASM_CCACHE_REMOTE) gets a line when one is set, its URL masked; it is WARN, not FAIL, when
it does not answer, because a build then goes on with the local cache.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import ccache, paths
from .deps.dirs import fetch_hint, verify_deps_dir
from .errors import OrtWasmError, ToolchainError, UsageError
from .recipe import Recipe, default_version, load_recipe, supported
from .source.patchset import find_patchset
from .source.tree import read_version
from .toolchain.emscripten import ALLOW_FLAG, Toolchain, find_toolchain, proven_toolchains
from .toolchain.table import table

PROVISION = "run `bash ci/provision-toolchain.sh`"
FETCH = "run `bash ci/fetch-sources.sh`"
MIN_NODE = 24  # first Node with Memory64 on by default
MIN_CHROMIUM = 133  # first Chromium with Memory64 on by default
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    needed: bool = True  # False: a build goes on without it, so its failure is a WARN, not a missing need


def _run_host(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _first_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [s.strip() for s in (proc.stdout or proc.stderr).splitlines() if s.strip()]
    return lines[0] if lines else ""


def _major(text: str) -> int | None:
    m = re.search(r"(\d+)(?:\.\d+)+", text)
    return int(m.group(1)) if m else None


def _writable(d: Path) -> bool:
    """Really try: root passes os.access on a read-only mount, and Debian's frozen cache is exactly that case."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            return True
    except OSError:
        return False


def proven_note(emscripten: str) -> tuple[bool, str]:
    """Is this emscripten version proven with the ORT source a build would use (else with any patch set)?

    Why in doctor: the build refuses an unproven emscripten only after finding the source; saying so here
    costs nothing.  The default source decides when it is readable; otherwise every patch set is asked.
    """
    try:
        recipe = _default_recipe()
        versions = [read_version(recipe.source_dir)] if recipe else supported()
    except OrtWasmError:
        versions = supported()
    if not versions:
        return False, "no patch set to judge it against"
    notes: list[str] = []
    ok = False
    for ort in versions:
        try:
            proven = proven_toolchains(ort)
        except OrtWasmError as exc:
            notes.append(exc.message)
            continue
        if proven is None:
            notes.append(f"ORT {ort} declares no proven emscripten (no recipe.toml)")
        elif emscripten in proven:
            ok = True
            notes.append(f"proven for ORT {ort}")
        else:
            notes.append(f"NOT proven for ORT {ort} (proven: {', '.join(proven)})")
    return ok, "; ".join(notes)


def probe_emscripten() -> tuple[Probe, Toolchain | None]:
    try:
        tc = find_toolchain()
    except OrtWasmError as exc:
        return Probe("emscripten", False, exc.message, exc.hint or PROVISION), None
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe("emscripten", False, f"could not run emcc: {exc}", PROVISION), None
    problems: list[str] = []
    need = ".".join(map(str, table().min_wasm64))
    wasm64 = "wasm64 ok" if tc.supports_wasm64() else f"too old for wasm64 (needs >= {need})"
    if not tc.supports_wasm64():
        problems.append("version")
    proven, proven_detail = proven_note(tc.version)
    if not proven:
        problems.append("proven")
    cache = tc.env.get("EM_CACHE")
    if cache is None:
        cache_note = "cache: emscripten's own"
    elif _writable(tc.exec_env.host_path(cache)):
        cache_note = f"cache {cache} writable"
    else:
        cache_note = f"cache {cache} NOT writable (the wasm64 libc is built into it on first use)"
        problems.append("cache")
    detail = f"{tc.describe()}; {wasm64}; {proven_detail}; {cache_note}"
    dflt = table().default_provider
    hint = "" if not problems else (
        PROVISION + f" ({dflt.name}'s {dflt.ships} with a writable cache; unset ORTWASM_TOOLCHAIN or set it to "
        f"{dflt.name})" if tc.provider != dflt.name else PROVISION + f" (it installs {dflt.ships} and gives it a "
        "writable cache)")
    if "proven" in problems:
        hint += f"; or build with {ALLOW_FLAG} to use {tc.version} anyway"
    return Probe("emscripten", not problems, detail, hint), tc


def probe_in_toolchain(tc: Toolchain | None, name: str, argv: list[str], hint: str) -> Probe:
    if tc is None:
        return Probe(name, False, "not probed: no emscripten toolchain environment", PROVISION)
    try:
        proc = tc.run(argv, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe(name, False, f"`{' '.join(argv)}` could not run: {exc}", hint)
    where = " (in the chroot)" if tc.exec_env.is_chroot else ""
    if proc.returncode != 0:
        return Probe(name, False, f"`{' '.join(argv)}`{where} failed: {_first_line(proc)[:200]}", hint)
    return Probe(name, True, f"{_first_line(proc)}{where}")


def probe_ccache(tc: Toolchain | None) -> Probe:
    p = probe_in_toolchain(tc, "ccache", ["ccache", "--version"], PROVISION + " (installs ccache)")
    if not p.ok:
        return p
    d = paths.ccache_dir()
    if not _writable(d):
        return Probe("ccache", False, f"{p.detail}; cache dir {d} not writable",
                     "set ORTWASM_CCACHE_DIR to a writable directory, or build with --no-ccache")
    return Probe("ccache", True, f"{p.detail}; dir {d}")


def probe_ccache_remote(tc: Toolchain | None) -> Probe | None:
    """The ccache remote ORTWASM_CCACHE_REMOTE names, asked as a build asks it at its start; None when none is
    set.  Not needed: a build whose remote does not answer goes on with the local cache (a WARN line here)."""
    fix = f"start the server or fix {ccache.ENV} (empty it to build without a remote); {ccache.HINT}"
    try:
        remote = ccache.configured(None)
        if remote is None:
            return None
        if tc is not None:
            ccache.chroot_binds(remote, tc.exec_env)
    except UsageError as exc:
        return Probe("ccache remote", False, exc.message, exc.hint, needed=False)
    answer = ccache.probe(remote)
    ro = ", read-only" if remote.read_only else ""
    if answer.ok:
        return Probe("ccache remote", True, f"{remote.masked} {answer.detail}{ro}")
    return Probe("ccache remote", False, f"{remote.masked} does not answer ({answer.detail}); a build would go on "
                 f"with the local cache only", fix, needed=False)


def probe_node() -> Probe:
    node = paths.node_prefix() / "bin" / "node"
    if not node.exists():
        return Probe("node", False, f"{node}: not found (Memory64 needs Node >= {MIN_NODE})", PROVISION)
    try:
        out = _first_line(_run_host([str(node), "--version"]))
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe("node", False, f"{node} does not run: {exc}", PROVISION)
    major = _major(out)
    if major is None or major < MIN_NODE:
        return Probe("node", False, f"{node} is {out or '?'}; Memory64 needs Node >= {MIN_NODE}", PROVISION)
    return Probe("node", True, f"{out} at {node} (Memory64)")


def probe_chromium() -> Probe:
    hint = "`apt-get install chromium` (or " + PROVISION.removeprefix("run ") + ")"
    if not CHROMIUM.exists():
        return Probe("chromium", False, f"{CHROMIUM}: not found (only the browser tests need it)", hint)
    try:
        proc = _run_host([str(CHROMIUM), "--version"])
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe("chromium", False, f"{CHROMIUM} does not run: {exc}", hint)
    line = next((s for s in proc.stdout.splitlines() if "Chrom" in s), _first_line(proc))
    major = _major(line)
    if proc.returncode != 0 or major is None:
        return Probe("chromium", False, f"`{CHROMIUM} --version` failed: {line[:200]}", hint)
    if major < MIN_CHROMIUM:
        return Probe("chromium", False, f"{line}: Memory64 needs Chromium >= {MIN_CHROMIUM}", hint)
    return Probe("chromium", True, line)


def _default_recipe() -> Recipe | None:
    """What `bash ci/fetch-sources.sh` fills without arguments, and so what a plain `python build.py` uses."""
    return load_recipe(default_version())


def probe_ort_source() -> Probe:
    recipe = _default_recipe()
    if recipe is None:
        return Probe("ort source", False, "no default version in patches/", "reinstall ortwasm")
    tree = recipe.source_dir
    try:
        version = read_version(tree)
    except OrtWasmError as exc:
        return Probe("ort source", False, exc.message, FETCH + " (or pass --ort-source to build)")
    ps = find_patchset(version)
    if ps is None:
        known = ", ".join(supported()) or "none"
        return Probe("ort source", False, f"ONNX Runtime {version} at {tree}: no patch set (patches/ has {known})",
                     f"build a supported version, or `--no-patches` for an unpatched build; {FETCH}")
    return Probe("ort source", True, f"ONNX Runtime {version} at {tree}; patch set {ps.id} ({len(ps.patches)} patches)")


def probe_deps() -> Probe:
    recipe = _default_recipe()
    if recipe is None:
        return Probe("dependencies", False, f"patches/{default_version()} has no recipe",
                     "reinstall ortwasm (its patches/ folder is incomplete)")
    d = recipe.deps_dir
    try:
        stamp = verify_deps_dir(d, recipe)
    except OrtWasmError as exc:
        hint = FETCH if exc.hint == fetch_hint(recipe.version) else exc.hint or FETCH
        return Probe("dependencies", False, exc.message, hint)
    note = f"; stamp {len(stamp)} entries" if stamp else ""
    return Probe("dependencies", True, f"{len(recipe.dependencies)} sources in {d}{note}")


def collect() -> list[Probe]:
    """Every probe, in the order a build needs them (module globals, so a test can replace any one)."""
    emcc, tc = probe_emscripten()
    protoc_hint = PROVISION + " (installs protobuf-compiler: ORT's build runs the host protoc)"
    remote = probe_ccache_remote(tc)
    return [emcc,
            probe_in_toolchain(tc, "cmake", ["cmake", "--version"], PROVISION),
            probe_in_toolchain(tc, "ninja", ["ninja", "--version"], PROVISION),
            probe_in_toolchain(tc, "protoc", ["protoc", "--version"], protoc_hint),
            probe_node(), probe_chromium(), probe_ort_source(), probe_deps(), probe_ccache(tc),
            *([remote] if remote else [])]


def render(probes: list[Probe], out: TextIO) -> None:
    width = max(len(p.name) for p in probes)
    for p in probes:
        out.write(f"{'PASS' if p.ok else 'FAIL' if p.needed else 'WARN'}  {p.name:<{width}}  {p.detail}\n")
        if not p.ok and p.hint:
            out.write(f"      {'':<{width}}  fix: {p.hint}\n")
    failed = [p.name for p in probes if not p.ok and p.needed]
    warned = [p.name for p in probes if not p.ok and not p.needed]
    home = f"ORTWASM_HOME={paths.ortwasm_home()}"
    out.write(f"doctor: {sum(p.ok for p in probes)}/{len(probes)} ok ({home})"
              + (f"; missing: {', '.join(failed)}" if failed else "; ready to build")
              + (f" (without: {', '.join(warned)})" if warned else "") + "\n")


def run_doctor(out: TextIO | None = None) -> int:
    """CLI entry: 0 when everything a build needs passes (a WARN does not count), else
    ToolchainError.return_code (3)."""
    stream = out or sys.stdout
    probes = collect()
    render(probes, stream)
    stream.flush()
    return 0 if all(p.ok or not p.needed for p in probes) else ToolchainError.return_code
