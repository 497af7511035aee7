"""fetch-sources for git and PyPI pins, against tiny local repositories (no network, no toolchain).

Why these cases: the fetch feeds an hour-long offline build, so what matters is that it never leaves a half
directory the build would trust, that a second run is a no-op, that a mirror missing test blobs still yields
the ORT tree (and says which files it skipped), and that every failure names the dependency and the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ortwasm import cli
from ortwasm.deps.dirs import STAMP, stamp_entry
from ortwasm.digest import sha256_file
from ortwasm.errors import DependencyError, SourceError, UsageError
from ortwasm.fetch import sources as fetch
from ortwasm.fetch.sources import ORT_STAMP, GitRef, GitSources, exclude_pathspecs, fetch_sources, missing_blobs
from ortwasm.recipe import load_recipe
from tests.harness.gitrepo import git, make_repo

WIDGET_PATCH = """--- a/CMakeLists.txt
+++ b/CMakeLists.txt
@@ -1 +1,2 @@
 project(widget)
+# patched by ORT
"""

BAD_PATCH = """--- a/CMakeLists.txt
+++ b/CMakeLists.txt
@@ -1 +1 @@
-project(something_else)
+project(never_applies)
"""


def drop_blob(repo: Path, commit: str, rel: str) -> None:
    """Make a partial mirror: delete the loose object of one file (fresh commits keep objects loose)."""
    oid = git(repo, "rev-parse", f"{commit}:{rel}")
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()


def write_recipe(root: Path, version: str, origin: str, deps: list[dict[str, object]]) -> None:
    d = root / version
    d.mkdir(parents=True)
    (d / "recipe.toml").write_text(
        f'[toolchain]\nproven = ["3.1.69"]\n[layout]\ndeps = "deps-{version}"\nsource = "onnxruntime-{version}"\n'
        f'[source]\norigin = "{origin}"\n')
    rows = []
    for dep in deps:
        lines = ["[[dependency]]"]
        for key, value in dep.items():
            lines.append(f"{key} = {json.dumps(value)}")
        rows.append("\n".join(lines))
    (d / "deps.toml").write_text("\n\n".join(rows) + "\n")


def widget(**over: object) -> dict[str, object]:
    dep: dict[str, object] = {"name": "widget", "cmake_var": "FETCHCONTENT_SOURCE_DIR_WIDGET", "version": "v1.0",
                              "source": "git:https://github.com/acme/widget@v1.0",
                              "ort_patches": ["cmake/patches/widget/widget.patch"]}
    dep.update(over)
    return dep


def other_root(world: dict[str, Path | str], deps: list[dict[str, object]]) -> Path:
    """A patches/ root whose 9.9.9 (the version the fixture's ORT tree says) pins ``deps``."""
    root = Path(world["tmp"]) / f"patches-{len(list(Path(world['tmp']).glob('patches-*')))}"
    write_recipe(root, "9.9.9", str(world["origin"]), deps)
    return root


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path | str]:
    """Mirrors laid out like /work/.mirror: <owner>+<name>/repo; the ORT mirror is a fork holding the commit."""
    mirrors = tmp_path / "mirrors"
    ort_repo = mirrors / "intel+onnxruntime" / "repo"
    ort_commit = make_repo(ort_repo, {
        "VERSION_NUMBER": "9.9.9\n",
        "cmake/patches/widget/widget.patch": WIDGET_PATCH,
        "cmake/patches/widget/bad.patch": BAD_PATCH,
        "onnxruntime/test/testdata/big.onnx": "blob the mirror lacks\n",
        "onnxruntime/test/testdata/kept.onnx": "blob the mirror has\n",
    })
    drop_blob(ort_repo, ort_commit, "onnxruntime/test/testdata/big.onnx")
    make_repo(mirrors / "acme+widget" / "repo", {"CMakeLists.txt": "project(widget)\n", "include/w.h": "int w;\n"},
              tag="v1.0")
    root = tmp_path / "patches"
    origin = f"git:https://github.com/microsoft/onnxruntime@{ort_commit}"
    write_recipe(root, "9.9.9", origin, [widget()])
    write_recipe(tmp_path / "patches-bad", "9.9.9", origin,
                 [widget(ort_patches=["cmake/patches/widget/widget.patch", "cmake/patches/widget/bad.patch"])])
    return {"mirrors": mirrors, "root": root, "sources": tmp_path / "sources", "ort_commit": ort_commit,
            "tmp": tmp_path, "origin": origin}


def snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(tree)): (p.stat().st_mtime_ns, p.stat().st_ino) for p in sorted(tree.rglob("*"))}


def test_git_pins_from_mirrors(world: dict[str, Path | str], capsys: pytest.CaptureFixture[str]) -> None:
    sources, root = Path(world["sources"]), Path(world["root"])
    result = fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert result.filled == ["onnxruntime", "widget"]

    ort = sources / "onnxruntime-9.9.9"
    assert (ort / "onnxruntime/test/testdata/kept.onnx").exists()
    assert not (ort / "onnxruntime/test/testdata/big.onnx").exists()
    assert not (ort / "AFTER_THE_PIN").exists()
    ort_stamp = json.loads((ort / ORT_STAMP).read_text())
    assert ort_stamp["commit"] == world["ort_commit"]
    assert ort_stamp["skipped"] == ["onnxruntime/test/testdata/big.onnx"]
    assert "1 blobs missing" in capsys.readouterr().err

    w = sources / "deps-9.9.9" / "widget"
    assert (w / "CMakeLists.txt").read_text() == "project(widget)\n# patched by ORT\n"
    assert (w / "include/w.h").exists() and not (w / "AFTER_THE_PIN").exists()
    assert sorted(p.name for p in w.parent.iterdir()) == [STAMP, "widget"]  # no .partial, no .old
    recipe = load_recipe("9.9.9", root)
    assert recipe is not None
    entry = json.loads((w.parent / STAMP).read_text())["widget"]
    tag_commit = git(Path(world["mirrors"]) / "acme+widget" / "repo", "rev-parse", "v1.0^{commit}")
    assert entry == {**stamp_entry(recipe.dependencies[0]), "commit": tag_commit}


def test_second_run_touches_nothing(world: dict[str, Path | str], capsys: pytest.CaptureFixture[str]) -> None:
    sources, root = Path(world["sources"]), Path(world["root"])
    fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    before = snapshot(sources)
    capsys.readouterr()
    again = fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert again.filled == []
    assert snapshot(sources) == before
    err = capsys.readouterr().err
    assert "nothing to do" in err and "1 of 1 dependencies up to date" in err


def test_changed_pin_refills_only_that_dependency(world: dict[str, Path | str]) -> None:
    sources, root = Path(world["sources"]), Path(world["root"])
    fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    stamp_path = sources / "deps-9.9.9" / STAMP
    stamp = json.loads(stamp_path.read_text())
    stamp["widget"]["version"] = "v0.9"  # what a dir filled for an older pin says
    stamp_path.write_text(json.dumps(stamp))
    again = fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert again.filled == ["widget"]
    assert json.loads(stamp_path.read_text())["widget"]["version"] == "v1.0"


def test_failing_ort_patch_leaves_nothing(world: dict[str, Path | str]) -> None:
    sources, root = Path(world["sources"]), Path(world["tmp"]) / "patches-bad"
    with pytest.raises(DependencyError) as err:
        fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert "widget" in err.value.message and "bad.patch" in err.value.message
    assert "deps.toml" in err.value.hint
    deps = sources / "deps-9.9.9"
    assert not (deps / "widget").exists() and not (deps / "widget.partial").exists()
    assert [p.name for p in deps.iterdir()] == []
    assert (sources / "onnxruntime-9.9.9" / "VERSION_NUMBER").exists()  # the tree itself was complete


def test_failure_keeps_the_previous_good_dir(world: dict[str, Path | str]) -> None:
    """A refill that fails must not cost the dir that was there (rename into place only when complete)."""
    sources, root = Path(world["sources"]), Path(world["root"])
    fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    good = sources / "deps-9.9.9" / "widget"
    before = snapshot(good)
    stamp_path = sources / "deps-9.9.9" / STAMP
    stamp = json.loads(stamp_path.read_text())
    stamp["widget"]["patches"] = "stale"
    stamp_path.write_text(json.dumps(stamp))
    bad = Path(world["tmp"]) / "patches-bad" / "9.9.9" / "deps.toml"  # the pin now wants one more ORT patch
    (root / "9.9.9" / "deps.toml").write_text(bad.read_text())
    with pytest.raises(DependencyError, match=r"bad\.patch"):
        fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert snapshot(good) == before
    assert sorted(p.name for p in good.parent.iterdir()) == [STAMP, "widget"]  # no scratch or .old dir left


