"""Profile: where the time of a big external-data load goes (issue #13, deliverable 1), through the public API.

Not a test: it prints a summary and writes bench/results/profile-load.json and profile-load.md.  Each run is one
fresh Node 24 process, `node --cpu-prof`, running tests/harness/js/profile_load.mjs: our drop-in package
(`onnxruntime-web/<variant>`) creates a session from external data given as a file path (the heap-backed
streaming path) or as bytes already in JS, with ORT's own profiler on (`enableProfiling: true`; on wasm ORT
prints its JSON to stdout, which the driver collects).  Recorded per run:

  - the timeline split, performance.now() around the module's calls (durations only): backend init (wasm compile
    and instantiate, inside the first create), mountExternalData* (JS: stream or copy the bytes into the heap),
    _OrtCreateSession (wasm: ORT parses the model, maps the initializers, initialises the session), the rest;
  - CPU time and page faults over create (getrusage): system time there is the kernel zeroing fresh pages and
    copying file data, which a sampling profiler charges to whichever frame touched the page;
  - the --cpu-prof samples taken during create, self time per frame, top frames and groups;
  - ORT's own profile events (model load, session initialisation) when it wrote them;
  - peak RSS (VmHWM) as a multiple of the weights.

Why the groups are coarse: the release wasm has no name section, so its frames are `$funcN`/`wasm-function[N]`
and are summed as "wasm (unnamed)".  `--wasm-dir` points the runs at another pair of the same variant (a
`--profiling-funcs` build), and then ORT's own function names come through in the top frames.  The glue is
minified; each top glue frame carries a few characters of its source so it can be recognised.

    python bench/profile_load.py
    python bench/profile_load.py --runs wasm64-memfs:big_gather:path --wasm-dir /path/to/profiling-funcs/wasm64-memfs
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from bench.runtime_load_heap import _app
from ortwasm.paths import artifact_cache_dir
from tests.harness import models, runtime
from tests.harness.client import JS_DIR, app_entry

GIB = 1024**3
RESULTS = Path(__file__).resolve().parent / "results"
DRIVER = JS_DIR / "profile_load.mjs"
RUNS = ("wasm64-memfs:gather_2g5:path", "wasm32-memfs:gather_2g5:path", "wasm64-memfs:big_gather:path",
        "wasm64-memfs:gather_2g5:bytes", "wasm64-memfs:big_gather:bytes")
TOP = 15
GROUPS = ("JS mount/copy (glue)", "JS builtins (TypedArray copy, fs reads)", "memory growth (glue)",
          "JS<->wasm call wrappers (emscripten invoke_* trampolines)",
          "wasm ORT session init (unnamed)", "wasm ORT session init (named)", "JS onnxruntime-web",
          "Node internals (fs, streams)", "GC", "idle / waiting on IO", "native (V8/Node runtime, outside JS)",
          "other JS")


def _source_snippet(url: str, line: int, col: int, cache: dict[str, list[str]]) -> str:
    """A few characters of minified source at the frame, so a `Qa` in the table can be recognised."""
    if not url.startswith("file://"):
        return ""
    path = url[len("file://"):]
    if path not in cache:
        try:
            cache[path] = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    return lines[line][col:col + 160] if 0 <= line < len(lines) else ""


def _group(frame: dict[str, Any], snippet: str) -> str:
    name, url = frame["functionName"], frame["url"]
    if name == "(garbage collector)":
        return "GC"
    if name == "(idle)":
        return "idle / waiting on IO"
    if name in ("(program)", "(root)"):
        return "native (V8/Node runtime, outside JS)"
    if name.startswith(("js-to-wasm", "wasm-to-js")):
        return "JS<->wasm call wrappers (emscripten invoke_* trampolines)"
    if url.startswith("wasm://") or re.match(r"^(\$func\d+|wasm-function\[\d+\])$", name):
        return "wasm ORT session init (unnamed)" if re.search(r"func\d+|wasm-function", name) else \
            "wasm ORT session init (named)"
    if url.endswith("ort-wasm-simd-threaded.mjs"):
        return "memory growth (glue)" if ".grow(" in snippet else "JS mount/copy (glue)"
    if "onnxruntime-web" in url or "onnxruntime-common" in url:
        return "JS onnxruntime-web"
    if url.startswith("node:"):
        return "Node internals (fs, streams)"
    if not url:
        return "JS builtins (TypedArray copy, fs reads)"
    return "other JS"


def summarise_cpuprofile(prof: dict[str, Any], window_ns: tuple[int, int] | None) -> dict[str, Any]:
    """Self time per frame from the samples inside `window_ns` (the create call), top frames and groups."""
    nodes = {n["id"]: n for n in prof["nodes"]}
    samples, deltas = prof["samples"], prof["timeDeltas"]
    t = prof["startTime"]
    stamps: list[int] = []
    for d in deltas:
        t += d
        stamps.append(t)
    lo, hi = (window_ns[0] // 1000, window_ns[1] // 1000) if window_ns else (stamps[0], stamps[-1])
    if not stamps or lo > stamps[-1] or hi < stamps[0]:  # clocks disagree: keep the whole profile, say so
        lo, hi = stamps[0], stamps[-1]
        windowed = False
    else:
        windowed = True
    self_us: dict[int, float] = defaultdict(float)
    for i, node_id in enumerate(samples[:-1]):
        if lo <= stamps[i] <= hi:
            self_us[node_id] += stamps[i + 1] - stamps[i]
    total = sum(self_us.values()) or 1.0
    parent: dict[int, int] = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}

    def key(node_id: int) -> tuple[str, str, int, int]:
        cf = nodes[node_id]["callFrame"]
        return (cf["functionName"], cf["url"], cf["lineNumber"], cf["columnNumber"])

    by_frame: dict[tuple[str, str, int, int], float] = defaultdict(float)
    callers: dict[tuple[str, str, int, int], dict[tuple[str, str, int, int], float]] = defaultdict(
        lambda: defaultdict(float))
    for node_id, us in self_us.items():
        by_frame[key(node_id)] += us
        if node_id in parent:
            callers[key(node_id)][key(parent[node_id])] += us
    src: dict[str, list[str]] = {}
    frames = []
    groups: dict[str, float] = defaultdict(float)
    for (name, url, line, col), us in sorted(by_frame.items(), key=lambda kv: -kv[1]):
        snippet = _source_snippet(url, line, col, src)
        group = _group({"functionName": name, "url": url}, snippet)
        groups[group] += us
        top_caller = max(callers[(name, url, line, col)].items(), key=lambda kv: kv[1], default=None)
        caller = None
        if top_caller:
            (cname, curl, cline, ccol), _ = top_caller
            caller = {"function": cname or "(anonymous)", "url": curl.rsplit("/", 1)[-1] if curl else "",
                      "line": cline, "column": ccol, "source": _source_snippet(curl, cline, ccol, src)[:80]}
        frames.append({"function": name or "(anonymous)", "url": url.rsplit("/", 1)[-1] if url else "",
                       "line": line, "column": col, "self_ms": round(us / 1e3, 1),
                       "share": round(us / total, 4), "group": group, "source": snippet[:100], "caller": caller})
    return {"windowed_to_create": windowed, "sampled_ms": round(total / 1e3, 1), "top": frames[:TOP],
            "frames_total": len(frames),
            "groups": {g: {"self_ms": round(v / 1e3, 1), "share": round(v / total, 4)}
                       for g, v in sorted(groups.items(), key=lambda kv: -kv[1])}}


def summarise_ort_profile(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ORT's own Session-category events (model load, session initialisation), in milliseconds; the run's node
    events are left out (the profile is about create)."""
    return [{"name": e.get("name"), "ms": round(float(e.get("dur", 0)) / 1e3, 1)}
            for e in events if e.get("cat") == "Session" and e.get("name") not in ("model_run",
                                                                                   "SequentialExecutor::Execute")]


