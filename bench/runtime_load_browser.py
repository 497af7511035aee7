"""Benchmark: heap-backed external data (issue #13) in headless Chromium, through onnxruntime-web's public API.

Not a test: it prints figures and writes bench/results/runtime-load-browser.json.  Each row is one fresh Chromium
(tests/harness/js/browser_load_memory.mjs driving tests/harness/js/ort_web_page.html) whose page imports our
drop-in package's browser entry (`ort.<variant>.min.mjs`) and calls `InferenceSession.create(modelUrl,
{externalData: [{path, data: url}]})`: onnxruntime-web hands the URLs to the module, which streams each response
into one wasm heap block (the heap-backed path), as an application's page would.  Files are served from a
cross-origin-isolated http://127.0.0.1 (SharedArrayBuffer needs COOP/COEP).

Why per-process VmHWM read at the end: the page cannot read its memory, a JS timer cannot sample while wasm blocks
the renderer, and the kernel keeps each process's peak for its life.  Peak RSS is renderer + GPU process (issue
#13), each also recorded (the page's renderer: the one with the highest peak; Playwright keeps helper renderers);
the browser and utility processes (network service) are in `processes`.  `fetch-drain` rows fetch the same URLs
in a page and read each body to its end, keeping nothing: the speed of the source as the page sees it, the
browser's `cat FILE > /dev/null`.  `peak_over_base_x`: the peak less what the
two processes held with the page loaded and no model, over the weights.

    python bench/runtime_load_browser.py
    python bench/runtime_load_browser.py --variants wasm64-memfs --cases gather_256m
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from bench.runtime_load_heap import _app
from ortwasm.paths import artifact_cache_dir, node_prefix
from tests.harness import models, runtime
from tests.harness.client import JS_DIR, package_dist
from tests.harness.runtime import CHROMIUM, StaticServer, _run_script

GIB = 1024**3
OUT = Path(__file__).resolve().parent / "results" / "runtime-load-browser.json"
DRIVER = JS_DIR / "browser_load_memory.mjs"
VARIANTS = ("wasm32-memfs", "wasm64-memfs")
CASES = ("gather_256m", "gather_2g5", "big_gather")
WASM64_ONLY = ("big_gather",)
BIG_NEEDS_FREE = 14 * GIB  # the brief's floor for the 4.25 GiB row on a shared 24 GiB machine


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_browser(variant: str, case: models.ModelCase, dist: Path, timeout_s: float,
                drain: bool = False) -> runtime.RunResult:
    with StaticServer() as srv:
        srv.add("/harness/page.html", JS_DIR / "ort_web_page.html")
        for f in sorted(dist.rglob("*")):
            if f.is_file():
                srv.add(f"/ort/{f.relative_to(dist)}", f)
        payload: dict[str, Any] = {
            "pageUrl": srv.base_url + "/harness/page.html",
            "entryUrl": f"{srv.base_url}/ort/ort.{variant}.min.mjs",
            "wasmDirUrl": None,
            "modelUrl": srv.add(f"/data/{case.model.name}", case.model),
            "externalData": [{"path": e.path, "url": srv.add(f"/data/ext{i}/{e.file.name}", e.file)}
                             for i, e in enumerate(case.external)],
            "inputs": {k: runtime.encode_tensor(v) for k, v in case.inputs.items()},
            "outputs": list(case.expected),
            "numThreads": 1,
            "logLevel": 3,
            "timeoutMs": int(timeout_s * 1000),
            "chromium": str(CHROMIUM),
            "drainOnly": drain,
        }
        env = {"ORTWASM_NODE_MODULES": str(node_prefix() / "node_modules")}
        return _run_script(DRIVER, payload, timeout_s, env=env)


def _x(v: object, ext: int) -> float | None:
    return round(float(v) / ext, 3) if isinstance(v, int | float) and ext else None


def row_for(variant: str, key: str, dist: Path, timeout_s: float, drain: bool = False) -> dict[str, Any]:
    case = models.cached_case(key)
    ext = case.external_bytes
    r = run_browser(variant, case, dist, timeout_s, drain)
    mism = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok and not drain else []
    mem: dict[str, Any] = dict(r.memory)
    after = mem.get("after_session") or {}
    session_ms = r.timings.get("session_ms")
    ok = r.ok and not mism
    rss_after = (after.get("renderer_rss", 0) + after.get("gpu_rss", 0)) if after else None
    before = mem.get("before_load") or {}
    base = (before.get("renderer", 0) + before.get("gpu", 0)) if before else 0  # the page loaded, no model yet
    return {
        "variant": "fetch-drain" if drain else variant, "case": key, "data_as": "url", "ok": ok, "error": r.error,
        "stage": r.stage,
        "mismatches": mism, "external_bytes": ext, "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if ok and session_ms else None,
        "peak_rss": mem.get("peak_rss"), "peak_rss_x": _x(mem.get("peak_rss"), ext),
        "peak_renderer": mem.get("peak_renderer"), "peak_renderer_x": _x(mem.get("peak_renderer"), ext),
        "peak_gpu": mem.get("peak_gpu"), "peak_gpu_x": _x(mem.get("peak_gpu"), ext),
        "peak_renderers_sum": mem.get("peak_renderers_sum"),
        "peak_all_processes_sum": mem.get("peak_all_processes_sum"),
        "peak_over_base_x": _x(mem["peak_rss"] - base, ext) if mem.get("peak_rss") and base else None,
        "rss_after_session": rss_after, "rss_after_session_x": _x(rss_after, ext),
        "before_load": mem.get("before_load"), "processes": mem.get("processes"),
        "browser": r.raw.get("browser"), "console_tail": (r.raw.get("console") or [])[-5:] if not ok else [],
    }


def skipped(variant: str, key: str, reason: str) -> dict[str, Any]:
    return {"variant": variant, "case": key, "data_as": "url", "ok": False, "skipped": reason,
            "external_bytes": models.cached_case(key).external_bytes}


def fmt(row: dict[str, Any]) -> str:
    head = f"{row['variant']:>13} {row['case']:>11}  ext {row['external_bytes'] / GIB:5.2f}G"
    if row.get("skipped"):
        return f"{head}  SKIPPED: {row['skipped']}"
    if not row["ok"]:
        return f"{head}  FAILED at {row['stage']}: {str(row['error'] or row['mismatches'])[:150]}"
    if row["variant"] == "fetch-drain":
        return (f"{head}  fetched and read to the end in {row['session_ms']:8.0f} ms {row['gb_per_s']:5.2f} GB/s  "
                f"peak r+g {row['peak_rss'] / GIB:6.2f}G")
    return (f"{head}  session {row['session_ms']:8.0f} ms {row['gb_per_s']:5.2f} GB/s  "
            f"peak r+g {row['peak_rss'] / GIB:6.2f}G ({row['peak_rss_x']}x) = renderer {row['peak_renderer_x']}x "
            f"+ gpu {row['peak_gpu_x']}x (over base {row['peak_over_base_x']}x)  "
            f"after session {row['rss_after_session'] / GIB:5.2f}G "
            f"({row['rss_after_session_x']}x)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--timeout-s", type=float, default=1800)
    p.add_argument("--drain-cases", default="gather_2g5,big_gather",
                   help="cases whose files the page only fetches and reads to the end: the source's own speed")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    dist = package_dist(_app(artifact_cache_dir(), "ortwasm"))
    rows: list[dict[str, Any]] = []
    for variant in args.variants.split(","):
        for key in args.cases.split(","):
            if key in WASM64_ONLY and not variant.startswith("wasm64"):
                continue
            free = mem_available()
            if key == "big_gather" and free < BIG_NEEDS_FREE:
                row = skipped(variant, key, f"MemAvailable {free / GIB:.1f} GiB < {BIG_NEEDS_FREE / GIB:.0f} GiB")
            else:
                row = row_for(variant, key, dist, args.timeout_s)
                row["mem_available_before"] = free
            rows.append(row)
            print(fmt(row), flush=True)
    for key in [k for k in args.drain_cases.split(",") if k]:
        row = row_for("fetch-drain", key, dist, args.timeout_s, drain=True)
        rows.append(row)
        print(fmt(row), flush=True)
    write_results(args.out, {"machine": machine_info(chromium=next((r.get("browser") for r in rows
                                                                      if r.get("browser")), None)),
                             "rows": rows})
    print("\n| variant | weights | session | GB/s | peak renderer+GPU | renderer | GPU | peak over base "
          "| RSS after session |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["ok"] and r["variant"] == "fetch-drain":
            print(f"| fetch-drain (source speed) | {r['external_bytes'] / GIB:.2f} GiB | "
                  f"{r['session_ms'] / 1e3:.2f} s | "
                  f"{r['gb_per_s']} | {r['peak_rss'] / GIB:.2f} GiB = {r['peak_rss_x']}x | | | | |")
        elif r["ok"]:
            print(f"| {r['variant']} | {r['external_bytes'] / GIB:.2f} GiB | {r['session_ms'] / 1e3:.2f} s | "
                  f"{r['gb_per_s']} | {r['peak_rss'] / GIB:.2f} GiB = {r['peak_rss_x']}x | {r['peak_renderer_x']}x | "
                  f"{r['peak_gpu_x']}x | {r['peak_over_base_x']}x | "
                  f"{r['rss_after_session'] / GIB:.2f} GiB = {r['rss_after_session_x']}x |")
        else:
            print(f"| {r['variant']} | {r['external_bytes'] / GIB:.2f} GiB | "
                  f"{r.get('skipped') or 'FAILED: ' + str(r.get('error'))[:80]} | | | | | | |")
    return 0 if all(r["ok"] or r.get("skipped") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
