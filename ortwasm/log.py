"""One voice for every stage: ``ortwasm:`` lines, timings, GitHub Actions groups and annotations, the summary.

Why one module: a CI log folds per variant, an error shows up as an annotation and the build ends with one
table only if every stage speaks the same way, and no stage should have to know that it runs under GitHub
Actions.  Progress, the closing summary and errors go to stderr (stdout stays for what a command *prints*:
``--print-cmake``, ``matrix``, a check report); the ``::group::`` and ``::error::`` workflow commands go to
stdout, where the runner reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from .ccache import Usage, remote_failure_warning

PREFIX = "ortwasm"


def _github() -> bool:
    return bool(os.environ.get("GITHUB_ACTIONS"))


def fmt_duration(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour): the one format of every elapsed time, ETA and stage timing."""
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def say(msg: str, stage: str = "") -> None:
    """One progress line, ``ortwasm: [stage: ]msg``, flushed so it interleaves correctly with tool output."""
    print(f"{PREFIX}: {stage + ': ' if stage else ''}{msg}", file=sys.stderr, flush=True)


def command(quoted: str) -> None:
    """A command about to run, shell-quoted (``+ cmd``, as ``set -x`` shows it), so a log can be replayed."""
    print(f"+ {quoted}", file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    say(f"warning: {msg}")
    if _github():
        print(f"::warning::{_escape(msg)}", flush=True)


def error(message: str, hint: str = "") -> None:
    """The one rendering of a failure: a line, a hint, and under GitHub Actions an ``::error::`` annotation."""
    print(f"{PREFIX}: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    if _github():
        print(f"::error::{_escape(message + (' (hint: ' + hint + ')' if hint else ''))}", flush=True)


def _escape(text: str) -> str:
    """Workflow-command data escaping, so a multi-line message stays one annotation."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@contextmanager
def group(title: str) -> Iterator[None]:
    """A foldable ``::group::`` under GitHub Actions (nothing elsewhere); closed only when the body succeeds,
    as before, so a failure's lines stay visible outside any fold."""
    if _github():
        print(f"::group::{title}", flush=True)
    yield
    if _github():
        print("::endgroup::", flush=True)


@dataclass(frozen=True)
class SummaryRow:
    """One built variant in the closing table: its timings, its files, and how much ccache gave."""

    name: str
    configure_s: float
    build_s: float
    files: Sequence[tuple[str, int, str]]  # (name, bytes, sha256)
    ccache: Mapping[str, int] = field(default_factory=dict)
    did_nothing: bool = False


def summary(rows: Sequence[SummaryRow], seconds: float, remote: str = "") -> None:
    """The table every build ends with, whatever it built; ``remote`` is the masked ccache remote the compiles
    used ("" for none), whose failures during the build end it with one warning."""
    print(f"\n{'variant':<14} {'configure':>9} {'build':>9}  {'file':<30} {'bytes':>12}  sha256", file=sys.stderr)
    for r in rows:
        for name, size, sha in r.files:
            print(f"{r.name:<14} {fmt_duration(r.configure_s):>9} {fmt_duration(r.build_s):>9}  {name:<30} "
                  f"{size:>12,}  {sha[:16]}", file=sys.stderr)
        if r.ccache:
            print(f"{'':<14} {Usage.of(r.ccache).line(remote=bool(remote))}", file=sys.stderr)
    if remote:
        print(f"ccache remote: {remote}", file=sys.stderr)
        trouble = remote_failure_warning(remote, {r.name: Usage.of(r.ccache) for r in rows})
        if trouble:
            warn(trouble)
    if rows and all(r.did_nothing for r in rows):
        say("nothing to do: every variant was up to date")
    print(f"total {fmt_duration(seconds)}", file=sys.stderr)
