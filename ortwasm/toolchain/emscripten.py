"""Find emscripten, say which one, and run commands where it lives.

Search order: ``EMSDK``, then ``emcc`` on PATH, then the
toolchain that ``ci/provision-toolchain.sh`` installed: Debian trixie's
emscripten, natively or in a debootstrap chroot on bookworm.
``ORTWASM_TOOLCHAIN=trixie|sid`` (or ``build --toolchain``) skips that search and takes one provider: Debian
trixie's 3.1.69 or Debian sid's 6.0.x, each in its own chroot under ``ORTWASM_HOME`` with its own writable
emscripten cache (docs/toolchain.md "Providers").  A chroot is
entered through a private mount namespace (``unshare --mount``) so the bind
mounts that make our work dirs visible inside vanish with the command and
never leak into the host.

Which versions a build accepts is data, not code: each patch set's
``patches/<ort version>/recipe.toml`` lists the emscripten versions it was
built and run with (``[toolchain] proven``); ``check_proven`` refuses any
other unless the user allows it.  Why exact versions: every emscripten release
changes the glue the patches and checks depend on, so "newer" is "unproven".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .. import log, paths
from ..errors import ToolchainError
from ..proc.execenv import ExecEnv
from ..recipe import RECIPE, load_recipe, patch_root
from .table import table

MIN_WASM64_VERSION = table().min_wasm64  # ortwasm/data/toolchains.toml [releases]
ALLOW_FLAG = "--allow-unproven-toolchain"
PROVIDER_ENV = "ORTWASM_TOOLCHAIN"

_DEFAULT_SHIPS = table().default_provider.ships
_INSTALL_HINT = (
    f"install emscripten: run `bash ci/provision-toolchain.sh` (Debian {table().default_provider.name}'s "
    f"{_DEFAULT_SHIPS}, "
    "in a chroot on bookworm), or install emsdk and set EMSDK"
)


@dataclass(frozen=True)
class Provider:
    """A Debian suite whose emscripten package ``ci/provision-toolchain.sh`` installs in its own chroot."""

    name: str  # the suite, and the value of ORTWASM_TOOLCHAIN / --toolchain
    ships: str  # the emscripten release line it ships, for messages ("6.0" matches 6.0.x)
    state: str  # directory under ORTWASM_HOME for its writable emscripten config and cache
    provision_time: str  # measured, for the hint that tells the user to provision it

    @property
    def root(self) -> Path:
        return paths.chroot_root() if self.name == "trixie" else paths.ortwasm_home() / self.name

    @property
    def state_dir(self) -> Path:
        return paths.emscripten_state_dir() if self.name == "trixie" else paths.ortwasm_home() / self.state

    @property
    def provision(self) -> str:
        return ("bash ci/provision-toolchain.sh" if self.name == DEFAULT_PROVIDER
                else f"{PROVIDER_ENV}={self.name} bash ci/provision-toolchain.sh")

    def offers(self, version: str) -> bool:
        return version == self.ships or version.startswith(self.ships + ".")


# Measured in docs/toolchain.md "Providers".  trixie is the default: what an unset ORTWASM_TOOLCHAIN finds last.
PROVIDERS: dict[str, Provider] = {p.name: Provider(p.name, p.ships, p.state, p.provision_time)
                                   for p in table().providers.values()}
DEFAULT_PROVIDER = table().default_provider.name

# Compiler flags an emscripten release line needs for ORT and its dependencies to compile, keyed by major
# version; configure.plan appends them to CMAKE_C_FLAGS and CMAKE_CXX_FLAGS.  6: emscripten 6.0 deprecates the
# __EMSCRIPTEN_major__ macros, and abseil's and nlohmann's headers test them under -Werror
# (`-Werror,-Wdeprecated-pragma`, measured with 6.0.5 and ORT 1.30; docs/toolchain.md "Providers").
COMPILE_FLAGS: dict[int, tuple[str, ...]] = table().compile_flags


def selected_provider() -> Provider | None:
    """The provider ORTWASM_TOOLCHAIN names, or None when it is unset (then the documented search order)."""
    name = os.environ.get(PROVIDER_ENV, "").strip()
    if not name:
        return None
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ToolchainError(f"unknown toolchain {name!r} ({PROVIDER_ENV} or --toolchain); "
                             f"choices: {', '.join(PROVIDERS)}",
                             " or ".join(f"{PROVIDER_ENV}={p.name} (emscripten {p.ships})" for p in PROVIDERS.values())
                             + f", or unset it to search EMSDK, PATH, then {DEFAULT_PROVIDER}")
    return provider


def _provider_named(exec_env: ExecEnv) -> str:
    """Which provider a found toolchain came from: the selected one, or the chroot it runs in; "" otherwise."""
    selected = selected_provider()
    if selected is not None:
        return selected.name
    for provider in PROVIDERS.values():
        if exec_env.root is not None and exec_env.root == provider.root:
            return provider.name
    return ""


@dataclass(frozen=True)
class Toolchain:
    kind: str  # "emsdk", "path", "native-debian", "chroot"
    emcc: str  # as seen inside exec_env
    version: str
    exec_env: ExecEnv
    env: dict[str, str] = field(default_factory=dict)
    provider: str = ""  # a PROVIDERS name ("trixie", "sid"), or "" for EMSDK / an emcc on PATH

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.version.split(".")[:3])

    @property
    def emcmake(self) -> str:
        return str(Path(self.emcc).with_name("emcmake"))

    def supports_wasm64(self) -> bool:
        return self.version_tuple >= MIN_WASM64_VERSION

    def describe(self) -> str:
        where = f" in chroot {self.exec_env.root}" if self.exec_env.root else ""
        provider = f"Debian {self.provider} provider, " if self.provider else ""
        return f"emscripten {self.version} ({provider}{self.kind}: {self.emcc}{where})"

    @property
    def compile_flags(self) -> tuple[str, ...]:
        """The flags COMPILE_FLAGS lists for this release line (none for an unparsable version)."""
        return COMPILE_FLAGS.get(self.version_tuple[0], ()) if _RELEASE_RE.fullmatch(self.version) else ()

    def cmake_defines(self, defines: dict[str, str]) -> dict[str, str]:
        """CMAKE_C_FLAGS/CMAKE_CXX_FLAGS with ``compile_flags`` appended to what ``defines`` already set, and the
        configure checks' link flags (toolchains.toml ``check_link_flags``) when the variant's compile flags pick no
        exception mode: with -sDISABLE_EXCEPTION_CATCHING=0 or JSPI's -fwasm-exceptions the checks link already,
        and the latter refuses the flag."""
        out: dict[str, str] = {}
        if self.compile_flags:
            extra = " ".join(self.compile_flags)
            out = {key: f"{defines[key]} {extra}" if defines.get(key) else extra
                   for key in ("CMAKE_C_FLAGS", "CMAKE_CXX_FLAGS")}
        check = table().check_link_flags.get(self.version_tuple[0], ()) if _RELEASE_RE.fullmatch(self.version) else ()
        no_eh_mode = (defines.get("onnxruntime_ENABLE_WEBASSEMBLY_EXCEPTION_CATCHING") == "OFF"
                      and defines.get("onnxruntime_ENABLE_WEBASSEMBLY_JSPI", "OFF") != "ON")
        if check and no_eh_mode:
            out["CMAKE_REQUIRED_LINK_OPTIONS"] = ";".join(check)
        return out

    def run(self, argv: list[str], cwd: Path | None = None, extra_env: dict[str, str] | None = None,
            timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the toolchain environment and capture it."""
        full, env = self.exec_env.wrap(argv, cwd, {**self.env, **(extra_env or {})})
        return subprocess.run(full, env=env, capture_output=True, text=True, timeout=timeout, check=False)


