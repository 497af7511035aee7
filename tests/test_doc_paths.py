"""Every repo path the prose cites exists: Markdown, docstrings and comments, CMake comments, patch headers.

Why: a reader follows a cited path to learn how something works, and a path that moved leaves them with
nothing.  Renames happen in code review, where nobody greps the prose, so the prose is checked here.  A broken
citation is printed as ``file:line: path``.

What is scanned: the Markdown files (``*.md`` at the top, under ``docs/``, ``bench/`` and ``patches/``); the
docstrings and ``#`` comments of the Python under ``ortwasm/``, ``tests/`` (upstream's fixture files aside) and
``bench/``; the ``#`` comments of the CMake files under ``cmake/``; and each patch's header, the text before its
first ``diff --git``.  In Markdown, relative link targets (``[text](target)``) must also resolve from the
file's own folder, as GitHub resolves them.

What a repo path is: a token that starts a word (not after ``/``, ``.``, ``$`` or a letter) and starts with one
of our top-level folders (``TOP_DIRS``) or is one of our top-level files (``TOP_FILES``).  So outputs
(``$ORTWASM_HOME/out/...``, a cache path) and paths inside ONNX Runtime's tree that merely end in one of our
names are not candidates.  ONNX Runtime's tree has a ``cmake/`` of its own; ours holds only
``cmake/ortwasm-*.cmake`` and ``cmake/wheel/``, so any other ``cmake/...`` token is upstream's
(``cmake/onnxruntime_webassembly.cmake``, ``cmake/external/...``, ``cmake/deps.txt``) and is not checked
(``_is_upstream``).  A token with a placeholder (``<version>``, ``*``, ``{a,b}``) is a pattern: its fixed prefix
must exist and the pattern, read as a glob, must match something.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TOP_DIRS = ("ortwasm/", "tests/", "bench/", "ci/", "cmake/", "docs/", "patches/", "runtime/", ".ci/", ".github/")
TOP_FILES = ("build.py", "README.md", "CHANGELOG.md", "pyproject.toml")
# Ours under cmake/; everything else under cmake/ is ONNX Runtime's own tree.
OUR_CMAKE = ("cmake/ortwasm-", "cmake/wheel")

# A token: path characters, `<placeholder>` (may hold spaces: `<ort version>`), `{a,b}` alternatives and
# `[optional]` parts (not a Markdown link's `[text](`).
_TOKEN = re.compile(r"(?<![\w./$~@\-])(?:<[^<>\n]{1,40}>|\{[^{}\s]*\}|\[[^\[\]\s()]*\](?!\()|[\w.\-/*?+@])+")
_LINK = re.compile(r"\]\(([^()\s]+)\)")
_PLACEHOLDER = re.compile(r"<[^<>]*>|\{[^{}]*\}|\[[^\[\]]*\]|[*?]")


def _candidate(token: str) -> str | None:
    """The repo path a token cites, or None: trailing punctuation, `::test` and `:line` suffixes dropped."""
    token = token.split("::")[0]
    token = re.sub(r":\d+(-\d+)?$", "", token)
    token = token.rstrip(".,:;!'\"")
    if token in TOP_FILES or (token.startswith(TOP_DIRS) and not _is_upstream(token)):
        return token
    return None


def _is_upstream(token: str) -> bool:
    """ONNX Runtime's cmake/ (cited in patch headers and docs) is not ours: ours is OUR_CMAKE."""
    return token.startswith("cmake/") and token != "cmake/" and not token.startswith(OUR_CMAKE)


def _exists(path: str) -> bool:
    if _PLACEHOLDER.search(path) is None:
        target = REPO / path
        return target.is_dir() if path.endswith("/") else target.exists()
    fixed = _PLACEHOLDER.split(path, maxsplit=1)[0].rpartition("/")[0]
    if not (REPO / fixed).is_dir():
        return False
    return any(_glob_matches(pattern) for pattern in _expand(path))


def _expand(path: str) -> list[str]:
    """`a/{x,y}.py` -> [`a/x.py`, `a/y.py`]; `<name>` and `[optional]` -> `*`."""
    path = re.sub(r"<[^<>]*>|\[[^\[\]]*\]", "*", path)
    brace = re.search(r"\{([^{}]*)\}", path)
    if brace is None:
        return [path]
    return [p for alt in brace.group(1).split(",") for p in _expand(path[:brace.start()] + alt + path[brace.end():])]


def _glob_matches(pattern: str) -> bool:
    stripped = pattern.rstrip("/")
    return any(p.is_dir() or not pattern.endswith("/") for p in REPO.glob(stripped))


# --- where citations are --------------------------------------------------------------------------------------

def markdown_files() -> list[Path]:
    files = sorted(REPO.glob("*.md"))
    for folder in ("docs", "bench", "patches"):
        files += sorted((REPO / folder).rglob("*.md"))
    return files


def python_files() -> list[Path]:
    files: list[Path] = []
    for folder in ("ortwasm", "tests", "bench"):
        files += sorted(p for p in (REPO / folder).rglob("*.py") if "fixtures" not in p.relative_to(REPO).parts)
    return files


