"""Benchmark: loading external data into a session through onnxruntime-web's public API (issue #13).

Not a test: it prints figures and writes ``bench/results/load[-NAME]-<version>.json``.  Each row is one fresh
process running `InferenceSession.create(model, {externalData})` then `run`, checked against native onnxruntime:

  - ``--runtime node`` (default): Node 24 through a client app; the kernel's high-water mark (VmHWM, /proc) before
    and after the session, RSS after it, each also as a multiple of the external bytes; session time and GB/s.
  - ``--runtime chromium`` / ``--runtime firefox``: one headless browser per row (Debian's chromium through
    playwright-core, Debian's firefox-esr through puppeteer-core over WebDriver BiDi;
    tests/harness/js/browser_load_memory.mjs driving ort_web_page.html) whose page imports the build's browser
    entry (ours: `ort.<variant>.min.mjs`; official: npm's `ort.wasm.min.mjs` with `env.wasm.wasmPaths` at the
    pair) and gives `externalData: [{path, data: url}]` from a cross-origin-isolated http://127.0.0.1: on our MEMFS
    builds onnxruntime-web hands the URLs to the module, which streams each response into one wasm heap block.
    Peak RSS is the page's content process (`renderer`: Chromium's renderer, Firefox's `tab`) + GPU process VmHWM,
    the largest the driver sampled from Node every 200 ms (the page cannot read its memory, and Chromium resets
    VmHWM at each of its memory dumps: browser_procs.mjs peakTracker); each process is recorded in `processes`, the
    browser's main process (Firefox's parent) apart as `peak_main`.  `peak_over_base_x`: the peak less what the two
    held with the page loaded and no model, over the weights.  ``--drain-cases``: rows (`fetch-drain`) whose page
    only fetches the URLs and reads each body to its end, keeping nothing: the speed of the source as the page sees
    it.  Browser rows are always `url`; ``--threads`` applies as in Node.
  - ``--profile`` (Node): `node --cpu-prof` over tests/harness/js/profile_load.mjs, ORT's profiler on: the
    timeline of create (backend init, mountExternalData*, _OrtCreateSession, the rest), CPU time and page faults
    over create (getrusage), the --cpu-prof samples taken during create by frame and group (bench/cpuprofile.py),
    ORT's own Session events, peak RSS; then the hardware floors in the same run (`cat FILE > /dev/null`, a copy
    into fresh vs resident wasm memory).  ``--wasm-dir`` points every run at another pair of the same variant (a
    `--profiling-funcs` build, for ORT's function names); ``--no-ort-profiler``.

What is loaded (``--builds``, comma list; default: ``ours:`` every built non-JSEP release variant):

  - ``ours:VARIANT``: our drop-in package (`import 'onnxruntime-web/<variant>'`), built by `ortwasm package` from
    the version's artifact dir;
  - ``official:VARIANT``: npm's onnxruntime-web of the same version with `env.wasm.wasmPaths` at our pair;
  - ``official:dist``: npm's onnxruntime-web with its own pair (rows say `npm-dist`): the official baseline;
  - ``--baseline DIR`` adds a ``before`` build after each ``ours:`` one: the package built from DIR (an OUT dir of
    the build before, with its own JS); each ``ours`` row gets the baseline's figures beside it.  Rows over
    ``--max-baseline-gib`` of weights (warm rows: ``--max-baseline-warm-gib``) are not re-run on the baseline.
    The MEMFS-OFF builds (``ours:wasm32``, ``ours:wasm64``) are the other baseline.

Rows are the product of ``--cases`` x ``--data-as`` (bytes: a Uint8Array already in JS; path: a file path string,
read by onnxruntime-web or by the module; url/blob/stream too) x builds x ``--threads``, or exactly ``--runs``.
Cases in ``--wasm64-only-cases`` are not run on other variants.  Extra rows on ``ours``/``before`` builds:
``--warm-cases`` (the same model created twice in one process, the second timed: backend initialised, heap pages
already resident) and ``--rounds-case`` (created, run and released three times, VmHWM after each release: a heap
block that outlives its session adds the weights again).  ``--mem-guard`` (Node) skips a row, with the reason, when
MemAvailable is under its expected peak plus 2 GiB, and kills the row's own Node process (by pid) if MemAvailable
falls under 1.5 GiB while it runs; Chromium rows of `big_gather` always need 14 GiB free.  ``--section KEY`` writes
under that key of the result file, keeping the rest.  Exit 1 when a row's success differs from what the build
should do (MEMFS builds load past 4 GiB, wasm64 only past 4 GiB in one tensor).

The commands that made the committed results (ORT 1.21.0, $ORTWASM_HOME=/var/cache/ortwasm):

    # load-1.21.0.json: every built variant, ours, MEMFS OFF vs ON past 4 GiB
    python -m bench.load --cases gather_256m,far_offset
    # load-heap-1.21.0.json: heap-backed files against the build before, then its `prepacked` section
    python -m bench.load --name heap --builds ours:wasm32-memfs,ours:wasm64-memfs \\
        --baseline /var/cache/ortwasm/heapfs-baseline --cases gather_256m,gather_2g5,big_gather \\
        --warm-cases gather_256m,gather_2g5 --rounds-case gather_256m
    python -m bench.load --name heap --section prepacked --builds ours:wasm32-memfs,ours:wasm64-memfs \\
        --baseline /var/cache/ortwasm/heapfs-baseline --cases matmul_256m --rounds-case matmul_256m
    # load-off-1.21.0.json: MEMFS-OFF builds, npm's dist and the MEMFS builds side by side, 2.5 GiB and more
    python -m bench.load --name off --mem-guard --timeout-s 1800 --wasm64-only-cases '' \\
        --builds ours:wasm32,ours:wasm64,official:dist,ours:wasm32-memfs,ours:wasm64-memfs \\
        --cases gather_2g5,gather_3g25,big_gather
    # load-browser-1.21.0.json: headless Chromium, renderer + GPU VmHWM
    python -m bench.load --runtime chromium --timeout-s 1800 --builds ours:wasm32-memfs,ours:wasm64-memfs \\
        --cases gather_256m,gather_2g5,big_gather --drain-cases gather_2g5,big_gather
    # load-profile-1.21.0.json: where the time of create goes
    python -m bench.load --profile --runs wasm64-memfs:gather_2g5:path,wasm32-memfs:gather_2g5:path,\\
wasm64-memfs:big_gather:path,wasm64-memfs:gather_2g5:bytes,wasm64-memfs:big_gather:bytes

Other uses: ``--builds ours:wasm64-memfs,official:wasm64-memfs,official:dist`` (npm's JS over our pairs, and its
own pair), ``--profile --runs wasm64-memfs:big_gather:path --wasm-dir /path/to/profiling-funcs/wasm64-memfs``,
``--runtime firefox --builds ours:wasm32-memfs,official:wasm32-memfs,official:dist --threads 1,2`` (headless
Firefox, our package beside npm's client, into load-browser-firefox-<version>.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from bench import cpuprofile
from bench.common import GIB, Watchdog, comma, mem_available, out_dir_for, ratio
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm.recipe import default_version

if TYPE_CHECKING:
    from tests.harness.models import ModelCase
    from tests.harness.runtime import Engine, RunResult, Served

DataAs = Literal["bytes", "path", "url", "blob", "stream"]
DEFAULT_CASES = ("gather_256m", "gather_2g5", "far_offset")
PAST_4GIB = ("far_offset", "big_gather")
OVER_WASM32_HEAP = ("big_gather", "mlp_5g_split")
ONE_OVER_2GIB = ("gather_2g5_one",)
# issue #13's goals
PEAK_GOAL = (1.15, 0.3 * GIB)  # peak RSS <= 1.15 x weights + 0.3 GiB: 4.25 GiB, wasm64-memfs, from a path
BYTES_GOAL_GBPS = 3.0  # bytes already in JS: session creation at >= 3 GB/s
# --mem-guard: expected peak RSS over the weights by (source, heap-backed build) (load-off, load-heap, issue #13)
EXPECTED_X = {("bytes", False): 2.1, ("path", False): 4.1, ("bytes", True): 2.1, ("path", True): 1.1}
MARGIN = 2 * GIB
BROWSERS = ("chromium", "firefox")
# MemAvailable a browser row of `big_gather` (4.25 GiB) needs on a shared 24 GiB machine.  Firefox needs more: its
# page peaked 1.3 times Chromium's (docs/testing.md, "Firefox, the second engine").
BIG_NEEDS_FREE = {"chromium": 14 * GIB, "firefox": 18 * GIB}


# ------------------------------------------------------------------------------------------------ builds


@dataclass
class Build:
    client: str  # ours | official | before
    variant: str  # the variant, or npm-dist
    entry: Path  # the Node entry module
    wasm_dir: Path | None  # env.wasm.wasmPaths (official), None: the package finds its own pair
    app: Path  # the client app (its dist is what the browser serves)

    def served(self) -> Served:
        """What a browser page loads: our package's entry of the variant, which finds its own pair, or npm's
        entry pointed at `wasm_dir` (our pair, or npm's own for `npm-dist`)."""
        from tests.harness.client import package_dist
        from tests.harness.runtime import Served

        if self.wasm_dir is None:
            return Served(package_dist(self.app), f"ort.{self.variant}.min.mjs")
        return Served(package_dist(self.app), "ort.wasm.min.mjs", self.wasm_dir)


class Apps:
    """The client apps a run needs, each made once: our package, the baseline's, npm's official."""

    def __init__(self, version: str, out: Path, baseline: Path | None) -> None:
        self.version, self.out, self.baseline = version, out, baseline
        self._apps: dict[str, Path] = {}

    def _ours(self, name: str, out: Path) -> Path:
        if name not in self._apps:
            from tests.harness.client import our_package_app

            self._apps[name] = our_package_app(out, Path(tempfile.mkdtemp()), name=name)
        return self._apps[name]

    def ours(self) -> Path:
        # an app dir of the bench's own: a test session reinstalling its app must not pull files from under a row
        return self._ours(f"bench-ortwasm-{self.version}", self.out)

    def before(self) -> Path:
        assert self.baseline is not None
        return self._ours("ortwasm-baseline", self.baseline)

    def official(self) -> Path:
        from tests.harness.client import client_app

        name = f"official-{self.version}"
        if name not in self._apps:
            self._apps[name] = client_app(name, f"onnxruntime-web@{self.version}")
        return self._apps[name]


def parse_builds(spec: str, apps: Apps) -> list[Build]:
    from tests.harness.client import app_entry, package_dist

    builds: list[Build] = []
    for item in comma(spec):
        client, _, variant = item.partition(":")
        if client == "ours":
            app = apps.ours()
            builds.append(Build("ours", variant, app_entry(app, f"onnxruntime-web/{variant}"), None, app))
            if apps.baseline:
                app = apps.before()
                builds.append(Build("before", variant, app_entry(app, f"onnxruntime-web/{variant}"), None, app))
        elif client == "official":
            app = apps.official()
            wasm_dir = package_dist(app) if variant == "dist" else apps.out / variant
            builds.append(Build("official", "npm-dist" if variant == "dist" else variant, app_entry(app), wasm_dir,
                                app))
        else:
            raise SystemExit(f"bench.load: build {item!r} is not ours:VARIANT, official:VARIANT or official:dist")
    return builds


def default_builds(out: Path) -> str:
    from ortwasm.variants import load_table, release_variants

    return ",".join(f"ours:{v.name}" for v in release_variants(load_table())
                    if not v.jsep and (out / v.name / "manifest.json").exists())


def expect_ok(variant: str, key: str) -> bool:
    """Past 4 GiB needs a MEMFS build; 4.25 GiB in one tensor, or 5 GiB of weights in all, needs wasm64 too; npm's
    dist (MEMFS off, wasm32) cannot load one initializer over 2 GiB (SafeInt overflow) nor weights past its heap."""
    if key in OVER_WASM32_HEAP:
        return variant.startswith("wasm64")
    if variant == "npm-dist" and key in ONE_OVER_2GIB:
        return False
    if key not in PAST_4GIB:
        return True
    return variant.endswith("memfs")


# ------------------------------------------------------------------------------------------------ cases


def gather_3g25() -> ModelCase:
    """3.25 GiB in two 1.625 GiB initializers, cached beside the harness's cases (generation writes 3.5 GB once):
    every tensor stays under the 2 GiB per-tensor limit, so a failure is about the total."""
    from tests.harness import models

    where = models.models_cache_dir() / "bench-gather_3g25"
    if (where / "complete").exists():
        return models._load_case(where)
    case = models.gather_rows(where, 212_992, 4096, name="gather_3g25", parts=2)
    models._save_case(case, where)
    return case


def load_case(key: str) -> ModelCase:
    from tests.harness import models

    return gather_3g25() if key == "gather_3g25" else models.cached_case(key)


# ------------------------------------------------------------------------------------------------ Node rows


def client_run(build: Build, key: str, data_as: str, threads: int, timeout_s: float,
               **job: Any) -> tuple[ModelCase, RunResult, list[str]]:
    """One create-and-run of the case in a fresh Node 24 through the build's client (`job`: more ClientJob
    fields), and the outputs' mismatches against native onnxruntime: what every Node row of every bench starts from."""
    from tests.harness import runtime
    from tests.harness.client import ClientJob, run_client_node

    case = load_case(key)
    r = run_client_node(ClientJob(build.entry, case.model, case.inputs, list(case.expected), case.external,
                                  data_as=cast(DataAs, data_as), num_threads=threads, wasm_dir=build.wasm_dir,
                                  timeout_s=timeout_s, **job))
    return case, r, runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok else []


def node_row(build: Build, key: str, data_as: str, threads: int, timeout_s: float) -> dict[str, Any]:
    case, r, mism = client_run(build, key, data_as, threads, timeout_s)
    ext = case.external_bytes
    session_ms = r.timings.get("session_ms")
    mem = r.memory
    return {
        "client": build.client, "variant": build.variant, "case": key, "data_as": data_as, "threads": threads,
        "ok": r.ok and not mism, "error": r.error, "stage": r.stage, "mismatches": mism,
        "external_bytes": ext, "read_ms": r.timings.get("read_ms"), "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if r.ok and session_ms else None,
        "peak_rss_before_session": mem.get("peak_rss_before_session"),
        "peak_rss": mem.get("peak_rss"), "peak_rss_x": ratio(mem.get("peak_rss"), ext),
        "rss_after_session": mem.get("rss_after_session"),
        "rss_after_session_x": ratio(mem.get("rss_after_session"), ext),
    }


def rounds_row(build: Build, key: str, timeout_s: float) -> dict[str, Any]:
    """Three create/run/release rounds from a path in one process; VmHWM after each release."""
    from tests.harness.client import ClientJob, run_client_node

    case = load_case(key)
    job = ClientJob(build.entry, case.model, case.inputs, list(case.expected), case.external, data_as="path",
                    timeout_s=timeout_s, sessions=3)
    r = run_client_node(job)
    rounds = r.memory.get("sessions") if r.ok else None
    row: dict[str, Any] = {"client": build.client, "variant": build.variant, "case": key, "data_as": "path",
                           "ok": r.ok, "error": r.error, "external_bytes": case.external_bytes, "rounds": rounds}
    if isinstance(rounds, list) and rounds:
        first, last = rounds[0]["peak_rss_after_release"], rounds[-1]["peak_rss_after_release"]
        row["peak_growth_after_first"] = last - first
        row["peak_growth_x"] = round((last - first) / case.external_bytes, 3)
    return row


def warm_row(build: Build, key: str, data_as: str, timeout_s: float) -> dict[str, Any]:
    """Two creates in one process, the second timed: what a load costs once the backend and heap are warm."""
    from tests.harness.client import ClientJob, run_client_node

    case = load_case(key)
    job = ClientJob(build.entry, case.model, case.inputs, list(case.expected), case.external,
                    data_as=cast(DataAs, data_as), timeout_s=timeout_s, sessions=2)
    r = run_client_node(job)
    rounds = r.memory.get("sessions") if r.ok else None
    row: dict[str, Any] = {"client": build.client, "variant": build.variant, "case": key, "data_as": data_as,
                           "ok": r.ok, "error": r.error, "external_bytes": case.external_bytes}
    if isinstance(rounds, list) and len(rounds) == 2:
        row["cold_session_ms"] = round(rounds[0]["session_ms"], 1)
        row["warm_session_ms"] = round(rounds[1]["session_ms"], 1)
        row["warm_gb_per_s"] = round(case.external_bytes / 1e9 / (rounds[1]["session_ms"] / 1e3), 3)
    return row


def fmt(row: dict[str, Any]) -> str:
    head = (f"{row.get('client', 'ours'):>8} {row['variant']:>13} {row['case']:>11} {row['data_as']:>5} "
            f"t={row.get('threads', 1)}  ext {row['external_bytes'] / GIB:5.2f}G")
    if row.get("skipped"):
        return f"{head}  SKIPPED: {row['skipped']}"
    if not row["ok"]:
        return f"{head}  FAILED at {row.get('stage')}: {str(row['error'] or row.get('mismatches'))[:150]}"
    if row["variant"] == "fetch-drain":
        return (f"{head}  fetched and read to the end in {row['session_ms']:8.0f} ms {row['gb_per_s']:5.2f} GB/s  "
                f"peak r+g {row['peak_rss'] / GIB:6.2f}G")
    text = (f"{head}  session {row['session_ms']:8.0f} ms {row['gb_per_s']:6.2f} GB/s  "
            f"peak {row['peak_rss'] / GIB:6.2f}G ({row['peak_rss_x']}x)")
    if "peak_renderer_x" in row:
        text += (f" = renderer {row['peak_renderer_x']}x + gpu {row['peak_gpu_x']}x "
                 f"(over base {row['peak_over_base_x']}x; main process {row['peak_main_x']}x)")
    if row.get("rss_after_session") is not None:
        text += f"  after {row['rss_after_session'] / GIB:6.2f}G ({row['rss_after_session_x']}x)"
    return text


FLOOR_JS = Path(__file__).resolve().parent / "js" / "copy_floor.mjs"
# issue #25's goals, on our rows from a path or URL: peak <= 1.10 x weights + 0.3 GiB; create <= 1.3 x the floor
CURRENT_PEAK_GOAL = (1.10, 0.3 * GIB)
FLOOR_FACTOR = 1.3


def floor_row(key: str) -> dict[str, Any]:
    """The time to read the case's files into fresh wasm memory in a fresh Node 24 (bench/js/copy_floor.mjs): what
    a load from a path cannot beat, measured in the same run as the loads it judges."""
    import json
    import subprocess

    from tests.harness.runtime import node_binary

    case = load_case(key)
    proc = subprocess.run([str(node_binary()), str(FLOOR_JS), *(str(e.file) for e in case.external)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"case": key, "ok": False, "error": proc.stderr.strip()[-300:]}
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"case": key, "ok": True, "bytes": got["bytes"], "ms": round(got["ms"], 1),
            "gb_per_s": round(got["gb_per_s"], 3), "peak_rss": got["peak_rss"]}


def current_goals(rows: list[dict[str, Any]], floors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue #25's goals on our rows from a path or URL: the peak, and the create time against the floor."""
    out: dict[str, Any] = {}
    for r in rows:
        if r["client"] != "ours" or not r["ok"] or r["data_as"] not in ("path", "url"):
            continue
        limit = CURRENT_PEAK_GOAL[0] * r["external_bytes"] + CURRENT_PEAK_GOAL[1]
        floor = floors.get(r["case"], {})
        fms = floor.get("ms") if floor.get("ok") else None
        out[f"{r['variant']} {r['case']} {r['data_as']} t={r.get('threads', 1)}"] = {
            "peak_rss": r["peak_rss"], "peak_limit": int(limit), "peak_met": r["peak_rss"] <= limit,
            "session_ms": r["session_ms"], "floor_ms": fms,
            "time_x_floor": round(r["session_ms"] / fms, 2) if fms else None,
            "time_met": r["session_ms"] <= FLOOR_FACTOR * fms if fms else None}
    return out


def goals(rows: list[dict[str, Any]], warm: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue #13's goals, judged on our rows."""
    out: dict[str, Any] = {}
    big = [r for r in rows if r["variant"] == "wasm64-memfs" and r["case"] == "big_gather" and r["data_as"] == "path"]
    if big and big[0]["ok"]:
        limit = PEAK_GOAL[0] * big[0]["external_bytes"] + PEAK_GOAL[1]
        out["peak_4g25_wasm64_path"] = {"peak_rss": big[0]["peak_rss"], "limit": int(limit),
                                        "met": big[0]["peak_rss"] <= limit}
    out["bytes_gb_per_s"] = {f"{r['variant']} {r['case']}": {"gb_per_s": r["gb_per_s"],
                                                               "met": (r["gb_per_s"] or 0) >= BYTES_GOAL_GBPS}
                             for r in rows if r["data_as"] == "bytes" and r["ok"]}
    out["bytes_warm_gb_per_s"] = {
        f"{r['variant']} {r['case']}": {"gb_per_s": r.get("warm_gb_per_s"),
                                        "met": (r.get("warm_gb_per_s") or 0) >= BYTES_GOAL_GBPS}
        for r in warm if r["client"] == "ours" and r["data_as"] == "bytes"}
    return out


# ------------------------------------------------------------------------------------------------ browser rows


def run_browser(engine: Engine, build: Build, case: ModelCase, threads: int, timeout_s: float,
                drain: bool = False) -> RunResult:
    from tests.harness import runtime

    payload: dict[str, Any] = {
        "inputs": {k: runtime.encode_tensor(v) for k, v in case.inputs.items()},
        "outputs": list(case.expected),
        "numThreads": threads,
        "logLevel": 3,
        "timeoutMs": int(timeout_s * 1000),
        "drainOnly": drain,
    }
    return runtime.run_page(engine, payload, build.served(), case.model, case.external, timeout_s,
                            driver="browser_load_memory.mjs")


def browser_row(engine: Engine, build: Build, key: str, threads: int, timeout_s: float,
                drain: bool = False) -> dict[str, Any]:
    from tests.harness import runtime

    case = load_case(key)
    ext = case.external_bytes
    r = run_browser(engine, build, case, threads, timeout_s, drain)
    mism = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok and not drain else []
    mem: dict[str, Any] = dict(r.memory)
    after = mem.get("after_session") or {}
    session_ms = r.timings.get("session_ms")
    ok = r.ok and not mism
    rss_after = (after.get("renderer_rss", 0) + after.get("gpu_rss", 0)) if after else None
    before = mem.get("before_load") or {}
    base = (before.get("renderer", 0) + before.get("gpu", 0)) if before else 0  # the page loaded, no model yet
    return {
        "client": build.client, "variant": "fetch-drain" if drain else build.variant, "case": key, "data_as": "url",
        "threads": threads, "engine": engine, "ok": ok, "error": r.error, "stage": r.stage,
        "mismatches": mism, "external_bytes": ext, "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if ok and session_ms else None,
        "peak_rss": mem.get("peak_rss"), "peak_rss_x": ratio(mem.get("peak_rss"), ext),
        "peak_renderer": mem.get("peak_renderer"), "peak_renderer_x": ratio(mem.get("peak_renderer"), ext),
        "peak_gpu": mem.get("peak_gpu"), "peak_gpu_x": ratio(mem.get("peak_gpu"), ext),
        "peak_renderers_sum": mem.get("peak_renderers_sum"), "peak_main": mem.get("peak_main"),
        "peak_main_x": ratio(mem.get("peak_main"), ext), "peak_all_processes_sum": mem.get("peak_all_processes_sum"),
        "peak_over_base_x": ratio(mem["peak_rss"] - base, ext) if mem.get("peak_rss") and base else None,
        "rss_after_session": rss_after, "rss_after_session_x": ratio(rss_after, ext),
        "before_load": mem.get("before_load"), "processes": mem.get("processes"),
        "browser": r.raw.get("browser"), "console_tail": (r.raw.get("console") or [])[-5:] if not ok else [],
    }


# ------------------------------------------------------------------------------------------------ profile rows


def profile_row(build: Build, wasm_dir: Path, key: str, data_as: str, ort_profiler: bool,
                timeout_s: float) -> dict[str, Any]:
    from tests.harness import runtime
    from tests.harness.client import JS_DIR

    case = load_case(key)
    ext = case.external_bytes
    with tempfile.TemporaryDirectory(prefix="ortwasm-cpuprof-") as tmp:
        payload = {"entry": str(build.entry), "wasmDir": str(wasm_dir), "model": str(case.model),
                   "externalData": [{"path": e.path, "file": str(e.file)} for e in case.external],
                   "dataAs": data_as, "enableProfiling": ort_profiler,
                   "inputs": {k: runtime.encode_tensor(v) for k, v in case.inputs.items()},
                   "outputs": list(case.expected), "logLevel": 3, "timeoutMs": int(timeout_s * 1000)}
        r = runtime._run_script(JS_DIR / "profile_load.mjs", payload, timeout_s,
                                node_args=["--cpu-prof", f"--cpu-prof-dir={tmp}"])
        profs = sorted(Path(tmp).glob("*.cpuprofile"))
        cpu: dict[str, Any] | None = None
        if profs:
            window = r.raw.get("window_ns")
            cpu = cpuprofile.summarise_cpuprofile(json.loads(profs[0].read_text()),
                                                  (int(window[0]), int(window[1])) if window else None)
    mism = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok else []
    session_ms = r.timings.get("session_ms")
    peak = r.memory.get("peak_rss")
    ort_prof = r.raw.get("ort_profile")
    return {
        "variant": build.variant, "case": key, "data_as": data_as, "wasm_dir": str(wasm_dir),
        "ok": r.ok and not mism,
        "error": r.error, "stage": r.stage, "mismatches": mism, "external_bytes": ext, "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if r.ok and session_ms else None,
        "peak_rss": peak, "peak_rss_x": round(peak / ext, 3) if isinstance(peak, int) else None,
        "phases": r.raw.get("phases"), "rusage": r.raw.get("rusage"),
        "ort_profile": cpuprofile.summarise_ort_profile(ort_prof) if isinstance(ort_prof, list) else None,
        "ort_profile_error": r.raw.get("ort_profile_error"), "cpu_profile": cpu,
    }


def _ms(v: object) -> str:
    return f"{float(v) / 1e3:.2f} s" if isinstance(v, int | float) else "-"


def profile(specs: list[tuple[Build, str, str]], args: argparse.Namespace, out: Path) -> tuple[dict[str, Any], bool]:
    from tests.harness import runtime

    runs: list[dict[str, Any]] = []
    for build, key, data_as in specs:
        if build.client != "ours":
            raise SystemExit("bench.load --profile: only ours:VARIANT builds")
        r = profile_row(build, args.wasm_dir or out / build.variant, key, data_as, not args.no_ort_profiler,
                        args.timeout_s)
        runs.append(r)
        ph = r["phases"] or {}
        print(f"{build.variant:>13} {key:>11} {data_as:>5}  " + (
            f"create {_ms(r['session_ms'])} ({r['gb_per_s']} GB/s): init {_ms(ph.get('backend_init_ms'))}, "
            f"mount {_ms(ph.get('mount_ms'))}, OrtCreateSession {_ms(ph.get('ort_create_session_ms'))}, "
            f"rest {_ms(ph.get('rest_ms'))}; peak {r['peak_rss_x']}x" if r["ok"] else f"FAILED: {r['error']}"),
            flush=True)
    cases = sorted({key for _, key, _ in specs})
    fl = cpuprofile.floors([e.file for key in cases for e in load_case(key).external], runtime.node_binary())
    named = any(f["group"] == "wasm ORT session init (named)" for r in runs
                for f in ((r.get("cpu_profile") or {}).get("top") or []))
    print(cpuprofile.markdown(runs, named, fl))
    return {"machine": machine_info(), "wasm_names": named, "floors": fl, "runs": runs}, all(r["ok"] for r in runs)


# ------------------------------------------------------------------------------------------------ main


def row_specs(args: argparse.Namespace, builds: list[Build], apps: Apps) -> list[tuple[Build, str, str]]:
    """(build, case, source) per row: --runs exactly, else cases x sources x builds."""
    if args.runs:
        specs = []
        for item in comma(args.runs):
            parts = item.split(":")
            if len(parts) == 3:
                parts.insert(0, "ours")
            if len(parts) != 4:
                raise SystemExit(f"bench.load: --runs item {item!r} is not [CLIENT:]VARIANT:CASE:SOURCE")
            client, variant, key, data_as = parts
            specs += [(b, key, data_as) for b in parse_builds(f"{client}:{variant}", apps)]
        return specs
    skip64 = set(comma(args.wasm64_only_cases))
    return [(b, key, data_as) for key in comma(args.cases) for data_as in comma(args.data_as) for b in builds
            if not (key in skip64 and not b.variant.startswith("wasm64"))]


def guard(build: Build, key: str, data_as: str, args: argparse.Namespace) -> tuple[str | None, int]:
    """Why this row must not run on this machine now (None: it may), and MemAvailable before it."""
    free = mem_available()
    if args.runtime in BROWSERS:
        big = BIG_NEEDS_FREE[args.runtime]
        if key == "big_gather" and free < big:
            return f"MemAvailable {free / GIB:.1f} GiB < {big / GIB:.0f} GiB", free
        return None, free
    if not args.mem_guard:
        return None, free
    heap_backed = build.client == "ours" and build.variant.endswith("memfs")
    need = EXPECTED_X[(data_as if data_as == "path" else "bytes", heap_backed)] * load_case(key).external_bytes
    need += MARGIN
    if free < need:
        return f"MemAvailable {free / GIB:.1f} GiB < expected peak + 2 GiB = {need / GIB:.1f} GiB", free
    return None, free


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtime", choices=("node", *BROWSERS), default="node")
    p.add_argument("--profile", action="store_true", help="Node under --cpu-prof: the timeline of create (see above)")
    p.add_argument("--ort-version", default=None,
                   help="the version whose artifacts are loaded, npm's onnxruntime-web of the same version")
    p.add_argument("--builds", default="", help="comma list of ours:VARIANT, official:VARIANT, official:dist "
                                                "(default: ours: every built non-JSEP release variant)")
    p.add_argument("--baseline", type=Path, help="an OUT dir of the build before: a `before` row after each ours row")
    p.add_argument("--max-baseline-gib", type=float, default=3.0)
    p.add_argument("--max-baseline-warm-gib", type=float, default=1.0)
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help="comma list of the harness's cases, gather_3g25")
    p.add_argument("--data-as", default="bytes,path", help="bytes, path, url, blob, stream (Node), comma list")
    p.add_argument("--threads", default="1", help="comma list of numThreads")
    p.add_argument("--runs", default="", help="exact rows [CLIENT:]VARIANT:CASE:SOURCE instead of the product")
    p.add_argument("--wasm64-only-cases", default="big_gather", help="cases not run on other variants ('' none)")
    p.add_argument("--warm-cases", default="", help="cases for the warm rows (two creates, the second timed)")
    p.add_argument("--rounds-case", default="", help="case for the 3-session rows")
    p.add_argument("--drain-cases", default="", help="browsers: cases whose files the page only fetches and reads")
    p.add_argument("--mem-guard", action="store_true", help="Node: skip rows the machine lacks memory for, kill "
                                                            "a row's Node when MemAvailable < 1.5 GiB")
    p.add_argument("--floor", action="store_true", help="after the rows, time reading each case's files into fresh "
                   "wasm memory (the floor a load is judged against) and judge issue #25's goals")
    p.add_argument("--timeout-s", type=float, default=3600)
    p.add_argument("--wasm-dir", type=Path, help="--profile: a pair dir used instead of the artifact dir's")
    p.add_argument("--no-ort-profiler", action="store_true")
    p.add_argument("--name", default=None, help="the result is load-NAME-<version>.json (default: load, "
                                                "load-browser with --runtime chromium, load-browser-firefox with "
                                                "--runtime firefox, load-profile with --profile)")
    p.add_argument("--section", default="", help="write under this key of the result, keeping the rest")
    add_results_dir(p)
    args = p.parse_args(argv)
    args.ort_version = args.ort_version or default_version()
    if args.profile and args.runtime != "node":
        p.error("--profile runs in Node")
    from tests.harness.runtime import browser_missing

    browser = args.runtime if args.runtime in BROWSERS else None
    if browser is not None and (missing := browser_missing(browser)) is not None:
        p.error(f"{missing.message}: {missing.hint}")
    if browser is not None:
        args.data_as = "url"  # a page is given URLs; --data-as is Node's
    name = args.name if args.name is not None else ("profile" if args.profile else
                                                    "browser" if browser == "chromium" else
                                                    "browser-firefox" if browser == "firefox" else "")
    bench = f"load-{name}" if name else "load"
    out = out_dir_for(args.ort_version)
    apps = Apps(args.ort_version, out, args.baseline)
    builds = parse_builds(args.builds or default_builds(out), apps)
    specs = row_specs(args, builds, apps)

    if args.profile:
        profiled, ok = profile(specs, args, out)
        write_results(bench, args.ort_version, profiled, results_dir=args.results_dir, section=args.section or None)
        return 0 if ok else 1

    rows: list[dict[str, Any]] = []
    for build, key, data_as in specs:
        case_bytes = load_case(key).external_bytes
        if build.client == "before" and case_bytes > args.max_baseline_gib * GIB:
            continue
        why, free = guard(build, key, data_as, args)
        for threads in [int(t) for t in comma(args.threads)]:
            if why:
                row: dict[str, Any] = {"client": build.client, "variant": build.variant, "case": key,
                                       "data_as": data_as, "threads": threads, "ok": False,
                                       "external_bytes": case_bytes, "skipped": why}
            elif browser is not None:
                row = browser_row(browser, build, key, threads, args.timeout_s)
            else:
                with Watchdog() if args.mem_guard else _NoWatchdog() as dog:
                    row = node_row(build, key, data_as, threads, args.timeout_s)
                if dog.fired:
                    row["ok"], row["error"] = False, dog.fired
            if not why and (args.mem_guard or browser is not None):
                row["mem_available_before"] = free
            row["expect_ok"] = expect_ok(build.variant, key)
            rows.append(row)
            print(fmt(row), flush=True)
    if browser is not None:
        for key in comma(args.drain_cases):  # the page only fetches: any build's page serves the files
            row = browser_row(browser, builds[0], key, 1, args.timeout_s, drain=True)
            row["expect_ok"] = True
            rows.append(row)
            print(fmt(row), flush=True)

    warm: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    extra = [b for b in builds if b.client in ("ours", "before")] if args.runtime == "node" else []
    for build in extra:
        for key in comma(args.warm_cases):
            for data_as in comma(args.data_as):
                # two loads of the build before can hold 8 x the weights at once (4 x each, GC permitting)
                if build.client == "before" and load_case(key).external_bytes > args.max_baseline_warm_gib * GIB:
                    continue
                row = warm_row(build, key, data_as, args.timeout_s)
                warm.append(row)
                print(f"{build.client:>8} {build.variant:>13} {key:>11} {data_as:>5}  warm: " + (
                    f"2nd create {row['warm_session_ms']:8.0f} ms {row['warm_gb_per_s']:6.2f} GB/s "
                    f"(1st {row['cold_session_ms']:.0f} ms)" if "warm_session_ms" in row
                    else f"FAILED: {row['error']}"), flush=True)
        if args.rounds_case:
            row = rounds_row(build, args.rounds_case, args.timeout_s)
            rounds.append(row)
            growth = row.get("peak_growth_after_first")
            print(f"{build.client:>8} {build.variant:>13} {args.rounds_case:>11}  3 sessions: "
                  + (f"peak after 3rd release - after 1st = {growth / GIB:.3f} GiB ({row['peak_growth_x']}x)"
                     if growth is not None else f"FAILED: {row['error']}"), flush=True)

    for r in rows:
        if r["client"] != "ours" or not r["ok"]:
            continue
        before = next((b for b in rows if b["client"] == "before" and b["ok"] and all(
            b[k] == r[k] for k in ("variant", "case", "data_as"))), None)
        if before:
            r["before"] = {k: before.get(k) for k in ("peak_rss", "peak_rss_x", "session_ms", "gb_per_s",
                                                       "rss_after_session_x")}
    version = next((r.get("browser") for r in rows if r.get("browser")), None)
    result: dict[str, Any] = {"machine": machine_info(**({browser: version} if browser and version else {})),
                              "runtime": args.runtime, "rows": rows}
    if warm:
        result["warm"] = warm
    if rounds:
        result["rounds"] = rounds
    if args.floor:
        floors = {key: floor_row(key) for key in dict.fromkeys(r["case"] for r in rows)}
        result["floor"] = list(floors.values())
        for f in floors.values():
            print(f"   floor {f['case']:>13}: " + (f"{f['ms']:8.0f} ms {f['gb_per_s']:6.2f} GB/s into fresh wasm memory"
                                                   if f["ok"] else f"FAILED: {f['error']}"), flush=True)
        result["goals_current"] = current_goals(rows, floors)
        for gname, g in result["goals_current"].items():
            print(f"goal (issue #25) {gname}: {g}")
    if args.runtime == "node":
        result["goals"] = goals([r for r in rows if r["client"] == "ours"], warm)
        for gname, g in result["goals"].items():
            print(f"goal {gname}: {g}")
    write_results(bench, args.ort_version, result, results_dir=args.results_dir, section=args.section or None)
    surprises = [r for r in rows if not r.get("skipped") and r["ok"] != r["expect_ok"]]
    surprises += [r for r in warm + rounds if not r["ok"]]
    for r in surprises:
        print(f"UNEXPECTED: {r['client']} {r['variant']} {r['case']} {r['data_as']}: ok={r['ok']}")
    return 1 if surprises else 0


class _NoWatchdog:
    fired: str | None = None

    def __enter__(self) -> _NoWatchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
