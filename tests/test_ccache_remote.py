"""ccache's remote storage (issue #27): the URL read once, masked everywhere, probed once; real compiles through a
real Redis, as a second machine would see it.

Fast tier (no server, no toolchain): the URL forms ccache reads and the ones we refuse, masking, the flag and
ORTWASM_CCACHE_REMOTE, an unreachable remote (one warning, left out of the build's environment), the summary's
one warning, the HTTP probe against a local http.server, the doctor's line and the benchmark's pure parts.

With Debian's redis-server (started here on 127.0.0.1, a free port, no persistence, a temp dir; stopped by a
finalizer, killed if a test fails): the probe's AUTH/SELECT/PING.  With the trixie chroot too (integration): N small
C and C++ files compiled by emcc through ccache with the very runner and environment a build uses
(``pipeline.variant_runner``, ``pipeline.build_env``), counted as the pipeline counts (``pipeline._ccache_counts``)
and summarised as it summarises (``log.summary``): local cache A + remote, then an empty local cache B + the same
remote (all remote hits, the same object bytes), a server killed mid-build and one hung mid-build (the build
finishes, one warning), and a redis+unix socket reached from inside the chroot.
"""

from __future__ import annotations

import http.server
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest

from bench import remote_cache as bench
from bench.remote_cache import REDIS_HINT, LocalRedis
from ortwasm import ccache, cli, doctor, log, paths, pipeline
from ortwasm.errors import UsageError
from ortwasm.options import BuildOptions
from ortwasm.proc.execenv import ExecEnv
from ortwasm.proc.runner import Runner
from ortwasm.toolchain.emscripten import Toolchain, find_toolchain
from tests.harness.trees import minimal_ort_tree

SECRET = "s3cret-" + secrets.token_hex(4)
needs_redis = pytest.mark.skipif(not LocalRedis.available(), reason=f"!!! no redis-server: {REDIS_HINT}")


def remote(text: str) -> ccache.Remote:
    r = ccache.parse(text)
    assert r is not None
    return r


