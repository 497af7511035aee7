"""The one way every emcmake/cmake/ninja/node call runs.

It echoes the quoted command, tees all output to the variant's log, feeds
Ninja's `[N/M]` lines to the progress display, and turns a failure into a
BuildError named after the stage, quoting the first compiler error and the
log path.  Ctrl-C stops the child (same process group) and becomes an
Interrupted error that says how to resume.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, Interrupted
from ..log import command as echo_command
from .execenv import ExecEnv
from .progress import Progress, link_estimate, link_phase, running_tools

_INTERRUPTED_LINE = re.compile(r"ninja: build stopped: interrupted by user")
_ERROR_LINE = re.compile(r"(error:|Error:|CMake Error|FAILED:|ninja: error|em\+\+: error|emcc: error)")


def first_error(lines: list[str]) -> str:
    """The first line a human wants to see; compiler errors before ninja's own FAILED line."""
    for pattern in (re.compile(r"\berror:"), re.compile(r"CMake Error"), _ERROR_LINE):
        for line in lines:
            if pattern.search(line):
                return line.strip()
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else "(no output)"


@dataclass
class Runner:
    exec_env: ExecEnv
    env: dict[str, str]
    log_path: Path
    label: str
    echo: bool = True
    quiet_s: float = 5.0  # silence after which the running link tool is looked up

    def __post_init__(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._tail: list[str] = []

    def last_output_has(self, text: str) -> bool:
        """Whether the last command's final lines mention text (e.g. Ninja's "no work to do")."""
        return any(text in line for line in self._tail)

    def run(self, argv: list[str], stage: str, cwd: Path | None = None, progress: bool = False,
            link_output: str | None = None, link_peers: tuple[Path, ...] = ()) -> float:
        """Run argv; return seconds taken.  Raises BuildError on failure.

        With `link_output`, the named Ninja output is a long silent link: its duration in the previous run's
        .ninja_log (in cwd; else in the first of `link_peers`, build dirs of the same kind of link, that has one)
        feeds the ETA, and while output is silent the running link tool is shown.
        """
        quoted = " ".join(shlex.quote(a) for a in argv)
        if self.echo:
            echo_command(quoted)
        full, env = self.exec_env.wrap(argv, cwd, self.env)
        bar = Progress(self.label) if progress else None
        if bar is not None and link_output and cwd is not None:
            bar.link_estimate_s = link_estimate((cwd, *link_peers), link_output)
        lock = threading.Lock()
        last_line = [time.monotonic()]
        stop = threading.Event()
        started = time.monotonic()
        kept: list[str] = []
        self._tail = []
        with self.log_path.open("a", encoding="utf-8", errors="replace") as log:
            log.write(f"\n### {stage} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n+ {quoted}\n")
            log.flush()
            try:
                proc = subprocess.Popen(full, env=env, cwd=cwd if not self.exec_env.is_chroot else None,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        errors="replace", bufsize=1)
            except FileNotFoundError as exc:
                raise BuildError(f"{stage} of {self.label} could not start: {exc}",
                                 "check the toolchain with `ortwasm doctor`") from None
            assert proc.stdout is not None
            if bar is not None:
                threading.Thread(target=self._watch_silence, args=(proc.pid, bar, lock, last_line, stop, self.quiet_s),
                                 daemon=True).start()
            try:
                for line in proc.stdout:
                    log.write(line)
                    self._tail = [*self._tail[-19:], line]
                    last_line[0] = time.monotonic()
                    if bar is not None:
                        with lock:
                            bar.feed(line)
                    if _ERROR_LINE.search(line) and len(kept) < 200:
                        kept.append(line)
                rc = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.write("\n### interrupted\n")
                raise Interrupted(f"{stage} of {self.label} interrupted",
                                  "rerun the same command: it continues from where it stopped") from None
            finally:
                stop.set()
                if bar is not None:
                    with lock:
                        bar.finish()
            seconds = time.monotonic() - started
            log.write(f"### {stage} exit {rc} after {seconds:.1f}s\n")
        if rc == -signal.SIGINT or (rc != 0 and any(_INTERRUPTED_LINE.search(t) for t in self._tail[-3:])):
            # Ctrl-C reached the child but not us (our SIGINT ignored, as under `nohup ... &`), or the child alone
            # was interrupted: still an interruption, not a failure, and the rerun continues.
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write("### interrupted\n")
            raise Interrupted(f"{stage} of {self.label} interrupted",
                              "rerun the same command: it continues from where it stopped")
        if rc != 0:
            raise BuildError(f"{stage} of {self.label} failed: {first_error(kept)}",
                             f"full log: {self.log_path}")
        return seconds

    @staticmethod
    def _watch_silence(pid: int, bar: Progress, lock: threading.Lock, last_line: list[float],
                       stop: threading.Event, quiet_s: float, every_s: float = 1.0) -> None:
        """While the child prints nothing, name the link tool it runs (read from /proc, not guessed)."""
        while not stop.wait(every_s):
            if time.monotonic() - last_line[0] < quiet_s:
                continue
            try:
                phase = link_phase(running_tools(pid))
            except OSError:
                continue
            with lock:
                bar.phase(phase)

    def capture(self, argv: list[str], cwd: Path | None = None) -> str:
        full, env = self.exec_env.wrap(argv, cwd, self.env)
        proc = subprocess.run(full, env=env, capture_output=True, text=True, check=False)
        return proc.stdout if proc.returncode == 0 else ""
