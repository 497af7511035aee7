"""Dawn (google/dawn) as a pinned, patched local source tree for ORT's native WebGPU EP on wasm.

Why a tree of our own and not ORT's FetchContent: ORT's download branch turns ``DAWN_FETCH_DEPENDENCIES`` on,
so configure clones Dawn's dependencies from googlesource (network, minutes, noise).  Its other branch,
``-Donnxruntime_CUSTOM_DAWN_SRC_PATH=<dir>``, takes a directory as it is: no patches, no ``rm -rf test``.  So the
directory must already be what the download branch would have made: the tag ``cmake/deps.txt`` pins, with ORT's
own Dawn patches applied in ORT's order, ``test/`` gone.

The pin is read from the ORT tree itself (``cmake/deps.txt``), never copied into code, and so is the patch order
(the ``ONNXRUNTIME_Dawn_PATCH_COMMAND`` of ``cmake/external/onnxruntime_external_deps.cmake``): a new ORT version
brings its own Dawn facts, and a PATCH_COMMAND step this module does not understand is refused, not skipped.

The source is what the user has: a git repository holding the tag (a checkout or a bare mirror), or GitHub's
release archive of the tag.  Only the zip is checked against the pin: its sha1 is what deps.txt records, and
``git archive`` cannot reproduce GitHub's bytes, so a git export is trusted by tag (and, when the caller knows
it, by commit), and a tar.gz is recorded by sha256 with a warning that the pin was not checked.

The tree is written to ``<dest>.partial`` under the lock of ``<dest>``'s parent and renamed into place only when
complete, with a stamp (``.ortwasm-dawn.json``) saying what it is.  An existing ``<dest>`` is used only when its
stamp equals what this run would write; any other directory there is the user's, and is refused, never replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .. import lock, log, paths
from ..digest import sha256_file
from ..errors import DependencyError, SourceError
from .sources import git_dir_of, git_export, missing_blobs, rev_parse

STAMP = ".ortwasm-dawn.json"
STAMP_FORMAT = 1
CMAKE_VAR = "onnxruntime_CUSTOM_DAWN_SRC_PATH"
DEPS_TXT = "cmake/deps.txt"
EXTERNAL_DEPS = "cmake/external/onnxruntime_external_deps.cmake"
PATCH_DIR = "cmake/patches/dawn"
# Left out of every export.  ``test/`` is 80,000 files ORT's own PATCH_COMMAND deletes anyway; the WebGPU CTS
# snapshot is test data too, and GitHub mirrors of Dawn lack two of its blobs, on which git archive would fail.
EXCLUDED = ("test", "third_party/gn/webgpu-cts")
# What the wasm build reads from Dawn: an export without them is not a Dawn tree this module can hand to ORT.
KEY_FILES = ("CMakeLists.txt", "src/emdawnwebgpu/CMakeLists.txt",
             "third_party/emdawnwebgpu/pkg/webgpu/src/webgpu.cpp",
             "third_party/emdawnwebgpu/pkg/webgpu/src/library_webgpu.js")
# ORT's own command for each patch.  Default fuzz on purpose: ORT's patches were written against other Dawn
# revisions and need fuzz 1-2 on the pinned tag (measured: five hunks), and the tree must be what ORT's
# FetchContent makes, so ortwasm's own ``--fuzz=0`` rule for ORT patches does not apply here.  Two flags are
# ours and change no hunk: ``-N`` says "previously applied" instead of asking, and ``--no-backup-if-mismatch``
# keeps the ``.orig`` files fuzz would leave out of the tree.
DAWN_REPO = "https://github.com/google/dawn"
PATCH_ARGV = ("patch", "--binary", "--ignore-whitespace", "-p1")
PATCH_EXTRA = ("-N", "--no-backup-if-mismatch")


def _say(msg: str) -> None:
    log.say(msg, stage="dawn")


# --- the pin --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DawnPin:
    """ORT's pin of Dawn: a tag of google/dawn and the sha1 of GitHub's zip of it (``cmake/deps.txt``)."""

    tag: str
    url: str
    sha1: str

    @property
    def archive_root_names(self) -> tuple[str, ...]:
        """Top directory names GitHub gives the tag's archives (it drops a leading ``v``)."""
        return (f"dawn-{self.tag}", f"dawn-{self.tag.removeprefix('v')}")


