"""Patch sets, one directory per ONNX Runtime version: patches/<version>/NNNN-*.patch.

The id of a patch set is a hash of its files, so editing a patch re-prepares
the source copy and rebuilds exactly what the change touches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .. import paths


@dataclass(frozen=True)
class PatchSet:
    version: str
    patches: tuple[Path, ...]

    @property
    def id(self) -> str:
        h = hashlib.sha256()
        for p in self.patches:
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        return f"{self.version}-{h.hexdigest()[:12]}"


def default_patch_root() -> Path:
    """The repository's patches/ when running from a checkout, else the copy installed with the package."""
    return paths.shipped("patches", "_patches")


def supported_versions(root: Path | None = None) -> list[str]:
    root = root or default_patch_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.patch"))) if root.is_dir() else []


def find_patchset(version: str, root: Path | None = None) -> PatchSet | None:
    root = root or default_patch_root()
    d = root / version
    patches = tuple(sorted(d.glob("*.patch"))) if d.is_dir() else ()
    return PatchSet(version, patches) if patches else None