def test_rev_missing_everywhere(world: dict[str, Path | str]) -> None:
    sources = Path(world["sources"])
    url = f"file://{world['tmp']}/nowhere/acme/gadget"
    root = other_root(world, [widget(name="gadget", source=f"git:{url}@v2.0", ort_patches=[])])
    with pytest.raises(DependencyError) as err:
        fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert "gadget" in err.value.message and f"{url}@v2.0" in err.value.message
    assert "--git-mirror" in err.value.hint and "--online-deps" in err.value.hint
    assert not any(p.name.startswith("gadget") for p in (sources / "deps-9.9.9").iterdir())


def test_ort_commit_missing_everywhere(world: dict[str, Path | str], tmp_path: Path) -> None:
    root = Path(world["root"])
    write_recipe(root, "9.9.5", f"git:file://{tmp_path}/nowhere/microsoft/onnxruntime@{'0' * 40}", [])
    with pytest.raises(SourceError) as err:
        fetch_sources("9.9.5", git_mirrors=[str(world["mirrors"])], root=root, sources=Path(world["sources"]))
    assert "ONNX Runtime" in err.value.message and "0" * 40 in err.value.message
    assert "--git-mirror onnxruntime=PATH" in err.value.hint
    left = [p.name for p in Path(world["sources"]).iterdir() if p.name.startswith(".")]
    assert left == []  # no scratch dir of the tree, no lock or its record


def test_shallow_fetch_when_no_mirror_has_it(world: dict[str, Path | str], tmp_path: Path) -> None:
    """Without a mirror the tag is fetched (here from a file:// URL) into sources/git, itself a mirror root."""
    upstream = tmp_path / "upstream" / "acme" / "gizmo"
    make_repo(upstream, {"CMakeLists.txt": "project(gizmo)\n"}, tag="v3")
    sources = Path(world["sources"])
    root = other_root(world, [widget(name="gizmo", source=f"git:file://{upstream}@v3", ort_patches=[])])
    mirrors = [f"onnxruntime={Path(world['mirrors']) / 'intel+onnxruntime' / 'repo'}"]
    fetch_sources("9.9.9", git_mirrors=mirrors, root=root, sources=sources)
    assert (sources / "deps-9.9.9" / "gizmo" / "CMakeLists.txt").read_text() == "project(gizmo)\n"
    assert not (sources / "deps-9.9.9" / "gizmo" / "AFTER_THE_PIN").exists()
    assert (sources / "git" / "acme+gizmo" / "repo" / "HEAD").exists()


def test_missing_blob_in_a_dependency_is_an_error(world: dict[str, Path | str]) -> None:
    repo = Path(world["mirrors"]) / "acme+widget" / "repo"
    drop_blob(repo, git(repo, "rev-parse", "v1.0^{commit}"), "include/w.h")
    sources = Path(world["sources"])
    with pytest.raises(DependencyError) as err:
        fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=Path(world["root"]), sources=sources)
    assert "widget" in err.value.message and "include/w.h" in err.value.message
    assert not (sources / "deps-9.9.9" / "widget").exists()


def test_missing_blobs_and_excludes(world: dict[str, Path | str]) -> None:
    gd = Path(world["mirrors"]) / "intel+onnxruntime" / "repo" / ".git"
    assert missing_blobs(gd, str(world["ort_commit"])) == ["onnxruntime/test/testdata/big.onnx"]
    assert exclude_pathspecs([]) == []
    assert exclude_pathspecs(["a/b c.onnx", "x*.onnx"]) == ["--", ".", ":(exclude,literal)a/b c.onnx",
                                                             ":(exclude,literal)x*.onnx"]


