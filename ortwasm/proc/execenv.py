"""Where a command runs: on the host, or inside the toolchain's chroot with the build's directories bound in.

Why a type of its own: the runner, the JS stage and the toolchain probe all run programs that may live in the
chroot (Debian's emscripten on a bookworm host), and each must translate paths the same way.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExecEnv:
    """Where commands run: the host, or a chroot with the given paths bound in."""

    root: Path | None = None
    binds: tuple[Path, ...] = ()

    @property
    def is_chroot(self) -> bool:
        return self.root is not None

    def with_binds(self, *extra: Path) -> ExecEnv:
        merged = tuple(dict.fromkeys([*self.binds, *(p.resolve() for p in extra)]))
        return ExecEnv(self.root, merged)

    def host_path(self, inner: str) -> Path:
        """Translate a path seen inside the environment to the host's view."""
        if self.root is None or not inner.startswith("/"):
            return Path(inner)
        for bind in self.binds:
            if Path(inner).is_relative_to(bind):
                return Path(inner)
        return self.root / inner.lstrip("/")

    def wrap(self, argv: list[str], cwd: Path | None, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Return (argv, env) for subprocess so that argv runs inside this environment.

        In the chroot, the command gets exactly ``env`` over a fixed base, never the host's environment.  That
        environment is the process's own, not words of a command line: a value such as a ccache remote's URL
        with its password would otherwise sit in ``/proc/<pid>/cmdline``, which every user can read."""
        if self.root is None:
            merged = {**os.environ, **env}
            return argv, merged
        root = str(self.root)
        lines = [
            "set -e",
            f"mount -t proc proc {shlex.quote(root)}/proc",
            f"mount --rbind /dev {shlex.quote(root)}/dev",
        ]
        for bind in self.binds:
            target = f"{root}{bind}"
            lines.append(f"mkdir -p {shlex.quote(target)}")
            lines.append(f"mount --bind {shlex.quote(str(bind))} {shlex.quote(target)}")
        inner_env = {
            # the sbin dirs for unshare, mount and chroot on the host; harmless inside
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "TERM": os.environ.get("TERM", "dumb"),
            **env,
        }
        chdir = f"-C {shlex.quote(str(cwd))}" if cwd else ""
        lines.append(f'exec chroot {shlex.quote(root)} /usr/bin/env {chdir} "$@"')
        script = "\n".join(lines)
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "ortwasm-chroot", *argv]
        return wrapped, inner_env
