"""Output directories that appear whole or not at all.

Why: a later stage (checks, `package`, a test) that finds a half-written OUT/<variant>/ or OUT/onnxruntime-web/
after a failure or Ctrl-C would package or judge garbage.  Everything is written into a temporary directory beside
the final one and renamed into place; on any error the temporary directory is removed and the previous output
stays as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty directory beside `final`; when the block succeeds it replaces `final` in one rename."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs are for serving and packaging
    try:
        yield tmp
        old = final.parent / f".{final.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
