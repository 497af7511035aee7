"""What every benchmark records beside its figures, and how it writes them (atomically)."""

from __future__ import annotations

import json
import os
import platform
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine_info(**extra: Any) -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "zlib": zlib.ZLIB_RUNTIME_VERSION, **extra}


def write_results(path: Path, data: dict[str, Any]) -> None:
    data = {**data, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")
