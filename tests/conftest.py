"""Shared test fixtures.

The fast tier must never start a real compiler by accident: an autouse
fixture makes emcc/cmake/ninja invocations through subprocess raise unless the
test is marked integration/artifacts/browser.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

_GUARDED = ("emcc", "em++", "emcmake", "ninja")
_REAL_MARKS = ("integration", "artifacts", "browser")


@pytest.fixture(autouse=True)
def _no_toolchain_in_fast_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if any(request.node.get_closest_marker(m) for m in _REAL_MARKS):
        yield
        return
    real_popen = subprocess.Popen

    class GuardedPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *a: Any, **kw: Any) -> None:
            text = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
            if any(f"/{tool} " in f"/{text} " or text.startswith(tool) for tool in _GUARDED):
                raise AssertionError(f"fast-tier test tried to run the toolchain: {text[:200]}")
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)
    yield
