"""Reading a load's profile: `node --cpu-prof` samples by frame and group, ORT's own events, the hardware floors,
and the markdown that presents them (``python -m bench.load --profile`` measures; ``bench.render`` presents).

Why the groups are coarse: the release wasm has no name section, so its frames are `$funcN`/`wasm-function[N]`
and are summed as "wasm (unnamed)"; a `--profiling-funcs` build (``--wasm-dir``) brings ORT's own names.  The glue
is minified; each top glue frame carries a few characters of its source so it can be recognised.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

GIB = 1024**3
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


def floors(files: list[Path], node: Path) -> dict[str, Any]:
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
    proc = subprocess.run([str(node), "--input-type=module", "-e", FLOOR_JS],
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


def markdown(runs: list[dict[str, Any]], named: bool, fl: dict[str, Any], level: int = 1) -> str:
    """The profile as markdown; `level` is the depth of its top heading."""
    h = "#" * level
    out = [f"{h} Where an external-data load spends its time (issue #13, deliverable 1)", "",
           "Written by `python -m bench.load --profile`.  Node 24, our drop-in onnxruntime-web, "
           "`InferenceSession.create` through the public API, one fresh process per row under `node --cpu-prof`; "
           "samples kept only while create runs.  Timeline by performance.now() around the module's calls (rest: "
           "importing the glue, reading the .wasm, session options, the model's copy, unmounting); CPU and "
           "page faults by getrusage over create; peak RSS by VmHWM.", ""]
    if not named:
        out += ["The release wasm has no name section: its frames are `$funcN` and are summed as **wasm (unnamed)**. "
                "Re-run with `--wasm-dir <a --profiling-funcs build>` for ORT's function names.", ""]
    out += [f"{h}# Timeline of create", "",
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
    out += ["", f"{h}# Reading", "", *findings(runs, fl), "",
            "Floors in the same run: " + ", ".join(f"`cat {k} > /dev/null` {v['s']} s ({v['gb_per_s']} GB/s)"
                                                  for k, v in fl.get("cat", {}).items()) + "."]
    for r in runs:
        cpu = r.get("cpu_profile")
        if not r["ok"] or not cpu:
            continue
        out += ["", f"{h}# {r['variant']} {r['case']} from {r['data_as']}: {cpu['sampled_ms'] / 1e3:.2f} s sampled", "",
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


