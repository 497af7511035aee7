"""Fill the source cache for one ONNX Runtime version: its tree and every wasm dependency its recipe pins.

Why a cache under ``$ORTWASM_HOME/sources`` and not FetchContent: an offline build must see the exact pins of
``patches/<version>/deps.toml`` with ORT's own dependency patches applied, and the build machine may have no
route to GitHub.  Each pin is had where it exists exactly: Debian's orig tarball, a tag or commit of the
upstream repository (a local mirror first, a shallow fetch otherwise), a PyPI sdist, or headers the toolchain
root installs.

A second run downloads nothing and writes nothing: tarballs and sdists are kept by name, and a directory whose
stamp matches its recipe entry is left alone.  Every directory is filled in a temporary directory of a name no
other run uses (``.<name>.XXXXXX`` beside it, removed on every exit path) and renamed into place only when
complete (patches applied, marker present), so a failed or interrupted run never leaves a half-filled directory
that a later build would trust.  The whole fetch holds the sources dir's lock (``ortwasm.lock``): the apt lists,
the git clone cache, the pip venv and the stamps under it are one run's at a time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .. import lock, log, paths
from ..deps.dirs import STAMP, stamp_entry
from ..digest import sha256_file
from ..errors import DependencyError, SourceError, UsageError
from ..recipe import RECIPE, Dependency, Recipe, default_version, require_recipe
from ..source.tree import EXPORT_STAMP
from ..toolchain.emscripten import Toolchain
from .debian import DebianSources, SourceFile, apply_ort_patch, download, extract_single_root

DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Written into the fetched ORT tree: where it came from, and which blobs a mirror could not supply.
ORT_STAMP = EXPORT_STAMP
# What pip needs importable to read onnx's sdist metadata with --no-build-isolation (its build backend).
PYPI_TOOLS = ("scikit-build-core", "cmake")
GIT_TIMEOUT = 3600


def _say(msg: str) -> None:
    log.say(msg, stage="fetch")


def _git_env() -> dict[str, str]:
    # A private URL must fail, not wait for a password nobody types.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "LC_ALL": "C"}


def _git(git_dir: Path, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], input=input_text, capture_output=True, text=True,
                          env=_git_env(), timeout=GIT_TIMEOUT, check=False)


def _tail(proc: subprocess.CompletedProcess[str], n: int = 400) -> str:
    return (proc.stderr or proc.stdout).strip()[-n:]


# --- git sources --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRef:
    url: str
    rev: str  # a tag, or a full commit id

    @property
    def owner(self) -> str:
        parts = [p for p in urlparse(self.url).path.split("/") if p]
        return parts[-2] if len(parts) >= 2 else ""

    @property
    def name(self) -> str:
        parts = [p for p in urlparse(self.url).path.split("/") if p]
        return parts[-1].removesuffix(".git") if parts else ""

    @property
    def is_commit(self) -> bool:
        return re.fullmatch(r"[0-9a-f]{40}", self.rev) is not None

    def __str__(self) -> str:
        return f"{self.url}@{self.rev}"


def parse_git_ref(ref: str, what: str) -> GitRef:
    url, sep, rev = ref.rpartition("@")
    if not sep or not url or not rev:
        raise DependencyError(f"{what}: git source {ref!r} is not <url>@<tag-or-commit>",
                              "fix it in patches/<version>/deps.toml (or [source] origin in recipe.toml)")
    return GitRef(url, rev)


def git_dir_of(path: Path) -> Path | None:
    """The git directory of a checkout or a bare repository, never one found by walking up from ``path``.

    Why not ``git -C path``: a plain directory inside some other checkout would silently answer for it.
    """
    if (path / ".git").exists():
        return path / ".git"
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    return None


def rev_parse(git_dir: Path, spec: str) -> str | None:
    """The object ``spec`` names in ``git_dir`` (``refs/tags/X^{commit}``, ``X^{tree}``), or None if none."""
    proc = _git(git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", spec)
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def resolve_commit(git_dir: Path, rev: str) -> str | None:
    for spec in (f"refs/tags/{rev}^{{commit}}", f"{rev}^{{commit}}"):
        if (commit := rev_parse(git_dir, spec)) is not None:
            return commit
    return None


def missing_blobs(git_dir: Path, commit: str) -> list[str]:
    """Paths of ``commit`` whose blob the repository lacks (a partial mirror); git archive would die on them."""
    proc = _git(git_dir, "ls-tree", "-r", "-z", "--full-tree", commit)
    if proc.returncode != 0:
        raise SourceError(f"git ls-tree {commit} in {git_dir} failed: {_tail(proc)}", "is the mirror readable?")
    by_oid: dict[str, list[str]] = {}
    for entry in proc.stdout.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "blob":  # submodules ("commit") are not in an archive anyway
            by_oid.setdefault(fields[2], []).append(path)
    if not by_oid:
        return []
    check = _git(git_dir, "cat-file", "--batch-check", input_text="".join(f"{o}\n" for o in by_oid))
    missing: list[str] = []
    for line in check.stdout.splitlines():
        oid, _, state = line.partition(" ")
        if state == "missing":
            missing.extend(by_oid.get(oid, []))
    return sorted(missing)


def exclude_pathspecs(paths_: Sequence[str]) -> list[str]:
    """Arguments that make ``git archive <rev>`` export everything but ``paths_`` (taken literally, not as globs)."""
    if not paths_:
        return []
    return ["--", ".", *(f":(exclude,literal){p}" for p in paths_)]


def git_export(git_dir: Path, commit: str, dest: Path, exclude: Sequence[str] = ()) -> None:
    """``git archive`` of ``commit`` unpacked into ``dest``: the tree exactly as committed, export-ignore honoured."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = ["git", f"--git-dir={git_dir}", "archive", "--format=tar", commit, *exclude_pathspecs(exclude)]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=_git_env())
        assert proc.stdout is not None
        problem = ""
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                tar.extractall(dest, filter="tar")
        except tarfile.TarError as exc:
            problem = str(exc)
            proc.kill()
        finally:
            proc.stdout.close()
        rc = proc.wait()
        err.seek(0)
        said = err.read().decode(errors="replace").strip()[-300:]
    if rc != 0 or problem:
        raise SourceError(f"git archive {commit} from {git_dir} failed: {said or problem}",
                          "is the repository complete (git fsck)?")