def closed_port() -> int:
    """A port nothing listens on (bound, then released): a connect is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ortwasm: warning:")]


# --- the URL ----------------------------------------------------------------------------------------------------

TIMEOUTS = f"|connect-timeout={ccache.CONNECT_TIMEOUT_MS}|operation-timeout={ccache.OPERATION_TIMEOUT_MS}"


@pytest.mark.parametrize(("given", "shown", "to_ccache"), [
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379" + TIMEOUTS, "redis://127.0.0.1:6379" + TIMEOUTS),
    # ccache reads `:PASSWORD@` as no password (measured with 4.7.5, 4.11.2, 4.14.2): rewritten to `PASSWORD@`
    (f"redis://:{SECRET}@cache:6380/2", "redis://****@cache:6380/2" + TIMEOUTS,
     f"redis://{SECRET}@cache:6380/2" + TIMEOUTS),
    (f"redis://{SECRET}@cache", "redis://****@cache" + TIMEOUTS, f"redis://{SECRET}@cache" + TIMEOUTS),
    (f"redis://ci:{SECRET}@cache|read-only", "redis://ci:****@cache|read-only" + TIMEOUTS,
     f"redis://ci:{SECRET}@cache|read-only" + TIMEOUTS),
    ("redis+unix:///run/redis/redis.sock?db=1", "redis+unix:/run/redis/redis.sock?db=1" + TIMEOUTS,
     "redis+unix:/run/redis/redis.sock?db=1" + TIMEOUTS),
    (f"redis+unix://:{SECRET}@localhost/run/redis/redis.sock", "redis+unix://****@localhost/run/redis/redis.sock"
     + TIMEOUTS, f"redis+unix://{SECRET}@localhost/run/redis/redis.sock" + TIMEOUTS),
    (f"http://ci:{SECRET}@cache:8080/ccache|layout=bazel|bearer-token={SECRET}|connect-timeout=200",
     f"http://ci:****@cache:8080/ccache|layout=bazel|bearer-token=****|connect-timeout=200"
     f"|operation-timeout={ccache.OPERATION_TIMEOUT_MS}",
     f"http://ci:{SECRET}@cache:8080/ccache|layout=bazel|bearer-token={SECRET}|connect-timeout=200"
     f"|operation-timeout={ccache.OPERATION_TIMEOUT_MS}"),
    ("http://[::1]:8080/", "http://[::1]:8080/" + TIMEOUTS, "http://[::1]:8080/" + TIMEOUTS),
])
def test_forms_ccache_reads(given: str, shown: str, to_ccache: str) -> None:
    r = remote(given)
    assert r.masked == str(r) == shown and SECRET not in repr(r)
    assert r.env() == {"CCACHE_REMOTE_STORAGE": to_ccache}


@pytest.mark.parametrize(("given", "says"), [
    (f"https://ci:{SECRET}@cache/ccache", "https:// (TLS) is not supported"),
    (f"rediss://{SECRET}@cache", "rediss:// (TLS) is not supported"),
    ("file:///srv/ccache", "scheme file: is not one ortwasm passes"),
    (SECRET, "not a URL"),
    (f"redis:/:{SECRET}@cache", "must be followed by //HOST"),
    ("redis://", "no host"),
    (f"redis://ci:{SECRET}@cache:port", "the port must be a number from 1 to 65535, not 'port'"),
    ("redis://cache:70000", "from 1 to 65535"),
    (f"redis://{SECRET}@cache/name", "path is its database number"),
    (f"redis://{SECRET}@cache|readonly", "unknown redis attribute 'readonly' (did you mean 'read-only'?)"),
    ("redis://cache|bearer-token=x", "unknown redis attribute 'bearer-token'"),
    (f"redis://{SECRET}@cache|connect-timeout=1s", "connect-timeout must be milliseconds"),
    ("redis://cache|read-only=yes", "read-only must be true or false"),
    (f"http://cache|layout=deep|bearer-token={SECRET}", "layout must be one of bazel, flat, subdirs"),
    ("redis://cache|shards=a,b", "a shards attribute needs a '*'"),
    ("redis+unix:redis.sock", "the socket path must be absolute"),
    (f"redis+unix://{SECRET}@cachehost/run/r.sock", "names the host localhost"),
    (f"redis://{SECRET}@cache other", "a space in the URL"),
    ("http://::1/", "an IPv6 address must be in brackets"),
])
def test_refusals_name_the_fix_and_never_the_secret(given: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        ccache.parse(given, ccache.ENV)
    assert says in err.value.message and err.value.message.startswith(ccache.ENV)
    assert err.value.hint
    assert SECRET not in err.value.message + err.value.hint


def test_mask_any_text() -> None:
    assert ccache.mask(f"see redis://{SECRET}@h and http://u:{SECRET}@h/x|header=Authorization=Bearer {SECRET}") \
        == "see redis://****@h and http://u:****@h/x|header=**** " + SECRET  # a space ends a URL
    assert ccache.mask("redis://h:6379/0") == "redis://h:6379/0"


def test_empty_means_none_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ccache.ENV, raising=False)
    assert ccache.configured(None) is None
    monkeypatch.setenv(ccache.ENV, "")  # what a workflow without the secret sets
    assert ccache.configured(None) is None
    monkeypatch.setenv(ccache.ENV, "  ")
    assert ccache.configured(None) is None
    monkeypatch.setenv(ccache.ENV, "redis://env-host")
    assert remote("redis://env-host").masked == str(ccache.configured(None))
    assert str(ccache.configured("redis://flag-host")).startswith("redis://flag-host|")
    assert ccache.configured("") is None  # an empty flag turns the variable's remote off


def test_cli_refuses_a_bad_url_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ccache.ENV, raising=False)
    assert cli.main(["build", "--ccache-remote", f"https://ci:{SECRET}@cache/x"]) == UsageError.return_code
    err = capsys.readouterr().err
    assert "ortwasm: error: --ccache-remote 'https://ci:****@cache/x': https://" in err
    assert "hint:" in err and "Traceback" not in err and SECRET not in err
    monkeypatch.setenv(ccache.ENV, f"redis://{SECRET}@cache|readonly")
    assert cli.main(["build"]) == UsageError.return_code
    err = capsys.readouterr().err
    assert f"error: {ccache.ENV} 'redis://****@cache|readonly': unknown redis attribute" in err and SECRET not in err
    assert not (tmp_path / "home").exists()  # refused before anything was looked at or written


def test_the_flag_reaches_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = minimal_ort_tree(tmp_path / "ort")
    monkeypatch.setenv(ccache.ENV, "redis://env-host")
    base = ["build", "--ort-source", str(tree), "--build-dir", str(tmp_path / "b"), "--out", str(tmp_path / "o"),
            "--online-deps"]
    parser = cli.make_parser()
    opts = cli.build_options(parser.parse_args([*base, "--ccache-remote", f"redis://{SECRET}@flag-host"]))
    assert opts.ccache_remote is not None and opts.ccache_remote.host == "flag-host"
    assert SECRET not in repr(opts)  # a traceback or a debug print of the options shows no password
    assert cli.build_options(parser.parse_args(base)).ccache_remote == remote("redis://env-host")
    monkeypatch.setenv(ccache.ENV, "")
    assert cli.build_options(parser.parse_args(base)).ccache_remote is None


# --- a build's start: the probe, the environment ------------------------------------------------------------


def fake_chroot_toolchain(tmp_path: Path) -> Toolchain:
    """A toolchain whose chroot has a ccache (so build_env wraps compiles) and nothing that runs."""
    root = tmp_path / "chroot"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "ccache").write_text("")
    return Toolchain("chroot", "/usr/bin/emcc", "3.1.69", ExecEnv(root=root), {})


def options(tmp_path: Path, r: ccache.Remote | None, deps_dir: Path | None = None, **kw: object) -> BuildOptions:
    return BuildOptions(ort_source=tmp_path / "ort", build_dir=tmp_path / "build", out_dir=tmp_path / "out",
                        deps_dir=deps_dir, ccache_remote=r, **kw)  # type: ignore[arg-type]


def test_an_unreachable_remote_is_one_warning_and_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORTWASM_CCACHE_DIR", str(tmp_path / "ccache"))
    tc = fake_chroot_toolchain(tmp_path)
    r = remote(f"redis://ci:{SECRET}@127.0.0.1:{closed_port()}")
    opts = options(tmp_path, r)
    assert pipeline.build_env(tc, opts)["CCACHE_REMOTE_STORAGE"] == r.env()["CCACHE_REMOTE_STORAGE"]
    started = time.monotonic()
    used = pipeline.remote_for_build(opts, tc)
    assert time.monotonic() - started < ccache.PROBE_TIMEOUT_S
    (warning,) = warnings(capsys.readouterr().err)
    assert f"ccache remote redis://ci:****@127.0.0.1:{r.port}" in warning and "connection refused" in warning
    assert "continues on the local cache only" in warning and SECRET not in warning
    assert used.ccache_remote is None
    env = pipeline.build_env(tc, used)
    assert env["EM_COMPILER_WRAPPER"] == "/usr/bin/ccache" and "CCACHE_REMOTE_STORAGE" not in env
    assert pipeline.remote_for_build(options(tmp_path, r, use_ccache=False), tc).ccache_remote is None
    assert "not used (--no-ccache)" in capsys.readouterr().err


def test_base_dir_covers_the_dependencies_and_the_sysroot(tmp_path: Path) -> None:
    """Issue #27 item 4: the dependencies' and emscripten cache's paths must come out relative too, or the home's
    path sits in the wasm (about 50 ``__FILE__`` strings) and in every cache key."""
    home = tmp_path / "home"
    plain = fake_chroot_toolchain(tmp_path)
    tc = replace(plain, env={"EM_CACHE": str(home / "emscripten" / "cache")})
    opts = replace(options(tmp_path, None), build_dir=home / "build", deps_dir=home / "sources" / "deps-1.21.0")
    assert pipeline.ccache_base_dir(tc, opts) == home
    assert pipeline.build_env(tc, opts)["CCACHE_BASEDIR"] == str(home)
    assert pipeline.ccache_base_dir(plain, replace(opts, deps_dir=None)) == home / "build"
    # an emsdk's cache elsewhere stays absolute; the dependencies still come out relative
    emsdk = replace(tc, env={"EM_CACHE": "/nonexistent-emsdk/upstream/emscripten/cache"})
    assert pipeline.ccache_base_dir(emsdk, opts) == home
    # nothing in common but the root: the build dir alone, never "/"
    elsewhere = replace(opts, build_dir=Path("/nonexistent-ortwasm-build"))
    assert pipeline.ccache_base_dir(tc, elsewhere) == Path("/nonexistent-ortwasm-build")


def test_a_second_home_borrows_the_first_at_its_own_path(tmp_path: Path) -> None:
    first, second = tmp_path / "home", tmp_path / "runs" / "home2"
    for d in ("sources/deps-1.21.0", "trixie/usr", "node/bin", "emscripten/cache"):
        (first / d).mkdir(parents=True)
    (first / "emscripten" / "emscripten_config").write_text(f"CACHE = '{first}/emscripten/cache'\n")
    (first / "toolchain-kind").write_text("chroot\n")
    binds, wrapper = bench.second_home(first, second)
    assert binds == [(first / n, second / n) for n in ("sources", "trixie", "node")]
    assert (second / "emscripten" / "emscripten_config").read_text() == (first / "emscripten" / "emscripten_config"
                                                                          ).read_text()  # a copy: the build rewrites it
    assert (second / "toolchain-kind").read_text() == "chroot\n" and not (second / "sources").exists()
    assert wrapper[:4] == ["unshare", "--mount", "--propagation", "private"]
    assert f'mount --bind "{first / "sources"}" "{second / "sources"}"' in wrapper[6]
    assert wrapper[6].endswith('exec "$@"')


def test_chroot_binds_show_a_socket_or_refuse(tmp_path: Path) -> None:
    chroot = ExecEnv(root=tmp_path / "chroot", binds=(tmp_path / "bound",))
    assert ccache.chroot_binds(remote("redis+unix:/run/redis/redis.sock"), chroot) == (Path("/run/redis"),)
    assert ccache.chroot_binds(remote(f"redis+unix:{tmp_path}/bound/sub/r.sock"), chroot) == ()
    assert ccache.chroot_binds(remote("redis+unix:/run/redis/redis.sock"), ExecEnv()) == ()  # the host sees it
    assert ccache.chroot_binds(remote("redis://127.0.0.1"), chroot) == ()  # the chroot shares the network
    for where in ("/r.sock", "/usr/lib/redis/r.sock", "/etc/r.sock"):
        with pytest.raises(UsageError, match="cannot be bound into the toolchain's chroot") as err:
            ccache.chroot_binds(remote(f"redis+unix:{where}"), chroot)
        assert "redis://127.0.0.1:PORT" in err.value.hint


# --- counters and the summary -------------------------------------------------------------------------------

STATS = "\n".join(f"{k}\t{v}" for k, v in {
    "cache_size_kibibyte": 9, "direct_cache_hit": 7, "preprocessed_cache_hit": 1, "cache_miss": 2,
    "local_storage_hit": 3, "local_storage_miss": 7, "remote_storage_hit": 5, "remote_storage_miss": 2,
    "remote_storage_error": 4, "remote_storage_timeout": 1, "stats_updated_timestamp": 1700000000}.items())


def test_counters_the_summary_and_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    counts = ccache.parse_stats(STATS)
    assert set(counts) == set(ccache.COUNTERS)
    d = ccache.delta({"cache_miss": 1}, counts)
    u = ccache.Usage.of(d)
    assert (u.hits, u.misses, u.local_hits, u.remote_hits, u.remote_lookups, u.remote_failures) == (8, 1, 3, 5, 7, 5)
    assert u.timings(remote=False) == {"ccache_hits": 8.0, "ccache_misses": 1.0, "ccache_local_hits": 3.0,
                                       "ccache_local_misses": 7.0}
    assert u.timings(remote=True)["ccache_remote_timeouts"] == 1.0
    masked = remote(f"redis://{SECRET}@cache").masked
    rows = [log.SummaryRow("wasm32-memfs", 1, 2, [("a.wasm", 1, "0" * 64)], d),
            log.SummaryRow("wasm32", 1, 2, [("a.wasm", 1, "0" * 64)], d)]
    log.summary(rows, 3, remote=masked)
    err = capsys.readouterr().err
    assert "ccache: 8/9 hits (88.9%); local 3/10 (30.0%), remote 5/7 (71.4%), remote failed 4 errors + 1 timeouts" \
        in err
    (warning,) = warnings(err)  # one for the build, naming both variants
    assert f"ccache remote {masked} failed during the build (wasm32-memfs: 4 errors and 1 timeouts" in warning
    assert "wasm32: 4 errors" in warning and SECRET not in err
    log.summary([replace(rows[0], ccache={**d, "remote_storage_error": 0, "remote_storage_timeout": 0})], 3,
                remote=masked)
    assert warnings(capsys.readouterr().err) == []
    log.summary(rows, 3)  # no remote: today's line, no remote figures, no warning
    err = capsys.readouterr().err
    assert "ccache: 8/9 hits (88.9%)\n" in err and "remote" not in err


# --- the HTTP probe -----------------------------------------------------------------------------------------


@pytest.fixture
def http_cache() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A stand-in HTTP cache: 404 for everything (a cache's base path may be one), 401 under /locked."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(401 if self.path.startswith("/locked") else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_http_probe(http_cache: tuple[int, list[dict[str, str]]]) -> None:
    port, seen = http_cache
    answer = ccache.probe(remote(f"http://ci:{SECRET}@127.0.0.1:{port}/cache"))
    assert answer.ok and answer.detail.startswith("HTTP 404 in ")
    assert seen[-1]["Authorization"].startswith("Basic ")
    ccache.probe(remote(f"http://127.0.0.1:{port}/cache|bearer-token={SECRET}"))
    assert seen[-1]["Authorization"] == f"Bearer {SECRET}"
    locked = ccache.probe(remote(f"http://127.0.0.1:{port}/locked"))
    assert not locked.ok and locked.detail == "refused the credentials (HTTP 401)"
    assert ccache.probe(remote(f"http://127.0.0.1:{closed_port()}/")) == ccache.Answer(False, "connection refused")


# --- the doctor ---------------------------------------------------------------------------------------------


def test_doctor_line(monkeypatch: pytest.MonkeyPatch, http_cache: tuple[int, list[dict[str, str]]]) -> None:
    monkeypatch.delenv(ccache.ENV, raising=False)
    assert doctor.probe_ccache_remote(None) is None  # no remote: no line
    monkeypatch.setenv(ccache.ENV, f"redis://{SECRET}@127.0.0.1:{closed_port()}")
    down = doctor.probe_ccache_remote(None)
    assert down is not None and not down.ok and not down.needed
    assert "redis://****@127.0.0.1" in down.detail and "connection refused" in down.detail
    assert SECRET not in down.detail + down.hint
    monkeypatch.setenv(ccache.ENV, f"http://127.0.0.1:{http_cache[0]}/|read-only")
    up = doctor.probe_ccache_remote(None)
    assert up is not None and up.ok and "HTTP 404" in up.detail and up.detail.endswith(", read-only")
    monkeypatch.setenv(ccache.ENV, f"https://{SECRET}@cache")
    bad = doctor.probe_ccache_remote(None)
    assert bad is not None and not bad.ok and "https://" in bad.detail and SECRET not in bad.detail
    out = StringIO()
    doctor.render([doctor.Probe("ccache", True, "4.11.2"), down], out)
    text = out.getvalue()
    assert "\nWARN  ccache remote  redis://****@127.0.0.1" in text and "fix: start the server" in text
    assert text.rstrip().endswith("; ready to build (without: ccache remote)")


# --- the benchmark's pure parts -----------------------------------------------------------------------------


def test_bench_pure_parts(tmp_path: Path) -> None:
    assert bench.other_memfs("wasm32-memfs") == "wasm32" and bench.other_memfs("wasm64") == "wasm64-memfs"
    argv = bench.build_argv("1.21.0", "wasm32-memfs", tmp_path / "cold", 2)
    assert argv[argv.index("--variants") + 1] == "wasm32-memfs" and "--skip-js" in argv
    assert argv[argv.index("--build-dir") + 1] == str(tmp_path / "cold" / "build")
    assert not any("redis" in a for a in argv)  # the remote goes through the environment
    env = bench.build_env(tmp_path / "cold", "redis://127.0.0.1:1")
    assert env["ORTWASM_CCACHE_DIR"] == str(tmp_path / "cold" / "ccache") and env[ccache.ENV] == "redis://127.0.0.1:1"
    cold = {"wall_s": 2000.0, "files": {"a": "1"},
            **bench.figures({"build_s": 3.0, "ccache_hits": 0, "ccache_misses": 900, "ccache_local_hits": 0,
                             "ccache_local_misses": 900, "ccache_remote_hits": 0, "ccache_remote_misses": 900,
                             "ccache_remote_errors": 0, "ccache_remote_timeouts": 0})}
    warm = {"wall_s": 400.0, "files": {"a": "1"},
            **bench.figures({"ccache_hits": 895, "ccache_misses": 5, "ccache_local_hits": 0,
                             "ccache_local_misses": 900, "ccache_remote_hits": 895, "ccache_remote_misses": 5})}
    assert warm["remote_hit_rate"] == 0.9944 and cold["remote_hit_rate"] == 0.0 and cold["hit_rate"] == 0.0
    assert bench.goals(cold, warm) == {"warm_over_cold_wall": 0.2, "warm_wall_at_most_25pct": True,
                                       "warm_remote_hit_rate": 0.9944, "remote_hits_at_least_98pct": True,
                                       "artifacts_identical": True, "same_patch_set": True}
    elsewhere = {**warm, "files": {"a": "2"}}
    judged = bench.goals(cold, warm, elsewhere)
    assert judged["artifacts_identical_across_homes"] is False and judged["other_home_remote_hit_rate"] == 0.9944
    # an edit under runtime/ during the run: the later build's sources differ, and the run says its identity is void
    runs = [{"name": "cold", **cold, "patch_set": "1.21.0-aaa"},
            {"name": "warm-remote", **warm, "patch_set": "1.21.0-bbb"}]
    assert bench.goals(runs[0], runs[1])["same_patch_set"] is False
    void = bench.changed_patch_sets(runs)
    assert void and "cold: 1.21.0-aaa, warm-remote: 1.21.0-bbb" in void and "git worktree add" in void
    assert bench.changed_patch_sets([runs[0], {**runs[1], "patch_set": "1.21.0-aaa"}]) is None
    out = tmp_path / "pair"
    out.mkdir()
    (out / "x.wasm").write_bytes(b"..//var/cache/ortwasm/sources/a.h\0/var/cache/ortwasm/b")
    (out / "manifest.json").write_text("/var/cache/ortwasm")  # not a pair file
    assert bench.home_strings(out, Path("/var/cache/ortwasm")) == 2
    assert bench.mounted_under(tmp_path) == [] and "/proc" in bench.mounted_under(Path("/"))
    failed = bench.BuildFailed("other-home", "wasm32-memfs", 7, tmp_path / "build.log")
    assert failed.record == {"name": "other-home", "variant": "wasm32-memfs", "exit": 7,
                             "log": str(tmp_path / "build.log")} and "other-home failed (exit 7)" in str(failed)
    with pytest.raises(SystemExit) as done:
        bench.main(["--help"])
    assert done.value.code == 0


# --- a real Redis -------------------------------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: Path, request: pytest.FixtureRequest) -> LocalRedis:
    """Debian's redis-server on 127.0.0.1 with a password, stopped (killed if it must) after the test, pass or
    fail; a test may kill it itself."""
    if not LocalRedis.available():
        pytest.skip(f"!!! no redis-server: {REDIS_HINT}")
    server = LocalRedis(tmp_path / "redis", password=SECRET, unix_socket=True)
    request.addfinalizer(server.stop)
    return server.start()


@needs_redis
def test_probe_a_real_redis(redis: LocalRedis) -> None:
    r = redis.remote()
    assert ccache.probe(r).ok and ccache.probe(remote(redis.unix_url)).ok
    assert ccache.probe(remote(f"redis://:{SECRET}@127.0.0.1:{redis.port}")).ok  # rewritten for ccache, AUTHs
    wrong = ccache.probe(remote(f"redis://default:wrong@127.0.0.1:{redis.port}"))
    assert not wrong.ok and wrong.detail.startswith("refused the password: WRONGPASS")
    anonymous = ccache.probe(remote(f"redis://127.0.0.1:{redis.port}"))
    assert not anonymous.ok and "NOAUTH" in anonymous.detail
    db = ccache.probe(remote(f"redis://default:{SECRET}@127.0.0.1:{redis.port}/99"))
    assert not db.ok and db.detail.startswith("refused database 99")
    assert redis.stored()["keys"] == 0


# --- real compiles through the remote (integration) ---------------------------------------------------------

N_FILES = 30
KILL_AFTER = 10


@pytest.fixture
def trixie(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian trixie's emscripten in its chroot, as a bookworm machine's build uses it."""
    monkeypatch.setenv("ORTWASM_TOOLCHAIN", "trixie")
    if not (paths.chroot_root() / "usr" / "bin" / "emcc").exists():
        pytest.skip(f"!!! no trixie chroot at {paths.chroot_root()}: run `bash ci/provision-toolchain.sh`")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("!!! entering the toolchain's chroot needs root and unshare")


