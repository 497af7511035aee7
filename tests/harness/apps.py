"""The two clients of every supported ORT version, and the artifact lookup their tests share.

Why a module: the Node, Chromium and Firefox tests (tests/test_client.py, tests/test_runtime_firefox.py) run the
same clients on the same pairs, and must skip with the same messages, which ORTWASM_REQUIRE (tests/conftest.py)
matches by variant and version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ortwasm.paths import node_prefix
from ortwasm.recipe import default_version, require_recipe
from tests.harness.client import client_app, our_package_app

DEFAULT = default_version()


def out_dir(version: str) -> Path:
    """The version's out dir (the recipe's: ORTWASM_ARTIFACTS moves the default version's, ORTWASM_ARTIFACTS_<X_Y_Z>
    another's)."""
    return require_recipe(version).out_dir


def pair(variant: str, version: str = DEFAULT) -> Path:
    """The variant's artifact dir, or a skip naming it (and the version, when not the default one)."""
    where = out_dir(version) / variant
    if not (where / "manifest.json").exists():
        what = f"{variant}" if version == DEFAULT else f"{version} {variant}"
        pytest.skip(f"NO ARTIFACT for {what}: looked for {where}/manifest.json "
                    f"(python build.py --ort-version {version} ... builds it)")
    node_or_skip()
    return where


def node_or_skip() -> None:
    if not (node_prefix() / "bin" / "node").exists():
        pytest.skip("NO NODE 24: run ci/provision-toolchain.sh")


class Apps:
    """Both clients of each version, installed once per session: ours from the version's out dir, npm's official."""

    def __init__(self, work: pytest.TempPathFactory) -> None:
        self.work = work
        self._apps: dict[str, Path] = {}

    def ours(self, version: str) -> Path:
        key = f"ortwasm-{version}"
        if key not in self._apps:
            out = out_dir(version)
            if not (out / "onnxruntime-web" / "manifest.json").exists():
                pytest.skip(f"NO JS BUILD for {version}: {out}/onnxruntime-web missing (python build.py "
                            f"--ort-version {version} without --skip-js builds it)")
            self._apps[key] = our_package_app(out, self.work.mktemp(key), name=key)
        return self._apps[key]

    def official(self, version: str) -> Path:
        key = f"official-{version}"
        if key not in self._apps:
            self._apps[key] = client_app(key, f"onnxruntime-web@{version}")
        return self._apps[key]
