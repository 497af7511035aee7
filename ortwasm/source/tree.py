"""Turn a user's ONNX Runtime tree into a build-owned, patched copy.

The user's tree (a git checkout, a release archive, Debian's source) is never
written to.  We copy it into the build dir under a temporary name, apply the
patch set for its version there, and rename it into place only when every
patch applied; a hunk that fails leaves both the user's tree and the previous
copy untouched.  A stamp keyed by the origin's file listing and the patch set
makes a second run a no-op.

The copy always lives at ``<build-dir>/src/onnxruntime-<version>`` so that an
unpatched baseline built in another build dir sees the same relative paths:
ccache then shares its objects, and ``__FILE__`` strings in the binary match.

A tree whose version has no patch set of its own (a 1.31 checkout, when
patches/ stops at 1.30) is built only with the nearest supported version's
below it, only when every patch of that set applies exactly, and only when the
user says ``--allow-unproven-version`` (``patchset.choose_patchset``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import lock
from ..errors import SourceError
from .patchset import PatchSet, apply_patchset, choose_patchset, install_runtime_files, patched_files

STAMP = ".ortwasm-source.json"


@dataclass(frozen=True)
class PreparedSource:
    path: Path
    version: str
    patched: bool
    patchset: str  # id of the patch set applied ("" when unpatched)
    origin: str
    commit: str = ""  # the upstream commit, when the tree says (a git checkout, or fetch-sources' export stamp)
    patchset_version: str = ""  # whose patch set was applied: ``version``'s own, or an unproven build's nearest below

    @property
    def state_id(self) -> str:
        return f"{self.version}:{self.patchset or 'upstream'}"

    @property
    def recipe_version(self) -> str:
        """The version whose recipe governs the build (pins, defines, proven toolchains, checks, budgets): the patch
        set's.  ``version`` stays the tree's, the name the artifacts and the package carry."""
        return self.patchset_version or self.version

    @property
    def unproven(self) -> bool:
        """Built with another version's patch set (``--allow-unproven-version``)."""
        return self.patched and self.recipe_version != self.version


def read_version(tree: Path) -> str:
    """Identify an ONNX Runtime tree by the files only ONNX Runtime has."""
    if not tree.is_dir():
        raise SourceError(f"--ort-source {tree} is not a directory",
                          "pass an ONNX Runtime checkout, a release archive (.tar.gz/.zip), or run ci/fetch-sources.sh")
    version_file = tree / "VERSION_NUMBER"
    markers = [tree / "cmake" / "onnxruntime_webassembly.cmake", tree / "onnxruntime" / "core"]
    if not version_file.exists() or not all(m.exists() for m in markers):
        raise SourceError(f"{tree} is not an ONNX Runtime source tree (no VERSION_NUMBER or "
                          "cmake/onnxruntime_webassembly.cmake)", "pass the top of an ONNX Runtime checkout")
    return _check_version(version_file, version_file.read_text())


def peek_version(source: Path) -> str:
    """The version of a tree or of a release archive, without unpacking it.

    Why: the version picks the recipe, and the recipe picks the build and output dirs, which must be known
    before an archive is unpacked into the build dir.
    """
    if not source.is_file():
        return read_version(source)
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                names = [n for n in zf.namelist() if n.rstrip("/").split("/")[-1] == "VERSION_NUMBER"]
                if names:
                    return _check_version(min(names, key=len), zf.read(min(names, key=len)).decode())
        else:
            with tarfile.open(source) as tf:
                for member in tf:
                    parts = member.name.strip("./").split("/")
                    if parts[-1] == "VERSION_NUMBER" and len(parts) <= 2 and member.isfile():
                        data = tf.extractfile(member)
                        if data is not None:
                            return _check_version(member.name, data.read().decode())
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise SourceError(f"{source} is neither a directory nor a readable archive: {exc}",
                          "pass an ONNX Runtime checkout or its release .tar.gz/.zip") from None
    raise SourceError(f"{source} has no top-level VERSION_NUMBER: not an ONNX Runtime release archive",
                      "pass an ONNX Runtime checkout or its release .tar.gz/.zip")


def _check_version(where: object, text: str) -> str:
    version = text.strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise SourceError(f"{where} holds {version!r}, not a version", "is this an ONNX Runtime tree?")
    return version


EXPORT_STAMP = ".ortwasm-fetch.json"  # written by fetch-sources into the trees it exports


