"""Write docs/measurements.md from bench/results/*.json: the key figures of every result, with when and how.

Why generated: figures copied into prose by hand drift from the files they came from.  This reads each result
file and writes tables of its key figures (sizes, sha256 prefixes, load peaks as multiples of the weights, times),
its ``measured_at`` and the command that makes it (``RESULTS`` below; bench/README.md has the same table).  Same
results, same bytes: nothing here reads the clock or the machine.

    python -m bench.render            # write docs/measurements.md
    python -m bench.render --check    # exit 1 when docs/measurements.md is not what the results give
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cpuprofile
from bench.results_io import RESULTS_DIR

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "measurements.md"
GIB = 1024**3
_HEAP = "/var/cache/ortwasm/heapfs-baseline"

# result file -> (the claim it backs, the command that makes it); bench/README.md carries the same table.
RESULTS: dict[str, tuple[str, str]] = {
    "build-1.21.0.json": (
        "ORT 1.21.0 builds: compile+link time per variant, configure time, artifact sizes and sha256",
        "python -m bench.build_figures --ort-version 1.21.0 --build-dir /var/cache/ortwasm/build "
        "--out /var/cache/ortwasm/out"),
    "build-1.30.0.json": (
        "ORT 1.30.0 builds: the same figures, and npm's onnxruntime-web 1.30.0 sizes beside them; sid's emscripten "
        "6.0.5 in its own section",
        "python -m bench.build_figures --ort-version 1.30.0; "
        "python -m bench.build_figures --ort-version 1.30.0 --build-dir /var/cache/ortwasm/build-1.30.0-sid "
        "--out /var/cache/ortwasm/out-1.30.0-sid --section emscripten-6.0.5"),
    "check-speed-1.21.0.json": (
        "`ortwasm check` takes under 1 s per 10 MB of wasm",
        "python -m bench.check_speed /var/cache/ortwasm/npm-cache/onnxruntime-web-1.21.0/dist --brotli-all"),
    "driver-speed-buildpy-first-1.21.0.json": (
        "Cold, our driver is not slower than ORT's build.py (build.py run first); outputs sha256-identical",
        "python -m bench.driver_speed --order buildpy-first"),
    "driver-speed-ours-first-1.21.0.json": (
        "Cold, our driver is not slower than ORT's build.py (ours run first); outputs sha256-identical",
        "python -m bench.driver_speed"),
    "interrupt-link-1.30.0.json": (
        "Ctrl-C during the link leaves OUT untouched; the rerun gives the uninterrupted build's sha256",
        "python -m bench.interrupt_link wasm32 --ort-version 1.30.0"),
    "js-identity-1.21.0.json": (
        "The JS stage on the unpatched tree gives npm's onnxruntime-web dist, file for file",
        "python -m bench.js_identity"),
    "load-1.21.0.json": (
        "Past 4 GiB of external data loads only on the MEMFS variants; load peaks and times per variant (Node)",
        "python -m bench.load --cases gather_256m,far_offset"),
    "load-browser-1.21.0.json": (
        "Heap-backed external data in headless Chromium: renderer + GPU peak as a multiple of the weights",
        "python -m bench.load --runtime chromium --timeout-s 1800 --builds ours:wasm32-memfs,ours:wasm64-memfs "
        "--cases gather_256m,gather_2g5,big_gather --drain-cases gather_2g5,big_gather"),
    "load-heap-1.21.0.json": (
        "Heap-backed external data (issue #13): peak RSS and load speed against the build before",
        f"python -m bench.load --name heap --builds ours:wasm32-memfs,ours:wasm64-memfs --baseline {_HEAP} "
        "--cases gather_256m,gather_2g5,big_gather --warm-cases gather_256m,gather_2g5 --rounds-case gather_256m; "
        f"python -m bench.load --name heap --section prepacked --builds ours:wasm32-memfs,ours:wasm64-memfs "
        f"--baseline {_HEAP} --cases matmul_256m --rounds-case matmul_256m"),
    "prepack-1.21.0.json": (
        "MatMul-heavy models (3 GiB in two files, as transformers.js writes them) on wasm32-memfs with MLAS "
        "pre-packing automatic, on and off: load peak and run time, our package and npm's client on our pair",
        "python -m bench.prepack --ort-version 1.21.0 --builds ours:wasm32-memfs,official:wasm32-memfs "
        "--cases matmul_256m,mlp_3g_split --data-as path,bytes"),
    "prepack-1.30.0.json": (
        "ORT 1.30.0: the same MatMul-heavy models on wasm32-memfs and wasm64-memfs with pre-packing automatic, on "
        "and off, our package and npm's client on our pair, and npm's own 1.30.0 dist beside them",
        "python -m bench.prepack --ort-version 1.30.0 --builds ours:wasm32-memfs,ours:wasm64-memfs,"
        "official:wasm32-memfs,official:dist --cases matmul_256m,mlp_3g_split --data-as path,bytes"),
    "load-current-1.30.0.json": (
        "ORT 1.30.0 in Node 24, official onnxruntime-web 1.30.0 beside ours in one run: one 2.5 GiB initializer, a "
        "tensor past 4 GiB in its file, 4.25 GiB in one initializer, 5 GiB of MatMul weights in four files; the "
        "copy floor and issue #25's goals",
        "python -m bench.load --ort-version 1.30.0 --name current --floor --threads 2 --mem-guard --timeout-s 1800 "
        "--runs ours:wasm32-memfs:gather_2g5_one:path,ours:wasm32-memfs:far_offset:path,"
        "ours:wasm32-memfs:gather_2g5_one:bytes,ours:wasm64-memfs:big_gather:path,ours:wasm64-memfs:mlp_5g_split:path,"
        "ours:wasm64-memfs:gather_2g5_one:path,ours:wasm64-memfs:far_offset:path,ours:wasm64-memfs:big_gather:bytes,"
        "official:wasm32-memfs:gather_2g5_one:path,official:wasm32-memfs:far_offset:path,"
        "official:dist:gather_2g5_one:path,official:dist:far_offset:path,official:dist:mlp_5g_split:path,"
        "official:dist:big_gather:path; "
        "python -m bench.load --ort-version 1.30.0 --name current --section dist_unguarded --threads 2 "
        "--timeout-s 900 --runs official:dist:far_offset:path,official:dist:mlp_5g_split:path; "
        "ORTWASM_ARTIFACTS_1_30_0=/var/cache/ortwasm/out-1.30.0-sid python -m bench.load --ort-version 1.30.0 "
        "--name current --section emscripten-6.0.5 --floor --threads 2 --mem-guard --timeout-s 1800 --runs "
        "ours:wasm32-memfs:gather_2g5_one:path,ours:wasm32-memfs:far_offset:path,"
        "ours:wasm32-memfs:gather_2g5_one:bytes,ours:wasm32-memfs:mlp_3g_split:path,ours:wasm64-memfs:big_gather:path,"
        "ours:wasm64-memfs:mlp_5g_split:path,ours:wasm64-memfs:gather_2g5_one:path,ours:wasm64-memfs:far_offset:path,"
        "ours:wasm64-memfs:big_gather:bytes,official:wasm32-memfs:gather_2g5_one:path,"
        "official:wasm64-memfs:big_gather:path"),
    "load-current-chromium-1.30.0.json": (
        "ORT 1.30.0 in headless Chromium, official onnxruntime-web 1.30.0 beside ours in one run: renderer VmHWM "
        "on the same cases, from URLs",
        "python -m bench.load --ort-version 1.30.0 --runtime chromium --name current-chromium --floor --threads 2 "
        "--timeout-s 1200 --builds ours:wasm32-memfs,ours:wasm64-memfs,official:wasm32-memfs,official:dist "
        "--cases gather_2g5_one,far_offset,big_gather,mlp_5g_split --wasm64-only-cases big_gather,mlp_5g_split"),
    "load-current-firefox-1.30.0.json": (
        "ORT 1.30.0 in headless Firefox ESR 153: content-process VmHWM on the same cases, ours beside npm's dist",
        "python -m bench.load --ort-version 1.30.0 --runtime firefox --name current-firefox --threads 2 "
        "--timeout-s 1200 --builds ours:wasm32-memfs,ours:wasm64-memfs,official:dist "
        "--cases gather_2g5_one,far_offset,big_gather --wasm64-only-cases big_gather"),
    "load-single-2g5-1.21.0.json": (
        "One 2.5 GiB initializer (gather_2g5_one) beside the same bytes in two (gather_2g5) on wasm32-memfs: our "
        "package, npm's client on our pair, npm's own dist (which cannot load the single one)",
        "python -m bench.load --name single-2g5 --cases gather_2g5_one,gather_2g5 --data-as path,bytes "
        "--builds ours:wasm32-memfs,official:wasm32-memfs,official:dist --threads 2"),
    "load-off-1.21.0.json": (
        "2.5 GiB and more on the MEMFS-OFF builds and npm's dist vs the MEMFS builds: peaks and verbatim failures",
        "python -m bench.load --name off --mem-guard --timeout-s 1800 --wasm64-only-cases '' "
        "--builds ours:wasm32,ours:wasm64,official:dist,ours:wasm32-memfs,ours:wasm64-memfs "
        "--cases gather_2g5,gather_3g25,big_gather"),
    "load-profile-1.21.0.json": (
        "Where the time of a big external-data load goes (issue #13, deliverable 1)",
        "python -m bench.load --profile --runs wasm64-memfs:gather_2g5:path,wasm32-memfs:gather_2g5:path,"
        "wasm64-memfs:big_gather:path,wasm64-memfs:gather_2g5:bytes,wasm64-memfs:big_gather:bytes"),
    "package-1.21.0.json": (
        "`ortwasm package` takes under 10 s for the four release variants, reproducibly",
        "python -m bench.package_speed"),
    "remote-cache-1.21.0.json": (
        "A shared ccache on a real Redis (issue #27), one run: the cold build, the warm-remote one with an empty local "
        "cache, the other MEMFS setting, and a second ORTWASM_HOME; wall times, hit rates, bytes stored, sha256",
        "python -m bench.remote_cache --ort-version 1.21.0"),
    "release-size-1.30.0.json": (
        "The 1.30.0 release preset's wasm against npm's 1.30.0 dist, and the default build beside it, by section "
        "and data-section strings",
        "python -m bench.release_size --ort-version 1.30.0"),
    "release-size-1.21.0.json": (
        "The release preset's wasm against npm's 1.21.0 dist, by section and data-section strings",
        "python -m bench.release_size"),
    "sizes-1.21.0.json": (
        "The reference sizes ci budgets and tests/test_checks.py read (raw, gzip -9, sha256 per release variant)",
        "python -m bench.artifact_sizes"),
    "upstream-identity-1.21.0.json": (
        "With MEMFS OFF our wasm32 is sha256-identical to ORT's own build.py on the unpatched 1.21.0 tree",
        "python -m bench.upstream_identity"),
    "upstream-identity-1.30.0.json": (
        "The same identity for ORT 1.30.0",
        "python -m bench.upstream_identity --ort-version 1.30.0"),
    "upstream-identity-wasm32-asyncify-1.30.0.json": (
        "The same identity for 1.30.0's `.asyncify` pair (the WebGPU EP; upstream's CI flags, Dawn, sid's emscripten)",
        "python -m bench.upstream_identity --ort-version 1.30.0 --toolchain sid --variant wasm32-asyncify "
        "--ours /var/cache/ortwasm/out-1.30.0-webgpu/wasm32-asyncify"),
    "upstream-identity-wasm32-jspi-1.30.0.json": (
        "The same for 1.30.0's `.jspi` pair: the `.mjs` and every compiled object identical; the `.wasm` link is "
        "not reproducible, even by build.py (LLVM 21's exception-handling block order)",
        "python -m bench.upstream_identity --ort-version 1.30.0 --toolchain sid --variant wasm32-jspi "
        "--ours /var/cache/ortwasm/out-1.30.0-webgpu/wasm32-jspi "
        "--ours-build-dir /var/cache/ortwasm/build-1.30.0-sid/wasm32-jspi --relinks 2"),
    "webgpu-1.21.0.json": (
        "WebGPU (JSEP) variants: build time, sizes next to npm's .jsep pair, big-model loads on SwiftShader",
        "python -m bench.webgpu"),
    "webgpu-1.30.0.json": (
        "The native WebGPU EP (.asyncify, .jspi): sizes next to npm's pairs, big-model loads on SwiftShader, npm's "
        "own pairs beside ours, renderer and GPU-process VmHWM",
        "ORTWASM_ARTIFACTS_1_30_0=<out dir> python -m bench.webgpu --ort-version 1.30.0"),
}


# ------------------------------------------------------------------------------------------------ formatting


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).replace("|", "/").replace("\n", " ")


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return []
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(_cell(c) for c in r) + " |" for r in rows), ""]


def _sha(v: Any) -> str:
    return f"`{v[:16]}`" if isinstance(v, str) and v else "-"


def _x(v: Any) -> str:
    return f"{v}x" if isinstance(v, int | float) else "-"


def _s(ms: Any) -> str:
    return f"{ms / 1e3:.2f} s" if isinstance(ms, int | float) else "-"


def _gib(b: Any) -> str:
    return f"{b / GIB:.2f} GiB" if isinstance(b, int | float) else "-"


def _files(files: dict[str, Any], label: str = "") -> list[list[Any]]:
    return [[*([label] if label else []), name, f.get("bytes"), f.get("gzip9"), _sha(f.get("sha256"))]
            for name, f in files.items()]


# ------------------------------------------------------------------------------------------------ per bench


def r_build(d: dict[str, Any]) -> list[str]:
    out = _build_variants(d)
    for key, files in d.items():
        if key.startswith("official_onnxruntime_web_") and files:
            out += [f"npm's onnxruntime-web {key.rsplit('_', 1)[-1]}:", "",
                    *table(["file", "bytes", "gzip -9", "sha256"], _files(files))]
    ident = {k: v for k, v in (d.get("off_identity_vs_unpatched") or {}).items() if isinstance(v, dict)
             and "identical" in v}
    out += table(["file", "unpatched sha256", "ours (OFF) sha256", "identical"],
                 [[k, _sha(v["upstream_sha256"]), _sha(v["ours_off_sha256"]), v["identical"]]
                  for k, v in ident.items()])
    for key, other in d.items():  # another toolchain's builds of the same tree (build_figures --section)
        if key.startswith("emscripten-") and isinstance(other, dict):
            out += [f"Built with {key.replace('-', ' ', 1)} (`{other.get('command')}`):", "", *_build_variants(other)]
            out += _toolchain_delta(d, other)
    return out


def _toolchain_delta(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Each file's size with the other toolchain against the default's: the figure a toolchain choice moves."""
    rows = []
    for v, info in (other.get("variants") or {}).items():
        ref = ((base.get("variants") or {}).get(v) or {}).get("files") or {}
        for name, f in (info.get("files") or {}).items():
            if name in ref:
                rows.append([v, name, ref[name]["bytes"], f["bytes"], f"{f['bytes'] / ref[name]['bytes'] - 1:+.1%}"])
    return table(["variant", "file", "default toolchain", "this toolchain", "change"], rows)


