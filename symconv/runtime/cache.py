"""Where generated modules live and what they are called.

A module's file name is a readable prefix (the spec's `label`) plus a short hash of
everything that determines its source: the canonical spec JSON, the symconv version,
the target's template contents and any forced algorithms.  Equal layers therefore
share one file across processes and sessions, and a new symconv or an edited
template never picks up a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import platformdirs

from symconv.version import __version__

#: Forced algorithm per kernel name (see `symconv.lower.algorithms`).
Schedules = dict[str, str] | None
CACHE_ENV = "SYMCONV_CACHE_DIR"
HASH_LENGTH = 12
#: The lock file a folder given with ``-o`` holds while a module is written into it.
FOLDER_LOCK = ".symconv.lock"


def cache_dir() -> Path:
    """$SYMCONV_CACHE_DIR if set (and not empty), else the user cache dir + /symconv."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("symconv", appauthor=False))


def source_hash(spec: Any, digest: str, schedules: Schedules = None, target: str = "") -> str:
    """Short hash of (spec JSON, symconv version, templates, chosen algorithms, target).

    Default choices add nothing, so a module keeps its name unless an algorithm is
    forced (autotuning, tests) or another target is asked for: then each gets its own
    file.
    """
    parts = [spec.to_json(), __version__, digest]
    if schedules:
        parts.append(json.dumps(dict(sorted(schedules.items()))))
    if target:
        parts.append(target)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def file_stem(label: str) -> str:
    """`label` as a portable file name: ``×`` becomes ``x``, anything else unusual ``_``.

    Labels are meant to be file-safe already; this keeps a non-ASCII one (a stride
    printed as ``1×3``) out of file and module names all the same.
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", label.replace("×", "x"))


def module_filename(spec: Any, digest: str, schedules: Schedules = None, target: str = "") -> str:
    """e.g. ``conv2d_1x1x3x3_to1_k2x2_s1_1f0c9a2b3c4d.py``."""
    return f"{file_stem(spec.label)}_{source_hash(spec, digest, schedules, target)}.py"


def module_path(
    spec: Any,
    digest: str,
    out: str | os.PathLike | None = None,
    schedules: Schedules = None,
    target: str = "",
) -> Path:
    """The file for `spec` in `out`, or in the cache folder when `out` is None."""
    folder = Path(out) if out is not None else cache_dir()
    return folder / module_filename(spec, digest, schedules, target)


def lock_path(target: Path) -> Path:
    """The lock serializing writers of `target`.

    In the cache folder: one lock file per module under ``locks/``.  In a folder the
    user named (``-o DIR``): one hidden `FOLDER_LOCK` in that folder, so writing there
    never needs the cache folder to be writable.
    """
    cache = cache_dir()
    if target.parent.resolve() != cache.resolve():
        return target.parent / FOLDER_LOCK
    key = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:16]
    return cache / "locks" / f"{target.stem}.{key}.lock"