def _lookup(root: Path, rel: str) -> Path | None:
    """``root/rel`` with each component matched case-insensitively (GitHub names are)."""
    cur = root
    for part in rel.split("/"):
        if (cur / part).exists():
            cur = cur / part
            continue
        match = next((c for c in cur.iterdir() if c.name.lower() == part), None) if cur.is_dir() else None
        if match is None:
            return None
        cur = match
    return cur


@dataclass
class GitSources:
    """Local repositories that may hold a pin, and the clone cache for those that do not.

    ``--git-mirror`` takes a directory of mirrors (``<owner>+<name>/repo``, ``<owner>/<name>[.git]``,
    ``<name>.git``; or itself a repository) or ``NAME=PATH`` for one dependency (or ``onnxruntime``).  A
    repository found only by name, under another owner or as the directory itself, is trusted for a full
    commit id alone: a commit id names the content, a tag in a fork may not.
    """

    roots: list[Path]
    named: dict[str, Path]
    cache: Path  # sources/git, laid out as <owner>+<name>/repo: searched like any mirror

    @classmethod
    def from_args(cls, mirrors: Sequence[str], cache: Path) -> GitSources:
        roots: list[Path] = []
        named: dict[str, Path] = {}
        for item in mirrors:
            key, sep, value = item.partition("=")
            if sep and re.fullmatch(r"[A-Za-z0-9_.+-]+", key):
                path = Path(value).expanduser()
                if git_dir_of(path) is None:
                    raise UsageError(f"--git-mirror {item}: {path} is not a git repository",
                                     "NAME=PATH takes a checkout or a bare repository")
                named[key.lower()] = path
            else:
                path = Path(item).expanduser()
                if not path.is_dir():
                    raise UsageError(f"--git-mirror {item} is not a directory",
                                     "pass a directory of mirrors (<owner>+<name>/repo) or NAME=PATH")
                roots.append(path)
        return cls(roots, named, cache)

    def candidates(self, ref: GitRef, names: Sequence[str]) -> list[Path]:
        """Git dirs that may hold ``ref``, most specific first (duplicates removed)."""
        owner, name = ref.owner.lower(), ref.name.lower()
        layouts = [f"{owner}+{name}/repo", f"{owner}+{name}", f"{owner}/{name}", f"{owner}/{name}.git",
                   f"{name}.git", name]
        found: list[Path] = [self.named[n.lower()] for n in names if n.lower() in self.named]
        by_commit_only: list[Path] = []
        for root in [*self.roots, self.cache]:
            if not root.is_dir():
                continue
            found.extend(p for p in (_lookup(root, rel) for rel in layouts) if p is not None)
            if ref.is_commit:
                by_commit_only.extend(sorted(e / "repo" for e in root.iterdir() if e.name.lower().endswith(f"+{name}")))
                by_commit_only.append(root)
        seen: set[Path] = set()
        unique: list[Path] = []
        for path in [*found, *by_commit_only]:
            gd = git_dir_of(path)
            if gd is not None and gd.resolve() not in seen:
                seen.add(gd.resolve())
                unique.append(gd)
        return unique

    def locate(self, ref: GitRef, names: Sequence[str]) -> tuple[Path, str] | None:
        """The first local repository that has ``ref``, and the commit it names there."""
        for gd in self.candidates(ref, names):
            commit = resolve_commit(gd, ref.rev)
            if commit is None:
                continue
            if ref.is_commit and commit != ref.rev:
                continue
            return gd, commit
        return None

    def clone(self, ref: GitRef) -> tuple[Path, str]:
        """Shallow fetch of the one tag or commit into sources/git; raises with git's own words on failure."""
        gd = self.cache / f"{ref.owner}+{ref.name}" / "repo"
        fresh = git_dir_of(gd) is None
        if fresh:
            gd.mkdir(parents=True, exist_ok=True)
            init = subprocess.run(["git", "init", "--bare", "-q", str(gd)], capture_output=True, text=True,
                                  env=_git_env(), check=False)
            if init.returncode != 0:
                raise SourceError(f"git init {gd} failed: {_tail(init)}", f"check that {self.cache} is writable")
        if ref.is_commit:
            refspec = ref.rev
        else:
            refspec = f"+refs/tags/{ref.rev}:refs/tags/{ref.rev}"
        _say(f"git fetch --depth 1 {ref.url} {ref.rev} (into {gd})")
        proc = _git(gd, "fetch", "--depth", "1", "--no-tags", "-q", ref.url, refspec)
        if proc.returncode != 0:
            if fresh:  # an empty cache repo would only make the next run look in it
                shutil.rmtree(gd.parent, ignore_errors=True)
            raise SourceError(f"git fetch {ref} failed: {_tail(proc, 300)}", "")
        if ref.is_commit:  # keep the commit reachable, so gc never drops it
            _git(gd, "update-ref", f"refs/ortwasm/{ref.rev}", ref.rev)
        commit = resolve_commit(gd, ref.rev)
        if commit is None:
            raise SourceError(f"git fetch {ref} fetched no commit {ref.rev}", "")
        return gd, commit


