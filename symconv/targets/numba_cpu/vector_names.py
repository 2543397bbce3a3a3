"""The names of the vector intrinsics, and their digest, without importing Numba.

The view prints calls of ``f32x16_load`` and so on; `intrinsics` defines them (and
imports Numba to do it).  Rendering a module needs only the names, so they live here.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

#: The operations, by the suffix of their names.
OPERATIONS = (
    "load",
    "load_masked",
    "load_strided",
    "store",
    "store_rows",
    "store_interleaved",
    "broadcast",
    "splat",
    "fma",
    "zero",
    "total",
)
#: The module that defines them, whose digest every generated module's name includes.
INTRINSICS = Path(__file__).with_name("intrinsics.py")


def prefix(dtype: str, lanes: int) -> str:
    """``f32x16``: the start of the names of one vector type's functions."""
    return f"f{dtype[-2:]}x{lanes}"


def names(dtype: str, lanes: int) -> dict[str, str]:
    """Operation -> the name of its function for this vector type (``load`` -> ``f32x16_load``)."""
    return {op: f"{prefix(dtype, lanes)}_{op}" for op in OPERATIONS}


@cache
def digest() -> str:
    """A digest of the intrinsics' source: a change there gives generated modules new names,
    so Numba's cache of code built with the old intrinsics is never reused."""
    return hashlib.sha256(INTRINSICS.read_bytes()).hexdigest()[:12]