def _build_variants(d: dict[str, Any]) -> list[str]:
    out = table(["variant", "file", "bytes", "gzip -9", "sha256"],
                [row for v, info in d.get("variants", {}).items() for row in _files(info.get("files", {}), v)])
    out += table(["variant", "compile+link (Ninja)", "link", "configure", "emscripten", "patch set"],
                 [[v, f"{(i.get('ninja') or {}).get('compile_link_s')} s", f"{(i.get('ninja') or {}).get('link_s')} s",
                   " + ".join(f"{c} s" for c in i.get("configure_s") or []) or "-", i.get("emscripten"),
                   i.get("patchset")] for v, i in d.get("variants", {}).items()])
    return out


def r_sizes(d: dict[str, Any]) -> list[str]:
    return table(["variant", "file", "bytes", "gzip -9", "sha256"],
                 [row for v, info in d.get("variants", {}).items() for row in _files(info.get("files", {}), v)])


def r_release_size(d: dict[str, Any]) -> list[str]:
    wasm = d.get("wasm", {})
    out = table(["build", "bytes", "gzip -9", "vs official", "sha256", "emscripten"],
                [[k, r.get("bytes"), r.get("gzip9"), f"{r.get('over_official', 0):+.1%}", _sha(r.get("sha256")),
                  r.get("emscripten", "-")] for k, r in wasm.items()])
    off = d.get("official_build") or {}
    if off:
        out += [f"Official build (from `{off.get('file')}`): emsdk {', '.join(off.get('emsdk') or [])}, "
                f"vcpkg {_cell(off.get('uses_vcpkg'))}.", ""]
    strings = d.get("data_strings_release_vs_official") or {}
    out += table(["side", "kind", "strings", "bytes"],
                 [[side, kind, r["strings"], r["bytes"]] for side, kinds in strings.items()
                  for kind, r in kinds.items()])
    return out


