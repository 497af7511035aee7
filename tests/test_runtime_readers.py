"""The byte readers of runtime/pre-memfs.js, run from the source file in Node, without a build.

Why here and not only through a glue: the readers decide how much dead memory a browser holds while a model loads
(a new ArrayBuffer per chunk stays resident until V8 collects it: 1.6 GiB of them loading 4.25 GiB in Chromium), and
a mistake in the BYOB bookkeeping (a transferred buffer kept, a view read after the next read) corrupts weights
silently.  This checks the bytes on every kind of stream, and the exact-length contract of ortReadChunk.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness.runtime import node_binary

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "harness" / "js" / "runtime_readers.mjs"


def _run() -> dict[str, object]:
    proc = subprocess.run([str(node_binary()), str(SCRIPT), str(ROOT / "runtime" / "pre-memfs.js")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_stream_reader_bytes_and_reuse() -> None:
    """Byte streams go through one reused buffer, full chunks but the last; a plain stream keeps its own chunks."""
    out = _run()
    stream = out["stream"]
    assert isinstance(stream, dict)
    full_chunks = -(-int(str(out["size"])) // int(str(out["chunk"])))
    for kind in ("blob", "response"):
        assert stream[kind] == {"reused": True, "views": full_chunks, "equal": True}, kind
    assert stream["plain"] == {"reused": False, "views": 2, "equal": True}


def test_read_chunk_exact_length() -> None:
    """Exactly n bytes or an error naming what came; a failed read leaves the next one working."""
    reads = _run()["chunkReads"]
    assert isinstance(reads, dict)
    assert reads["blobExact"] == {"ok": True, "equal": True}
    assert reads["plainExact"] == {"ok": True, "equal": True}
    assert reads["blobShort"] == {"ok": False, "error": "case: asked for 3000 bytes, got 2500"}
    assert reads["blobLong"] == {"ok": False, "error": "case: asked for 3000 bytes, got more"}
    assert reads["plainLong"] == {"ok": False, "error": "case: asked for 3000 bytes, got more"}
    assert reads["afterFailure"] == {"ok": True, "equal": True}
