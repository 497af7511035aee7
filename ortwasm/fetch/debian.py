"""Debian's registry as a source of dependency tarballs, and unpacking/patching what it gives.

Why a private apt configuration: ``apt-get source --print-uris`` names each orig tarball with its sha256, so a
download is verified against Debian's signed lists, and nothing of the host's apt state is touched.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..digest import sha256_file
from ..errors import DependencyError
from ..toolchain.emscripten import Toolchain

# Errors of the file being written, not of the download: they go up as OSError naming the path.
_LOCAL_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)

_URI_RE = re.compile(r"^'(?P<url>[^']+)'\s+(?P<name>\S+)\s+(?P<size>\d+)\s+(?P<hash>\S+)")


@dataclass(frozen=True)
class SourceFile:
    url: str
    name: str
    size: int
    sha256: str


def parse_print_uris(text: str) -> list[SourceFile]:
    """Parse `apt-get source --print-uris` output, keeping the upstream (orig) tarballs."""
    files: list[SourceFile] = []
    for line in text.splitlines():
        m = _URI_RE.match(line.strip())
        if not m or ".orig.tar." not in m["name"]:  # main tarball; components (docs, ...) are not needed
            continue
        algo, _, digest = m["hash"].partition(":")
        files.append(SourceFile(m["url"], m["name"], int(m["size"]), digest if algo.upper() == "SHA256" else ""))
    return files


class DebianSources:
    """A private apt configuration (nothing of the system's is touched) that lists trixie and sid sources.

    Its state (``sources/apt``: lists, cache, sources.list) has fixed names and apt's own locking is off
    (``Debug::NoLocking``: apt would want root's lock files): it is safe because ``fetch_sources`` holds the sources
    dir's lock (``ortwasm.lock``) for the whole fetch, so one run at a time updates and reads it."""

    def __init__(self, toolchain: Toolchain, state: Path, mirror: str) -> None:
        self.toolchain = toolchain
        self.state = state
        self.mirror = mirror

    def _apt(self, *args: str) -> str:
        s = self.state
        opts = [
            f"-oDir::Etc::SourceList={s / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={s / 'lists'}", f"-oDir::Cache={s / 'cache'}", "-oDebug::NoLocking=1",
            "-oAPT::Sandbox::User=root", "-qq",
            # The registry here can lag the clock; its signatures still hold.
            "-oAcquire::Check-Valid-Until=false", "-oAcquire::Check-Date=false",
        ]
        proc = self.toolchain.run(["apt-get", *opts, *args], timeout=600)
        if proc.returncode != 0:
            raise DependencyError(f"apt-get {' '.join(args)} failed: {proc.stderr.strip()[-400:]}",
                                  "check that Debian's registry is reachable")
        return proc.stdout

    def update(self) -> None:
        (self.state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        key = "/usr/share/keyrings/debian-archive-keyring.gpg"
        (self.state / "sources.list").write_text(
            f"deb-src [signed-by={key}] {self.mirror} trixie main\n"
            f"deb-src [signed-by={key}] {self.mirror} sid main\n"
        )
        self._apt("update")

    def orig_files(self, package: str) -> list[SourceFile]:
        files = parse_print_uris(self._apt("source", "--print-uris", package))
        if not files:
            raise DependencyError(f"Debian lists no upstream tarball for {package}", "check the package name")
        return files


def download(src: SourceFile, dest_dir: Path) -> Path:
    """Download once into the cache, verify, and rename into place (never a half file).

    The download goes to a temp file of a name no other run uses, removed on every exit path."""
    dest = dest_dir / src.name
    if dest.exists() and (not src.sha256 or sha256_file(dest) == src.sha256):
        return dest
    # The registry proxy here answers 404 to urllib's default User-Agent.
    if not src.url.startswith(("http://", "https://")):
        raise DependencyError(f"refusing to download {src.url!r}", "only http(s) registry URLs are used")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest_dir)
    tmp = Path(name)
    try:
        request = urllib.request.Request(src.url, headers=  # noqa: S310
                                         {"User-Agent": "Debian APT-HTTP/1.3 (ortwasm)"})
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=300) as resp:  # noqa: S310
                shutil.copyfileobj(resp, out, 1 << 20)
        except OSError as exc:
            if exc.errno in _LOCAL_ERRNOS:  # our disk, not the registry: cli names the path and the fix
                raise OSError(exc.errno, os.strerror(exc.errno), str(tmp)) from None
            raise DependencyError(f"download of {src.url} failed: {exc}", "the registry may not carry this file; "
                                  "check `apt-get source --print-uris`") from None
        if src.sha256 and sha256_file(tmp) != src.sha256:
            raise DependencyError(f"{src.name}: sha256 mismatch after download", "retry; the mirror may be syncing")
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is shared with the build's chroot
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def extract_single_root(archive: Path, dest: Path) -> None:
    """Extract an upstream tarball whose content sits in one top directory, atomically into dest."""
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="tar")
        entries = list(tmp.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        if dest.exists():
            shutil.rmtree(dest)
        top.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def apply_ort_patch(patch: Path, target: Path, dep_name: str = "") -> None:
    """ORT's own patch for a dependency, applied the way its FetchContent PATCH_COMMAND would (patch -p1)."""
    proc = subprocess.run(["patch", "--binary", "--ignore-whitespace", "-p1", "-N", "-s", "-i", str(patch)],
                          cwd=target, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        name = dep_name or target.name
        detail = (proc.stdout + proc.stderr).strip()[:400]
        raise DependencyError(f"{name}: ORT's patch {patch.name} does not apply: {detail}",
                              f"the source of {name} is not what ORT's patch was written for: check its pin in "
                              "patches/<version>/deps.toml against ORT's cmake/deps.txt")
