"""A shared ccache on a real Redis, seen the way a second machine sees it (issue #27): cold, warm-remote, ON/OFF.

One redis-server (Debian's package) is started here on 127.0.0.1, on a free port, without persistence, in the
run's temporary root, and stopped at the end.  Then three builds of one ORT version, each in a fresh build dir,
out dir and local ccache dir (``ORTWASM_CCACHE_DIR``) under that root, all with the remote
(``ORTWASM_CCACHE_REMOTE``):

1. ``cold``: the variant (default wasm32-memfs) with an empty local cache A and the empty remote;
2. ``warm-remote``: the same variant with an empty local cache B, as a new CI runner or a colleague would;
3. ``other-memfs``: the other MEMFS setting (wasm32) with an empty local cache C: what ON and OFF share;
4. ``other-home``: the variant again with an empty local cache D, under a second ``ORTWASM_HOME`` at another path
   (``<root>/home2``, as long as the default home plus 30 characters): a second machine whose home is elsewhere.
   Its sources, chroot and Node are the first home's, bind-mounted at the new path in a private mount namespace
   (root only; otherwise skipped, and the result says so); its emscripten config and cache are a copy, because
   the config names the home.

Recorded per build: its wall time, the manifest's timings and ccache counters (local and remote hit rates), the
bytes Redis holds after it, the artifacts' sha256, and how often its home's path occurs in them; then whether
build 2's artifacts are build 1's (the same ORTWASM_HOME) and build 4's too (another one), and issue #27's goals:
build 2 <= 25 % of build 1's wall time, >= 98 % remote hits.  Nothing under ORTWASM_HOME but the root is written
(the sources and the toolchain are only read).  About 75 minutes on 2 cores, most of it build 1.

    python -m bench.remote_cache --ort-version 1.21.0
    python -m bench.remote_cache --ort-version 1.21.0 --variant wasm32-memfs --jobs 2 --root DIR --keep

Writes its result, remote-cache-<version>.json, into bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import GIB, REPO
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import ccache, paths
from ortwasm.artifacts.manifest import Manifest
from ortwasm.recipe import default_version, require_recipe
from ortwasm.variants import Variant, load_table

BENCH = "remote-cache"
GOAL_WALL_RATIO = 0.25  # issue #27: the warm-remote build takes at most a quarter of the cold one
GOAL_REMOTE_HIT_RATE = 0.98
MIN_FREE_GIB = 12  # four ORT build trees (about 1 GiB each), four local caches, a copied emscripten cache (1.6 GiB)
REDIS_SERVER = "redis-server"
REDIS_HINT = "`apt-get install redis-server` (bash ci/provision-toolchain.sh installs it)"


class LocalRedis:
    """A throwaway redis-server on 127.0.0.1: a free port, no RDB or AOF, its files in ``workdir``.

    Why here: this benchmark and tests/test_ccache_remote.py need the same real server, started and stopped by
    them (by its pid, never by name), never the machine's own."""

    def __init__(self, workdir: Path, password: str = "", unix_socket: bool = False) -> None:
        self.workdir = workdir
        self.password = password
        self.socket = workdir / "redis.sock" if unix_socket else None
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which(REDIS_SERVER) is not None

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
            return port

    def start(self, timeout_s: float = 10) -> LocalRedis:
        exe = shutil.which(REDIS_SERVER)
        if exe is None:
            raise FileNotFoundError(f"no {REDIS_SERVER} on PATH: {REDIS_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a free port can be taken between our probe and the server's bind: try another
            self.port = self._free_port()
            argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.workdir), "--daemonize", "no", "--logfile", str(self.workdir / "redis.log")]
            if self.password:
                argv += ["--requirepass", self.password]
            if self.socket is not None:
                argv += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and self.proc.poll() is None:
                if ccache.probe(self.remote(), timeout=0.5).ok:
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"{REDIS_SERVER} did not start; see {self.workdir / 'redis.log'}")

    @property
    def url(self) -> str:
        auth = f"default:{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        if self.socket is None:
            raise ValueError("started without unix_socket=True")
        return (f"redis+unix://default:{self.password}@localhost{self.socket}" if self.password
                else f"redis+unix:{self.socket}")

    def remote(self) -> ccache.Remote:
        remote = ccache.parse(self.url)
        assert remote is not None
        return remote

    def call(self, *command: str) -> bytes:
        (reply,) = ccache.redis_call(self.remote(), command)
        return reply

    def stored(self) -> dict[str, int]:
        """Keys, the bytes of their values (what ccache stored), and the server's own used_memory."""
        info = dict(line.split(":", 1) for line in self.call("INFO", "memory").decode().splitlines() if ":" in line)
        values = self.call("EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do "
                                   "n = n + redis.call('STRLEN', k) end return n", "0")
        return {"keys": int(self.call("DBSIZE").lstrip(b":")), "value_bytes": int(values.lstrip(b":")),
                "used_memory": int(info["used_memory"])}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server (SIGKILL: it dies mid-build; SIGSTOP: it hangs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def other_memfs(name: str, table: dict[str, Variant] | None = None) -> str:
    """The variant that differs from ``name`` only in MEMFS (wasm32-memfs -> wasm32): what ON and OFF share."""
    table = table if table is not None else load_table()
    v = table[name]
    same = [o.name for o in table.values() if o.memfs != v.memfs
            and (o.arch, o.simd, o.threads, o.jsep) == (v.arch, v.simd, v.threads, v.jsep)]
    if not same:
        raise SystemExit(f"bench: no variant differs from {name} only in MEMFS")
    return same[0]


def build_argv(version: str, variant: str, run_dir: Path, jobs: int) -> list[str]:
    """One bench build: its own build and out dir, no JS (npm is not what is measured), never waiting on a lock."""
    return [sys.executable, str(REPO / "build.py"), "--ort-version", version, "--variants", variant,
            "--build-dir", str(run_dir / "build"), "--out", str(run_dir / "out"), "--skip-js", "--jobs", str(jobs),
            "--no-wait"]


# What a second home borrows from the first, read-only, at its own path (bind mounts): everything a build reads
# but the emscripten state, whose config names the home and is rewritten by the build.
SHARED_IN_HOME = ("sources", "trixie", "sid", "node")
COPIED_IN_HOME = ("emscripten", "emscripten-sid", "toolchain-kind")


def second_home(home: Path, at: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Lay out a second ORTWASM_HOME at ``at``: copy what the build rewrites; return the bind mounts (first home's
    dir, its place in the second) and the wrapper that makes them in a private mount namespace around a command.

    Why bind mounts and not symlinks: the build resolves its dirs (the chroot binds and the dependency paths are
    ``.resolve()``d), which would turn a symlink back into the first home's path and prove nothing."""
    at.mkdir(parents=True)
    for name in COPIED_IN_HOME:
        src = home / name
        if src.is_dir():
            shutil.copytree(src, at / name, symlinks=True)
        elif src.is_file():
            shutil.copy2(src, at / name)
    binds = [(home / n, at / n) for n in SHARED_IN_HOME if (home / n).is_dir()]
    script = "set -e\n" + "".join(f'mkdir -p "{dst}"\nmount --bind "{src}" "{dst}"\n' for src, dst in binds)
    return binds, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script + 'exec "$@"', "ortwasm-bench"]


def build_env(run_dir: Path, remote_url: str) -> dict[str, str]:
    """The environment of one bench build: its own empty local cache, the shared remote."""
    return {**os.environ, "ORTWASM_CCACHE_DIR": str(run_dir / "ccache"), ccache.ENV: remote_url}


def _rate(hits: float, total: float) -> float | None:
    return round(hits / total, 4) if total else None


def figures(timings: dict[str, float]) -> dict[str, Any]:
    """A build's ccache counters from its manifest's timings, and the hit rates they give (None: nothing asked)."""
    c = {k: int(v) for k, v in timings.items() if k.startswith("ccache_")}
    def rate(kind: str) -> float | None:
        hits = c.get(f"ccache_{kind}hits", 0)
        return _rate(hits, hits + c.get(f"ccache_{kind}misses", 0))

    return {"ccache": c, "hit_rate": rate(""), "local_hit_rate": rate("local_"), "remote_hit_rate": rate("remote_"),
            "remote_failures": c.get("ccache_remote_errors", 0) + c.get("ccache_remote_timeouts", 0)}


def goals(cold: dict[str, Any], warm: dict[str, Any], other_home: dict[str, Any] | None = None) -> dict[str, Any]:
    """Issue #27's goals, judged on the same run's cold and warm-remote builds (and the second home's, if built)."""
    ratio = round(warm["wall_s"] / cold["wall_s"], 4) if cold["wall_s"] else None
    rate = warm["remote_hit_rate"]
    judged = {"warm_over_cold_wall": ratio,
              "warm_wall_at_most_25pct": ratio is not None and ratio <= GOAL_WALL_RATIO,
              "warm_remote_hit_rate": rate,
              "remote_hits_at_least_98pct": rate is not None and rate >= GOAL_REMOTE_HIT_RATE,
              "artifacts_identical": cold["files"] == warm["files"],
              "same_patch_set": cold.get("patch_set") == warm.get("patch_set")}
    if other_home is not None:
        judged.update({"other_home_remote_hit_rate": other_home["remote_hit_rate"],
                       "artifacts_identical_across_homes": cold["files"] == other_home["files"],
                       "same_patch_set_across_homes": cold.get("patch_set") == other_home.get("patch_set")})
    return judged


def changed_patch_sets(runs: list[dict[str, Any]]) -> str | None:
    """Why the run's identity checks prove nothing, if they do not: each build prepares the tree from the checkout
    it runs in, so an edit under patches/ or runtime/ during the run gives the later builds other sources."""
    sets = {r["name"]: r.get("patch_set") for r in runs}
    if len(set(sets.values())) <= 1:
        return None
    return (f"the patch set changed during the run ({', '.join(f'{k}: {v}' for k, v in sets.items())}): an edit "
            "under patches/ or runtime/ reached the later builds, so their sha256 cannot be compared; run the "
            "bench from a checkout nobody edits (git worktree add)")


class BuildFailed(Exception):
    """A bench build that failed: the runs before it are still written, and the root is kept for its log."""

    def __init__(self, name: str, variant: str, code: int, log: Path) -> None:
        super().__init__(f"bench: {name} failed (exit {code}); its log: {log}")
        self.record = {"name": name, "variant": variant, "exit": code, "log": str(log)}


def mounted_under(root: Path) -> list[str]:
    """Mount points under ``root`` in this process's view: never delete a tree that still shows another one."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    points = (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return [m for m in points if m.startswith(prefix)]


def home_strings(out: Path, home: Path) -> int:
    """How often the home's path occurs in a pair: each occurrence ties the sha256 to where the home is."""
    needle = str(home).encode()
    return sum(p.read_bytes().count(needle) for p in out.iterdir() if p.suffix in (".wasm", ".mjs"))


def run_build(name: str, version: str, variant: str, root: Path, redis: LocalRedis, jobs: int,
              home: Path | None = None) -> dict[str, Any]:
    """One build in fresh dirs under ``root``; with ``home``, under that second ORTWASM_HOME instead, at the same
    place relative to it as ``root`` has to the first home (ccache's base_dir makes paths relative to the build)."""
    first = paths.ortwasm_home().resolve()
    wrapper: list[str] = []
    env_home: dict[str, str] = {}
    if home is not None:
        _, wrapper = second_home(first, home)
        env_home = {"ORTWASM_HOME": str(home)}
        run_dir = home / root.resolve().relative_to(first) / name
    else:
        run_dir = root / name
    run_dir.mkdir(parents=True)
    argv = wrapper + build_argv(version, variant, run_dir, jobs)
    print(f"bench: {name}: {variant} in {run_dir} (local cache empty, remote {redis.url})", flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, env={**build_env(run_dir, redis.url), **env_home}, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise BuildFailed(name, variant, proc.returncode, run_dir / "build" / variant / "build.log")
    m = Manifest.read(run_dir / "out" / variant / "manifest.json")
    timings = dict(m.timings or {})
    return {"name": name, "variant": variant, "wall_s": round(wall, 1), "configure_s": timings.get("configure_s"),
            "build_s": timings.get("build_s"), "patch_set": m.ort.patchset if m.ort else None, **figures(timings),
            "files": {f.name: f.sha256 for f in m.files or ()}, "redis_after": redis.stored(),
            "home": str(home or first), "home_path_strings": home_strings(run_dir / "out" / variant, home or first),
            "local_cache_bytes": sum(p.stat().st_size for p in (run_dir / "ccache").rglob("*") if p.is_file())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.remote_cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-version", default=None, help="a fetched version (default: the default version)")
    p.add_argument("--variant", default="wasm32-memfs", help="built cold, then warm from the remote")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--root", type=Path, default=None,
                   help="where the three builds, their caches and the server live (default: a new temporary dir "
                        "under $ORTWASM_HOME, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the root (its build dirs and logs) at the end")
    add_results_dir(p)
    a = p.parse_args(argv)
    version = a.ort_version or default_version()
    recipe = require_recipe(version)
    if not recipe.source_dir.is_dir():
        print(f"bench: no fetched ONNX Runtime {version}: bash ci/fetch-sources.sh --version {version}",
              file=sys.stderr)
        return 2
    if not LocalRedis.available():
        print(f"bench: no {REDIS_SERVER}: {REDIS_HINT}", file=sys.stderr)
        return 2
    other = other_memfs(a.variant)
    paths.ortwasm_home().mkdir(parents=True, exist_ok=True)
    root = a.root or Path(tempfile.mkdtemp(prefix="bench-remote-cache-", dir=paths.ortwasm_home()))
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()) and a.root is not None:
        print(f"bench: {root} is not empty: each build needs fresh dirs", file=sys.stderr)
        return 2
    skip_home = ("not root: the second home's bind mounts need CAP_SYS_ADMIN" if os.geteuid() != 0 else
                 f"--root {root} is outside ORTWASM_HOME" if not root.resolve().is_relative_to(
                     paths.ortwasm_home().resolve()) else None)
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_GIB * GIB:
        print(f"bench: {free / GIB:.0f} GiB free under {root}; the four builds need about {MIN_FREE_GIB}",
              file=sys.stderr)
        return 2
    plan: list[tuple[str, str, Path | None]] = [("cold", a.variant, None), ("warm-remote", a.variant, None),
                                                ("other-memfs", other, None)]
    if skip_home is None:
        plan.append(("other-home", a.variant, root / "home2"))
    runs: list[dict[str, Any]] = []
    failed: dict[str, Any] | None = None
    try:
        with LocalRedis(root / "redis") as redis:
            empty = redis.stored()
            try:
                for name, variant, home in plan:
                    runs.append(run_build(name, version, variant, root, redis, a.jobs, home=home))
            except BuildFailed as e:
                print(e, file=sys.stderr)
                failed = e.record
    finally:
        if a.keep or failed is not None or mounted_under(root):
            print(f"bench: kept {root} (its build dirs and logs)", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'build':<12} {'variant':<14} {'wall s':>8} {'local hits':>11} {'remote hits':>12} {'redis MB':>9}")
    for r in runs:
        print(f"{r['name']:<12} {r['variant']:<14} {r['wall_s']:>8} {r['local_hit_rate']!s:>11} "
              f"{r['remote_hit_rate']!s:>12} {r['redis_after']['value_bytes'] / 1e6:>9.1f}")
    by_name = {r["name"]: r for r in runs}
    judged = (goals(by_name["cold"], by_name["warm-remote"], by_name.get("other-home"))
              if "cold" in by_name and "warm-remote" in by_name else {})
    print(json.dumps(judged, indent=2))
    void = changed_patch_sets(runs)
    if void:
        print(f"bench: {void}", file=sys.stderr)
    write_results(BENCH, version, {
        "what": "one variant cold (empty local cache A, empty Redis remote), again in a fresh build dir with an empty "
                "local cache B and the same remote, then the other MEMFS setting with an empty local cache C, then "
                "the variant under a second ORTWASM_HOME at another path with an empty local cache D",
        "remote": "redis-server on 127.0.0.1 (Debian's package; no persistence), started by the bench",
        "redis_empty": empty, "runs": runs, "goals": judged, "identity_void": void, "other_home_skipped": skip_home,
        "failed": failed,
        "timeouts_ms": {"connect": ccache.CONNECT_TIMEOUT_MS, "operation": ccache.OPERATION_TIMEOUT_MS},
        "machine": machine_info(jobs=a.jobs)}, results_dir=a.results_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