_VERSION_RE = re.compile(r"emcc \(Emscripten[^)]*\)\s+(\S+)")
_RELEASE_RE = re.compile(r"\d+\.\d+\.\d+")


def parse_emcc_version(text: str) -> str:
    """The release version X.Y.Z that `emcc --version` prints after its banner.

    Why strict: the version is compared exactly with each patch set's proven list and numerically with
    MIN_WASM64_VERSION; reading "9.9.9" out of "9.9.9-bogus" (or a "-git" build) would compare a version
    that no release has.
    """
    match = _VERSION_RE.search(text)
    if not match:
        raise ToolchainError(f"could not read the emscripten version from `emcc --version`: {text.strip()[:200]!r}",
                             _INSTALL_HINT)
    token = match.group(1)
    if not _RELEASE_RE.fullmatch(token):
        raise ToolchainError(
            f"`emcc --version` reports version {token!r}, which is not a release version X.Y.Z "
            f"(line: {match.group(0)[:200]!r})",
            f"use a released emscripten: `bash ci/provision-toolchain.sh` ({_DEFAULT_SHIPS}), or `emsdk install "
            f"{_DEFAULT_SHIPS} && emsdk activate {_DEFAULT_SHIPS}` and set EMSDK; a -git or locally patched emcc "
            "cannot be matched against "
            f"the proven versions in patches/<ort version>/{RECIPE}")
    return token


def recipe_path(ort_version: str, root: Path | None = None) -> Path:
    return (root or patch_root()) / ort_version / RECIPE


