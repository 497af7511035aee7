"""ORTWASM_REQUIRE turns the named variants' skips into failures (and only theirs)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (__import__("pathlib").Path(__file__).resolve().parent / "conftest.py").read_text()


@pytest.mark.parametrize(("require", "outcome"), [
    ("wasm32-memfs", {"failed": 1, "skipped": 3}),
    ("wasm32", {"failed": 1, "skipped": 3}),
    ("", {"skipped": 4}),
    ("wasm64-memfs,js", {"failed": 1, "skipped": 3}),
    ("1.30.0:wasm32-memfs", {"failed": 1, "skipped": 3}),
    ("wasm32-memfs,1.30.0:wasm32-memfs", {"failed": 2, "skipped": 2}),
])
def test_required_variants_cannot_skip(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: str,
                                       outcome: dict[str, int]) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_x='''
import pytest
def test_memfs():
    pytest.skip("NO ARTIFACT for wasm32-memfs: looked for /x/wasm32-memfs/manifest.json")
def test_plain():
    pytest.skip("NO ARTIFACT for variant wasm32: looked for /x/wasm32/ort.mjs")
def test_js():
    pytest.skip("NO JS BUILD: /x/onnxruntime-web missing")
def test_other_version():
    pytest.skip("NO 1.30.0 ARTIFACT for wasm32-memfs: looked for /x/out-1.30.0/wasm32-memfs/manifest.json")
''')
    monkeypatch.setenv("ORTWASM_REQUIRE", require)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(**outcome)
