"""The localhost server and the browser check the browser tests use (tests/test_client.py runs the artifacts in
Chromium through them, tests/test_runtime_firefox.py in Firefox).

Tested on their own (no browser needed): without COOP/COEP on every response, including the pthread worker script,
a threaded artifact has no SharedArrayBuffer and the failure would look like an artifact bug; without a browser, a
run must say which one and how to install it, not fail inside the driver.
"""

from __future__ import annotations

import re
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


def test_missing_browser_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A browser that is not installed is refused before any driver starts, naming the executable looked for and
    the provisioning script (a test turns the same words into its skip reason)."""
    gone = tmp_path / "no-firefox"
    monkeypatch.setitem(runtime.BROWSERS, "firefox", runtime.Browser(gone, "puppeteer-core", "firefox-esr"))
    missing = runtime.browser_missing("firefox")
    assert missing is not None
    assert str(gone) in missing.message and "ci/provision-toolchain.sh" in missing.hint
    with pytest.raises(type(missing), match=re.escape(f"NO FIREFOX at {gone}")):
        runtime.run_page("firefox", {}, runtime.Served(tmp_path, "x.mjs"), tmp_path / "m.onnx", [], 10)
