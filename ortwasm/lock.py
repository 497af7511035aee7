"""One lock per ``ORTWASM_HOME`` stage directory: the sources dir (fetch), each build dir, each out dir, a
package's ``--dest``.

Why: two runs on one home overwrote each other's half-filled dirs, apt lists and stamps, and one of them could
exit 0 having recorded an empty dependency as filled.  Now the second run waits, saying once who holds the dir
and since when, or with ``--no-wait`` exits naming the holder (``LockBusy``).

How: ``fcntl.flock`` on ``<dir>/.ortwasm.lock``, and beside it ``<dir>/.ortwasm.lock.json``, a record of the
holder (pid, host, command, since) that a waiting run can read without touching the lock.  The kernel drops a
flock when its process dies, however it dies, so a lock is never stuck; a record left by a killed process is
"stale": the next run says whose it was and takes over.  Both files are removed on release (``finally``, so on
errors, Ctrl-C and SIGTERM too, which ``cli`` turns into KeyboardInterrupt); after taking the flock a run checks
that the file it locked is still the one at the path, since a releasing run unlinks it.

A run that already holds a dir's lock may take it again (a build whose ``--out`` is its ``--build-dir``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import log
from .errors import LockBusy

LOCK_NAME = ".ortwasm.lock"
RECORD_NAME = LOCK_NAME + ".json"

_held: dict[Path, int] = {}  # dirs this process holds -> depth (re-entry)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, from its record."""

    pid: int
    host: str
    command: str
    since: float  # time.time() when it took the lock

    def describe(self, now: float | None = None) -> str:
        ago = log.fmt_duration((now or time.time()) - self.since)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"`{self.command}` (pid {self.pid} on {self.host}) since {when} ({ago} ago)"

    def alive(self) -> bool | None:
        """Whether the pid runs (None on another host: it cannot be asked)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def lock_path(directory: Path) -> Path:
    return directory / LOCK_NAME


def read_holder(directory: Path) -> Holder | None:
    """The record beside the lock, or None (no record, or one this version cannot read)."""
    try:
        data = json.loads((directory / RECORD_NAME).read_text())
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m", "-c"):
        argv[0] = "ortwasm"
    return " ".join(argv)


def _write_record(directory: Path) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(), "since": time.time()}
    fd, tmp = tempfile.mkstemp(prefix=f"{RECORD_NAME}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.write("\n")
        os.replace(tmp, directory / RECORD_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _busy(directory: Path, what: str, holder: Holder | None) -> LockBusy:
    who = holder.describe() if holder else "another run (it has not written its record yet)"
    return LockBusy(f"{what} {directory} is in use by {who}",
                    "wait for it to finish (rerun without --no-wait to wait), or stop that run"
                    + (f" (kill {holder.pid})" if holder else ""))


def _take_over_note(directory: Path, what: str, holder: Holder) -> None:
    alive = holder.alive()
    state = ("which is no longer running" if alive is False
             else "which no longer holds it" if alive else "on another host, which no longer holds it")
    log.say(f"{what} {directory}: taking over the stale lock of {holder.describe()}, {state}")


def _acquire(directory: Path, what: str, wait: bool) -> tuple[int, bool]:
    """The locked fd, and whether this run created ``directory`` (then it goes again on release when empty)."""
    path = lock_path(directory)
    told = created = False
    while True:
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            created = True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            continue  # a releasing run removed the dir it had created between our mkdir and open
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(directory)
                if not wait:
                    raise _busy(directory, what, holder) from None
                if not told:
                    who = holder.describe() if holder else "another run"
                    log.say(f"waiting for {what} {directory}: held by {who}; Ctrl-C stops, --no-wait exits instead")
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd, created
        os.close(fd)  # the holder unlinked the file we waited on: lock the one at the path now


def _release(directory: Path, fd: int, created: bool) -> None:
    try:
        for name in (RECORD_NAME, LOCK_NAME):  # unlinked while still held: a waiter re-checks the path
            with contextlib.suppress(OSError):
                (directory / name).unlink()
        if created:  # a run that was refused leaves no empty dir behind
            with contextlib.suppress(OSError):
                directory.rmdir()
    finally:
        os.close(fd)


@contextlib.contextmanager
def held(directory: Path, what: str = "directory", *, wait: bool = True) -> Iterator[None]:
    """Hold ``directory``'s lock for the block (created if missing); wait for it, or raise LockBusy with
    ``wait=False``.  ``what`` names the dir in messages ("sources dir", "build dir", ...)."""
    key = directory.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd, created = _acquire(directory, what, wait)
    try:
        stale = read_holder(directory)
        if stale is not None and stale.pid != os.getpid():
            _take_over_note(directory, what, stale)
        _write_record(directory)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        _release(directory, fd, created)
