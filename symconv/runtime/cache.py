"""Where generated modules live and what they are called.

A module's file name is a readable prefix (the spec's `label`) plus a short hash of
everything that determines its source: the canonical spec JSON, the symconv version
and the template contents.  Equal layers therefore share one file across processes
and sessions, and a new symconv or an edited template never picks up a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import platformdirs

import symconv
from symconv.codegen.templates import template_digest
from symconv.layers import LayerSpec

#: Forced schedule per kernel name (see `symconv.lower.lowering.schedules_for`).
Schedules = dict[str, str] | None
CACHE_ENV = "SYMCONV_CACHE_DIR"
HASH_LENGTH = 12


def cache_dir() -> Path:
    """$SYMCONV_CACHE_DIR if set (and not empty), else the user cache dir + /symconv."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("symconv", appauthor=False))


def source_hash(spec: LayerSpec, schedules: Schedules = None) -> str:
    """Short hash of (spec JSON, symconv version, templates, chosen schedules).

    Default schedules add nothing, so a module keeps its name unless a schedule is
    forced (autotuning, tests): then each choice gets its own file.
    """
    parts = [spec.to_json(), symconv.__version__, template_digest()]
    if schedules:
        parts.append(json.dumps(dict(sorted(schedules.items()))))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def file_stem(label: str) -> str:
    """`label` as a portable file name: ``×`` becomes ``x``, anything else unusual ``_``.

    Labels are meant to be file-safe already; this keeps a non-ASCII one (a stride
    printed as ``1×3``) out of file and module names all the same.
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", label.replace("×", "x"))


def module_filename(spec: LayerSpec, schedules: Schedules = None) -> str:
    """e.g. ``conv2d_1x1x3x3_to1_k2x2_s1_1f0c9a2b3c4d.py``."""
    return f"{file_stem(spec.label)}_{source_hash(spec, schedules)}.py"


def module_path(
    spec: LayerSpec, out: str | os.PathLike | None = None, schedules: Schedules = None
) -> Path:
    """The file for `spec` in `out`, or in the cache folder when `out` is None."""
    folder = Path(out) if out is not None else cache_dir()
    return folder / module_filename(spec, schedules)


def lock_path(target: Path) -> Path:
    """A lock file for `target`, kept in the cache folder so `out` folders stay clean."""
    key = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "locks" / f"{target.stem}.{key}.lock"
