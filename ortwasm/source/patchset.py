"""A version's patch set as the source stage applies it: the recipe's series, plus our own runtime files.

Why its own type: the source stage needs only what changes the tree (the patches in order, the files copied in)
and one id for the lot, so a second run can tell whether its copy is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..recipe import load_recipe


@dataclass(frozen=True)
class PatchSet:
    version: str
    patches: tuple[Path, ...]
    runtime_files: tuple[tuple[str, Path], ...] = ()  # (path in the tree, our file)
    id: str = ""


def find_patchset(version: str, root: Path | None = None) -> PatchSet | None:
    """The patch set of ``version``, or None when patches/ has no recipe for it."""
    recipe = load_recipe(version, root)
    if recipe is None or not recipe.patches:
        return None
    return PatchSet(version, recipe.patches, tuple(sorted(recipe.runtime_files.items())), recipe.patchset_id)
