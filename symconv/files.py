"""Writing files so that nothing half-written is ever left on disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Permissions of a written file: a plain text file anyone may read (mkstemp's are private).
FILE_MODE = 0o644


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it into place.

    `os.replace` is atomic on POSIX and Windows, so a reader (or a crash) sees either
    the old file or the new one, never a prefix of it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """`write_bytes_atomic` of `text` in UTF-8."""
    return write_bytes_atomic(path, text.encode("utf-8"))
