"""A real emcmake configure of ORT 1.21.0: the link line of onnxruntime_webassembly is what the flag says.

Configure is mostly emcc feature probes (2-4 min cold), so each architecture is
configured once and the MEMFS switch is a reconfigure of the same dir (seconds):
OFF first, then ON, then OFF again, proving the switch goes both ways.
The build dirs live under $ORTWASM_HOME/test-configure so a warm machine reuses them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ortwasm.options import BuildOptions
from ortwasm.pipeline import configure_variant
from ortwasm.variants import load_table

pytestmark = pytest.mark.integration


def _link_line(build_dir: Path) -> str:
    text = (build_dir / "build.ninja").read_text()
    m = re.search(r"^build ort-wasm-simd-threaded\.mjs:.*?(?=^build |\Z)", text, re.M | re.S)
    assert m, "no link edge for ort-wasm-simd-threaded.mjs in build.ninja"
    return m.group(0)


@pytest.mark.parametrize("arch", ["wasm32", "wasm64"])
def test_link_line_follows_memfs_flag(configure_setup: tuple[BuildOptions, object, object], arch: str) -> None:
    opts, tc, src = configure_setup
    table = load_table()
    # Same build dir for OFF and ON: the reconfigure reuses the probes.
    off, on = table[arch], table[f"{arch}-memfs"]
    seen = {}
    for variant in (off, on, off):
        from dataclasses import replace

        v = replace(variant, name=f"cfg-{arch}")
        plan, _, _ = configure_variant(opts, v, tc, src, {})  # type: ignore[arg-type]
        seen[variant.memfs] = _link_line(plan.build_dir)
        line = seen[variant.memfs]
        if variant.memfs:
            assert "FORCE_FILESYSTEM=1" in line and "FILESYSTEM=0" not in line
            assert re.search(r"EXPORTED_RUNTIME_METHODS=\[[^\]]*\bFS\b", line)
            assert "pre-memfs.js" in line
        else:
            assert "-s FILESYSTEM=0" in line and "FORCE_FILESYSTEM" not in line and "pre-memfs" not in line
            assert not re.search(r"EXPORTED_RUNTIME_METHODS=\[[^\]]*\bFS\b", line)
        assert ("MEMORY64=1" in line) == (arch == "wasm64")
        flags = (plan.build_dir / "CMakeFiles" / "onnxruntime_framework.dir" / "flags.make")
        ninja = (plan.build_dir / "build.ninja").read_text()
        # Only the two readers of external data get the define (tensorprotoutils.cc for the CPU EP,
        # external_data_loader.cc for the WebGPU EP's loader), so ON and OFF share every other object.
        for reader in ("tensorprotoutils", "external_data_loader"):
            edge = re.search(rf"^build [^\n]*/framework/{reader}\.cc\.o:.*?(?=^build )", ninja, re.M | re.S)
            assert edge is not None, reader
            assert ("ORT_ENABLE_WEBASSEMBLY_MEMFS" in edge.group(0)) == variant.memfs, reader
        assert ninja.count("ORT_ENABLE_WEBASSEMBLY_MEMFS") == (2 if variant.memfs else 0)
        del flags