def r_upstream_identity(d: dict[str, Any]) -> list[str]:
    ours = d.get("ours") or {}
    out = table(["file", "bytes", "build.py sha256", "ours sha256"],
                [[f, (d.get("build_py_bytes") or {}).get(f), _sha(s), _sha(ours.get(f))]
                 for f, s in (d.get("build_py") or {}).items()])
    out += [f"Identical: **{_cell(d.get('identical'))}**; build.py took {d.get('seconds')} s "
            f"(ccache {_cell(d.get('ccache'))}); toolchain: {d.get('toolchain')}.", ""]
    objects = d.get("objects")
    if objects:
        out += [f"Compiled objects and archives against ours ({objects.get('ours_build_dir')}): "
                f"**{objects.get('same')} of {objects.get('compared')} identical**, {len(objects.get('differ') or [])} "
                f"differ, {objects.get('only_ours', 0) + objects.get('only_build_py', 0)} without a match.", ""]
    relinks = d.get("relinks") or []
    if relinks:
        out += [f"build.py's pair linked again {len(relinks)} times from the same objects and flags: link "
                f"reproducible: **{_cell(d.get('link_reproducible'))}**.", ""]
        out += table(["link", *(d.get("build_py") or {})],
                     [["the build", *(_sha(h) for h in (d.get("build_py") or {}).values())],
                      *([f"relink {i + 1}", *(_sha(h) for h in r.values())] for i, r in enumerate(relinks))])
    return out


