"""Fill the source cache from Debian's registry: ONNX Runtime 1.21.0 and its wasm deps.

A second run downloads nothing: tarballs are kept by name and sha256, and a
dependency directory whose stamp matches is left alone.  Each directory is
extracted and patched under a temporary name and renamed into place, so an
interrupted run never leaves a half-filled directory behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from . import paths
from .deps import (
    DEPENDENCIES,
    ORT_SOURCE_PACKAGE,
    STAMP,
    DebianSources,
    Dependency,
    apply_ort_patch,
    download,
    extract_single_root,
)
from .errors import DependencyError
from .toolchain import Toolchain


def _say(msg: str) -> None:
    print(f"[fetch] {msg}", file=sys.stderr, flush=True)


def fetch_all(toolchain: Toolchain, mirror: str, ort_dest: Path, deps_dir: Path) -> None:
    state = paths.sources_dir() / "apt"
    toolchain = Toolchain(toolchain.kind, toolchain.emcc, toolchain.version,
                          toolchain.exec_env.with_binds(paths.sources_dir()), toolchain.env)
    paths.sources_dir().mkdir(parents=True, exist_ok=True)
    apt = DebianSources(toolchain, state, mirror)
    downloads = paths.sources_dir() / "downloads"
    stamp_path = deps_dir / STAMP
    stamp: dict[str, dict[str, str]] = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    updated = False

    def files_for(package: str) -> list[Path]:
        nonlocal updated
        if not updated:
            _say(f"apt-get update (private lists in {state})")
            apt.update()
            updated = True
        return [download(f, downloads) for f in apt.orig_files(package)]

    if not (ort_dest / "VERSION_NUMBER").exists():
        _say(f"ONNX Runtime source from {ORT_SOURCE_PACKAGE}")
        tarballs = files_for(ORT_SOURCE_PACKAGE)
        main = [t for t in tarballs if ".orig.tar" in t.name]
        if not main:
            raise DependencyError(f"no .orig.tar for {ORT_SOURCE_PACKAGE}", "check the package")
        ort_dest.parent.mkdir(parents=True, exist_ok=True)
        extract_single_root(main[0], ort_dest)
    _say(f"ONNX Runtime {(ort_dest / 'VERSION_NUMBER').read_text().strip()} at {ort_dest}")

    deps_dir.mkdir(parents=True, exist_ok=True)
    for dep in DEPENDENCIES:
        target = deps_dir / dep.name
        want = {"source": dep.debian_source or "installed headers", "patches": ",".join(dep.ort_patches)}
        if (target / dep.marker).exists() and {k: stamp.get(dep.name, {}).get(k) for k in want} == want:
            continue
        partial = deps_dir / (dep.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if dep.debian_source:
            tarballs = files_for(dep.debian_source)
            extract_single_root(tarballs[0], partial)
            want["tarball"] = tarballs[0].name
        else:
            _assemble_from_headers(toolchain, dep, partial)
        for rel in dep.ort_patches:
            apply_ort_patch(ort_dest / rel, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        stamp[dep.name] = want
        stamp_path.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
        _say(f"{dep.name}: {want.get('tarball', want['source'])}" + (" + ORT patches" if dep.ort_patches else ""))
    _say(f"dependencies ready in {deps_dir}")


_MP11_CMAKE = """cmake_minimum_required(VERSION 3.5)
# Boost.Mp11 is header-only; ORT only needs the Boost::mp11 target.
project(mp11 LANGUAGES CXX)
add_library(boost_mp11 INTERFACE)
add_library(Boost::mp11 ALIAS boost_mp11)
target_include_directories(boost_mp11 INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
"""


def _assemble_from_headers(toolchain: Toolchain, dep: Dependency, dest: Path) -> None:
    """mp11 and SafeInt have no downloadable source here; take the headers Debian installs."""
    env = toolchain.exec_env
    dest.mkdir(parents=True)
    if dep.name == "mp11":
        boost = env.host_path("/usr/include/boost")
        if not (boost / "mp11.hpp").exists():
            raise DependencyError("Boost.Mp11 headers not found", "install libboost-dev in the toolchain root")
        inc = dest / "include" / "boost"
        inc.mkdir(parents=True)
        shutil.copy2(boost / "mp11.hpp", inc / "mp11.hpp")
        shutil.copytree(boost / "mp11", inc / "mp11")
        (dest / "CMakeLists.txt").write_text(_MP11_CMAKE)
    elif dep.name == "safeint":
        header = env.host_path("/usr/include/safeint/SafeInt.hpp")
        if not header.exists():
            raise DependencyError("SafeInt.hpp not found", "install libsafeint-dev in the toolchain root")
        shutil.copy2(header, dest / "SafeInt.hpp")