def profile_run(entry: Path, wasm_dir: Path, variant: str, key: str, data_as: str,
                ort_profiler: bool) -> dict[str, Any]:
    case = models.cached_case(key)
    ext = case.external_bytes
    with tempfile.TemporaryDirectory(prefix="ortwasm-cpuprof-") as tmp:
        payload = {"entry": str(entry), "wasmDir": str(wasm_dir), "model": str(case.model),
                   "externalData": [{"path": e.path, "file": str(e.file)} for e in case.external],
                   "dataAs": data_as, "enableProfiling": ort_profiler,
                   "inputs": {k: runtime.encode_tensor(v) for k, v in case.inputs.items()},
                   "outputs": list(case.expected), "logLevel": 3, "timeoutMs": 1800_000}
        r = runtime._run_script(DRIVER, payload, 1800, node_args=["--cpu-prof", f"--cpu-prof-dir={tmp}"])
        profs = sorted(Path(tmp).glob("*.cpuprofile"))
        cpu: dict[str, Any] | None = None
        if profs:
            window = r.raw.get("window_ns")
            cpu = summarise_cpuprofile(json.loads(profs[0].read_text()),
                                       (int(window[0]), int(window[1])) if window else None)
    mism = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok else []
    session_ms = r.timings.get("session_ms")
    peak = r.memory.get("peak_rss")
    ort_prof = r.raw.get("ort_profile")
    return {
        "variant": variant, "case": key, "data_as": data_as, "wasm_dir": str(wasm_dir), "ok": r.ok and not mism,
        "error": r.error, "stage": r.stage, "mismatches": mism, "external_bytes": ext, "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if r.ok and session_ms else None,
        "peak_rss": peak, "peak_rss_x": round(peak / ext, 3) if isinstance(peak, int) else None,
        "phases": r.raw.get("phases"), "rusage": r.raw.get("rusage"),
        "ort_profile": summarise_ort_profile(ort_prof) if isinstance(ort_prof, list) else None,
        "ort_profile_error": r.raw.get("ort_profile_error"), "cpu_profile": cpu,
    }


