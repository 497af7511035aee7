"""Turn a CheckReport into markdown (for $GITHUB_STEP_SUMMARY and release notes) and JSON, and print it.

The rendering layer over ``rules`` (which only judges and never prints): the CLI's ``check`` and the build's
check step show a report through here; ``rules`` does not import this module.

Why the JSON is "the manifest plus a ``checks`` key": the next build's
``--baseline`` reads it back, so gzip and brotli sizes measured today become
tomorrow's baseline without a second file format.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..artifacts.manifest import MANIFEST_FORMAT
from ..errors import CheckFailed
from .rules import ArtifactReport, CheckReport, DirJudge, check_dir
from .sizes import DEFAULT_BROTLI_LIMIT, load_budgets


def _n(v: int | None) -> str:
    return "n/m" if v is None else f"{v:,}"


def _d(v: int | None) -> str:
    return "n/m" if v is None else f"{v:+,}"


def _yn(v: bool | None) -> str:
    return "–" if v is None else ("yes" if v else "no")


def _max_memory(art: ArtifactReport) -> str:
    mem = art.wasm.memory
    if mem is None:
        return "no memory"
    lim, size = mem.limits, art.wasm.max_memory_bytes
    where = "imported" if mem.imported_from else "defined"
    shared = ", shared" if lim.shared else ""
    if size is None:
        return f"unbounded ({where}{shared})"
    return f"{size / 2**30:g} GiB ({lim.maximum:,} pages, {where}{shared})"


def _fs(art: ArtifactReport) -> str:
    g = art.glue
    state = {True: "present", False: "absent", None: "inconclusive"}[g.fs_present]
    return f"{state} ({g.marker_count}/{len(g.fs_markers)} markers)"


def summary_line(rep: CheckReport) -> str:
    verdict = "PASS" if rep.ok else "FAIL"
    unproven = f"; the artifacts are ONNX Runtime {rep.version}, unproven: built with {rep.recipe_version}'s " \
               "patch set" if rep.unproven else ""
    rules = f" by ONNX Runtime {rep.recipe_version}'s rules (from {rep.version_from}{unproven})" \
        if rep.recipe_version else ""
    dirs = f", {len(rep.judged_dirs)} dir(s) ({', '.join(rep.judged_dirs)})" if rep.judged_dirs else ""
    return (f"ortwasm check {rep.root}: {verdict}{rules}: {len(rep.artifacts)} artifact(s){dirs}, "
            f"{len(rep.findings)} rule(s) applied, {len(rep.failures)} failed")


def _artifact_md(art: ArtifactReport) -> list[str]:
    exp = art.expectation
    judged = f"judged as {exp.arch}, memfs={exp.memfs}" if exp else "not judged against a variant (no manifest.json)"
    ws, gs = art.sizes
    w, g = art.wasm, art.glue
    lines = [f"### {art.name}", "", f"`{art.directory}`: {judged}", "",
             "| file | raw | gzip -9 | brotli 11 | sha256[:16] | memory64 | table64 | max memory | FS | exports |",
             "|---|---:|---:|---:|---|---|---|---|---|---:|",
             f"| {ws.name} | {_n(ws.raw)} | {_n(ws.gzip)} | {_n(ws.brotli)} | `{ws.sha256[:16]}` | {_yn(w.memory64)} "
             f"| {_yn(w.table64)} | {_max_memory(art)} | | {len(w.exports)} |",
             f"| {gs.name} | {_n(gs.raw)} | {_n(gs.gzip)} | {_n(gs.brotli)} | `{gs.sha256[:16]}` | | | | {_fs(art)} "
             f"| {len(g.exposed)} `_Ort*` |", ""]
    sections = w.section_sizes()
    lines.append("Sections: " + ", ".join(f"{k} {v:,}" for k, v in sorted(sections.items(), key=lambda kv: -kv[1])))
    mapped = sorted((m for m in g.mappings if m.wasm_export), key=lambda m: m.c_name != "OrtInit")
    example = f" (e.g. `_{mapped[0].c_name}` = `{mapped[0].via}`)" if mapped else ""
    lines.append(f"C API: glue exposes {len(g.exposed)} `_Ort*` names, {len(mapped)} mapped to wasm exports{example}.")
    if w.memory64:
        lines.append(f"Glue memory64 key: `{g.memory64_index_key}`.")
    notes = {s.brotli_note for s in art.sizes if s.brotli_note}
    lines += [f"Brotli: {n}." for n in sorted(notes)]
    failed = [f for f in art.findings if not f.ok]
    lines += ["", *(f"- :x: **{f.rule}**: {f.message}" for f in failed)] if failed else ["", "All rules pass."]
    return [*lines, ""]


def render_markdown(rep: CheckReport) -> str:
    lines = [f"## {summary_line(rep)}", ""]
    for art in rep.artifacts:
        lines += _artifact_md(art)
    if rep.deltas:
        lines += ["### MEMFS cost (ON − OFF)", "", "| variant | file | Δ raw | Δ gzip -9 | Δ brotli 11 |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {d.on} − {d.off} | {d.file} | {_d(d.raw)} | {_d(d.gzip)} | {_d(d.brotli)} |" for d in rep.deltas]
        lines.append("")
    if rep.growth:
        lines += ["### Growth vs baseline", "", "| artifact | file | measure | before | after | growth |",
                  "|---|---|---|---:|---:|---:|"]
        lines += [f"| {g.artifact} | {g.file} | {g.measure} | {g.before:,} | {g.after:,} | {g.percent:+.2f}% |"
                  for g in rep.growth]
        lines.append("")
    for name in rep.judged_dirs:
        mine = [f for f in rep.findings if f.artifact == name and not f.rule.startswith(("memfs_delta", "baseline"))]
        lines += [f"### {name}", "", *(f"- {':x:' if not f.ok else ':white_check_mark:'} **{f.rule}**: {f.message}"
                                       for f in mine), ""]
    if rep.skipped:
        lines += ["### Not judged", "", *(f"- {s}" for s in rep.skipped), ""]
    other = [f for f in rep.failures if f.rule.startswith(("memfs_delta", "baseline"))]
    lines += [f"- :x: **{f.rule}**: {f.message}" for f in other]
    return "\n".join(lines).rstrip() + "\n"


def manifest_with_checks(art: ArtifactReport, rep: CheckReport) -> dict[str, Any]:
    """The artifact's manifest (or a minimal one) with everything checked under ``checks``."""
    files = [{"name": s.name, "bytes": s.raw, "sha256": s.sha256} for s in art.sizes]
    base: dict[str, Any] = art.manifest.to_json() if art.manifest is not None else {
        "format": MANIFEST_FORMAT, "variant": None, "files": files}
    w, g = art.wasm, art.glue
    mem = w.memory
    base["checks"] = {
        "ok": all(f.ok for f in art.findings),
        "expectation": None if art.expectation is None else vars(art.expectation).copy(),
        "files": [{"name": s.name, "raw": s.raw, "gzip": s.gzip, "brotli": s.brotli, "sha256": s.sha256,
                   **({"brotli_note": s.brotli_note} if s.brotli_note else {})} for s in art.sizes],
        "wasm": {"memory64": w.memory64, "table64": w.table64,
                 "memory": None if mem is None else {
                     "imported_from": mem.imported_from, "shared": mem.limits.shared, "flags": mem.limits.flags,
                     "min_pages": mem.limits.minimum, "max_pages": mem.limits.maximum,
                     "max_bytes": w.max_memory_bytes},
                 "exports": len(w.exports), "imports": len(w.imports), "sections": w.section_sizes()},
        "glue": {"fs_present": g.fs_present, "fs_markers": dict(g.fs_markers),
                 "memory64_index_key": g.memory64_index_key, "exports_object": g.exports_object,
                 "c_api": {m.c_name: m.wasm_export for m in g.mappings}},
        "findings": [{"rule": f.rule, "file": f.file, "ok": f.ok, "message": f.message} for f in art.findings],
        "memfs_delta": [vars(d).copy() for d in rep.deltas if art.name in (d.on, d.off)],
        "baseline": [{**vars(x), "percent": round(x.percent, 3)} for x in rep.growth if x.artifact == art.name],
    }
    return base