# --- the fetch --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: object) -> None:
    """Replace ``path`` in one rename, from a temp file of a name no other run uses (removed on failure)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _scratch(target: Path) -> Iterator[Path]:
    """A path to fill for ``target`` (not yet existing), inside a private temp dir beside it; the temp dir goes
    on every exit path, Ctrl-C and SIGTERM included."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp / target.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_into_place(partial: Path, target: Path) -> None:
    """Replace ``target`` by the complete ``partial``; the old one stays until the new one is in place."""
    old_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    old = old_dir / target.name
    try:
        if target.exists():
            target.rename(old)
        try:
            partial.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
    finally:
        shutil.rmtree(old_dir, ignore_errors=True)


def recipe_for(version: str | None, root: Path | None = None) -> Recipe:
    """The recipe to fetch for (the default version's when none is named); the one supported-version refusal."""
    return require_recipe(version or default_version(root), root)


@dataclass
class FetchResult:
    ort_tree: Path
    deps_dir: Path
    filled: list[str] = field(default_factory=list)  # what this run wrote ("onnxruntime" for the tree)
    dawn: Path | None = None  # the prepared Dawn tree, for a version with WebGPU pairs and a Dawn source at hand
    skipped_blobs: list[str] = field(default_factory=list)  # ORT paths the mirror lacked (only when filled now)


