"""Runtime stage: generated modules on disk -> loaded, cached, checked kernels."""

from __future__ import annotations

from symconv.runtime.cache import cache_dir, module_filename, module_path
from symconv.runtime.files import write_if_changed
from symconv.runtime.kernels import Kernel, Kernels
from symconv.runtime.loader import load_module

__all__ = [
    "Kernel",
    "Kernels",
    "cache_dir",
    "load_module",
    "module_filename",
    "module_path",
    "write_if_changed",
]