def report_json(rep: CheckReport) -> dict[str, Any]:
    arts = {a.name for a in rep.artifacts}
    return {"ok": rep.ok, "root": str(rep.root), "ort_version": rep.version, "ort_version_from": rep.version_from,
            "ort_recipe_version": rep.recipe_version, "unproven": rep.unproven,
            "artifacts": {a.name: manifest_with_checks(a, rep) for a in rep.artifacts},
            "dirs": {name: [{"rule": f.rule, "file": f.file, "ok": f.ok, "message": f.message}
                            for f in rep.findings if f.artifact == name and name not in arts]
                     for name in rep.judged_dirs},
            "skipped": list(rep.skipped),
            "failures": [f.message for f in rep.failures]}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_markdown(path: Path, text: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY (other steps write there too); replace any other file whole."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and Path(summary).resolve() == path.resolve():
        with path.open("a") as fh:
            fh.write(text + "\n")
    else:
        _atomic_write(path, text)


def write_json(path: Path, data: dict[str, Any]) -> None:
    _atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def check_and_report(path: Path, budgets_path: Path | None, baseline: Path | None, report_md_path: Path | None, *,
                     json_path: Path | None = None, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT,
                     size_cache: Path | None = None, out: TextIO | None = None,
                     version: str | None = None, judges: Mapping[str, DirJudge] | None = None) -> CheckReport:
    """Check ``path`` and show the result: the markdown report (or its summary line when it goes to a file),
    then one ``FAILED rule: message`` line per failure.  The caller decides what a failure means.

    ``CannotCheck`` (bad input, exit 9) propagates to the CLI's one error boundary, which prints its hint;
    no report is written then, because there is nothing trustworthy to put in it.  ``baseline`` is an older
    manifest.json: raw growth is judged from its ``files``, gzip/brotli growth when it also carries the
    ``checks`` key that ``json_path`` output (report.manifest_with_checks) adds.  ``size_cache`` (e.g.
    ``paths.ortwasm_home() / "size-cache"``) makes re-checks of the same bytes skip compression.  The ORT version
    whose C API and budgets judge the artifacts is the manifests', else ``version``, else the one the glue's
    C API matches (``rules.resolve_version``); ``judges`` judge the dirs they name (the JS stage).
    """
    stream = out or sys.stdout
    budgets = load_budgets(budgets_path) if budgets_path is not None else None
    rep = check_dir(path, expect=None, budgets=budgets, baseline=baseline, brotli_limit=brotli_limit,
                    size_cache=size_cache, version=version, judges=judges)
    md = render_markdown(rep)
    if report_md_path is not None:
        write_markdown(report_md_path, md)
    if json_path is not None:
        write_json(json_path, report_json(rep))
    stream.write(md if report_md_path is None else summary_line(rep) + "\n")
    for f in rep.failures:
        stream.write(f"FAILED {f.rule}: {f.message}\n")
    return rep


def run_check(path: Path, budgets_path: Path | None, baseline: Path | None, report_md_path: Path | None, *,
              json_path: Path | None = None, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT,
              size_cache: Path | None = None, out: TextIO | None = None, version: str | None = None,
              judges: Mapping[str, DirJudge] | None = None) -> int:
    """``ortwasm check``: 0, or ``CheckFailed.return_code`` (8) after the report has named every failed rule
    (the report already says it all, so no error line follows)."""
    rep = check_and_report(path, budgets_path, baseline, report_md_path, json_path=json_path,
                           brotli_limit=brotli_limit, size_cache=size_cache, out=out, version=version,
                           judges=judges)
    return 0 if rep.ok else CheckFailed.return_code