def toolchain_with_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Toolchain:
    """The toolchain as a build finds it, with its own local ccache dir (bound into the chroot)."""
    monkeypatch.setenv("ORTWASM_CCACHE_DIR", str(cache_dir))
    return find_toolchain()


def write_project(build_dir: Path, tc: Toolchain, kill: tuple[int, int] | None = None, n: int = N_FILES,
                  deps: Path | None = None) -> list[Path]:
    """``n`` small C and C++ sources under build_dir/src (as a build dir holds ORT's copy) and a build.ninja that
    compiles them by absolute path, like CMake's; ``kill`` (pid, after) makes the step after ``after`` objects
    SIGKILL that process: the server dies mid-build, from inside the build.  ``deps``: a header there, outside
    the build dir (as the home's dependency dir), whose ``__FILE__`` every C file keeps."""
    src, objs = build_dir / "src", []
    src.mkdir(parents=True)
    emcc, empp = tc.emcc, str(Path(tc.emcc).with_name("em++"))
    inc = ""
    if deps is not None:
        (deps / "include").mkdir(parents=True)
        (deps / "include" / "dep.h").write_text("static inline const char *dep_file(void) { return __FILE__; }\n")
        inc = f" -I{deps}/include"
    lines = [f"rule cc\n  command = {emcc} -O2{inc} -c $in -o $out\n",
             f"rule cxx\n  command = {empp} -O2 -std=c++17 -c $in -o $out\n"]
    if kill:
        lines.append(f"rule kill\n  command = kill -KILL {kill[0]} && touch $out\n")
    for i in range(n):
        if i % 3 == 2:
            f = src / f"f{i}.cc"
            f.write_text(f"#include <algorithm>\n#include <string>\n#include <vector>\n"
                         f"std::string work_{i}(int n) {{\n  std::vector<int> v(n);\n"
                         f"  for (int k = 0; k < n; ++k) v[k] = (k * {i + 7}) % 101;\n"
                         f"  std::sort(v.begin(), v.end());\n"
                         f"  return std::string(__FILE__) + std::to_string(v.empty() ? {i} : v.back());\n}}\n")
        else:
            f = src / f"f{i}.c"
            dep = f"#include \"dep.h\"\nconst char *dep_{i}(void) {{ return dep_file(); }}\n" if deps else ""
            f.write_text(f"#include <string.h>\n{dep}static const char *where_{i}(void) {{ return __FILE__; }}\n"
                         f"int work_{i}(int n) {{\n  int acc = {i};\n"
                         f"  for (int k = 0; k < n; ++k) acc = acc * 31 + (k ^ {i});\n"
                         f"  return acc + (int)strlen(where_{i}());\n}}\n")
        obj = build_dir / "obj" / f"f{i}.o"
        after = f" || {build_dir}/killed.stamp" if kill and i >= kill[1] else ""
        lines.append(f"build {obj}: {'cxx' if f.suffix == '.cc' else 'cc'} {f}{after}\n")
        objs.append(obj)
    if kill:
        lines.append(f"build {build_dir}/killed.stamp: kill | {' '.join(map(str, objs[:kill[1]]))}\n")
    (build_dir / "build.ninja").write_text("".join(lines))
    return objs


