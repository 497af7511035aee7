"""The byte-reproducible npm tarball, and the settings both packages share (epoch, revision).

Reproducibility: entries sorted, mtimes from ``SOURCE_DATE_EPOCH`` (default npm's own constant
1985-10-26T08:15:00Z), uid/gid 0 with empty owner names, modes 0644, gzip header mtime 0 and no file name.
Same inputs, same bytes out (with the same zlib: deflate output may differ between zlib builds).
Compression level 6: 0.8 % larger than 9 on the wasm at half the time.

The wheel is built by scikit-build-core from ``cmake/wheel/`` (``skbuild.py`` says why and how it stays
reproducible).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
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
