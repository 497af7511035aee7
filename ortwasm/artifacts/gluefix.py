"""The wasm64 + pthreads glue fix for emscripten 3.1.69 (a checked post-link step).

3.1.69 creates its shared 64-bit memory with ``{..., index: "i64"}``; the key
was later renamed ``address`` and Node 24 (and current Chrome) ignore
``index``, then reject the memory as 32-bit (``maximum ... above the upper
bound 65536``).  The key appears twice, in the feature probe and in the
constructor; both must change.  We rewrite only when the toolchain emitted
the old key, say so in the build log, and fail if any occurrence survives.

Only emscripten releases before the rename get the fix (``FIXED_IN``): a newer one (sid's 6.0.x) emits
``address`` itself, and its glue is left byte for byte as the toolchain wrote it; if such glue still held
``index:"i64"`` the checks' glue_fix rule would fail it rather than this step hiding a new problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..checks.glue import OLD_INDEX_KEY
from ..errors import BuildError

FIXED_IN = (3, 1, 71)  # the first emscripten release whose glue says `address:"i64"` (docs/toolchain.md)
OLD_KEY = OLD_INDEX_KEY  # the pattern the checks read, so the fix and the glue_fix rule cannot disagree


@dataclass(frozen=True)
class GlueFix:
    applied: bool
    replaced: int
    reason: str


def fix_text(text: str) -> tuple[str, int]:
    def repl(m: re.Match[str]) -> str:
        return f"{m['q']}address{m['q']}{m['sep']}{m['v']}i64{m['v']}"

    return OLD_KEY.subn(repl, text)


def needs_fix(emscripten: str | None) -> bool:
    """Whether glue from this emscripten (X.Y.Z) can carry the old key; None (unknown) is treated as old."""
    if emscripten is None:
        return True
    try:
        return tuple(int(x) for x in emscripten.split(".")[:3]) < FIXED_IN
    except ValueError:
        return True


def apply(mjs: Path, memory64: bool, emscripten: str | None = None) -> GlueFix:
    """Rewrite the old key in ``mjs`` when the glue is wasm64 and ``emscripten`` predates FIXED_IN."""
    if not memory64:
        return GlueFix(False, 0, "wasm32: no 64-bit memory descriptor")
    if not needs_fix(emscripten):
        return GlueFix(False, 0, f"emscripten {emscripten} emits the `address` key itself (fixed in "
                                 f"{'.'.join(map(str, FIXED_IN))}); not applied")
    text = mjs.read_text(encoding="utf-8")
    fixed, count = fix_text(text)
    if count == 0:
        return GlueFix(False, 0, "toolchain already emits the `address` key")
    if OLD_KEY.search(fixed):
        raise BuildError(f"{mjs.name}: `index:\"i64\"` survived the glue fix", "report this emscripten version")
    mjs.write_text(fixed, encoding="utf-8")
    return GlueFix(True, count, f"rewrote {count} `index:\"i64\"` to `address:\"i64\"` (emscripten 3.1.69 glue bug)")