def r_driver_speed(d: dict[str, Any]) -> list[str]:
    rows = [[k, r.get("wall_s"), r.get("configure_s"), r.get("compile_wall_s"), r.get("link_s"),
             r.get("load_at_start"), r.get("exit"), _sha(r.get("wasm_sha256")), r.get("wasm_bytes")]
            for k, r in (("ours", d.get("ours") or {}), ("ORT build.py", d.get("buildpy") or {}))]
    same = d.get("same_compile_steps") or {}
    return [*table(["driver", "wall s", "configure s", "compile wall s", "link s", "load at start", "exit",
                    "wasm sha256", "wasm bytes"], rows),
            f"Order {d.get('order')}, {d.get('jobs')} jobs: ours / build.py = **{d.get('ratio_ours_over_buildpy')}**; "
            f"wasm identical: {_cell(d.get('identical_wasm'))}; the {same.get('compile_steps_compared')} compile "
            f"steps both ran took {same.get('median_step_ratio')}x (median, ours over build.py).", ""]


def r_interrupt_link(d: dict[str, Any]) -> list[str]:
    i, r = d.get("interrupted_run") or {}, d.get("rerun") or {}
    return table(["run", "exit", "wall s", "detail"], [
        ["interrupted", i.get("returncode"), i.get("wall_s"),
         f"SIGINT {i.get('sigint_after_link_start_s')} s into `{i.get('phase_at_sigint')}`; says interrupted: "
         f"{_cell(i.get('says_interrupted'))}; OUT unchanged: {_cell(i.get('out_unchanged'))}"],
        ["rerun", r.get("returncode"), r.get("wall_s"),
         f"wasm {_sha((d.get('sha256_after_rerun') or {}).get('wasm'))}; identical to the uninterrupted build: "
         f"{_cell(d.get('identical'))}"]])


