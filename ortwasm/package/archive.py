"""Byte-reproducible archives (the npm tarball; the wheel's RECORD hashes) and the all-or-nothing write of both.

Reproducibility: entries sorted, mtimes from ``SOURCE_DATE_EPOCH`` (default npm's own constant
1985-10-26T08:15:00Z), uid/gid 0 with empty owner names, modes 0644, gzip header mtime 0 and no file name.
Same inputs, same bytes out (with the same zlib: deflate output may differ between zlib builds).
Compression level 6: 0.8 % larger than 9 on the wasm at half the time.

The wheel itself is built by scikit-build-core from ``cmake/wheel/`` (``skbuild.py`` says why and how it stays
reproducible); ``write_all`` still writes it beside the tarball, so both appear together or not at all.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from ..errors import PackageError

DEFAULT_EPOCH = 499162500  # 1985-10-26T08:15:00Z: what `npm pack` stamps on every entry
LEVEL = 6
FILE_MODE = 0o644
GENERATOR = "ortwasm"  # no version: the bytes must not depend on whether ortwasm is pip-installed or a checkout


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise PackageError(f"{name}={raw!r} is not an integer >= {minimum}", f"unset {name} or fix its value")
    return int(raw)


def source_date_epoch() -> int:
    return _env_int("SOURCE_DATE_EPOCH", DEFAULT_EPOCH, 0)


def package_revision() -> int:
    """The ``<n>`` in ``1.21.0-ortwasm.<n>``: bump ``ORTWASM_PACKAGE_REVISION`` to republish the same ORT version."""
    return _env_int("ORTWASM_PACKAGE_REVISION", 1, 1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tgz(f: IO[bytes], files: dict[str, bytes], epoch: int) -> None:
    """npm's layout: every entry under ``package/``, files only (``npm pack`` writes no directory entries)."""
    with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=LEVEL, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(f"package/{path}")
            info.size, info.mtime, info.mode = len(files[path]), epoch, FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[path]))


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_tmp(dest: Path, name: str, writer: Callable[[IO[bytes]], None]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=dest)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_all(dest: Path, writers: dict[str, Callable[[IO[bytes]], None]]) -> list[Path]:
    """Write every file under a temporary name (in parallel: zlib drops the GIL), rename only when all succeeded:
    ``dest`` never holds half a package, nor a new tarball next to an old wheel."""
    dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        futs = {name: pool.submit(_write_tmp, dest, name, w) for name, w in writers.items()}
    tmps = {name: f.result() for name, f in futs.items() if f.exception() is None}
    errors = [e for f in futs.values() if (e := f.exception()) is not None]
    if errors:
        for t in tmps.values():
            t.unlink(missing_ok=True)
        raise errors[0]
    finals = []
    for name, t in tmps.items():
        os.replace(t, dest / name)
        finals.append(dest / name)
    return finals