_DAWN_URL = re.compile(r"https://github\.com/google/dawn/archive/refs/tags/(?P<tag>[A-Za-z0-9._-]+)\.zip")


def read_dawn_pin(ort_tree: Path) -> DawnPin:
    """The ``dawn`` line of ``<ort_tree>/cmake/deps.txt``: ``dawn;<github tag zip url>;<sha1>``."""
    deps = ort_tree / DEPS_TXT
    if not deps.is_file():
        raise DependencyError(f"{ort_tree} has no {DEPS_TXT}, so it pins no Dawn",
                              "pass the top of an ONNX Runtime source tree (one with --use_webgpu support)")
    lines = [ln.strip() for ln in deps.read_text().splitlines()]
    found = [ln for ln in lines if ln.split(";", 1)[0] == "dawn"]
    if len(found) != 1:
        raise DependencyError(f"{deps} has {len(found)} `dawn;...` lines, not one",
                              "this ONNX Runtime tree does not pin Dawn the way ortwasm reads it")
    parts = found[0].split(";")
    match = _DAWN_URL.fullmatch(parts[1]) if len(parts) == 3 else None
    if match is None or re.fullmatch(r"[0-9a-f]{40}", parts[2].lower()) is None:
        raise DependencyError(f"{deps}: `{found[0]}` is not `dawn;<github tag zip url>;<sha1>`",
                              "ortwasm reads a pin of a google/dawn tag archive; teach ortwasm/fetch/dawn.py this "
                              "form")
    return DawnPin(match["tag"], parts[1], parts[2].lower())


# --- ORT's patch order ----------------------------------------------------------------------------------------


_PATCH_STEP = re.compile(r"\$\{Patch_EXECUTABLE\} --binary --ignore-whitespace -p1 < "
                         r"\$\{PROJECT_SOURCE_DIR\}/patches/dawn/(?P<name>[A-Za-z0-9_.+-]+\.patch)")
_RM_TEST_STEP = re.compile(r"\$\{CMAKE_COMMAND\} -E rm -rf <SOURCE_DIR>/test")