def compile_project(opts: BuildOptions, tc: Toolchain, label: str) -> tuple[Runner, dict[str, int], float]:
    """ninja -j1 through the runner, environment and counters a variant's build uses: the ccache delta."""
    runner = pipeline.variant_runner(opts, tc, opts.build_dir, label)
    before = pipeline._ccache_counts(runner)
    seconds = runner.run(["ninja", "-C", str(opts.build_dir), "-j1"], "build", cwd=opts.build_dir)
    return runner, ccache.delta(before, pipeline._ccache_counts(runner)), seconds


def summary_warnings(capsys: pytest.CaptureFixture[str], name: str, counts: dict[str, int],
                     r: ccache.Remote) -> tuple[list[str], str]:
    """The summary's warnings, and everything the test printed to stderr until then (the echoed commands too)."""
    before = capsys.readouterr().err
    log.summary([log.SummaryRow(name, 0, 1, [], counts)], 1, remote=r.masked)
    err = capsys.readouterr().err
    return warnings(err), before + err


def no_secret_under(*roots: Path) -> None:
    for root in roots:
        for f in root.rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f"the password is in {f}"


@pytest.mark.integration
def test_stats_keys_of_every_ccache(tmp_path: Path) -> None:
    """The counters we read exist in the ccache of the host (4.7.5 here) and of each provisioned chroot."""
    envs = {"host": ExecEnv()} if shutil.which("ccache") else {}
    for suite in ("trixie", "sid"):
        root = paths.ortwasm_home() / suite
        if (root / "usr" / "bin" / "ccache").exists() and os.geteuid() == 0:
            envs[suite] = ExecEnv(root=root).with_binds(tmp_path)
    if not envs:
        pytest.skip("!!! no ccache on the host or in a chroot: run `bash ci/provision-toolchain.sh`")
    for name, env in envs.items():
        argv, e = env.wrap(["ccache", "--print-stats"], None, {"CCACHE_DIR": str(tmp_path / name)})
        proc = subprocess.run(argv, env=e, capture_output=True, text=True, check=True)
        assert set(ccache.parse_stats(proc.stdout)) == set(ccache.COUNTERS), name


