"""Writing files so that nothing half-written is left on disk and nothing not ours is replaced.

A regular file is written to a temporary file beside it and renamed into place, so a
reader (or a crash) sees the old file or the new one, never a prefix of it.  A path
the user names with ``-o`` may be something else: a symbolic link is written
through (its target is replaced, the link stays), a FIFO or a character device
(``/dev/stdout``, ``/dev/null``) is written into as the stream it is, and anything
else (a folder, a socket, a block device) is refused with one line naming the path.
Only the last folder of a path is ever created, and only when asked.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

#: Permissions of a written file: a plain text file anyone may read (mkstemp's are private).
FILE_MODE = 0o644


class OutputError(ValueError):
    """A path the user named cannot be written; the message names it and says why."""


def _replace_atomically(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to the file `path` (its folder must exist) as `write_output` says.

    An OSError names `path` (as given), never the temporary file.
    """
    target = resolve_output(path)
    given = Path(path)
    try:
        if target.exists() and stat.S_ISREG(target.stat().st_mode) is False:
            with open(target, "wb") as stream:  # a FIFO or a device: a stream, not a file
                stream.write(data)
        else:
            _replace_atomically(target, data)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(given)) from None
    return given


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """`write_bytes_atomic` of `text` in UTF-8."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def resolve_output(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` lands in, or an `OutputError` saying why there is none.

    Symbolic links are followed (the link stays, its target is written); the folder
    that holds the file must exist.
    """
    if os.fspath(path) == "":
        raise OutputError("the output path is empty; name a file")
    path = Path(path)
    target = Path(os.path.realpath(path))
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(f"cannot write {path}: it is a folder")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            raise OutputError(f"cannot write {path}: it is neither a file, a FIFO nor a device")
    elif not target.parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {target.parent} does not exist")
    return target


def output_folder(path: str | os.PathLike[str], create: bool = True) -> tuple[Path, bool]:
    """(`path` as a folder, whether it was created now); only its last part is ever created.

    An `OutputError` names the path when it is empty, is not a folder, or its parent
    folder does not exist.
    """
    text = str(path)
    if text == "":
        raise OutputError("the output folder is empty; name a folder")
    folder = Path(text)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"cannot write into {folder}: it is not a folder")
        return folder, False
    parent = folder.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot create {folder}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise OutputError(
            f"cannot create {folder}: its parent folder {parent} does not exist "
            "(only the last folder of a path is created)"
        )
    if not create:
        raise OutputError(f"the folder {folder} does not exist")
    try:
        folder.mkdir()
    except OSError as error:
        raise OutputError(f"cannot create {folder}: {error.strerror}") from None
    return folder, True
