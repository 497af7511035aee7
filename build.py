#!/usr/bin/env python3
"""Entry point, as ORT users expect: `python build.py --enable_wasm_memfs --variants wasm32,wasm64`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ortwasm.cli import main

if __name__ == "__main__":
    sys.exit(main())