def test_mirror_layouts(tmp_path: Path) -> None:
    def bare(path: Path) -> Path:
        path.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
        return path

    plus = bare(tmp_path / "m" / "Acme+Widget" / "repo")
    owner = bare(tmp_path / "m" / "acme" / "gadget.git")
    named = bare(tmp_path / "elsewhere" / "thing")
    fork = bare(tmp_path / "m" / "intel+widget" / "repo")
    git_sources = GitSources.from_args([str(tmp_path / "m"), f"thing={named}"], tmp_path / "cache")
    tag = GitRef("https://github.com/acme/widget", "v1.0")
    assert git_sources.candidates(tag, ["widget"]) == [plus]  # a fork's tag is not trusted
    commit = GitRef("https://github.com/acme/widget", "a" * 40)
    assert git_sources.candidates(commit, ["widget"])[:2] == [plus, fork]
    assert git_sources.candidates(GitRef("https://github.com/acme/gadget", "v1"), ["gadget"]) == [owner]
    assert git_sources.candidates(GitRef("https://example.org/x/thing", "v1"), ["thing"])[0] == named


def test_pypi_sdist_from_the_download_cache(world: dict[str, Path | str], monkeypatch: pytest.MonkeyPatch) -> None:
    sources, root = Path(world["sources"]), Path(world["root"])
    sdist_dir = sources / "downloads" / "pypi"
    sdist_dir.mkdir(parents=True)
    src = Path(world["tmp"]) / "thing-1.0"
    (src / "cmake").mkdir(parents=True)
    (src / "CMakeLists.txt").write_text("project(thing)\n")
    with tarfile.open(sdist_dir / "thing-1.0.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="thing-1.0")
    root = other_root(world, [widget(name="thing", source="pypi:thing==1.0", ort_patches=[])])

    def no_pip(self: fetch.Fetcher) -> Path:
        raise AssertionError("a cached sdist needs no pip")

    monkeypatch.setattr(fetch.Fetcher, "pypi_venv", no_pip)
    fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert (sources / "deps-9.9.9" / "thing" / "CMakeLists.txt").exists()
    entry = json.loads((sources / "deps-9.9.9" / STAMP).read_text())["thing"]
    assert entry["sdist"] == "thing-1.0.tar.gz" and entry["sha256"] == sha256_file(sdist_dir / "thing-1.0.tar.gz")


def test_pypi_download_failure(world: dict[str, Path | str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sources = Path(world["sources"])
    root = other_root(world, [widget(name="nothing", source="pypi:ortwasm-no-such-sdist==0.0.1", ort_patches=[])])
    # pip of this interpreter, offline: no index, only an empty find-links dir
    monkeypatch.setattr(fetch.Fetcher, "pypi_venv", lambda self: Path(sys.executable))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with pytest.raises(DependencyError) as err:
        fetch_sources("9.9.9", git_mirrors=[str(world["mirrors"])], root=root, sources=sources)
    assert "nothing" in err.value.message and "ortwasm-no-such-sdist==0.0.1" in err.value.message
    assert "pip" in err.value.hint
    assert list((sources / "downloads" / "pypi").iterdir()) == []
    assert not any(p.name.startswith("nothing") for p in (sources / "deps-9.9.9").iterdir())


def test_unknown_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORTWASM_HOME", str(tmp_path))
    rc = cli.main(["fetch-sources", "--version", "0.0.1"])
    assert rc == UsageError.return_code  # an unknown --version names the valid values, like --ort-version
    err = capsys.readouterr().err
    assert "0.0.1" in err and "1.21.0" in err and "1.30.0" in err
    assert not (tmp_path / "sources").exists()


def test_bad_git_mirror_argument(world: dict[str, Path | str], tmp_path: Path) -> None:
    from ortwasm.errors import UsageError

    with pytest.raises(UsageError, match="not a directory"):
        fetch_sources("9.9.9", git_mirrors=[str(tmp_path / "none")], root=Path(world["root"]),
                      sources=Path(world["sources"]))
    with pytest.raises(UsageError, match="not a git repository"):
        fetch_sources("9.9.9", git_mirrors=[f"widget={tmp_path}"], root=Path(world["root"]),
                      sources=Path(world["sources"]))