def tree_commit(tree: Path) -> str:
    """Which upstream commit a tree is, when it can say: a VERSION_NUMBER spans hundreds of main's commits."""
    if (tree / ".git").exists():
        proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    stamp = tree / EXPORT_STAMP
    if stamp.is_file():
        commit = json.loads(stamp.read_text()).get("commit", "")
        return commit if isinstance(commit, str) else ""
    return ""


def unpack_archive(archive: Path, into: Path) -> Path:
    """Release archives are unpacked once into the build dir, atomically."""
    digest = hashlib.sha256(f"{archive.resolve()}:{archive.stat().st_size}:{archive.stat().st_mtime_ns}".encode())
    dest = into / f"archive-{digest.hexdigest()[:12]}"
    if dest.exists():
        return _single_child(dest)
    into.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                bad = [n for n in zf.namelist() if n.startswith("/") or ".." in Path(n).parts]
                if bad:
                    raise SourceError(f"{archive} has unsafe member {bad[0]!r}", "use the official release archive")
                zf.extractall(tmp)  # noqa: S202 (members checked above)
        else:
            try:
                with tarfile.open(archive) as tf:
                    tf.extractall(tmp, filter="tar")
            except tarfile.TarError as exc:
                raise SourceError(f"{archive} is neither a directory nor a readable archive: {exc}",
                                  "pass an ONNX Runtime checkout or its release .tar.gz/.zip") from None
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _single_child(dest)


def _single_child(path: Path) -> Path:
    children = [c for c in path.iterdir() if not c.name.startswith(".")]
    return children[0] if len(children) == 1 and children[0].is_dir() else path


def origin_fingerprint(tree: Path) -> str:
    """Cheap content proxy (names, sizes, mtimes): 8,000 files take about 0.1 s."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "build"))
        for name in sorted(files):
            st = os.lstat(os.path.join(root, name))
            h.update(f"{os.path.relpath(root, tree)}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def prepare(user_tree: Path, build_dir: Path, apply_patches: bool = True,
            patch_root: Path | None = None, allow_unproven: bool = False) -> PreparedSource:
    """Serialised by a lock in the build dir: two variants built at once share one source copy.

    A tree that is no ONNX Runtime tree, or whose version has no patch set (or, with ``allow_unproven``, none
    that applies exactly: ``choose_patchset``), is refused before anything is written (no ``src/``, no lock
    file left behind)."""
    version = peek_version(user_tree)
    patchset = choose_patchset(user_tree, version, allow_unproven=allow_unproven, root=patch_root) \
        if apply_patches else None
    with lock.held(build_dir / "src", "source copy"):
        return _prepare(user_tree, build_dir, patchset)


def _prepare(user_tree: Path, build_dir: Path, patchset: PatchSet | None) -> PreparedSource:
    if user_tree.is_file():
        user_tree = unpack_archive(user_tree, build_dir / "src" / "archives")
    version = read_version(user_tree)  # an unpacked archive is checked for ONNX Runtime's own files here
    dest = build_dir / "src" / f"onnxruntime-{version}"
    want = {"origin": str(user_tree.resolve()), "origin_fingerprint": origin_fingerprint(user_tree),
            "patchset": patchset.id if patchset else "", "version": version}
    stamp = dest / STAMP
    prepared = PreparedSource(dest, version, patchset is not None, want["patchset"], want["origin"],
                              tree_commit(user_tree), patchset.version if patchset else "")
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return prepared

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        work = tmp / "tree"
        shutil.copytree(user_tree, work, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        if patchset is not None:
            install_runtime_files(patchset, work)
            apply_patchset(patchset, work)
        (work / STAMP).write_text(json.dumps(want, indent=2, sort_keys=True) + "\n")
        if patchset is not None and dest.exists():
            _keep_unchanged_mtimes(patchset, work, dest)
        old = tmp / "old"
        if dest.exists():
            dest.rename(old)
        work.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return prepared


def _keep_unchanged_mtimes(patchset: PatchSet, new: Path, old: Path) -> None:
    """A patched file whose bytes did not change keeps the previous copy's mtime.

    Patching stamps every touched file with "now", so a new patch set (say, one more JS patch) would otherwise
    make Ninja recompile every C++ file any patch touches and relink every variant: minutes per variant for no
    change.  Only files named by the patches are compared.
    """
    for rel in patched_files(patchset):
        a, b = new / rel, old / rel
        if a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes():
            st = b.stat()
            os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
