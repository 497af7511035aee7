"""Hand-built wasm bytes shared by the tests (LEB128 and friends)."""

from __future__ import annotations


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)
