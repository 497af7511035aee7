"""Fixed places outside any checkout.

Caches (the trixie chroot, Node, ccache, dependency sources, finished
artifacts) live under ORTWASM_HOME so that a second build, and CI run on the
same machine right after a session, reuse them, while a fresh clone of the
repository never carries them.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped(repo_path: str, installed_name: str) -> Path:
    """A data file of the checkout this package runs from, else the copy the wheel installs inside the package
    (pyproject's force-include): one lookup, so no stage depends on the directory it runs in."""
    repo = PACKAGE_DIR.parent / repo_path
    return repo if repo.exists() else PACKAGE_DIR / installed_name


def ortwasm_home() -> Path:
    return Path(os.environ.get("ORTWASM_HOME", "/var/cache/ortwasm"))


def chroot_root() -> Path:
    return ortwasm_home() / "trixie"


def node_prefix() -> Path:
    return ortwasm_home() / "node"


def ccache_dir() -> Path:
    return Path(os.environ.get("ORTWASM_CCACHE_DIR", str(ortwasm_home() / "ccache")))


def emscripten_state_dir() -> Path:
    """Writable emscripten config + cache (Debian's own cache is frozen)."""
    return ortwasm_home() / "emscripten"


def sources_dir() -> Path:
    return ortwasm_home() / "sources"


def build_root() -> Path:
    """Build trees live outside the checkout: a fresh clone (CI) then finds them warm, and their paths relative
    to the dependencies (ccache's base_dir, pipeline.ccache_base_dir), which end up in compiler command lines and
    ``__FILE__`` strings, are the same on every machine with the same layout."""
    return ortwasm_home() / "build"


def artifact_cache_dir() -> Path:
    """Where finished builds are kept for tests that need a real artifact."""
    return Path(os.environ.get("ORTWASM_ARTIFACTS", str(ortwasm_home() / "out")))


def version_artifacts_var(version: str) -> str:
    """The variable that moves one version's out dir (dots are not portable in shell variable names).

    Why per version: a second build of the same version (another toolchain, another machine's artifacts) is
    tested by pointing the tests at it, without moving the first one aside.  The default version's is
    ORTWASM_ARTIFACTS (artifact_cache_dir), which every test of it reads."""
    return "ORTWASM_ARTIFACTS_" + version.replace(".", "_")


def preset_dir(d: Path, preset: str) -> Path:
    """A preset's build or out dir beside the default one: its artifacts differ, so neither rebuilds the other's."""
    return d.with_name(f"{d.name}-{preset}")
