"""A fixture for tests that start real processes on an ORTWASM_HOME: never the machine's own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing may touch the machine's ORTWASM_HOME (subprocesses get homes of their own)."""
    home = tmp_path / "test-home"
    monkeypatch.setenv("ORTWASM_HOME", str(home))
    monkeypatch.setenv("ORTWASM_ARTIFACTS", str(home / "out"))
    return home