class Fetcher:
    """One fetch of one recipe.  The toolchain, apt lists and the pip venv are set up only when a pin needs them,
    so a run with everything in place touches nothing (and needs no network or emscripten)."""

    def __init__(self, recipe: Recipe, sources: Path, git: GitSources, debian_mirror: str,
                 toolchain: Callable[[], Toolchain] | None) -> None:
        self.recipe = recipe
        self.sources = sources
        self.git = git
        self.debian_mirror = debian_mirror
        self._toolchain_factory = toolchain
        self._toolchain: Toolchain | None = None
        self._apt: DebianSources | None = None
        self.downloads = sources / "downloads"

    # -- shared helpers

    def toolchain(self) -> Toolchain:
        if self._toolchain is None:
            if self._toolchain_factory is None:
                raise DependencyError("a Debian or headers source needs the toolchain root, and none was given",
                                      "run `bash ci/provision-toolchain.sh`")
            tc = self._toolchain_factory()
            self._toolchain = Toolchain(tc.kind, tc.emcc, tc.version, tc.exec_env.with_binds(self.sources), tc.env)
        return self._toolchain

    def debian_files(self, package: str) -> list[Path]:
        if self._apt is None:
            state = self.sources / "apt"
            self._apt = DebianSources(self.toolchain(), state, self.debian_mirror)
            _say(f"apt-get update (private lists in {state})")
            self._apt.update()
        files: list[SourceFile] = self._apt.orig_files(package)
        return [download(f, self.downloads) for f in files]

    def git_commit(self, ref: GitRef, names: Sequence[str], what: str,
                   error: type[DependencyError] | type[SourceError], fix: str) -> tuple[Path, str]:
        found = self.git.locate(ref, names)
        if found is not None:
            return found
        try:
            return self.git.clone(ref)
        except SourceError as exc:
            mirrors = ", ".join(str(r) for r in self.git.roots) or "none given"
            raise error(f"{what}: no local repository has {ref} (--git-mirror: {mirrors}), and {exc.message}",
                        fix) from None

    # -- Dawn (the WebGPU EP's only extra dependency)

    def dawn(self, result: FetchResult) -> None:
        """Prepare the Dawn tag the tree pins, with ORT's patches, when the version builds WebGPU pairs and a local
        repository has the tag (``--git-mirror dawn=PATH`` or a mirror dir with ``google+dawn``).

        Why never clone it: Dawn is on GitHub only, and the CPU pairs (everything but the WebGPU ones) must fetch
        with nothing but Debian's, PyPI's and npm's registries; a missing Dawn is said here and refused, naming
        the fix, by a build that needs it (pipeline.dawn_for)."""
        if not self.recipe.webgpu_flags:
            return
        from .dawn import DAWN_REPO, default_dest, prepare_dawn, read_dawn_pin

        pin = read_dawn_pin(result.ort_tree)
        found = self.git.locate(GitRef(DAWN_REPO, pin.tag), ["dawn"])
        if found is None:
            dest = default_dest(result.ort_tree)
            if dest.is_dir():
                result.dawn = dest
            else:
                _say(f"Dawn {pin.tag}: no local repository has it; the WebGPU pairs need it (--git-mirror "
                     f"dawn=PATH, a clone of {DAWN_REPO} with the tag)")
            return
        tree = prepare_dawn(found[0], result.ort_tree)
        result.dawn = tree.path
        if tree.fresh:
            result.filled.append("dawn")

    # -- the ORT tree

    def ort_tree(self, result: FetchResult) -> None:
        recipe, dest = self.recipe, result.ort_tree
        origin = recipe.source_origin
        if not origin:
            raise SourceError(f"patches/{recipe.version}/{RECIPE} has no [source] origin",
                              "add one (docs/new-version.md)")
        stamp = _read_json(dest / ORT_STAMP)
        if (dest / "VERSION_NUMBER").exists() and (not stamp or stamp.get("source") == origin):
            self._check_version(dest)
            how = "" if stamp else " (no fetch stamp: placed by hand or before stamps; left as it is)"
            _say(f"ONNX Runtime {recipe.version} at {dest}: up to date{how}")
            return
        kind, _, ref = origin.partition(":")
        with _scratch(dest) as partial:
            if kind == "debian":
                _say(f"ONNX Runtime source from {ref}")
                main = [t for t in self.debian_files(ref) if ".orig.tar" in t.name]
                if not main:
                    raise SourceError(f"Debian lists no .orig.tar for {ref}", f"fix [source] origin in {RECIPE}")
                extract_single_root(main[0], partial)
                new_stamp: dict[str, object] = {"source": origin, "tarball": main[0].name}
            elif kind == "git":
                gref = parse_git_ref(ref, "onnxruntime")
                fix = ("--git-mirror DIR (a directory holding <owner>+<name>/repo) or --git-mirror onnxruntime=PATH "
                       "(a repository with that commit); or build from your own tree with --ort-source")
                gd, commit = self.git_commit(gref, ("onnxruntime", gref.name), "ONNX Runtime", SourceError, fix)
                missing = missing_blobs(gd, commit)
                _say(f"ONNX Runtime {commit[:10]} from {gd}" + (f" ({len(missing)} blobs missing there)"
                                                                 if missing else ""))
                git_export(gd, commit, partial, missing)
                new_stamp = {"source": origin, "commit": commit, "skipped": missing}
                result.skipped_blobs = missing
            else:
                raise SourceError(f"[source] origin {origin!r}: kind {kind!r} is not supported for the ORT tree",
                                  "use debian:<pkg>/<suite> or git:<url>@<commit>")
            self._check_version(partial)
            _write_json(partial / ORT_STAMP, new_stamp)
            _swap_into_place(partial, dest)
        result.filled.append("onnxruntime")
        skipped = f"; {len(result.skipped_blobs)} blobs missing from the mirror were skipped (listed in " \
                  f"{ORT_STAMP})" if result.skipped_blobs else ""
        _say(f"ONNX Runtime {self.recipe.version} at {dest}{skipped}")

    def _check_version(self, tree: Path) -> None:
        found = (tree / "VERSION_NUMBER").read_text().strip() if (tree / "VERSION_NUMBER").exists() else "nothing"
        if found != self.recipe.version:
            raise SourceError(f"{tree}: VERSION_NUMBER says {found}, the recipe is for {self.recipe.version}",
                              f"remove {tree} and rerun, or fix [source] origin in patches/{self.recipe.version}")

    # -- dependencies

    def dependencies(self, result: FetchResult) -> None:
        deps_dir = result.deps_dir
        deps_dir.mkdir(parents=True, exist_ok=True)
        stamp_path = deps_dir / STAMP
        stamp: dict[str, object] = _read_json(stamp_path)
        current: list[str] = []
        for dep in self.recipe.dependencies:
            target = deps_dir / dep.name
            want = stamp_entry(dep)
            entry = stamp.get(dep.name)
            have = entry if isinstance(entry, dict) else {}
            if (target / dep.marker).exists() and all(have.get(k) == v for k, v in want.items()):
                current.append(dep.name)
                continue
            extra = self._fill(dep, result.ort_tree, deps_dir)
            stamp[dep.name] = {**want, **extra}
            _write_json(stamp_path, stamp)
            result.filled.append(dep.name)
            what = ", ".join(f"{k} {v}" for k, v in extra.items()) or dep.source
            _say(f"{dep.name} {dep.version}: {what}" + (f" + {len(dep.ort_patches)} ORT patches"
                                                        if dep.ort_patches else ""))
        if current:
            _say(f"{len(current)} of {len(self.recipe.dependencies)} dependencies up to date: {', '.join(current)}")

    def _fill(self, dep: Dependency, ort_tree: Path, deps_dir: Path) -> dict[str, str]:
        with _scratch(deps_dir / dep.name) as partial:
            extra = self._extract(dep, partial)
            for rel in dep.ort_patches:
                patch = ort_tree / rel
                if not patch.is_file():
                    raise DependencyError(f"{dep.name}: ORT patch {rel} is not in {ort_tree}",
                                          f"fix ort_patches in patches/{self.recipe.version}/deps.toml")
                apply_ort_patch(patch, partial, dep.name)
            if not (partial / dep.marker).exists():
                raise DependencyError(f"{dep.name}: {dep.source} has no {dep.marker}",
                                      f"fix source or marker in patches/{self.recipe.version}/deps.toml")
            _swap_into_place(partial, deps_dir / dep.name)
        return extra

    def _extract(self, dep: Dependency, dest: Path) -> dict[str, str]:
        if dep.kind == "debian":
            tarballs = self.debian_files(dep.ref)
            extract_single_root(tarballs[0], dest)
            return {"tarball": tarballs[0].name}
        if dep.kind == "git":
            ref = parse_git_ref(dep.ref, dep.name)
            fix = (f"--git-mirror DIR (holding {ref.owner}+{ref.name}/repo) or --git-mirror {dep.name}=PATH, "
                   "a repository with that tag or commit; or build with --online-deps (ORT's FetchContent)")
            gd, commit = self.git_commit(ref, (dep.name, ref.name), dep.name, DependencyError, fix)
            missing = missing_blobs(gd, commit)
            if missing:  # unlike the ORT tree (test data), a dependency without a file may not build
                raise DependencyError(f"{dep.name}: {gd} has {ref} but lacks {len(missing)} of its blobs "
                                      f"(first: {missing[0]})", f"use a complete mirror: {fix}")
            git_export(gd, commit, dest)
            return {"commit": commit}
        if dep.kind == "pypi":
            sdist = self.pypi_sdist(dep)
            extract_single_root(sdist, dest)
            return {"sdist": sdist.name, "sha256": sha256_file(sdist)}
        if dep.kind == "headers":
            _assemble_from_headers(self.toolchain(), dep, dest)
            return {}
        raise DependencyError(f"{dep.name}: source kind {dep.kind!r} is unknown", "fix deps.toml")

    # -- PyPI

    def pypi_sdist(self, dep: Dependency) -> Path:
        """The sdist of ``name==version``, downloaded once with pip (its configured index) into downloads/pypi."""
        name, sep, version = dep.ref.partition("==")
        if not sep or not name or not version:
            raise DependencyError(f"{dep.name}: pypi source {dep.ref!r} is not name==version", "fix deps.toml")
        out = self.downloads / "pypi"
        stems = {f"{name}-{version}", f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"}
        for stem in sorted(stems):
            for ext in (".tar.gz", ".zip"):
                if (out / f"{stem}{ext}").is_file():
                    return out / f"{stem}{ext}"
        python = self.pypi_venv()
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pip-", dir=out))
        try:
            _say(f"pip download {dep.ref} (sdist)")
            proc = subprocess.run([str(python), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                   "--no-build-isolation", "--no-input", dep.ref, "-d", str(tmp)],
                                  capture_output=True, text=True, check=False, timeout=1800)
            files = [p for p in tmp.iterdir() if p.is_file()]
            if proc.returncode != 0 or len(files) != 1:
                raise DependencyError(f"{dep.name}: pip could not download the sdist of {dep.ref}: {_tail(proc)}",
                                      f"check pip's index (`pip config list`), or put the sdist in {out} by hand")
            final = out / files[0].name
            files[0].replace(final)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def pypi_venv(self) -> Path:
        """A venv of our own for pip, so its build backend is importable and no system Python is touched."""
        venv = self.sources / "pypi-venv"
        python = venv / "bin" / "python"
        ready = venv / ".ortwasm-ready"
        if ready.exists() and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        _say(f"creating {venv} with {', '.join(PYPI_TOOLS)}")
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "--no-input", *PYPI_TOOLS]]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise DependencyError(f"`{' '.join(argv)}` failed: {_tail(proc)}",
                                      "needs python3-venv and pip's index (`pip config list`)")
        ready.write_text(" ".join(PYPI_TOOLS) + "\n")
        return python


