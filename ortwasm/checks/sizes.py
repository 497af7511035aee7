"""Raw, gzip -9 and brotli-11 sizes of one artifact file, and the budgets they are held to.

Why these numbers: users download the ``.wasm``/``.mjs`` compressed, so the
budgets and the MEMFS cost are judged on gzip (what every server can do) and
reported in brotli (what CDNs serve).

gzip here is zlib level 9 in a gzip container with no file name and mtime 0
(``gzip.compress``), so the number does not depend on the file's name or date.
GNU ``gzip -9`` uses its own deflate and stores the name: on the official
1.21.0 wasm it gives 3,231,122 B where zlib gives 3,225,155 B (-0.2 %).

Why a size cache and a brotli limit: brotli quality 11 costs about 2 s of CPU
per MB (68 s for the 36.6 MB of official 1.21.0 wasm), gzip -9 about 0.07 s.
So brotli is skipped above ``DEFAULT_BROTLI_LIMIT`` unless asked for, and sizes
are cached by the file's sha256: a re-check of the same bytes (report
regeneration, baseline diffs, CI re-runs) reads them back.

The budget table (``patches/<version>/budgets.toml``) is read here too, and strictly: a
release engineer edits it by hand, so a typo must name its key, not be ignored.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CannotCheck

try:  # optional: pip install 'ortwasm[brotli]'
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

BROTLI_QUALITY = 11
GZIP_LEVEL = 9
# Above this size brotli-11 is skipped unless asked for: it is the one slow step of a check.
DEFAULT_BROTLI_LIMIT = 1 << 20
_CACHE_VERSION = 1
MEASURES = ("raw", "gzip", "brotli")


def brotli_available() -> bool:
    return _brotli is not None


@dataclass(frozen=True)
class FileSizes:
    name: str
    raw: int
    gzip: int
    brotli: int | None
    sha256: str
    brotli_note: str = ""  # why brotli is None

    def get(self, measure: str) -> int | None:
        """Look up ``raw``/``gzip``/``brotli`` by name, for budget tables keyed by measure."""
        return {"raw": self.raw, "gzip": self.gzip, "brotli": self.brotli}[measure]


def _cache_file(cache_dir: Path, sha: str) -> Path:
    return cache_dir / f"{sha}.json"


def _cache_read(cache_dir: Path | None, sha: str) -> dict[str, int]:
    if cache_dir is None:
        return {}
    try:
        data = json.loads(_cache_file(cache_dir, sha).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("v") != _CACHE_VERSION:
        return {}
    return {k: v for k, v in data.items() if k in ("gzip", "brotli") and isinstance(v, int)}


def _cache_write(cache_dir: Path | None, sha: str, values: dict[str, int]) -> None:
    """Write under a temp name and rename, so a killed check never leaves a half-written entry."""
    if cache_dir is None:
        return
    tmp: str | None = None
    try:  # a read-only cache is not an error: the sizes are simply measured again next time
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump({"v": _CACHE_VERSION, **values}, fh)
        os.replace(tmp, _cache_file(cache_dir, sha))
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def measure_bytes(name: str, data: bytes, *, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT,
                  cache_dir: Path | None = None) -> FileSizes:
    sha = hashlib.sha256(data).hexdigest()
    cached = _cache_read(cache_dir, sha)
    gz = cached.get("gzip")
    if gz is None:
        gz = len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))
    br = cached.get("brotli")
    note = ""
    if br is None:
        if _brotli is None:
            note = "brotli module not installed (pip install brotli)"
        elif brotli_limit is not None and len(data) > brotli_limit:
            note = f"skipped: {len(data):,} B > brotli limit {brotli_limit:,} B (quality 11 costs ~2 s/MB)"
        else:
            br = len(_brotli.compress(data, quality=BROTLI_QUALITY))
    if cached.get("gzip") != gz or (br is not None and cached.get("brotli") != br):
        _cache_write(cache_dir, sha, {"gzip": gz, **({"brotli": br} if br is not None else {})})
    return FileSizes(name, len(data), gz, br, sha, note)


def measure(path: Path, *, brotli_limit: int | None = DEFAULT_BROTLI_LIMIT, cache_dir: Path | None = None) -> FileSizes:
    """Sizes of ``path``; ``brotli_limit=None`` measures brotli for every size."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CannotCheck(f"{path}: cannot read: {exc.strerror or exc}", "check the path and permissions") from None
    return measure_bytes(path.name, data, brotli_limit=brotli_limit, cache_dir=cache_dir)


@dataclass(frozen=True)
class Budget:
    raw: int | None = None
    gzip: int | None = None
    brotli: int | None = None

    def limit(self, measure: str) -> int | None:
        return {"raw": self.raw, "gzip": self.gzip, "brotli": self.brotli}[measure]


@dataclass(frozen=True)
class Budgets:
    source: str
    files: Mapping[str, Mapping[str, Budget]]  # variant name (or "default") -> ".wasm"/".mjs" -> Budget
    memfs_delta: Mapping[str, Budget]
    max_growth_percent: float = 2.0

    def for_file(self, variant: str, filename: str) -> tuple[Budget | None, str]:
        suffix = Path(filename).suffix
        for key in (variant, "default"):
            if suffix in self.files.get(key, {}):
                return self.files[key][suffix], key
        return None, ""


def _budget(table: Any, where: str) -> Budget:
    if not isinstance(table, dict) or not table or set(table) - set(MEASURES):
        raise CannotCheck(f"{where}: expected a table with keys from {MEASURES}, got {table!r}",
                          'write e.g. ".wasm" = { raw = 17_000_000, gzip = 4_000_000 }')
    bad = {k: v for k, v in table.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
    if bad:
        raise CannotCheck(f"{where}: budgets must be byte counts >= 0, got {bad}", "fix that line")
    return Budget(**table)


def _suffix_table(table: Any, where: str) -> dict[str, Budget]:
    if not isinstance(table, dict):
        raise CannotCheck(f"{where}: expected a table of file suffixes", 'write [variants.NAME] ".wasm" = {...}')
    for suffix in table:
        if not suffix.startswith("."):
            raise CannotCheck(f"{where}: key {suffix!r} is not a file suffix", 'quote it: ".wasm" = { ... }')
    return {s: _budget(b, f"{where}.{s!r}") for s, b in table.items()}


def load_budgets(path: Path) -> Budgets:
    """Read a version's budgets.toml; a mistake in it is reported with its key, because people edit it by hand."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise CannotCheck(f"budgets {path}: cannot read: {exc.strerror or exc}", "pass --budgets FILE") \
            from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CannotCheck(f"budgets {path} is not valid TOML: {exc}", "fix that line") from None
    unknown = set(data) - {"format", "default", "variants", "memfs_delta", "baseline"}
    if unknown:
        raise CannotCheck(f"budgets {path}: unknown top-level keys {sorted(unknown)}",
                          "allowed: format, default, variants, memfs_delta, baseline")
    files = {name: _suffix_table(t, f"{path} [variants.{name}]") for name, t in data.get("variants", {}).items()}
    if "default" in data:
        files["default"] = _suffix_table(data["default"], f"{path} [default]")
    growth = data.get("baseline", {}).get("max_growth_percent", 2.0)
    if not isinstance(growth, int | float) or isinstance(growth, bool) or growth < 0:
        raise CannotCheck(f"budgets {path}: [baseline] max_growth_percent must be a number >= 0", "e.g. 2.0")
    return Budgets(str(path), files, _suffix_table(data.get("memfs_delta", {}), f"{path} [memfs_delta]"),
                   float(growth))
