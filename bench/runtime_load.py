"""Benchmark: loading external data into a session through onnxruntime-web's public API, per variant and client.

Not a test: it prints figures and writes bench/results/runtime-load.json.  Each row is one fresh Node 24 process
running `InferenceSession.create(model, {externalData})` then `run`, through
  - ours: the drop-in package (`import 'onnxruntime-web/<variant>'`), built by `ortwasm package` from the
    artifact dir, or
  - official: npm's onnxruntime-web 1.21.0 with `env.wasm.wasmPaths` at our pair (or at its own dist).
External data is given either as bytes already in JS (`data: Uint8Array`) or as a file path (`data: 'x.bin'`,
which onnxruntime-web reads itself).  Recorded per row: session time and GB/s over it, the kernel's high-water
mark (VmHWM) before and after the session, RSS after the session, each also as a multiple of the external bytes.

    python bench/runtime_load.py                                   # every built variant, ours, default cases
    python bench/runtime_load.py --variants wasm64-memfs --cases big_gather --data-as path
    python bench/runtime_load.py --official-dist                   # npm's own pair, as the baseline
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import machine_info, write_results
from ortwasm.paths import artifact_cache_dir
from ortwasm.variants import load_table, release_variants
from tests.harness import models, runtime
from tests.harness.client import ClientJob, app_entry, client_app, package_dist, run_client_node

GIB = 1024**3
OUT = Path(__file__).resolve().parent / "results" / "runtime-load.json"
DEFAULT_CASES = ("gather_256m", "gather_2g5", "far_offset")
PAST_4GIB = ("far_offset", "big_gather")


def _row(client: str, variant: str, key: str, data_as: str, threads: int, job: ClientJob,
         case: models.ModelCase) -> dict[str, Any]:
    r = run_client_node(job)
    mism = runtime.compare_outputs(r.outputs, case.expected, case.rtol, case.atol) if r.ok else []
    ext = case.external_bytes
    session_ms = r.timings.get("session_ms")
    mem = r.memory

    def ratio(v: object) -> float | None:
        return round(float(v) / ext, 3) if isinstance(v, int | float) and ext else None

    return {
        "client": client, "variant": variant, "case": key, "data_as": data_as, "threads": threads,
        "ok": r.ok and not mism, "error": r.error, "stage": r.stage, "mismatches": mism,
        "external_bytes": ext, "read_ms": r.timings.get("read_ms"), "session_ms": session_ms,
        "gb_per_s": round(ext / 1e9 / (session_ms / 1e3), 3) if r.ok and session_ms else None,
        "peak_rss_before_session": mem.get("peak_rss_before_session"),
        "peak_rss": mem.get("peak_rss"), "peak_rss_x": ratio(mem.get("peak_rss")),
        "rss_after_session": mem.get("rss_after_session"), "rss_after_session_x": ratio(mem.get("rss_after_session")),
    }


def _fmt(row: dict[str, Any]) -> str:
    head = f"{row['client']:>8} {row['variant']:>13} {row['case']:>11} {row['data_as']:>5} t={row['threads']}"
    if not row["ok"]:
        return f"{head}  FAILED at {row['stage']}: {str(row['error'] or row['mismatches'])[:150]}"
    return (f"{head}  ext {row['external_bytes'] / GIB:5.2f}G  session {row['session_ms']:8.0f} ms "
            f"{row['gb_per_s']:6.2f} GB/s  peak {row['peak_rss'] / GIB:6.2f}G ({row['peak_rss_x']}x)  "
            f"after {row['rss_after_session'] / GIB:6.2f}G")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="", help="comma list (default: every built release variant)")
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma list from {sorted(models.GENERATORS)}")
    p.add_argument("--data-as", default="bytes,path", help="bytes, path, or both")
    p.add_argument("--threads", default="1")
    p.add_argument("--official-client", action="store_true", help="also run npm's 1.21.0 JS over our pairs")
    p.add_argument("--official-dist", action="store_true", help="also run npm's 1.21.0 JS with its own pair")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    out = artifact_cache_dir()
    names = [v for v in args.variants.split(",") if v] or [
        v.name for v in release_variants(load_table()) if not v.jsep and (out / v.name / "manifest.json").exists()]
    from ortwasm.package import build_packages

    ours = client_app("ortwasm", str(build_packages(out, Path(tempfile.mkdtemp())).tgz))
    official = client_app("official-1.21.0", "onnxruntime-web@1.21.0")
    runs: list[tuple[str, str, Path, Path | None]] = [("ours", v, app_entry(ours, f"onnxruntime-web/{v}"), None)
                                                     for v in names]
    if args.official_client:
        runs += [("official", v, app_entry(official), out / v) for v in names]
    if args.official_dist:
        runs.append(("official", "npm-dist", app_entry(official), package_dist(official)))
    rows: list[dict[str, Any]] = []
    for client, variant, entry, wasm_dir in runs:
        for key in args.cases.split(","):
            case = models.cached_case(key)
            for data_as in args.data_as.split(","):
                for threads in (int(t) for t in args.threads.split(",")):
                    job = ClientJob(entry, case.model, case.inputs, list(case.expected), case.external,
                                    data_as=data_as, num_threads=threads, wasm_dir=wasm_dir, timeout_s=3600)
                    row = _row(client, variant, key, data_as, threads, job, case)
                    row["expect_ok"] = variant.endswith("memfs") or key not in PAST_4GIB
                    rows.append(row)
                    print(_fmt(row), flush=True)
    write_results(args.out, {"machine": machine_info(), "rows": rows})
    surprises = [r for r in rows if r["ok"] != r["expect_ok"]]
    for r in surprises:
        print(f"UNEXPECTED: {r['client']} {r['variant']} {r['case']} {r['data_as']}: ok={r['ok']}")
    return 1 if surprises else 0


if __name__ == "__main__":
    raise SystemExit(main())