def proven_toolchains(ort_version: str, root: Path | None = None) -> tuple[str, ...] | None:
    """The emscripten versions ``patches/<ort_version>/recipe.toml`` declares proven; None without a recipe.

    A recipe that exists but does not say this clearly is a PatchError naming the file (recipe.py reads it
    strictly): a typo there must not silently prove or disprove a toolchain.
    """
    recipe = load_recipe(ort_version, root)
    return None if recipe is None else recipe.proven_toolchains


def toolchain_notes(ort_version: str, root: Path | None = None) -> dict[str, str]:
    """``[toolchain] notes``: what is known about emscripten versions not (yet) proven, keyed by X.Y.Z.

    The refusal of an unproven toolchain quotes its note (e.g. "configures 1.30; not built yet"), so a user learns
    what trying it would buy without reading the recipe.
    """
    recipe = load_recipe(ort_version, root)
    return {} if recipe is None else recipe.toolchain_notes


def check_proven(toolchain: Toolchain, version: str, *, allow: bool = False, root: Path | None = None) -> None:
    """Refuse an emscripten that ONNX Runtime ``version``'s patch set was not proven with (ToolchainError, exit 3).

    ``version`` is the ORT version (``PreparedSource.version``); the proven emscripten versions come from
    ``patches/<version>/recipe.toml``.  With ``allow`` (``--allow-unproven-toolchain``) an unproven or
    undeclared combination is built anyway, with a warning on stderr so the log says so.  A toolchain
    version that is not X.Y.Z is refused even then: it cannot be compared with anything.
    """
    if not _RELEASE_RE.fullmatch(toolchain.version):
        raise ToolchainError(f"{toolchain.describe()}: {toolchain.version!r} is not a release version X.Y.Z",
                             f"use a released emscripten: `bash ci/provision-toolchain.sh` ({_DEFAULT_SHIPS}), "
                             "or emsdk")
    recipe = load_recipe(version, root)
    proven = None if recipe is None else recipe.proven_toolchains
    if proven is not None and toolchain.version in proven:
        return
    path = recipe_path(version, root)
    if proven is None:
        problem = (f"ONNX Runtime {version} has no {path}, so no emscripten is proven with it "
                   f"({toolchain.describe()} found)")
        fix = f"add {path} with `[toolchain] proven = [...]` once a build with it has passed bash ci/test.sh"
    else:
        problem = (f"{toolchain.describe()} is not proven with ONNX Runtime {version}'s patch set; "
                   f"proven: {', '.join(proven)} ({path})")
        note = recipe.toolchain_notes.get(toolchain.version) if recipe else None
        if note:
            problem += f"; known about {toolchain.version}: {note}"
        fix = f"use emscripten {' or '.join(proven)}: {_how_to_get(proven)}"
    if allow:
        log.warn(f"{problem}; building anyway ({ALLOW_FLAG})")
        return
    raise ToolchainError(problem, f"{fix}; or pass {ALLOW_FLAG} to build with {toolchain.version} anyway")


def _how_to_get(versions: tuple[str, ...]) -> str:
    """The providers that ship one of ``versions`` (with their provisioning command), then emsdk."""
    ways = [f"`{p.provision}` then {PROVIDER_ENV}={p.name} (Debian {p.name} ships {v})"
            for p in PROVIDERS.values() for v in versions if p.offers(v)]
    return ", or ".join([*dict.fromkeys(ways),
                         f"`emsdk install {versions[-1]} && emsdk activate {versions[-1]}` and set EMSDK"])


def _provider_candidate(provider: Provider) -> tuple[str, str, ExecEnv]:
    """The selected provider's emcc: its chroot, or (trixie only) the system package on a trixie host."""
    root = provider.root
    if (root / "usr" / "bin" / "emcc").exists():
        return "chroot", "/usr/bin/emcc", ExecEnv(root=root)
    kind_file = paths.ortwasm_home() / "toolchain-kind"
    native = kind_file.is_file() and kind_file.read_text().strip() == "native"
    if provider.name == DEFAULT_PROVIDER and native and Path("/usr/bin/emcc").exists():
        return "native-debian", "/usr/bin/emcc", ExecEnv()
    raise ToolchainError(
        f"{PROVIDER_ENV}={provider.name} asks for Debian {provider.name}'s emscripten ({provider.ships}"
        f"{'.x' if provider.ships.count('.') == 1 else ''}), which is not provisioned: no {root}/usr/bin/emcc",
        f"run `{provider.provision}` ({provider.provision_time})")