def r_js_identity(d: dict[str, Any]) -> list[str]:
    files = d.get("files") or {}
    return [f"{d.get('identical')} of {d.get('compared')} dist files sha256-identical to npm's onnxruntime-web "
            f"{d.get('version')} (the wasm pairs aside).", "",
            *table(["file", "identical"],
                   [[k, v.get("identical")] for k, v in files.items() if not v.get("identical")])]


def r_check_speed(d: dict[str, Any]) -> list[str]:
    return [f"{len(d.get('artifacts') or [])} artifact(s), {_cell(d.get('wasm_bytes'))} B of wasm; target < "
            f"{d.get('target_seconds_per_10MB')} s per 10 MB.", "",
            *table(["mode", "seconds", "s per 10 MB", "meets target"],
                   [[r["mode"], r["seconds"], r["seconds_per_10MB"], r["meets_target"]] for r in d.get("runs", [])])]


def r_package(d: dict[str, Any]) -> list[str]:
    sec = d.get("seconds") or {}
    return [f"{', '.join(d.get('variants') or [])}: check {sec.get('check_s')} s + write {sec.get('write_s')} s, "
            f"wall {sec.get('wall_s')} s (best of {d.get('repeat')}); four variants {d.get('four_variants_s')} s "
            f"({d.get('four_variants')}), target < {d.get('target_s_four_variants')} s: "
            f"{_cell(d.get('meets_target'))}; reproducible: {_cell(d.get('reproducible'))}.", "",
            *table(["output", "bytes"], [[k, v] for k, v in (d.get("outputs") or {}).items()])]