# 1 GiB into fresh wasm memory, then again into the same (now resident) pages: the first is what every load pays
FLOOR_JS = """
const n = 1 << 30;
const src = new Uint8Array(n); src.fill(7);
const mem = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
mem.grow(n / 65536);
const dst = new Uint8Array(mem.buffer, 0, n);
let t = performance.now(); dst.set(src); const first = performance.now() - t;
t = performance.now(); dst.set(src); const warm = performance.now() - t;
console.log(JSON.stringify({ bytes: n, first_touch_ms: first, warm_ms: warm }));
"""


def floors(files: list[Path]) -> dict[str, Any]:
    """What the hardware does in this run: `cat FILE > /dev/null` (page cache warm: the second of two reads) per
    weights file, and a copy into fresh vs resident wasm memory (the page-fault cost every copy into a new heap
    pays)."""
    out: dict[str, Any] = {"cat": {}}
    for f in files:
        for _ in range(2):
            t0 = time.perf_counter()
            with f.open("rb") as fh:
                subprocess.run(["cat"], stdin=fh, stdout=subprocess.DEVNULL, check=True)
            dt = time.perf_counter() - t0
        size = f.stat().st_size
        out["cat"][f.name] = {"bytes": size, "s": round(dt, 3), "gb_per_s": round(size / 1e9 / dt, 3)}
    proc = subprocess.run([str(runtime.node_binary()), "--input-type=module", "-e", FLOOR_JS],
                          capture_output=True, text=True, check=False)
    try:
        c = json.loads(proc.stdout.strip().splitlines()[-1])
        out["copy_into_fresh_wasm_memory_gb_per_s"] = round(c["bytes"] / 1e6 / c["first_touch_ms"], 3)
        out["copy_into_resident_wasm_memory_gb_per_s"] = round(c["bytes"] / 1e6 / c["warm_ms"], 3)
    except (IndexError, json.JSONDecodeError, KeyError):
        out["copy_error"] = (proc.stderr or proc.stdout)[-300:]
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    out["transparent_hugepage"] = thp.read_text().strip() if thp.exists() else None
    out["page_size"] = 4096
    return out