def _candidates() -> list[tuple[str, str, ExecEnv]]:
    provider = selected_provider()
    if provider is not None:  # an explicit choice: EMSDK and PATH are not consulted
        return [_provider_candidate(provider)]
    found: list[tuple[str, str, ExecEnv]] = []
    emsdk = os.environ.get("EMSDK")
    if emsdk:
        emcc = Path(emsdk) / "upstream" / "emscripten" / "emcc"
        if not emcc.exists():
            raise ToolchainError(f"EMSDK={emsdk} has no upstream/emscripten/emcc",
                                 "run `emsdk install latest && emsdk activate latest`, or unset EMSDK")
        found.append(("emsdk", str(emcc), ExecEnv()))
    on_path = shutil.which("emcc")
    if on_path:
        kind = "native-debian" if on_path.startswith("/usr/bin") else "path"
        found.append((kind, on_path, ExecEnv()))
    root = paths.chroot_root()
    if (root / "usr" / "bin" / "emcc").exists():
        found.append(("chroot", "/usr/bin/emcc", ExecEnv(root=root)))
    return found


def _debian_config(exec_env: ExecEnv, emcc: str) -> Path | None:
    """Debian's emscripten keeps a frozen, read-only cache; return its config if that is what we have."""
    if not emcc.startswith("/usr/bin/"):
        return None
    cfg = exec_env.host_path("/usr/share/emscripten/.emscripten")
    return cfg if cfg.exists() and "FROZEN_CACHE" in cfg.read_text() else None


def _state_dir(provider: str) -> Path:
    """Where a provider's writable emscripten config and cache live (trixie's is the historical one)."""
    return PROVIDERS[provider].state_dir if provider in PROVIDERS else paths.emscripten_state_dir()


def writable_emscripten_env(exec_env: ExecEnv, emcc: str, provider: str = "") -> dict[str, str]:
    """Give Debian's emscripten a writable config and cache (wasm64 libc must be built once).

    Each provider has its own (two emscripten releases must never share a cache).  trixie's package ships a
    frozen wasm32 cache, which is copied in; sid's ships none, so its cache starts empty and the first configure's
    compiler checks build it (40 MB).  Also point CLOSURE_COMPILER at the current closure compiler from npm:
    Debian's own `closure-compiler` package dates from 2013 (and the chroots do not install it).
    """
    debian_cfg = _debian_config(exec_env, emcc)
    if debian_cfg is None:
        return {}
    state = _state_dir(provider)
    cache = state / "cache"
    if not cache.exists():
        frozen = exec_env.host_path("/usr/share/emscripten/cache")
        tmp = state / "cache.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        if frozen.is_dir():
            shutil.copytree(frozen, tmp, symlinks=True)
        else:
            tmp.mkdir()
        tmp.rename(cache)
    closure = paths.node_prefix() / "bin" / "closure-compiler"
    text = debian_cfg.read_text()
    text += (
        "\n# ortwasm: writable cache (wasm64 system libraries are built on first use)\n"
        f"FROZEN_CACHE = False\nCACHE = {str(cache)!r}\n"
    )
    if closure.exists():
        text += f"CLOSURE_COMPILER = [{str(closure)!r}]\n"
    cfg = state / "emscripten_config"
    if not cfg.exists() or cfg.read_text() != text:
        tmp_cfg = cfg.with_suffix(".partial")
        tmp_cfg.write_text(text)
        tmp_cfg.replace(cfg)
    return {"EM_CONFIG": str(cfg), "EM_CACHE": str(cache)}


def find_toolchain(need_wasm64: bool = False) -> Toolchain:
    """Locate emscripten in the documented order and verify it can do what is asked."""
    candidates = _candidates()
    if not candidates:
        raise ToolchainError("no emscripten found (EMSDK unset, no emcc on PATH, no provisioned chroot)", _INSTALL_HINT)
    kind, emcc, exec_env = candidates[0]
    provider = _provider_named(exec_env)
    if exec_env.is_chroot:
        exec_env = exec_env.with_binds(_state_dir(provider), paths.node_prefix(), paths.ccache_dir())
        for p in exec_env.binds:
            p.mkdir(parents=True, exist_ok=True)
    env = writable_emscripten_env(exec_env, emcc, provider)
    probe = Toolchain(kind, emcc, "0.0.0", exec_env, env, provider)
    try:
        proc = probe.run([emcc, "--version"], timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"could not run {emcc}: {exc}", _INSTALL_HINT) from None
    if proc.returncode != 0:
        raise ToolchainError(f"`{emcc} --version` failed: {(proc.stderr or proc.stdout).strip()[:300]}", _INSTALL_HINT)
    version = parse_emcc_version(proc.stdout)
    tc = Toolchain(kind, emcc, version, exec_env, env, provider)
    if need_wasm64 and not tc.supports_wasm64():
        raise ToolchainError(
            f"emscripten {version} ({emcc}) is too old for wasm64: its FS glue mixes BigInt and Number",
            f"use emscripten >= {'.'.join(map(str, MIN_WASM64_VERSION))}: `bash ci/provision-toolchain.sh`, or emsdk",
        )
    return tc