def _load_rows(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        head = [r.get("client", "ours"), r["variant"], r["case"], r["data_as"], _gib(r.get("external_bytes"))]
        if r.get("skipped") or not r.get("ok"):
            why = r.get("skipped") or f"FAILED at {r.get('stage')}: {r.get('error') or r.get('mismatches')}"
            out.append([*head, "-", "-", _x(r.get("peak_rss_x")), "-", "-", str(why)[:160]])
            continue
        before = r.get("before") or {}
        out.append([*head, _s(r.get("session_ms")), r.get("gb_per_s"), _x(r.get("peak_rss_x")),
                    _x(r.get("rss_after_session_x")), _x(before.get("peak_rss_x")) if before else "-", ""])
    return table(["client", "variant", "case", "source", "weights", "session", "GB/s", "peak RSS", "RSS after",
                  "peak, build before", "failure"], out)


def r_load(d: dict[str, Any]) -> list[str]:
    rows = d.get("rows") or []
    if any("peak_renderer_x" in r for r in rows):
        return r_load_browser(d)
    out = _load_rows(rows)
    warm = d.get("warm") or []
    if warm:
        out += ["Warm (the second create in one process):", "",
                *table(["client", "variant", "case", "source", "1st create", "2nd create", "2nd GB/s"],
                       [[w.get("client"), w["variant"], w["case"], w["data_as"], _s(w.get("cold_session_ms")),
                         _s(w.get("warm_session_ms")), w.get("warm_gb_per_s")] for w in warm])]
    rounds = d.get("rounds") or []
    if rounds:
        out += ["Three sessions in one process (peak after the 3rd release less after the 1st):", "",
                *table(["client", "variant", "case", "growth", "growth x weights"],
                       [[r.get("client"), r["variant"], r["case"], _gib(r.get("peak_growth_after_first")),
                         _x(r.get("peak_growth_x"))] for r in rounds])]
    out += _floor_and_goals(d)
    goals = d.get("goals") or {}
    big = goals.get("peak_4g25_wasm64_path")
    if big:
        out += [f"Goal, 4.25 GiB from a path on wasm64-memfs: peak {_gib(big['peak_rss'])} <= "
                f"{_gib(big['limit'])}: {_cell(big['met'])}.", ""]
    for key, sub in d.items():
        if isinstance(sub, dict) and "rows" in sub:
            out += [f"Section `{key}` (measured {sub.get('measured_at', 'not recorded')}):", "", *r_load(sub)]
    return out


def _floor_and_goals(d: dict[str, Any]) -> list[str]:
    """bench.load --floor: the copy floor per case, and issue #25's goals on our path/URL rows."""
    out: list[str] = []
    floor = d.get("floor") or []
    if floor:
        out += ["Floor: each case's files read into fresh wasm memory by a fresh Node 24, in the same run:", "",
                *table(["case", "bytes", "time", "GB/s"],
                       [[f["case"], _gib(f.get("bytes")), _s(f.get("ms")), f.get("gb_per_s")] for f in floor])]
    goals = d.get("goals_current") or {}
    if goals:
        out += ["Goals (issue #25): peak <= 1.10 x the weights + 0.3 GiB, create <= 1.3 x the floor:", "",
                *table(["row", "peak", "limit", "met", "create", "x floor", "met"],
                       [[k, _gib(g["peak_rss"]), _gib(g["peak_limit"]), _cell(g["peak_met"]), _s(g["session_ms"]),
                         g.get("time_x_floor"), _cell(g.get("time_met"))] for k, g in goals.items()])]
    return out


def r_load_browser(d: dict[str, Any]) -> list[str]:
    rows = []
    for r in d.get("rows") or []:
        head = [r.get("client", "ours"), r["variant"], r["case"], r.get("threads", 1), _gib(r.get("external_bytes"))]
        if r.get("skipped") or not r.get("ok"):
            rows.append([*head, "-", "-", "-", "-", "-", "-", "-", str(r.get("skipped") or r.get("error"))[:120]])
        else:
            rows.append([*head, _s(r.get("session_ms")), r.get("gb_per_s"), _x(r.get("peak_rss_x")),
                         _x(r.get("peak_renderer_x")), _x(r.get("peak_gpu_x")), _x(r.get("peak_over_base_x")),
                         _x(r.get("rss_after_session_x")), ""])
    machine = d.get("machine") or {}
    engine = next((f"{name.capitalize()} {machine[name]}" for name in ("chromium", "firefox") if machine.get(name)),
                  "the browser")
    return [f"{engine}; renderer: the page's (content) process; `fetch-drain`: the page only fetches the files and "
            "reads them to the end.", "",
            *table(["client", "variant", "case", "threads", "weights", "session", "GB/s", "peak all", "renderer",
                    "GPU", "peak over base", "after session", "skipped/failure"], rows), *_floor_and_goals(d)]


def r_prepack(d: dict[str, Any]) -> list[str]:
    rows = []
    for r in d.get("rows") or []:
        head = [r["client"], r["variant"], r["case"], r["data_as"], r["prepack"]]
        if not r.get("ok"):
            rows.append([*head, "-", "-", "-", "-", str(r.get("error"))[:110]])
        else:
            rows.append([*head, _s(r.get("session_ms")), _x(r.get("peak_rss_x")), _s(r.get("run_ms_median")),
                         _s(r.get("first_run_ms")), ""])
    load = (d.get("machine") or {}).get("loadavg_1m")
    return [f"`prepack`: `auto` is what users get (the runtime decides), `on`/`off` set session.disable_prepacking. "
            f"Load average at the start: {load} on {(d.get('machine') or {}).get('cpus')} cores (run times from a "
            "busy machine are noisy; the peaks are not).", "",
            *table(["client", "variant", "case", "source", "prepack", "session", "peak", "run (median)", "1st run",
                    "failure"], rows)]


def r_load_profile(d: dict[str, Any]) -> list[str]:
    md = cpuprofile.markdown(d.get("runs") or [], bool(d.get("wasm_names")), d.get("floors") or {}, level=3)
    return [*md.splitlines()[2:], ""]


def r_webgpu(d: dict[str, Any]) -> list[str]:
    variants = d.get("variants") or {}
    out = table(["variant", "file", "bytes", "gzip -9", "sha256"],
                [row for v, info in variants.items() for row in _files(info.get("files", {}), v)])
    out += table(["variant", "compile+link (Ninja)", "link", "emscripten"],
                 [[v, f"{(i.get('ninja') or {}).get('compile_link_s')} s", f"{(i.get('ninja') or {}).get('link_s')} s",
                   i.get("emscripten")] for v, i in variants.items()])
    for key, files in d.items():
        if key.startswith("official_onnxruntime_web_") and files:
            out += [f"npm's onnxruntime-web {key.rsplit('_', 1)[-1]}:", "",
                    *table(["file", "bytes", "gzip -9", "sha256"], _files(files))]
    def renderer_goal(r: dict[str, Any]) -> str:
        """#26's goal: the renderer's peak at most a quarter of the weights plus 0.5 GiB (the GPU process holds
        SwiftShader's copy, VRAM on a real GPU)."""
        renderer, weights = (r.get("vmhwm_bytes") or {}).get("renderer"), r.get("weights_bytes")
        if not renderer or not weights:
            return "-"
        limit = 0.25 * weights + 0.5 * GIB
        return f"{renderer / GIB:.2f} GiB ({'met' if renderer <= limit else 'missed'}: <= {limit / GIB:.2f})"

    def gpu(r: dict[str, Any]) -> str:
        return _gib((r.get("vmhwm_bytes") or {}).get("gpu-process"))

    out += table(["variant", "model", "client", "ok", "matches native", "session s", "load (1 min)", "wasm heap",
                  "renderer VmHWM (goal)", "GPU process VmHWM", "renderer+GPU x weights"],
                 [[r["variant"], r.get("model"), r.get("client"), r.get("ok"), r.get("matches_native"),
                   r.get("session_s"), _cell(r.get("loadavg_1m")), _gib(r.get("wasm_heap_bytes")), renderer_goal(r),
                   gpu(r), _x(r.get("renderer_plus_gpu_x_weights"))] if not r.get("skipped")
                  else [r["variant"], r.get("model"), r.get("client"), "skipped", "-", "-", "-", "-", "-", "-",
                        r["skipped"]]
                  for r in d.get("runs") or []])
    return out


def r_remote_cache(d: dict[str, Any]) -> list[str]:
    """bench.remote_cache: the cold build, the warm-remote one with an empty local cache, the other MEMFS setting."""
    def pct(v: Any) -> str:
        return f"{v:.1%}" if isinstance(v, int | float) else "-"

    out = table(["build", "variant", "ORTWASM_HOME", "wall s", "build s", "hits", "local hits", "remote hits",
                 "remote failures", "Redis value bytes after", "home path in the pair", "wasm sha256"],
                [[r.get("name"), r.get("variant"), r.get("home"), r.get("wall_s"), r.get("build_s"),
                  pct(r.get("hit_rate")), pct(r.get("local_hit_rate")), pct(r.get("remote_hit_rate")),
                  r.get("remote_failures"), (r.get("redis_after") or {}).get("value_bytes"),
                  r.get("home_path_strings"), _sha((r.get("files") or {}).get("ort-wasm-simd-threaded.wasm"))]
                 for r in d.get("runs") or []])
    g = d.get("goals") or {}
    homes = (f" The second home's build: remote hit rate {pct(g.get('other_home_remote_hit_rate'))}, artifacts "
             f"sha256-identical to the cold build's: {_cell(g.get('artifacts_identical_across_homes'))}."
             if "artifacts_identical_across_homes" in g else
             f" No second home was built: {d.get('other_home_skipped') or 'an older run'}.")
    if d.get("identity_void"):
        homes += f" **The identity checks are void:** {d['identity_void']}."
    failed = d.get("failed")
    if failed:
        homes += f" **The `{failed['name']}` build failed** (exit {failed['exit']}); the runs before it are above."
    return [*out, f"Warm-remote over cold wall time: **{_cell(g.get('warm_over_cold_wall'))}** "
                  f"(goal <= 0.25: {_cell(g.get('warm_wall_at_most_25pct'))}); its remote hit rate "
                  f"{pct(g.get('warm_remote_hit_rate'))} (goal >= 98 %: {_cell(g.get('remote_hits_at_least_98pct'))}); "
                  f"artifacts sha256-identical to the cold build's: {_cell(g.get('artifacts_identical'))}.{homes}", ""]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "build": r_build, "sizes": r_sizes, "release-size": r_release_size, "upstream-identity": r_upstream_identity,
    "upstream-identity-wasm32-asyncify": r_upstream_identity, "upstream-identity-wasm32-jspi": r_upstream_identity,
    "driver-speed-buildpy-first": r_driver_speed, "driver-speed-ours-first": r_driver_speed,
    "interrupt-link": r_interrupt_link, "js-identity": r_js_identity, "check-speed": r_check_speed,
    "package": r_package, "load": r_load, "load-heap": r_load, "load-off": r_load,
    "load-single-2g5": r_load, "load-browser": r_load_browser, "load-current": r_load,
    "load-current-chromium": r_load_browser, "load-current-firefox": r_load_browser,
    "load-profile": r_load_profile, "webgpu": r_webgpu, "prepack": r_prepack, "remote-cache": r_remote_cache,
}