def fetch_sources(version: str | None = None, *, git_mirrors: Sequence[str] = (),
                  debian_mirror: str = DEFAULT_DEBIAN_MIRROR, toolchain: Callable[[], Toolchain] | None = None,
                  root: Path | None = None, sources: Path | None = None, wait: bool = True) -> FetchResult:
    """Fill ``sources/<layout.source>`` and ``sources/<layout.deps>/<dep>`` for ``version``'s recipe, holding the
    sources dir's lock throughout (waiting for another fetch, or LockBusy with ``wait=False``)."""
    recipe = recipe_for(version, root)  # every refusal of the arguments before anything is written
    sources = sources or paths.sources_dir()
    git = GitSources.from_args(git_mirrors, sources / "git")
    result = FetchResult(sources / recipe.layout.source, sources / recipe.layout.deps)
    with lock.held(sources, "sources dir", wait=wait):
        fetcher = Fetcher(recipe, sources, git, debian_mirror, toolchain)
        fetcher.ort_tree(result)
        fetcher.dependencies(result)
        fetcher.dawn(result)
    if result.filled:
        _say(f"ONNX Runtime {version}: filled {', '.join(result.filled)}; dependencies in {result.deps_dir}")
    else:
        _say(f"ONNX Runtime {version}: nothing to do, everything in {sources} is current")
    return result