@pytest.mark.integration
def test_round_trip_through_the_remote(redis: LocalRedis, trixie: None, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Two machines whose homes (build dir and dependency dir) sit at paths of different lengths: the second
    gets every object from the first's entries, byte for byte (no home path in an object or a cache key)."""
    r = redis.remote()
    # machine 1: local cache A, empty remote
    tc = toolchain_with_cache(tmp_path / "cache-a", monkeypatch)
    assert pipeline.remote_for_build(options(tmp_path, r), tc).ccache_remote == r  # it answers
    a = options(tmp_path / "a", r, deps_dir=tmp_path / "a" / "sources" / "deps")
    objs_a = write_project(a.build_dir, tc, deps=a.deps_dir)
    _, da, _ = compile_project(a, tc, "machine-a")
    ua = ccache.Usage.of(da)
    assert (ua.misses, ua.remote_misses, ua.remote_hits, ua.remote_failures) == (N_FILES, N_FILES, 0, 0), da
    stored = redis.stored()
    assert stored["keys"] >= N_FILES and stored["value_bytes"] > 0
    # machine 2: another build dir, an empty local cache B, the same remote
    tc = toolchain_with_cache(tmp_path / "cache-b", monkeypatch)
    b = options(tmp_path / "machine-b", r, deps_dir=tmp_path / "machine-b" / "sources" / "deps")
    objs_b = write_project(b.build_dir, tc, deps=b.deps_dir)
    runner, db, _ = compile_project(b, tc, "machine-b")
    ub = ccache.Usage.of(db)
    assert (ub.hits, ub.local_hits, ub.remote_hits, ub.remote_lookups, ub.misses) == (N_FILES, 0, N_FILES, N_FILES, 0)
    assert [o.read_bytes() for o in objs_b] == [o.read_bytes() for o in objs_a]
    assert not any(str(tmp_path).encode() in o.read_bytes() for o in objs_a)
    assert b"../sources/deps/include/dep.h" in objs_a[0].read_bytes()
    # a hit does not change an object: a cold compile in B (an empty cache C, no remote) gives the same bytes
    tc = toolchain_with_cache(tmp_path / "cache-c", monkeypatch)
    shutil.rmtree(b.build_dir / "obj")
    (b.build_dir / ".ninja_log").unlink()
    _, dc, _ = compile_project(replace(b, ccache_remote=None), tc, "machine-b-cold")
    assert ccache.Usage.of(dc).misses == N_FILES
    assert [o.read_bytes() for o in objs_b] == [o.read_bytes() for o in objs_a]
    found, err = summary_warnings(capsys, "machine-b", db, r)
    assert found == [] and f"remote {N_FILES}/{N_FILES} (100.0%)" in err and "redis://default:****@" in err
    assert "+ ninja -C" in err and "ccache remote: redis://default:****@" in err and SECRET not in err
    assert "CCACHE_REMOTE_STORAGE" not in runner.log_path.read_text()  # the runner logs argv, never the env
    no_secret_under(a.build_dir, b.build_dir, tmp_path / "cache-a", tmp_path / "cache-b")


@pytest.mark.integration
def test_server_killed_mid_build(redis: LocalRedis, trixie: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The server dies after KILL_AFTER compiles: the build finishes on the local cache, one warning says so."""
    r = redis.remote()
    tc = toolchain_with_cache(tmp_path / "cache", monkeypatch)
    opts = pipeline.remote_for_build(options(tmp_path, r), tc)  # answers at the start
    assert redis.proc is not None
    objs = write_project(opts.build_dir, tc, kill=(redis.proc.pid, KILL_AFTER))
    _, d, _ = compile_project(opts, tc, "wasm32-memfs")
    assert redis.proc.wait(timeout=10) == -signal.SIGKILL  # it was killed mid-build, by the build
    assert all(o.stat().st_size > 0 for o in objs)
    u = ccache.Usage.of(d)
    assert (u.misses, u.remote_hits, u.remote_errors, u.remote_timeouts) == (N_FILES, 0, N_FILES - KILL_AFTER, 0), d
    found, err = summary_warnings(capsys, "wasm32-memfs", d, r)
    assert len(found) == 1 and SECRET not in err
    assert (f"ccache remote {r.masked} failed during the build (wasm32-memfs: {N_FILES - KILL_AFTER} errors and 0 "
            f"timeouts in {N_FILES} compiles)") in found[0]
    timings = u.timings(remote=True)  # what the manifest records
    assert timings["ccache_remote_errors"] == N_FILES - KILL_AFTER and timings["ccache_misses"] == N_FILES


@pytest.mark.integration
def test_server_hung_mid_build(redis: LocalRedis, trixie: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A server that accepts but never answers (SIGSTOP) costs each compile one operation timeout, not a hang."""
    r = remote(redis.url + "|connect-timeout=300|operation-timeout=300")
    tc = toolchain_with_cache(tmp_path / "cache", monkeypatch)
    opts = options(tmp_path, r)
    objs = write_project(opts.build_dir, tc, n=3)
    redis.kill(signal.SIGSTOP)
    _, d, seconds = compile_project(opts, tc, "wasm32")
    assert all(o.exists() for o in objs)
    u = ccache.Usage.of(d)
    assert u.misses == 3 and u.remote_failures == 3, d
    assert seconds < 60
    found, _ = summary_warnings(capsys, "wasm32", d, r)
    assert len(found) == 1


@pytest.mark.integration
def test_unix_socket_from_inside_the_chroot(redis: LocalRedis, trixie: None, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A redis+unix socket outside the build's dirs is bound into the chroot, where ccache writes through it."""
    r = remote(redis.unix_url)
    tc = toolchain_with_cache(tmp_path / "cache", monkeypatch)
    assert ccache.chroot_binds(r, tc.exec_env) == (tmp_path / "redis",)
    opts = options(tmp_path, r)
    write_project(opts.build_dir, tc, n=2)
    _, d, _ = compile_project(opts, tc, "unix")
    u = ccache.Usage.of(d)
    assert (u.misses, u.remote_misses, u.remote_failures) == (2, 2, 0), d
    assert redis.stored()["keys"] >= 2
    assert re.fullmatch(r"redis\+unix://default:\*\*\*\*@localhost/\S+", r.masked.split("|")[0])


def test_chroot_command_line_carries_no_environment_value() -> None:
    """What enters the chroot travels in the process's environment: /proc/<pid>/cmdline is world-readable."""
    from ortwasm.proc.execenv import ExecEnv

    argv, env = ExecEnv(Path("/nonexistent-root"), ()).wrap(["true"], Path("/tmp"),
                                                            {"CCACHE_REMOTE_STORAGE": "redis://:s3cret@h:1"})
    assert not any("s3cret" in a for a in argv), argv
    assert env["CCACHE_REMOTE_STORAGE"] == "redis://:s3cret@h:1"
    assert "SSH_AUTH_SOCK" not in env and set(os.environ) - set(env)  # the host's environment stays outside
