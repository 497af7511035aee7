"""Ctrl-C during a real link, then a rerun: the rerun finishes and its artifacts are the uninterrupted build's.

Why a script and not a test: a real link of ORT is minutes of one core, twice.  What it does, on a variant whose
build dir and finished ``OUT/<variant>/`` exist:

1. records the sha256 of the finished pair (the uninterrupted build);
2. touches a file the link depends on (``onnxruntime/wasm/pre.js`` in the prepared tree: CMake's LINK_DEPENDS),
   so Ninja relinks and compiles nothing;
3. runs ``build.py --variants V --skip-js`` and sends SIGINT (what a terminal's Ctrl-C sends to the foreground
   process group) once the progress line says the link is running (wasm-ld / closure / wasm-opt);
4. checks that it exited non-zero saying "interrupted", and that ``OUT/<variant>/`` still holds the old pair;
5. reruns the same command and compares the new pair's sha256 with step 1.

Usage: python -m bench.interrupt_link VARIANT [--ort-version V] [--after-phase-s 20] [--results-dir DIR]

Writes bench/results/interrupt-link-<version>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm.recipe import default_version, require_recipe
from ortwasm.variants import load_table

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"link: (\S.*?) \d+:\d\d")  # progress.py's "link: <tool> <elapsed>" while Ninja is silent


def pair_sums(d: Path, stem: str) -> dict[str, str]:
    return {k: hashlib.sha256((d / f"{stem}.{k}").read_bytes()).hexdigest() for k in ("wasm", "mjs")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.interrupt_link", description=__doc__.splitlines()[0])
    ap.add_argument("variant")
    ap.add_argument("--ort-version", default=None)
    ap.add_argument("--after-phase-s", type=float, default=20.0, help="seconds into the link before the SIGINT")
    add_results_dir(ap)
    a = ap.parse_args(argv)
    a.ort_version = a.ort_version or default_version()
    recipe = require_recipe(a.ort_version)
    v = load_table()[a.variant]
    out = recipe.out_dir / v.name
    src = next((recipe.build_dir / "src").glob("onnxruntime-*"))
    before = pair_sums(out, v.artifact_stem)
    (src / "onnxruntime" / "wasm" / "pre.js").touch()
    cmd = [sys.executable, "build.py", "build", "--ort-version", a.ort_version, "--variants", v.name, "--skip-js"]
    t0 = time.monotonic()
    # SIGINT back to its default in the child: a background launcher (`nohup ... &`) leaves it ignored, and an
    # ignored SIGINT is inherited, which would test a driver that cannot see Ctrl-C at all.
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    seen_link: float | None = None
    sent: list[float] = []
    lines: list[str] = []

    def interrupt() -> None:
        os.killpg(proc.pid, signal.SIGINT)  # the whole process group, as a terminal's Ctrl-C does
        sent.append(time.monotonic())

    for line in proc.stdout:
        lines.append(line.rstrip())
        print(line, end="", flush=True)
        if seen_link is None and LINK.search(line):
            seen_link = time.monotonic()
            threading.Timer(a.after_phase_s, interrupt).start()
    rc = proc.wait()
    phase = next((m.group(0) for line in reversed(lines) if (m := LINK.search(line))), None)
    interrupted = {"returncode": rc, "sigint_after_link_start_s": round(sent[0] - seen_link, 1)
                   if sent and seen_link else None, "phase_at_sigint": phase, "last_lines": lines[-4:],
                   "says_interrupted": any("interrupted" in line.lower() for line in lines[-10:]),
                   "out_unchanged": pair_sums(out, v.artifact_stem) == before}
    t1 = time.monotonic()
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    after = pair_sums(out, v.artifact_stem)
    result: dict[str, Any] = {
        "machine": machine_info(), "variant": v.name,
        "interrupted_run": {**interrupted, "wall_s": round(t1 - t0, 1)},
        "rerun": {"returncode": rerun.returncode, "wall_s": round(time.monotonic() - t1, 1),
                  "tail": rerun.stdout.strip().splitlines()[-3:]},
        "sha256_uninterrupted": before, "sha256_after_rerun": after, "identical": after == before}
    ok = rc != 0 and bool(sent) and interrupted["out_unchanged"] and rerun.returncode == 0 and after == before
    print(f"\nSIGINT {interrupted['sigint_after_link_start_s']} s into the link ({phase}): exit {rc}, "
          f"OUT unchanged: {interrupted['out_unchanged']}; rerun exit {rerun.returncode}; identical: {after == before}")
    write_results("interrupt-link", a.ort_version, result, results_dir=a.results_dir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
