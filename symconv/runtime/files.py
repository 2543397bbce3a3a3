"""Writing a generated module: only when its text changed, one writer at a time.

Numba's on-disk cache is keyed on the source file's modification time, so rewriting
an identical file would throw every compiled kernel away.  The file is therefore
compared first and replaced only when its text differs.  The replacement is atomic
(`symconv.files.write_text_atomic`: a temporary file in the same folder, then
`os.replace`), so a process importing the module sees the old or the new file,
never half of one; the file lock makes concurrent writers of one module take turns.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from symconv.files import output_folder, write_text_atomic
from symconv.runtime.cache import cache_dir, lock_path


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except FileNotFoundError:
        return False


def write_if_changed(path: Path, text: str) -> bool:
    """Make `path` hold `text`; True if the file was (re)written, False if already equal."""
    if _same_text(path, text):
        return False
    if path.parent.resolve() == cache_dir().resolve():
        path.parent.mkdir(parents=True, exist_ok=True)  # symconv's own folder: made whole
    else:
        output_folder(path.parent)  # a folder the user named: only its last part is made
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        if _same_text(path, text):  # another process wrote it while we waited
            return False
        write_text_atomic(path, text)
    return True