def findings(runs: list[dict[str, Any]], fl: dict[str, Any]) -> list[str]:
    """The reading of the figures, computed from them (so a re-run cannot leave stale prose behind)."""
    lines: list[str] = []
    fresh, warm = fl.get("copy_into_fresh_wasm_memory_gb_per_s"), fl.get("copy_into_resident_wasm_memory_gb_per_s")
    for r in runs:
        if not r["ok"] or not r.get("phases"):
            continue
        ph, ru, ext = r["phases"], r["rusage"] or {}, r["external_bytes"]
        mount, create = ph.get("mount_ms") or 0, ph.get("ort_create_session_ms") or 0
        total = r["session_ms"] or 1
        cat = next((v for k, v in fl.get("cat", {}).items() if k.startswith(r["case"])), None)
        pages = ext / 4096
        lines.append(
            f"- {r['variant']} {r['case']} from {r['data_as']}: the mount is {mount / total:.0%} of create "
            f"({ext / 1e9 / (mount / 1e3):.2f} GB/s), OrtCreateSession {create / total:.0%}; "
            f"{ru.get('minor_faults', 0) / pages:.2f} minor faults per 4 KiB page of weights, "
            f"system CPU {ru.get('system_cpu_ms', 0) / 1e3:.2f} s"
            + (f"; `cat` reads the same file at {cat['gb_per_s']} GB/s" if cat and r["data_as"] == "path" else "")
            + ".")
    if fresh and warm:
        lines.append(f"- A copy into fresh wasm memory runs at {fresh} GB/s here, into resident pages at {warm} GB/s: "
                     "with the first touch of every heap page (a kernel page fault that zeroes 4 KiB) the copy takes "
                     f"{warm / fresh:.1f}x as long.  Transparent huge pages: `{fl.get('transparent_hugepage')}`"
                     " (V8 does not madvise wasm memory, so it gets 4 KiB pages).")
    return lines


def _ms(v: object) -> str:
    return f"{float(v) / 1e3:.2f} s" if isinstance(v, int | float) else "-"