_MP11_CMAKE = """cmake_minimum_required(VERSION 3.5)
# Boost.Mp11 is header-only; ORT only needs the Boost::mp11 target.
project(mp11 LANGUAGES CXX)
add_library(boost_mp11 INTERFACE)
add_library(Boost::mp11 ALIAS boost_mp11)
target_include_directories(boost_mp11 INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
"""


def _assemble_from_headers(toolchain: Toolchain, dep: Dependency, dest: Path) -> None:
    """mp11 and SafeInt have no downloadable source on Debian's registry; take the headers Debian installs."""
    env = toolchain.exec_env
    dest.mkdir(parents=True)
    ref = dep.ref
    if ref == "mp11":
        boost = env.host_path("/usr/include/boost")
        if not (boost / "mp11.hpp").exists():
            raise DependencyError("Boost.Mp11 headers not found", "install libboost-dev in the toolchain root")
        inc = dest / "include" / "boost"
        inc.mkdir(parents=True)
        shutil.copy2(boost / "mp11.hpp", inc / "mp11.hpp")
        shutil.copytree(boost / "mp11", inc / "mp11")
        (dest / "CMakeLists.txt").write_text(_MP11_CMAKE)
    elif ref == "safeint":
        header = env.host_path("/usr/include/safeint/SafeInt.hpp")
        if not header.exists():
            raise DependencyError("SafeInt.hpp not found", "install libsafeint-dev in the toolchain root")
        shutil.copy2(header, dest / "SafeInt.hpp")
    else:
        raise DependencyError(f"{dep.name}: headers:{ref} is not known", "known: headers:mp11, headers:safeint")
