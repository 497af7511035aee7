"""A version's patch set as the source stage applies it: the recipe's series, plus our own runtime files; which
set a tree takes, whether it fits the tree exactly, and applying it.

Why its own module: the source stage needs only what changes the tree (the patches in order, the files copied in)
and one id for the lot, so a second run can tell whether its copy is current; and the question "does this set fit
that tree" is asked of trees that are never copied (a refused newer tree, the check of an already patched one).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import PatchError, SourceError
from ..options import ALLOW_UNPROVEN_VERSION
from ..recipe import load_recipe, nearest, nearest_below, supported, unsupported_version


@dataclass(frozen=True)
class PatchSet:
    version: str
    patches: tuple[Path, ...]
    runtime_files: tuple[tuple[str, Path], ...] = ()  # (path in the tree, our file)
    id: str = ""


def find_patchset(version: str, root: Path | None = None) -> PatchSet | None:
    """The patch set of ``version``, or None when patches/ has no recipe for it."""
    recipe = load_recipe(version, root)
    if recipe is None or not recipe.patches:
        return None
    return PatchSet(version, recipe.patches, tuple(sorted(recipe.runtime_files.items())), recipe.patchset_id)


def choose_patchset(source: Path, version: str, *, allow_unproven: bool = False,
                    root: Path | None = None) -> PatchSet:
    """The patch set for a tree of ``version``: its own; else, with ``allow_unproven``, the nearest supported
    version's below it (``recipe.nearest_below``) when that applies to the tree exactly; else a SourceError that
    says which of those is missing, where the patch set fails, and what to do.

    Why exactly, never fuzzed: a patch placed by guesswork builds something nobody read, and a build that goes on
    past a failed hunk builds half a feature.  Why the user must opt in even when every patch applies: applying
    says nothing about whether the result compiles or works, which only a version's own proven folder says.
    """
    own = find_patchset(version, root)
    if own is not None:
        return own
    near = None if version in supported(root) else nearest_below(version, root)
    patchset = find_patchset(near, root) if near else None
    if near is None or patchset is None:
        refusal = unsupported_version(version, root)
        if allow_unproven:
            refusal.hint += (f"; {ALLOW_UNPROVEN_VERSION} builds with the patch set of a supported version below "
                             f"{version} with its major, and there is none")
        raise refusal
    closest = nearest(version, root)
    head = f"ONNX Runtime {version} has no patch set of its own (supported: {', '.join(supported(root))}; " \
           f"nearest: {closest})"
    theirs = f"{near}'s patch set" + ("" if near == closest else f" (the nearest below {version})")
    port = f"port {closest}'s patches to {version} in patches/{version}/ as docs/new-version.md says"
    as_is = "--no-patches builds the tree as it is, without MEMFS"
    if not source.is_dir():
        raise SourceError(f"{head}; whether {theirs} applies is tried on a directory only, and {source} is an "
                          "archive",
                          f"unpack it and pass the directory as --ort-source (with {ALLOW_UNPROVEN_VERSION} to "
                          f"build it with {near}'s patch set, unproven, if that applies exactly)")
    failure = first_misfit(patchset, source)
    if failure is not None:
        raise SourceError(f"{head}; {theirs} fails on this tree at fuzz 0: {failure}",
                          f"{ALLOW_UNPROVEN_VERSION} builds only with the patch set of the nearest version below, "
                          f"and only when it applies exactly, never with fuzz: {port}; {as_is}")
    if not allow_unproven:
        raise SourceError(f"{head}; {theirs} applies to this tree exactly ({len(patchset.patches)} patches at "
                          "fuzz 0, and the runtime files)",
                          f"pass {ALLOW_UNPROVEN_VERSION} to build {version} with {near}'s patch set, unproven (its "
                          f"manifests say so); to make {version} proven, add patches/{version}/ as "
                          f"docs/new-version.md says; {as_is}")
    return patchset


def first_misfit(patchset: PatchSet, tree: Path) -> str | None:
    """Where ``patchset`` first fails to apply to ``tree`` exactly (the patch and its file, or a runtime file
    that would replace one of upstream's), or None when it applies as the source stage would apply it.

    Tried on a scratch copy of only the files the set touches: the tree is never written, and a 300 MB tree is
    judged in well under a second.
    """
    for dest, ours in patchset.runtime_files:
        theirs = tree / dest
        if theirs.exists() and not (theirs.is_file() and theirs.read_bytes() == ours.read_bytes()):
            return f"the tree has its own {dest}, which ortwasm's {ours.name} would replace"
    with tempfile.TemporaryDirectory(prefix="ortwasm-fit-") as scratch:
        _copy_touched(patchset, tree, Path(scratch))
        install_runtime_files(patchset, Path(scratch))
        try:
            apply_patchset(patchset, Path(scratch))
        except _NoPatchProgram:
            raise
        except PatchError as exc:
            return exc.message
    return None


_PATCHED_FILE = re.compile(r"^\+\+\+ b/(\S+)", re.M)


def install_runtime_files(patchset: PatchSet, tree: Path) -> None:
    """Copy our own files (runtime/) into the tree, where the patched CMake expects them.

    Why files and not `+` lines of a patch: they are the project's code, edited, reviewed and shared by every ORT
    version as one file; a patch then only edits upstream's files.
    """
    for dest, src in patchset.runtime_files:
        target = tree / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


def patched_files(patchset: PatchSet) -> list[str]:
    """Every file the patch set writes, in first-touched order (relative to the tree)."""
    seen: dict[str, None] = {dest: None for dest, _ in patchset.runtime_files}
    for patch in patchset.patches:
        for rel in _PATCHED_FILE.findall(patch.read_text(errors="replace")):
            seen.setdefault(rel)
    return list(seen)


_FAILED_FILE = re.compile(r"^(?:patching file|checking file) (?P<file>\S+)", re.M)


def apply_patchset(patchset: PatchSet, tree: Path) -> None:
    """Apply every patch, or raise naming the patch and the file whose hunk failed.

    A tree that already carries the whole set (the set reverses cleanly, last patch first) is accepted as it
    is, and so is a patch whose reverse applies cleanly on its own.  Why both: a later patch may edit lines next
    to an earlier one's (1.30's wasm64.patch adds an option beside memfs-cmake-option.patch's), so on a fully
    patched tree the earlier patch's reverse context only matches once the later ones are undone.
    """
    for i, patch in enumerate(patchset.patches):
        forward = _patch(tree, patch, dry_run=True)
        if forward.returncode == 0:
            result = _patch(tree, patch, dry_run=False)
            if result.returncode == 0:
                continue
            forward = result
        if i == 0 and _carries(patchset, tree):
            return
        if _patch(tree, patch, dry_run=True, reverse=True).returncode == 0:
            continue  # already applied
        out = forward.stdout + forward.stderr
        where, detail = _first_failure(out)
        raise PatchError(
            f"{patch.name} does not apply: {where}: {detail}",
            "the source tree has a local edit that conflicts with the patch set; revert it, or pass --no-patches",
        )


def _carries(patchset: PatchSet, tree: Path) -> bool:
    """Whether `tree` already holds every patch: undo them all, last first, on a scratch copy of the files."""
    with tempfile.TemporaryDirectory(prefix="ortwasm-reverse-") as scratch:
        _copy_touched(patchset, tree, Path(scratch))
        return all(_patch(Path(scratch), p, dry_run=False, reverse=True).returncode == 0
                   for p in reversed(patchset.patches))


def _copy_touched(patchset: PatchSet, tree: Path, scratch: Path) -> None:
    """The files of ``tree`` that ``patchset`` writes, into ``scratch``: enough to try the set on."""
    for rel in patched_files(patchset):
        if (tree / rel).is_file():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / rel, scratch / rel)


_QUOTED_TARGET = re.compile(r"^\|\+\+\+ b/(\S+)", re.M)


def _first_failure(out: str) -> tuple[str, str]:
    """patch(1) names a file, then its failed hunks; report the file that owns the first failure.  A file the tree
    lacks is named by the patch header patch(1) quotes after saying so (a newer tree may have moved it)."""
    current = "?"
    at = 0
    for line in out.splitlines(keepends=True):
        m = _FAILED_FILE.match(line)
        if m:
            current = m["file"]
        elif "can't find file" in line:
            quoted = _QUOTED_TARGET.search(out, at)
            return (quoted[1] if quoted else current), "the tree has no such file"
        elif "FAILED" in line or "No file to patch" in line:
            return current, line.strip()
        at += len(line)
    return current, out.strip()[:300]


def _patch(tree: Path, patch: Path, dry_run: bool, reverse: bool = False) -> subprocess.CompletedProcess[str]:
    # --fuzz=0: a tree that is only "close" to the one a patch was written for must fail loudly, never get a
    # hunk placed by guesswork.  Hunks that moved by whole lines (offset) still apply: their context matched.
    argv = ["patch", "-p1", "--batch", "--fuzz=0", "--forward" if not reverse else "--reverse", "-i", str(patch)]
    if dry_run:
        argv.append("--dry-run")
    try:
        return subprocess.run(argv, cwd=tree, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise _NoPatchProgram("the `patch` program is not installed", "apt-get install patch") from None


class _NoPatchProgram(PatchError):
    """The machine's problem, not the tree's: ``first_misfit`` must not report it as a patch that does not fit."""