def _python_prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of each docstring line and each comment."""
    source = path.read_text()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str) and first.end_lineno is not None):
                for n in range(first.lineno, first.end_lineno + 1):
                    yield n, lines[n - 1]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string


def _cmake_prose(path: Path) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        if "#" in unquoted:
            yield n, unquoted[unquoted.index("#"):]


def _patch_header(path: Path) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if line.startswith("diff --git"):
            return
        yield n, line


def prose() -> Iterator[tuple[Path, int, str]]:
    """Every (file, line, text) whose repo paths must exist."""
    for md in markdown_files():
        for n, line in enumerate(md.read_text().splitlines(), 1):
            yield md, n, line
    for py in python_files():
        for n, text in _python_prose(py):
            yield py, n, text
    for cm in sorted((REPO / "cmake").rglob("*.cmake")) + sorted((REPO / "cmake").rglob("CMakeLists.txt")):
        for n, text in _cmake_prose(cm):
            yield cm, n, text
    for patch in sorted((REPO / "patches").glob("*/*.patch")):
        for n, text in _patch_header(patch):
            yield patch, n, text


def cited(text: str) -> list[str]:
    """The repo paths one line of prose cites."""
    found = [c for m in _TOKEN.finditer(text) if (c := _candidate(m.group(0))) is not None]
    return list(dict.fromkeys(found))


def broken_citations() -> list[str]:
    broken: list[str] = []
    for path, line, text in prose():
        where = f"{path.relative_to(REPO)}:{line}"
        missing = [cite for cite in cited(text) if not _exists(cite)]
        broken += [f"{where}: {cite}" for cite in missing]
        if path.suffix == ".md":
            for target in _LINK.findall(text):
                if re.match(r"[a-z]+:|#", target):  # https:, mailto:, an anchor in the same file
                    continue
                resolved = (path.parent / target.split("#")[0]).resolve()
                if not resolved.exists() and str(resolved.relative_to(REPO)) not in missing:  # not twice
                    broken.append(f"{where}: {target} (link, from {path.parent.relative_to(REPO) or '.'}/)")
    return broken


def test_every_cited_repo_path_exists() -> None:
    broken = broken_citations()
    for entry in broken:
        print(entry)
    assert not broken, f"{len(broken)} cited paths do not exist:\n" + "\n".join(broken)


# --- the rules themselves ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("see `ortwasm/cli.py` and ci/test.sh.", ["ortwasm/cli.py", "ci/test.sh"]),
    ("run `python3 build.py --help`; README.md says", ["build.py", "README.md"]),
    ("(tests/test_client.py::test_x, ortwasm/log.py:12)", ["tests/test_client.py", "ortwasm/log.py"]),
    ("[arch](docs/architecture.md#layers)", ["docs/architecture.md"]),
    ("`.ci/run` and .github/workflows/build.yml", [".ci/run", ".github/workflows/build.yml"]),
    ("patches/<version>/recipe.toml, bench/results/<bench>-<ort version>.json",
     ["patches/<version>/recipe.toml", "bench/results/<bench>-<ort version>.json"]),
    ("writes bench/results/load[-NAME]-<version>.json.", ["bench/results/load[-NAME]-<version>.json"]),
    ("[docs/variants.md](docs/variants.md)", ["docs/variants.md"]),
    # outputs, caches and ONNX Runtime's own tree are not ours
    ("$ORTWASM_HOME/out/ci/x /var/cache/ortwasm/build/tests/y dist/z out/w", []),
    ("js/web/lib/wasm/jsep/init.ts onnxruntime/wasm/pre-memfs.js tools/ci_build/build.py", []),
    ("cmake/onnxruntime_webassembly.cmake cmake/external/abseil.cmake cmake/deps.txt", []),
    ("cmake/ortwasm-init.cmake cmake/wheel/ cmake/", ["cmake/ortwasm-init.cmake", "cmake/wheel/", "cmake/"]),
    ("the ortwasm.build module, ortwasm: lines", []),
])
def test_what_counts_as_a_citation(text: str, expected: list[str]) -> None:
    assert cited(text) == expected


@pytest.mark.parametrize("path,exists", [
    ("ortwasm/cli.py", True),
    ("ortwasm/no_such_module.py", False),
    ("ortwasm/errors.py/", False),  # a trailing slash cites a folder
    ("ortwasm/checks/", True),
    ("patches/<version>/", True),
    ("patches/<version>/deps.toml", True),
    ("patches/<version>/no-such-file.toml", False),
    ("no-such-dir/<x>/y", False),
    ("ortwasm/checks/{rules,wasm}.py", True),
    ("tests/test_*.py", True),
    ("ortwasm/check[s]/rules.py", True),  # an optional part, any text
    ("ortwasm/checks/rules[-x].toml", False),
])
def test_patterns_need_their_prefix_and_a_match(path: str, exists: bool) -> None:
    assert _exists(path) is exists