def bench_of(name: str) -> str:
    """`load-heap-1.21.0.json` -> `load-heap`."""
    return name.removesuffix(".json").rsplit("-", 1)[0]


def render(results_dir: Path = RESULTS_DIR) -> str:
    files = sorted(p.name for p in results_dir.glob("*.json"))
    unknown = [f for f in files if f not in RESULTS or bench_of(f) not in RENDERERS]
    if unknown:
        raise SystemExit(f"bench.render: no entry in bench/render.py's RESULTS for {', '.join(unknown)}")
    out = ["# Measurements", "",
           "Generated by `python -m bench.render` from `bench/results/*.json`; do not edit (`python -m bench.render "
           "--check` fails when this file is stale).  bench/README.md says which claim each result backs.  Peaks "
           "are the kernel's high-water mark (VmHWM) as a multiple of the external-data bytes (the weights).", ""]
    out += table(["result", "measured at", "claim"],
                 [[f"[{f}](#{f.replace('.', '')})", _measured(results_dir / f), RESULTS[f][0]] for f in files])
    for f in files:
        d = json.loads((results_dir / f).read_text())
        claim, command = RESULTS[f]
        out += [f"## {f}", "", claim + ".", "",
                f"Measured at: {d.get('measured_at', 'not recorded')}.  Made by:", "",
                *(f"    {c.strip()}" for c in command.split("; ")), "", *RENDERERS[bench_of(f)](d)]
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _measured(path: Path) -> str:
    return str(json.loads(path.read_text()).get("measured_at", "not recorded"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 when docs/measurements.md is stale")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--doc", type=Path, default=DOC)
    args = p.parse_args(argv)
    text = render(args.results_dir)
    if args.check:
        if not args.doc.exists() or args.doc.read_text() != text:
            print(f"{args.doc} is stale: python -m bench.render", file=sys.stderr)
            return 1
        print(f"{args.doc} is up to date")
        return 0
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
