"""bench/ stays runnable and its records stay consistent, in seconds (no benchmark runs here).

Why: the benches run rarely (hours each), so a broken import or a result file nobody documents would otherwise
only show the day someone re-measures.  Checked: every bench module imports; docs/measurements.md is what
``python -m bench.render`` makes of bench/results; every result file is in bench/README.md's table with the
command bench/render.py records for it; result names follow ``<bench>-<version>.json``; no bench edits sys.path.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from bench import render
from bench.results_io import result_name

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = sorted((BENCH / "results").glob("*"))
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name: str) -> None:
    mod = importlib.import_module(f"bench.{name}")
    if name not in ("common", "cpuprofile", "results_io"):
        assert callable(getattr(mod, "main", None)), f"bench/{name}.py has no main(): not runnable with -m"


def test_measurements_doc_is_current() -> None:
    assert render.main(["--check"]) == 0, "docs/measurements.md is stale: python -m bench.render"


def test_render_is_deterministic() -> None:
    assert render.render() == render.render()


def test_every_result_is_documented() -> None:
    readme = (BENCH / "README.md").read_text()
    assert RESULTS, "bench/results is empty"
    for path in RESULTS:
        assert path.suffix == ".json", f"{path.name}: results are JSON (views go in docs/measurements.md)"
        assert path.name in render.RESULTS, f"{path.name}: not in bench/render.py's RESULTS"
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.name}` |")), None)
        assert row is not None, f"{path.name}: no row in bench/README.md's table"
        for command in render.RESULTS[path.name][1].split("; "):
            assert f"`{command.strip()}`" in row, f"{path.name}: bench/README.md's command differs from render's"
    stale = set(render.RESULTS) - {p.name for p in RESULTS}
    assert not stale, f"bench/render.py lists results that do not exist: {sorted(stale)}"


def test_result_names_carry_the_version() -> None:
    for path in RESULTS:
        m = re.fullmatch(r"(.+)-(\d+\.\d+\.\d+)\.json", path.name)
        assert m, f"{path.name}: not <bench>-<version>.json"
        assert result_name(m.group(1), m.group(2)) == path.name


def test_no_sys_path_in_bench() -> None:
    needle = "sys" + ".path"
    offenders = [str(p.relative_to(REPO)) for p in BENCH.rglob("*") if p.is_file() and needle in p.read_text()]
    assert not offenders, f"bench/ runs as a package from the repo root (python -m bench.X): {offenders}"


def test_writer_names_and_sections(tmp_path: Path) -> None:
    import json

    from bench.results_io import write_results

    path = write_results("demo-bench", "1.2.3", {"figure": 1}, results_dir=tmp_path)
    assert path.name == "demo-bench-1.2.3.json"
    write_results("demo-bench", "1.2.3", {"figure": 2}, results_dir=tmp_path, section="extra")
    data = json.loads(path.read_text())
    assert data["figure"] == 1 and data["extra"]["figure"] == 2 and "measured_at" in data and "command" in data
    with pytest.raises(ValueError):
        write_results("Bad_Name", "1.2.3", {}, results_dir=tmp_path)