def _strip_cmake_comments(text: str) -> str:
    """``text`` without CMake comments (line and ``#[[ ]]``), quoted strings kept: ORT's comments contain
    parentheses and the word "patch", which would fool a plain scan."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "#":
            bracket = re.match(r"#\[(=*)\[", text[i:])
            if bracket:
                end = text.find(f"]{bracket[1]}]", i)
                i = n if end < 0 else end + len(bracket[1]) + 2
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _set_body(code: str, var: str, where: Path) -> str:
    """The arguments of the one ``set(<var> ...)`` in comment-free ``code``."""
    starts = list(re.finditer(rf"\b(?i:set)\s*\(\s*{re.escape(var)}\b", code))  # commands ignore case, names not
    hint = "ortwasm reads ORT's Dawn patch order from there; teach ortwasm/fetch/dawn.py this ORT version's layout"
    if len(starts) != 1:
        raise DependencyError(f"{where} has {len(starts)} `set({var} ...)`, not one", hint)
    depth, i = 1, code.index("(", starts[0].start()) + 1
    body_start = starts[0].end()
    while i < len(code) and depth:
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        i += 1
    if depth:
        raise DependencyError(f"{where}: `set({var}` is never closed", hint)
    return code[body_start:i - 1]


def ort_dawn_patches(ort_tree: Path) -> list[str]:
    """The names of ORT's Dawn patches, in the order its ``PATCH_COMMAND`` applies them.

    Why parse and not list them here: the order is a fact of the ORT version (1.30 applies six), and the patch
    files alone do not give it.  Every ``&&`` step must be one ortwasm knows: a ``patch`` of
    ``cmake/patches/dawn/*.patch`` file with exactly ORT's flags, or the ``rm -rf <SOURCE_DIR>/test`` the export's
    exclusion already does.  Anything else (other flags, a new kind of step) is refused: a tree made without it
    would not be the tree ORT builds.
    """
    cmake = ort_tree / EXTERNAL_DEPS
    if not cmake.is_file():
        raise DependencyError(f"{ort_tree} has no {EXTERNAL_DEPS}",
                              "pass the top of an ONNX Runtime source tree (one with --use_webgpu support)")
    body = _set_body(_strip_cmake_comments(cmake.read_text()), "ONNXRUNTIME_Dawn_PATCH_COMMAND", cmake)
    names: list[str] = []
    for step in body.split("&&"):
        cmd = " ".join(step.split())
        patch = _PATCH_STEP.fullmatch(cmd)
        if patch:
            names.append(patch["name"])
        elif not _RM_TEST_STEP.fullmatch(cmd):
            raise DependencyError(f"{cmake}: ONNXRUNTIME_Dawn_PATCH_COMMAND has a step ortwasm does not know: "
                                  f"`{cmd[:200]}`",
                                  "teach ortwasm/fetch/dawn.py what that step does to Dawn (ortwasm knows "
                                  "`${Patch_EXECUTABLE} --binary --ignore-whitespace -p1 < .../patches/dawn/X.patch` "
                                  "and `rm -rf <SOURCE_DIR>/test`)")
    if not names:
        raise DependencyError(f"{cmake}: ONNXRUNTIME_Dawn_PATCH_COMMAND applies no patch",
                              "teach ortwasm/fetch/dawn.py this ORT version's layout")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise DependencyError(f"{cmake}: ONNXRUNTIME_Dawn_PATCH_COMMAND applies {', '.join(dups)} twice",
                              "teach ortwasm/fetch/dawn.py what that means")
    return names


@dataclass(frozen=True)
class PatchRecord:
    name: str
    sha256: str


def ort_dawn_patch_records(ort_tree: Path) -> tuple[PatchRecord, ...]:
    """ORT's Dawn patches in order, each with the digest of its file (a stamp names exactly what was applied)."""
    records: list[PatchRecord] = []
    for name in ort_dawn_patches(ort_tree):
        path = ort_tree / PATCH_DIR / name
        if not path.is_file():
            raise DependencyError(f"{ort_tree / EXTERNAL_DEPS} applies {name}, which is not in "
                                  f"{ort_tree / PATCH_DIR}", "is this ONNX Runtime tree complete?")
        records.append(PatchRecord(name, sha256_file(path)))
    return tuple(records)


def patches_digest(patches: Sequence[PatchRecord]) -> str:
    """One digest for the ordered patch series (name and content of each)."""
    return hashlib.sha256("".join(f"{p.name} {p.sha256}\n" for p in patches).encode()).hexdigest()


# --- the stamp ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DawnStamp:
    """What a prepared Dawn tree is; two runs that would write equal stamps would write equal trees.

    ``patch_output`` (what ``patch`` said: offsets, fuzz) is kept for the reader and left out of the comparison,
    since a run that finds the tree in place has not applied anything.
    """

    tag: str
    commit: str  # git input: the tag's commit; an archive: the commit its own header names ("" if none)
    tree: str  # git input: the tag's tree id; "" for an archive
    input_kind: str  # "git", "zip" or "tar"
    input_path: str
    archive_sha1: str  # "" for git input
    archive_sha256: str
    pin_check: str  # how the input was matched to the pin, in words
    warning: str  # what could not be checked ("" when nothing)
    patches: tuple[PatchRecord, ...]
    excluded: tuple[str, ...]
    pin: DawnPin
    format: int = STAMP_FORMAT
    patch_output: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        data = asdict(self)
        data["patch_output"] = [{"name": n, "output": o} for n, o in self.patch_output]  # a list keeps the order
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DawnStamp:
        """Raises ValueError (or KeyError/TypeError) on anything but a stamp this format wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != STAMP_FORMAT:
            raise ValueError(f"not a format {STAMP_FORMAT} Dawn stamp")
        strs = {f.name: data[f.name] for f in fields(cls)
                if f.name not in ("patches", "excluded", "pin", "format", "patch_output")}
        if not all(isinstance(v, str) for v in strs.values()):
            raise ValueError("a field is not a string")
        output = data.get("patch_output", [])
        return cls(**strs,
                   patches=tuple(PatchRecord(str(p["name"]), str(p["sha256"])) for p in data["patches"]),
                   excluded=tuple(str(e) for e in data["excluded"]),
                   pin=DawnPin(str(data["pin"]["tag"]), str(data["pin"]["url"]), str(data["pin"]["sha1"])),
                   patch_output=tuple((str(o["name"]), str(o["output"])) for o in output))

    def differences(self, other: DawnStamp) -> list[str]:
        """Fields (compared ones only) where ``other`` differs, as ``name: mine -> other's``."""
        out: list[str] = []
        for f in fields(self):
            if f.compare and getattr(self, f.name) != getattr(other, f.name):
                out.append(f"{f.name}: {_short(getattr(self, f.name))} -> {_short(getattr(other, f.name))}")
        return out


def _short(value: object) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], PatchRecord):
        return ",".join(f"{p.name}@{p.sha256[:8]}" for p in value)
    if isinstance(value, DawnPin):
        return value.tag
    text = str(value) if value != "" else '""'
    return text if len(text) <= 80 else text[:77] + "..."


def read_dawn_stamp(dest: Path) -> DawnStamp:
    """The stamp of a prepared tree; a dir without one (or with one ortwasm cannot read) is not ortwasm's."""
    path = dest / STAMP
    if not path.is_file():
        raise DependencyError(f"{dest} has no {STAMP}: it was not prepared by ortwasm",
                              f"prepare Dawn into a new directory, or remove {dest} and prepare it there")
    try:
        return DawnStamp.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise DependencyError(f"{path} is unreadable ({exc})", f"remove {dest} and prepare Dawn again") from None


@dataclass(frozen=True)
class DawnTree:
    """A prepared Dawn source tree; ``fresh`` says whether this call wrote it."""

    path: Path
    stamp: DawnStamp
    fresh: bool


# --- inputs ---------------------------------------------------------------------------------------------------


def _hashes(path: Path) -> tuple[str, str]:
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha1.update(block)
            sha256.update(block)
    return sha1.hexdigest(), sha256.hexdigest()


def _archive_commit(archive: Path, kind: str) -> str:
    """The commit ``git archive`` (which GitHub runs) writes into its output: the zip comment, or the tar's pax
    global header.  Recorded as the archive's claim; nothing here can check it."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                claim = zf.comment.decode(errors="replace").strip()
        else:
            with tarfile.open(archive) as tf:
                tf.next()
                claim = str(tf.pax_headers.get("comment", "")).strip()
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError):
        return ""
    return claim if re.fullmatch(r"[0-9a-f]{40}", claim) else ""


def _archive_kind(path: Path) -> str | None:
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        return "tar" if tarfile.is_tarfile(path) else None
    except OSError:
        return None


def _pin_hint(pin: DawnPin) -> str:
    return (f"pass a git repository with tag {pin.tag} (get it with `git fetch https://github.com/google/dawn "
            f"tag {pin.tag}`), or GitHub's release archive {pin.url}")


def wanted_stamp(source: Path, ort_tree: Path, *, expect_commit: str | None = None) -> tuple[DawnStamp, Path | None]:
    """The stamp a prepare of ``source`` for ``ort_tree`` writes, and the git dir to export from (None for an
    archive).  Everything that can be refused without writing is refused here."""
    pin = read_dawn_pin(ort_tree)
    patches = ort_dawn_patch_records(ort_tree)
    source = source.expanduser().resolve()
    git_dir: Path | None = None
    if source.is_dir():
        git_dir = git_dir_of(source)
        if git_dir is None:
            raise DependencyError(f"Dawn source {source} is a directory but not a git repository",
                                  _pin_hint(pin) + "; an unpacked tree is not taken (nothing would say its tag)")
        commit = rev_parse(git_dir, f"refs/tags/{pin.tag}^{{commit}}")
        if commit is None:
            raise DependencyError(f"{source} has no tag {pin.tag} (the Dawn ONNX Runtime pins in {DEPS_TXT})",
                                  f"fetch it: `git --git-dir={git_dir} fetch https://github.com/google/dawn tag "
                                  f"{pin.tag}`; or pass GitHub's release archive {pin.url}")
        if expect_commit is not None and commit != expect_commit:
            raise DependencyError(f"{source}: tag {pin.tag} is commit {commit}, not {expect_commit}",
                                  "that repository's tag is not upstream's (a fork or a moved tag): use a mirror "
                                  f"of google/dawn, or GitHub's release archive {pin.url}")
        tree = rev_parse(git_dir, f"refs/tags/{pin.tag}^{{tree}}") or ""
        kind, sha1, sha256, warning = "git", "", "", ""
        check = (f"tag {pin.tag} of {git_dir}" + (", commit as expected" if expect_commit else "")
                 + "; deps.txt's sha1 is of GitHub's zip, which a git export cannot reproduce")
    else:
        if not source.is_file():
            raise DependencyError(f"Dawn source {source} does not exist", _pin_hint(pin))
        found = _archive_kind(source)
        if found is None:
            raise DependencyError(f"Dawn source {source} is neither a git repository nor a .zip or .tar.gz",
                                  _pin_hint(pin))
        kind, tree, warning = found, "", ""
        sha1, sha256 = _hashes(source)
        if kind == "zip":
            if sha1 != pin.sha1:
                raise DependencyError(f"{source} has sha1 {sha1}; ONNX Runtime's {DEPS_TXT} pins {pin.sha1} for "
                                      f"Dawn {pin.tag}", f"download {pin.url} again (a truncated or other "
                                      f"download?), or pass a git repository with tag {pin.tag}")
            check = f"sha1 {sha1} equals {DEPS_TXT}'s"
        else:
            check = f"none: {DEPS_TXT} pins only the zip's sha1"
            warning = (f"the pin could not be checked: {source.name} is a tar archive, and {DEPS_TXT} records only "
                       f"the sha1 of {pin.url}; recorded its sha256 {sha256}")
        commit = _archive_commit(source, kind)
        if expect_commit is not None and commit and commit != expect_commit:
            raise DependencyError(f"{source} says it is commit {commit}, not {expect_commit} (tag {pin.tag})",
                                  f"download {pin.url} again")
    stamp = DawnStamp(tag=pin.tag, commit=commit, tree=tree, input_kind=kind, input_path=str(source),
                      archive_sha1=sha1, archive_sha256=sha256, pin_check=check, warning=warning, patches=patches,
                      excluded=EXCLUDED, pin=pin)
    return stamp, git_dir


# --- export ---------------------------------------------------------------------------------------------------


def _excluded(rel: str, excluded: Sequence[str]) -> bool:
    return any(rel == e or rel.startswith(e + "/") for e in excluded)


def _export_git(git_dir: Path, stamp: DawnStamp, dest: Path) -> None:
    """``git archive`` of the tag without the excluded dirs.  git may still print one "invalid object" line for
    a blob it skips; success is its return code and the key files, checked by the caller."""
    try:
        git_export(git_dir, stamp.commit, dest, stamp.excluded)
    except SourceError as exc:
        missing = [p for p in missing_blobs(git_dir, stamp.commit) if not _excluded(p, stamp.excluded)]
        what = (f"{git_dir} lacks {len(missing)} blobs of {stamp.tag} (first: {missing[0]})" if missing
                else exc.message)
        raise DependencyError(f"exporting Dawn {stamp.tag}: {what}",
                              f"complete the repository (`git --git-dir={git_dir} fetch https://github.com/google/dawn "
                              f"tag {stamp.tag}`), or pass GitHub's release archive {stamp.pin.url}") from None


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _single_root(names: Iterable[str], archive: Path, pin: DawnPin) -> str:
    roots = {_norm(n).split("/", 1)[0] for n in names if _norm(n)}
    if len(roots) != 1:
        raise DependencyError(f"{archive} has {len(roots)} top-level entries, not one directory",
                              f"pass GitHub's release archive of the tag, {pin.url}")
    root = roots.pop()
    if root.startswith("dawn-") and root not in pin.archive_root_names:
        raise DependencyError(f"{archive} holds {root}, but ONNX Runtime pins Dawn {pin.tag}",
                              f"pass the archive of {pin.tag}: {pin.url}")
    return root


def _safe_rel(name: str, archive: Path) -> str:
    """``name`` below the archive's top dir ("" for the top dir itself); refused if it could leave the tree."""
    parts = _norm(name).split("/", 1)
    rel = parts[1].strip("/") if len(parts) > 1 else ""
    if name.startswith("/") or ".." in rel.split("/"):
        raise DependencyError(f"{archive} has an unsafe member {name!r}", "use GitHub's release archive")
    return rel


def _extract_zip(archive: Path, stamp: DawnStamp, dest: Path) -> None:
    """Members of the archive's one top dir into ``dest``, keeping executable bits and symlinks (zipfile keeps
    neither by itself), refusing anything that would land outside."""
    dest.mkdir(parents=True)
    top = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _single_root((i.filename for i in infos), archive, stamp.pin)
        for info in infos:
            rel = _safe_rel(info.filename, archive)
            if not rel or _excluded(rel, stamp.excluded):
                continue
            target = dest / rel
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode()
                landing = Path(os.path.normpath(target.parent.resolve() / link))
                if link.startswith("/") or not landing.is_relative_to(top):
                    raise DependencyError(f"{archive}: symlink {info.filename} -> {link} leaves the tree",
                                          "use GitHub's release archive")
                target.symlink_to(link)
                continue
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            if mode & 0o111:
                target.chmod(0o755)


def _extract_tar(archive: Path, stamp: DawnStamp, dest: Path) -> None:
    """Members of the archive's one top dir into ``dest`` (tarfile's "data" filter refuses escapes)."""
    unpack = dest.with_name(dest.name + ".unpack")
    shutil.rmtree(unpack, ignore_errors=True)
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            root = _single_root((m.name for m in members), archive, stamp.pin)
            keep = [m for m in members
                    if (rel := _safe_rel(m.name, archive)) and not _excluded(rel, stamp.excluded)]
            tf.extractall(unpack, members=keep, filter="data")
        (unpack / root).rename(dest)
    except tarfile.TarError as exc:
        raise DependencyError(f"{archive} cannot be unpacked: {exc}", f"download {stamp.pin.url} again") from None
    finally:
        shutil.rmtree(unpack, ignore_errors=True)


def _apply_patches(ort_tree: Path, stamp: DawnStamp, tree: Path) -> tuple[tuple[str, str], ...]:
    """ORT's patches in ORT's order, with ORT's command; what patch said of each (offsets, fuzz).

    ``start_new_session``: patch asks its questions on /dev/tty; without a terminal it takes the default
    (skip), so it never waits for an answer nobody gives.
    """
    said: list[tuple[str, str]] = []
    for rec in stamp.patches:
        path = ort_tree / PATCH_DIR / rec.name
        if sha256_file(path) != rec.sha256:
            raise DependencyError(f"{path} changed while Dawn was being prepared", "run again")
        with path.open("rb") as patch_in:
            proc = subprocess.run([*PATCH_ARGV, *PATCH_EXTRA], stdin=patch_in, cwd=tree, capture_output=True,
                                  text=True, env={**os.environ, "LC_ALL": "C"}, start_new_session=True,
                                  timeout=600, check=False)
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise DependencyError(f"ORT's Dawn patch {rec.name} does not apply to Dawn {stamp.tag} "
                                  f"({stamp.input_kind} {stamp.input_path}): {output[-800:]}",
                                  f"the Dawn source is not the tag {PATCH_DIR} was written for; check that it is "
                                  f"{stamp.pin.tag} from google/dawn ({stamp.pin.url})")
        said.append((rec.name, output))
    return tuple(said)


def _check_key_files(tree: Path, stamp: DawnStamp) -> None:
    """A fresh export that lacks what the wasm build reads is not google/dawn at the tag."""
    missing = [k for k in KEY_FILES if not (tree / k).is_file()]
    if missing:
        raise DependencyError(f"Dawn {stamp.tag} from {stamp.input_kind} {stamp.input_path} lacks "
                              f"{', '.join(missing)}", f"is it google/dawn? {_pin_hint(stamp.pin)}")


def _check_intact(dest: Path) -> None:
    """A prepared tree that lost what the wasm build reads was changed after ortwasm wrote it."""
    missing = [k for k in KEY_FILES if not (dest / k).is_file()]
    if missing:
        raise DependencyError(f"{dest} was prepared by ortwasm but lacks {', '.join(missing)} now",
                              f"remove {dest} and prepare Dawn again")


# --- the public steps -----------------------------------------------------------------------------------------


def default_dest(ort_tree: Path) -> Path:
    """Beside the other fetched sources: one tree per tag, shared by every build of an ORT version that pins it."""
    return paths.sources_dir() / f"dawn-{read_dawn_pin(ort_tree).tag}"


def prepare_dawn(source: Path, ort_tree: Path, dest: Path | None = None, *,
                 expect_commit: str | None = None) -> DawnTree:
    """Make ``dest`` the Dawn tree ``ort_tree`` pins, from ``source`` (a git repository with the tag, or GitHub's
    release archive of it), with ORT's Dawn patches applied; a second call with the same inputs does nothing.

    ``expect_commit``: the commit the tag must name, when the caller knows it; a git export has no other check.
    """
    want, git_dir = wanted_stamp(source, ort_tree, expect_commit=expect_commit)
    dest = (dest or default_dest(ort_tree)).expanduser().absolute()
    with lock.held(dest.parent, "Dawn source dir's parent"):
        if dest.exists() or dest.is_symlink():
            return DawnTree(dest, _existing(dest, want), fresh=False)
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # a killed run's; ours, since we hold the lock
        _say(f"Dawn {want.tag} from {want.input_kind} {want.input_path} into {dest}")
        try:
            if git_dir is not None:
                _export_git(git_dir, want, partial)
            elif want.input_kind == "zip":
                _extract_zip(Path(want.input_path), want, partial)
            else:
                _extract_tar(Path(want.input_path), want, partial)
            _check_key_files(partial, want)
            output = _apply_patches(ort_tree, want, partial)
            stamp = replace(want, patch_output=output)
            (partial / STAMP).write_text(stamp.to_json())
            partial.rename(dest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    if stamp.warning:
        log.warn(f"Dawn {stamp.tag}: {stamp.warning}")
    fuzzy = [n for n, out in output if "fuzz" in out or "offset" in out]
    _say(f"Dawn {stamp.tag} at {dest}: {len(output)} ORT patches applied"
         + (f" ({len(fuzzy)} with offset or fuzz, as ORT's own build gets them)" if fuzzy else ""))
    return DawnTree(dest, stamp, fresh=True)


def _existing(dest: Path, want: DawnStamp) -> DawnStamp:
    """The stamp of an existing ``dest`` when it is exactly the wanted tree; any other dir is refused."""
    if not dest.is_dir():
        raise DependencyError(f"{dest} exists and is not a directory", "remove it or prepare Dawn elsewhere")
    if not (dest / STAMP).is_file():
        raise DependencyError(f"{dest} exists and was not prepared by ortwasm (no {STAMP}); it is left alone",
                              f"remove {dest} (or prepare Dawn into another directory)")
    have = read_dawn_stamp(dest)
    diff = have.differences(want)
    if diff:
        raise DependencyError(f"{dest} holds another Dawn preparation than this run's (found -> wanted: "
                              f"{'; '.join(diff)}); it is left alone",
                              f"remove {dest} to prepare it again, or prepare into another directory")
    _check_intact(dest)
    return have


def dawn_cmake_defines(dest: Path, ort_tree: Path) -> dict[str, str]:
    """The cache entry that makes ``ort_tree``'s configure take ``dest`` instead of downloading Dawn, once the
    tree is shown to be the pin ``ort_tree`` names with its patches.

    Why check: ORT configures against any Dawn dir it is given, and a Dawn of another tag fails (or worse,
    builds) an hour later.
    """
    cmake = ort_tree / EXTERNAL_DEPS
    if not cmake.is_file() or CMAKE_VAR not in cmake.read_text():
        raise DependencyError(f"{ort_tree} does not read {CMAKE_VAR} ({EXTERNAL_DEPS})",
                              "this ONNX Runtime version cannot take a local Dawn tree")
    pin = read_dawn_pin(ort_tree)
    have = read_dawn_stamp(dest)
    redo = f"remove {dest} and prepare Dawn {pin.tag} for {ort_tree}, or pass the Dawn tree prepared for it"
    if have.pin.tag != pin.tag:
        raise DependencyError(f"{dest} is Dawn {have.pin.tag}; {ort_tree / DEPS_TXT} pins Dawn {pin.tag}", redo)
    if have.pin != pin:
        raise DependencyError(f"{dest} was prepared for the pin {have.pin.url} (sha1 {have.pin.sha1}); "
                              f"{ort_tree / DEPS_TXT} pins {pin.url} (sha1 {pin.sha1})", redo)
    patches = ort_dawn_patch_records(ort_tree)
    if have.patches != patches:
        raise DependencyError(f"{dest} has the Dawn patches {_short(have.patches)}; {ort_tree} applies "
                              f"{_short(patches)}", redo)
    _check_intact(dest)
    return {CMAKE_VAR: str(dest.resolve())}


def dawn_manifest_entry(dest: Path) -> dict[str, str]:
    """What a build manifest records of the Dawn it was built with: enough to tell two Dawn trees apart."""
    stamp = read_dawn_stamp(dest)
    return {"tag": stamp.tag, "commit": stamp.commit, "tree": stamp.tree, "patches": patches_digest(stamp.patches),
            "input": stamp.input_kind}
