"""The localhost server the browser tests use (tests/test_client.py runs the artifacts in Chromium through it).

Tested on its own (no browser needed): without COOP/COEP on every response, including the pthread worker script,
a threaded artifact has no SharedArrayBuffer and the failure would look like an artifact bug.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.harness import runtime

VARIANTS = ("wasm32", "wasm32-memfs", "wasm64", "wasm64-memfs")


def test_static_server_sends_isolation_headers_and_only_mapped_files(tmp_path: Path) -> None:
    f = tmp_path / "a.wasm"
    f.write_bytes(b"\0asm" + bytes(100))
    with runtime.StaticServer() as srv:
        url = srv.add("/artifact/a.wasm", f)
        with urllib.request.urlopen(url) as r:
            assert r.read() == f.read_bytes()
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert r.headers["Content-Type"] == "application/wasm"
        for bad in ("/artifact/../a.wasm", "/artifact/", "/etc/passwd"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(srv.base_url + bad)
