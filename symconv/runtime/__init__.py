"""Runtime stage: generated modules on disk -> loaded, cached, checked kernels."""

from __future__ import annotations

import os
from pathlib import Path

from symconv.layers import LayerSpec
from symconv.pool_spec import PoolSpec
from symconv.runtime.cache import cache_dir, module_filename, module_path
from symconv.runtime.files import write_if_changed
from symconv.runtime.kernels import Kernels, PoolKernels, check_array
from symconv.runtime.loader import load_module


def write_module(
    spec: LayerSpec,
    source: str,
    out: str | os.PathLike | None = None,
    schedules: dict[str, str] | None = None,
) -> Path:
    """Store `source` as the module file of `spec` (in `out` or the cache); return its path."""
    path = module_path(spec, out, schedules)
    write_if_changed(path, source)
    return path


def load(path: str | os.PathLike, spec: LayerSpec) -> Kernels | PoolKernels:
    """Import the module at `path` (compiling, or loading Numba's cache) and wrap it."""
    wrapper = PoolKernels if isinstance(spec, PoolSpec) else Kernels
    return wrapper(spec, load_module(path), Path(path))


__all__ = [
    "Kernels",
    "PoolKernels",
    "cache_dir",
    "check_array",
    "load",
    "load_module",
    "module_filename",
    "module_path",
    "write_module",
]
