"""Benchmark: heap-backed external data (issue #13) through onnxruntime-web's public API, against the build before.

Not a test: it prints figures and writes bench/results/runtime-load-heap.json.  Each row is one fresh Node 24
process running `InferenceSession.create(model, {externalData})` then `run` through our drop-in package
(`import 'onnxruntime-web/<variant>'`), as bench/runtime_load.py does, on the MEMFS variants only:

  - sources: `bytes` (a Uint8Array already in JS: the module copies it once into its heap) and `path` (a file path
    string: the module reads the file straight into its heap; before, onnxruntime-web read it into JS first);
  - cases: 256 MiB (`gather_256m`), 2.5 GiB in two initializers (`gather_2g5`: wasm32 refuses one tensor over
    2 GiB), 4.25 GiB in one initializer (`big_gather`, wasm64 only);
  - `rounds`: the same model created, run and released three times in one process (`path`), the kernel's
    high-water mark after each release: a heap block that outlives its session adds the weights again;
  - `warm`: the same, twice, timing the second create: the backend is initialised (about 0.4 s of wasm compile and
    thread start in the first create) and the heap already holds pages the first session freed (the first touch of
    fresh wasm memory costs about as much as the copy itself).  The rows above time a cold first create, as
    bench/runtime_load.py does.

`--baseline DIR` runs the same rows on the artifacts in DIR (an OUT dir of the build before, with its own JS),
and each row gets the baseline's figures beside it.  Rows over `--max-baseline-gib` of weights are not re-run on
the baseline (a 4.25 GiB path load peaked at 17.14 GiB there); bench/results/runtime-load.json and
docs/toolchain.md have the earlier figures.

    python bench/runtime_load_heap.py
    python bench/runtime_load_heap.py --baseline /var/cache/ortwasm/heapfs-baseline --cases gather_256m
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from bench.runtime_load import _fmt, _row
from ortwasm.paths import artifact_cache_dir
from tests.harness import models
from tests.harness.client import ClientJob, app_entry, client_app, run_client_node

GIB = 1024**3
DataAs = Literal["bytes", "path", "url", "blob", "stream"]
OUT = Path(__file__).resolve().parent / "results" / "runtime-load-heap.json"
VARIANTS = ("wasm32-memfs", "wasm64-memfs")
CASES = ("gather_256m", "gather_2g5", "big_gather")
WASM64_ONLY = ("big_gather",)
# issue #13's goals
PEAK_GOAL = (1.15, 0.3 * GIB)  # peak RSS <= 1.15 x weights + 0.3 GiB: 4.25 GiB, wasm64-memfs, from a path
BYTES_GOAL_GBPS = 3.0  # bytes already in JS: session creation at >= 3 GB/s


def _app(out: Path, name: str) -> Path:
    from ortwasm.package import build_packages

    return client_app(name, str(build_packages(out, Path(tempfile.mkdtemp())).tgz))


def _rounds(entry: Path, variant: str, key: str, label: str) -> dict[str, Any]:
    case = models.cached_case(key)
    job = ClientJob(entry, case.model, case.inputs, list(case.expected), case.external, data_as="path",
                    timeout_s=3600, sessions=3)
    r = run_client_node(job)
    rounds = r.memory.get("sessions") if r.ok else None
    row: dict[str, Any] = {"client": label, "variant": variant, "case": key, "data_as": "path", "ok": r.ok,
                           "error": r.error, "external_bytes": case.external_bytes, "rounds": rounds}
    if isinstance(rounds, list) and rounds:
        first, last = rounds[0]["peak_rss_after_release"], rounds[-1]["peak_rss_after_release"]
        row["peak_growth_after_first"] = last - first
        row["peak_growth_x"] = round((last - first) / case.external_bytes, 3)
    return row


def _warm(entry: Path, variant: str, key: str, data_as: str, label: str) -> dict[str, Any]:
    case = models.cached_case(key)
    job = ClientJob(entry, case.model, case.inputs, list(case.expected), case.external,
                    data_as=cast(DataAs, data_as), timeout_s=3600, sessions=2)
    r = run_client_node(job)
    rounds = r.memory.get("sessions") if r.ok else None
    row: dict[str, Any] = {"client": label, "variant": variant, "case": key, "data_as": data_as, "ok": r.ok,
                           "error": r.error, "external_bytes": case.external_bytes}
    if isinstance(rounds, list) and len(rounds) == 2:
        row["cold_session_ms"] = round(rounds[0]["session_ms"], 1)
        row["warm_session_ms"] = round(rounds[1]["session_ms"], 1)
        row["warm_gb_per_s"] = round(case.external_bytes / 1e9 / (rounds[1]["session_ms"] / 1e3), 3)
    return row


def _goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    big = [r for r in rows if r["variant"] == "wasm64-memfs" and r["case"] == "big_gather" and r["data_as"] == "path"]
    if big and big[0]["ok"]:
        limit = PEAK_GOAL[0] * big[0]["external_bytes"] + PEAK_GOAL[1]
        out["peak_4g25_wasm64_path"] = {"peak_rss": big[0]["peak_rss"], "limit": int(limit),
                                        "met": big[0]["peak_rss"] <= limit}
    out["bytes_gb_per_s"] = {f"{r['variant']} {r['case']}": {"gb_per_s": r["gb_per_s"],
                                                               "met": (r["gb_per_s"] or 0) >= BYTES_GOAL_GBPS}
                             for r in rows if r["data_as"] == "bytes" and r["ok"]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--data-as", default="bytes,path")
    p.add_argument("--rounds-case", default="gather_256m", help="case for the 3-session rows ('' to skip)")
    p.add_argument("--warm-cases", default="gather_256m,gather_2g5", help="cases for the warm rows ('' to skip)")
    p.add_argument("--baseline", type=Path, help="an OUT dir of the build before (variants and onnxruntime-web)")
    p.add_argument("--max-baseline-gib", type=float, default=3.0)
    p.add_argument("--max-baseline-warm-gib", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--section", default="", help="write under this key of --out, keeping the rest of the file")
    args = p.parse_args(argv)
    builds = [("heap", _app(artifact_cache_dir(), "ortwasm"))]
    if args.baseline:
        builds.append(("before", _app(args.baseline, "ortwasm-baseline")))
    rows: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    for variant in args.variants.split(","):
        for key in args.cases.split(","):
            if key in WASM64_ONLY and not variant.startswith("wasm64"):
                continue
            case = models.cached_case(key)
            for data_as in args.data_as.split(","):
                for label, app in builds:
                    if label == "before" and case.external_bytes > args.max_baseline_gib * GIB:
                        continue
                    job = ClientJob(app_entry(app, f"onnxruntime-web/{variant}"), case.model, case.inputs,
                                    list(case.expected), case.external, data_as=cast(DataAs, data_as),
                                    timeout_s=3600)
                    row = _row(label, variant, key, data_as, 1, job, case)
                    rows.append(row)
                    print(_fmt(row), flush=True)
        for key in [k for k in args.warm_cases.split(",") if k]:
            for data_as in args.data_as.split(","):
                for label, app in builds:
                    # two loads of the build before can hold 8 x the weights at once (4 x each, GC permitting)
                    if label == "before" and models.cached_case(key).external_bytes > args.max_baseline_warm_gib * GIB:
                        continue
                    row = _warm(app_entry(app, f"onnxruntime-web/{variant}"), variant, key, data_as, label)
                    warm.append(row)
                    print(f"{label:>8} {variant:>13} {key:>11} {data_as:>5}  warm: " + (
                        f"2nd create {row['warm_session_ms']:8.0f} ms {row['warm_gb_per_s']:6.2f} GB/s "
                        f"(1st {row['cold_session_ms']:.0f} ms)" if "warm_session_ms" in row
                        else f"FAILED: {row['error']}"), flush=True)
        if args.rounds_case:
            for label, app in builds:
                row = _rounds(app_entry(app, f"onnxruntime-web/{variant}"), variant, args.rounds_case, label)
                rounds.append(row)
                growth = row.get("peak_growth_after_first")
                print(f"{label:>8} {variant:>13} {args.rounds_case:>11}  3 sessions: "
                      + (f"peak after 3rd release - after 1st = {growth / GIB:.3f} GiB ({row['peak_growth_x']}x)"
                         if growth is not None else f"FAILED: {row['error']}"), flush=True)
    heap_rows = [r for r in rows if r["client"] == "heap"]
    for r in heap_rows:
        before = next((b for b in rows if b["client"] == "before" and all(
            b[k] == r[k] for k in ("variant", "case", "data_as"))), None)
        if before and before["ok"] and r["ok"]:
            r["before"] = {k: before[k] for k in ("peak_rss", "peak_rss_x", "session_ms", "gb_per_s",
                                                   "rss_after_session_x")}
    goals = _goals(heap_rows)
    goals["bytes_warm_gb_per_s"] = {f"{r['variant']} {r['case']}": {"gb_per_s": r.get("warm_gb_per_s"),
                                                                    "met": (r.get("warm_gb_per_s") or 0) >= 3.0}
                                    for r in warm if r["client"] == "heap" and r["data_as"] == "bytes"}
    result: dict[str, Any] = {"machine": machine_info(), "rows": rows, "warm": warm, "rounds": rounds,
                              "goals": goals}
    if args.section:  # the file's own measured_at stays that of the run that wrote it
        kept = json.loads(args.out.read_text()) if args.out.exists() else {}
        kept[args.section] = {**result, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(kept, indent=2) + "\n")
        os.replace(tmp, args.out)
        print(f"wrote {args.out} ({args.section!r})")
    else:
        write_results(args.out, result)
    for name, g in goals.items():
        print(f"goal {name}: {g}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
