"""MLAS pre-packing against load memory: MatMul-heavy models loaded with pre-packing on, off, and as the runtime
decides (auto), through our package and through the official client on our pair, in one run.

Why a bench of its own: ORT pre-packs every MatMul weight into a second buffer at session creation, so a
MatMul-heavy model can need its weights twice while it loads, where a Gather model (bench.load's cases) reads them
in place.  Turning pre-packing off (``session.disable_prepacking=1``) makes the load 1x but each run packs the
weights again, so both sides of the trade are measured here: the load's ``VmHWM`` and the time of each run.

Each row is a fresh Node 24 process: one create, then ``--runs`` runs, outputs checked against native onnxruntime.
``prepack`` is ``auto`` (no setting: what users get), ``on`` (``session.disable_prepacking=0``) or ``off`` (``=1``).

    python -m bench.prepack --ort-version 1.21.0 --builds ours:wasm32-memfs,official:wasm32-memfs \\
        --cases matmul_256m,mlp_3g_split --data-as path,bytes
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any, cast

from bench.common import GIB, Watchdog, comma, out_dir_for, ratio
from bench.load import Apps, Build, client_run, parse_builds
from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm.recipe import default_version

MODES = {"auto": {}, "on": {"session.disable_prepacking": "0"}, "off": {"session.disable_prepacking": "1"}}
GOAL_X = 1.1  # issue #25: a MatMul-heavy split model loads at <= 1.1x its weights


def row(build: Build, key: str, data_as: str, mode: str, runs: int, timeout_s: float) -> dict[str, Any]:
    case, r, mism = client_run(build, key, data_as, 1, timeout_s, session_config=MODES[mode], runs=runs)
    ext = case.external_bytes
    all_runs = r.raw.get("timings", {}).get("run_ms_all") or ([r.timings["run_ms"]] if "run_ms" in r.timings else [])
    warm = all_runs[1:] or all_runs
    return {
        "client": build.client, "variant": build.variant, "case": key, "data_as": data_as, "prepack": mode,
        "ok": r.ok and not mism, "error": r.error, "stage": r.stage, "mismatches": mism[:3],
        "external_bytes": ext, "session_ms": r.timings.get("session_ms"),
        "peak_rss": r.memory.get("peak_rss"), "peak_rss_x": ratio(r.memory.get("peak_rss"), ext),
        "rss_after_session_x": ratio(r.memory.get("rss_after_session"), ext),
        "first_run_ms": round(all_runs[0], 1) if all_runs else None,
        "run_ms_median": round(statistics.median(warm), 1) if warm else None,
        "runs": len(all_runs),
    }


def fmt(r: dict[str, Any]) -> str:
    head = (f"{r['client']:>8} {r['variant']:>13} {r['case']:>12} {r['data_as']:>5} prepack={r['prepack']:<4} "
            f"ext {r['external_bytes'] / GIB:5.2f}G")
    if not r["ok"]:
        return f"{head}  FAILED at {r['stage']}: {str(r['error'] or r['mismatches'])[:140]}"
    return (f"{head}  session {r['session_ms']:7.0f} ms  peak {r['peak_rss_x']}x  "
            f"run first {r['first_run_ms']} ms, median {r['run_ms_median']} ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.prepack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-version", default=None, help="the ORT version whose out dir and official client to use")
    p.add_argument("--builds", default="ours:wasm32-memfs,official:wasm32-memfs",
                   help="ours:VARIANT (our package), official:VARIANT (the official client on our pair)")
    p.add_argument("--cases", default="matmul_256m,mlp_3g_split")
    p.add_argument("--data-as", default="path,bytes")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout-s", type=float, default=1200.0)
    add_results_dir(p)
    args = p.parse_args(argv)
    version = args.ort_version or default_version()
    for m in comma(args.modes):
        if m not in MODES:
            p.error(f"--modes: {m!r} is not one of {', '.join(MODES)}")
    apps = Apps(version, out_dir_for(version), None)
    rows: list[dict[str, Any]] = []
    with Watchdog():
        for build in parse_builds(args.builds, apps):
            for key in comma(args.cases):
                for data_as in comma(args.data_as):
                    for mode in comma(args.modes):
                        r = row(build, key, data_as, mode, args.runs, args.timeout_s)
                        print(fmt(r), flush=True)
                        rows.append(r)
    goal = {f"{r['client']} {r['variant']} {r['case']} {r['data_as']}": {"peak_rss_x": r["peak_rss_x"],
                                                                         "met": r["peak_rss_x"] <= GOAL_X}
            for r in rows if r["ok"] and r["prepack"] == "auto" and r["case"].startswith("mlp")}
    write_results("prepack", version, {"machine": machine_info(), "rows": rows, "goal_x": GOAL_X, "goal": goal},
                  results_dir=cast(Path, args.results_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
