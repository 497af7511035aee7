"""Tiny git repositories for the tests of what ortwasm exports from one (ORT, its dependencies, Dawn)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# No user or system config: the commits and their hashes must not depend on the machine running the tests.
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
AFTER_THE_PIN = {"AFTER_THE_PIN": "not part of the pin\n"}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return proc.stdout.strip()


def make_repo(path: Path, files: dict[str, str], tag: str = "", later: dict[str, str] | None = None) -> str:
    """A checkout at ``path`` with one commit of ``files`` (tagged), then one more commit writing ``later`` (a file
    of its own by default) that an export of the pin must not see; returns the pinned commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "pin")
    commit = git(path, "rev-parse", "HEAD")
    if tag:
        git(path, "tag", tag)
    for rel, text in (AFTER_THE_PIN if later is None else later).items():
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "later")
    return commit