def markdown(runs: list[dict[str, Any]], named: bool, fl: dict[str, Any]) -> str:
    out = ["# Where an external-data load spends its time (issue #13, deliverable 1)", "",
           "Written by `bench/profile_load.py` (figures in profile-load.json).  Node 24, our drop-in onnxruntime-web, "
           "`InferenceSession.create` through the public API, one fresh process per row under `node --cpu-prof`; "
           "samples kept only while create runs.  Timeline by performance.now() around the module's calls (rest: "
           "importing the glue, reading the .wasm, session options, the model's copy, unmounting); CPU and "
           "page faults by getrusage over create; peak RSS by VmHWM.", ""]
    if not named:
        out += ["The release wasm has no name section: its frames are `$funcN` and are summed as **wasm (unnamed)**. "
                "Re-run with `--wasm-dir <a --profiling-funcs build>` for ORT's function names.", ""]
    out += ["## Timeline of create", "",
            "| run | weights | create | GB/s | backend init (compile, OrtInit) | mount (JS) | OrtCreateSession (wasm) "
            "| rest | user / sys CPU | minor faults | peak RSS |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if not r["ok"]:
            out.append(f"| {r['variant']} {r['case']} {r['data_as']} | | FAILED: {str(r['error'])[:100]} "
                       "| | | | | | | | |")
            continue
        ph, ru = r["phases"] or {}, r["rusage"] or {}
        out.append(f"| {r['variant']} {r['case']} {r['data_as']} | {r['external_bytes'] / GIB:.2f} GiB | "
                   f"{_ms(r['session_ms'])} | {r['gb_per_s']} | "
                   f"{_ms((ph.get('backend_init_ms') or 0) + (ph.get('ort_init_ms') or 0))} | "
                   f"{_ms(ph.get('mount_ms'))} | {_ms(ph.get('ort_create_session_ms'))} | {_ms(ph.get('rest_ms'))} | "
                   f"{_ms(ru.get('user_cpu_ms'))} / {_ms(ru.get('system_cpu_ms'))} | {ru.get('minor_faults')} | "
                   f"{r['peak_rss_x']}x |")
    out += ["", "## Reading", "", *findings(runs, fl), "",
            "Floors in the same run: " + ", ".join(f"`cat {k} > /dev/null` {v['s']} s ({v['gb_per_s']} GB/s)"
                                                  for k, v in fl.get("cat", {}).items()) + "."]
    for r in runs:
        cpu = r.get("cpu_profile")
        if not r["ok"] or not cpu:
            continue
        out += ["", f"## {r['variant']} {r['case']} from {r['data_as']}: {cpu['sampled_ms'] / 1e3:.2f} s sampled", "",
                "| group | self | share |", "|---|---|---|"]
        out += [f"| {g} | {v['self_ms'] / 1e3:.2f} s | {v['share']:.1%} |" for g, v in cpu["groups"].items()]
        out += ["", "| frame | where | self | share | group | main caller |", "|---|---|---|---|---|---|"]
        for f in cpu["top"]:
            where = f"{f['url']}:{f['line'] + 1}:{f['column'] + 1}" if f["url"] else ""
            hint = f" `{f['source'][:40]}`" if f["source"] else ""
            c = f.get("caller") or {}
            chint = f" `{c['source'][:30]}`" if c.get("source") else ""
            cwhere = f" ({c['url']}:{c['line'] + 1}:{c['column'] + 1})" if c.get("url") else ""
            out.append(f"| `{f['function']}`{hint} | {where} | {f['self_ms'] / 1e3:.2f} s | {f['share']:.1%} | "
                       f"{f['group']} | `{c.get('function', '')}`{chint}{cwhere} |")
        if r.get("ort_profile"):
            out += ["", "ORT's profiler: " + ", ".join(f"{e['name']} {e['ms'] / 1e3:.2f} s" for e in r["ort_profile"])]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=",".join(RUNS), help="comma list of variant:case:path|bytes")
    p.add_argument("--wasm-dir", type=Path, help="a pair dir to use instead of the artifact cache's (one variant)")
    p.add_argument("--no-ort-profiler", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "profile-load.json")
    p.add_argument("--md", type=Path, default=RESULTS / "profile-load.md")
    args = p.parse_args(argv)
    app = _app(artifact_cache_dir(), "ortwasm")
    runs: list[dict[str, Any]] = []
    for spec in args.runs.split(","):
        variant, key, data_as = spec.split(":")
        wasm_dir = args.wasm_dir or artifact_cache_dir() / variant
        r = profile_run(app_entry(app, f"onnxruntime-web/{variant}"), wasm_dir, variant, key, data_as,
                        not args.no_ort_profiler)
        runs.append(r)
        ph = r["phases"] or {}
        print(f"{variant:>13} {key:>11} {data_as:>5}  " + (
            f"create {_ms(r['session_ms'])} ({r['gb_per_s']} GB/s): init {_ms(ph.get('backend_init_ms'))}, "
            f"mount {_ms(ph.get('mount_ms'))}, OrtCreateSession {_ms(ph.get('ort_create_session_ms'))}, "
            f"rest {_ms(ph.get('rest_ms'))}; peak {r['peak_rss_x']}x" if r["ok"] else f"FAILED: {r['error']}"),
            flush=True)
    cases = {key for spec in args.runs.split(",") for key in [spec.split(":")[1]]}
    fl = floors([e.file for key in sorted(cases) for e in models.cached_case(key).external])
    named = any(f["group"] == "wasm ORT session init (named)" for r in runs
                for f in ((r.get("cpu_profile") or {}).get("top") or []))
    write_results(args.out, {"machine": machine_info(), "wasm_names": named, "floors": fl, "runs": runs})
    md = markdown(runs, named, fl)
    args.md.write_text(md)
    print(md)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
