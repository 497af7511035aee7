"""The `release` preset's wasm against the official onnxruntime-web dist, section by section.

Why sections and not just the total: "our wasm is N % larger" does not say where the bytes are.  Code, data
(string tables, RTTI names, static tables) and names/custom sections move for different reasons: RTTI and
exception catching move code and data; a different emscripten or dependency build moves code.  The official
build's toolchain is read from the tree's own CI definition (`linux-wasm-ci.yml`: the emsdk it installs, whether
it builds dependencies with vcpkg), so the results file records the differences we cannot close here beside
the sizes.

    python -m bench.release_size                       # $ORTWASM_HOME/out-release/wasm32 vs npm's dist
    python -m bench.release_size --release DIR --default DIR

Writes bench/results/release-size-<version>.json.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from bench.results_io import add_results_dir, machine_info, write_results
from ortwasm import paths
from ortwasm.artifacts.manifest import Manifest
from ortwasm.checks.sizes import measure
from ortwasm.checks.wasm import parse_file
from ortwasm.recipe import default_version, require_recipe
from tests.harness.client import client_app, package_dist

WASM = "ort-wasm-simd-threaded.wasm"
CI_YML = "tools/ci_build/github/azure-pipelines/templates/linux-wasm-ci.yml"


def facts(wasm: Path) -> dict[str, Any]:
    s = measure(wasm, brotli_limit=0)
    info = parse_file(wasm)
    return {"path": str(wasm), "bytes": s.raw, "gzip9": s.gzip, "sha256": s.sha256,
            "sections": info.section_sizes(), "imports": len(info.imports), "exports": len(info.exports)}


# What a printable string in the data section is, first match wins.  Why these kinds: each names a build choice
# that puts it there.  Itanium-mangled type names exist only where RTTI is on; op-schema prose only where ONNX is
# built without __ONNX_NO_DOC_STRINGS; descriptor names and CHECK messages only with full (not lite) protobuf;
# source paths are __FILE__ in ORT's error messages, so they differ by build dir, not by content.
STRING_KINDS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("rtti_type_names", re.compile(rb"^(?:N|Z|St|S[a-z])[^ ]*\d[A-Za-z_][^ ]*$")),
    ("source_paths", re.compile(rb"^(?:/|\.\./)\S+\.(?:cc|h|cpp|c)$")),
    ("full_protobuf", re.compile(rb"protobuf|CHECK failed|[Dd]escriptor|\.proto\b|uninterpreted|oneof|CPPTYPE_")),
    ("op_schema_prose", re.compile(rb"(?:\S+ ){3}")),
)


def data_strings(wasm: Path) -> set[bytes]:
    """The printable runs of 8+ bytes in the data section: the unit in which RTTI, doc strings and paths show."""
    info = parse_file(wasm)
    data = next(sec for sec in info.sections if sec.name == "data")
    with wasm.open("rb") as f:
        f.seek(data.offset)
        blob = f.read(data.size)
    return set(re.findall(rb"[\x20-\x7e]{8,}", blob))


def string_diff(official: Path, ours: Path) -> dict[str, dict[str, dict[str, int]]]:
    """Data-section strings only one side has, by kind, so the data gap is attributed instead of guessed."""
    a, b = data_strings(official), data_strings(ours)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for side, only in (("only_official", a - b), ("only_ours", b - a)):
        kinds: dict[str, dict[str, int]] = {}
        for s in only:
            kind = next((k for k, rx in STRING_KINDS if rx.search(s)), "other")
            row = kinds.setdefault(kind, {"strings": 0, "bytes": 0})
            row["strings"] += 1
            row["bytes"] += len(s) + 1
        out[side] = dict(sorted(kinds.items(), key=lambda kv: -kv[1]["bytes"]))
    return out


def official_toolchain(tree: Path) -> dict[str, Any]:
    """What ORT's own CI builds the dist with, as the tree says (not a figure typed in here)."""
    text = (tree / CI_YML).read_text()
    emsdk = sorted(set(re.findall(r"emsdk install (\d+\.\d+\.\d+)", text)))
    common = re.search(r"CommonBuildArgs: '([^']*)'", text)
    return {"file": CI_YML, "emsdk": emsdk, "common_build_args": common.group(1) if common else None,
            "uses_vcpkg": bool(common and "--use_vcpkg" in common.group(1))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.release_size", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-version", default=None, help="the recipe whose out dirs and npm dist are compared "
                                                    "(default: the default version)")
    p.add_argument("--release", type=Path, default=None, help="default: the recipe's out-release/wasm32")
    p.add_argument("--default", type=Path, default=None, help="default: the recipe's out/wasm32")
    add_results_dir(p)
    a = p.parse_args(argv)
    recipe = require_recipe(a.ort_version or default_version())
    a.release = a.release or paths.preset_dir(recipe.out_dir, "release") / "wasm32"
    a.default = a.default or recipe.out_dir / "wasm32"
    ours = {"release_preset": a.release, "default": a.default}
    for d in ours.values():
        if not (d / "manifest.json").exists():
            print(f"bench: no finished build in {d} (python3 build.py [--preset release] --variants wasm32)",
                  file=sys.stderr)
            return 2
    official = package_dist(client_app(f"official-{recipe.version}", f"onnxruntime-web@{recipe.version}")) / WASM
    rows = {"official": facts(official)}
    for name, d in ours.items():
        m = Manifest.read(d / "manifest.json")
        rows[name] = {**facts(d / WASM), "emscripten": m.toolchain.emscripten if m.toolchain else None}
    off = rows["official"]
    print(f"{'':16}{'bytes':>12}{'gzip -9':>12}{'vs official':>13}")
    for name, r in rows.items():
        r["over_official"] = round(r["bytes"] / off["bytes"] - 1, 4)
        print(f"{name:16}{r['bytes']:>12,}{r['gzip9']:>12,}{r['over_official']:>+12.1%}")
    keys = sorted(set().union(*(r["sections"] for r in rows.values())), key=lambda k: -off["sections"].get(k, 0))
    print(f"\n{'section':22}" + "".join(f"{n:>16}" for n in rows) + f"{'release-official':>18}")
    for k in keys:
        vals = [r["sections"].get(k, 0) for r in rows.values()]
        print(f"{k:22}" + "".join(f"{v:>16,}" for v in vals) + f"{vals[1] - vals[0]:>+18,}")
    diff = string_diff(official, a.release / WASM)
    for side, kinds in diff.items():
        print(f"\ndata-section strings {side.replace('_', ' ')}:")
        for kind, row in kinds.items():
            print(f"  {kind:22}{row['strings']:>8,} strings{row['bytes']:>12,} B")
    write_results("release-size", recipe.version, {
        "what": "wasm32 release preset (ORT's release flags) vs the official onnxruntime-web dist, by section",
        "official_build": official_toolchain(recipe.source_dir), "wasm": rows,
        "data_strings_release_vs_official": diff, "machine": machine_info()}, results_dir=a.results_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
