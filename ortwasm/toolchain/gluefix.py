"""The wasm64 + pthreads glue fix for emscripten 3.1.69: a post-link step Ninja runs, checked and recorded here.

3.1.69 creates its shared 64-bit memory with ``{..., index: "i64"}``; the key
was later renamed ``address`` and Node 24 (and current Chrome) ignore
``index``, then reject the memory as 32-bit (``maximum ... above the upper
bound 65536``).  The key appears twice, in the feature probe and in the
constructor; both must change.  ``cmake/ortwasm-gluefix.cmake`` rewrites them
as a POST_BUILD step of the link (so the fix is part of the build graph);
``recorded`` checks that it ran and that no occurrence survived.

Only emscripten releases before the rename get the fix (``FIXED_IN``): a newer one (sid's 6.0.x) emits
``address`` itself, and its glue is left byte for byte as the toolchain wrote it; if such glue still held
``index:"i64"`` the checks' glue_fix rule would fail it rather than this step hiding a new problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from .table import table

FIXED_IN = table().address_key_since  # the first release whose glue says `address:"i64"` (toolchains.toml)
# The 64-bit memory descriptor's key, `index:"i64"` (emscripten 3.1.69, which Node 24 ignores) or `address:"i64"`:
# one pattern for the check that reads it (checks/glue.py), the fix that rewrites it and the tests' harness.
_KEY_RE = r"""(?<![\w$])(?P<q>["']?)(?P<key>{keys})(?P=q)(?P<sep>\s*:\s*)(?P<v>["'])i64(?P=v)"""
MEMORY64_KEY = re.compile(_KEY_RE.format(keys="index|address"))
OLD_KEY = re.compile(_KEY_RE.format(keys="index"))


@dataclass(frozen=True)
class GlueFix:
    applied: bool
    replaced: int
    reason: str


def needs_fix(emscripten: str | None) -> bool:
    """Whether glue from this emscripten (X.Y.Z) can carry the old key; None (unknown) is treated as old."""
    if emscripten is None:
        return True
    try:
        return tuple(int(x) for x in emscripten.split(".")[:3]) < FIXED_IN
    except ValueError:
        return True


STAMP_SUFFIX = ".ortwasm-gluefix"  # what cmake/ortwasm-gluefix.cmake writes beside the glue: how many it rewrote


def recorded(build_mjs: Path, memory64: bool, emscripten: str | None = None) -> GlueFix:
    """What the link's glue-fix step did to ``build_mjs`` (the glue in the build dir), for the manifest.

    The fix itself is a POST_BUILD step of the link (cmake/ortwasm-gluefix.cmake, hooked in by
    configure/plan.py), so Ninja runs it exactly when it relinks.  Here it is only verified: the step must have
    run after the last link (its stamp no older than the glue), and no old key may be left.
    """
    if not memory64:
        return GlueFix(False, 0, "wasm32: no 64-bit memory descriptor")
    if not needs_fix(emscripten):
        return GlueFix(False, 0, f"emscripten {emscripten} emits the `address` key itself (fixed in "
                                 f"{'.'.join(map(str, FIXED_IN))}); not applied")
    stamp = build_mjs.with_name(build_mjs.name + STAMP_SUFFIX)
    if not stamp.is_file() or stamp.stat().st_mtime < build_mjs.stat().st_mtime:
        raise BuildError(f"{build_mjs}: the glue-fix step did not run after the last link (no fresh {stamp.name})",
                         f"reconfigure: delete {build_mjs.parent / 'ortwasm-configure.json'} and rerun the build")
    if OLD_KEY.search(build_mjs.read_text(encoding="utf-8")):
        raise BuildError(f"{build_mjs.name}: `index:\"i64\"` survived the glue fix", "report this emscripten version")
    count = int(stamp.read_text().strip() or 0)
    if count == 0:
        return GlueFix(False, 0, "toolchain already emits the `address` key")
    return GlueFix(True, count, f"rewrote {count} `index:\"i64\"` to `address:\"i64\"` in the link's POST_BUILD step "
                                f"(cmake -P ortwasm-gluefix.cmake; a glue bug of emscripten before "
                                f"{'.'.join(map(str, FIXED_IN))})")
