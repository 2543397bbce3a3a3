"""The CPU target's side of a call: NumPy arrays checked before a compiled kernel sees them.

The kernels are compiled for C-contiguous, aligned arrays of exactly the layer's
shapes and dtype; inputs are only read, so read-only arrays (memmaps, views of
read-only buffers) are accepted as they are.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symconv.runtime.kernels import Kernels
from symconv.targets.numba_cpu.blas import one_blas_thread


def check_array(name: str, value: object, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Return `value` if a compiled kernel accepts it as `name`, else raise ValueError."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} is a {type(value).__name__}, expected a numpy.ndarray")
    if value.shape != shape:
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
    if value.dtype != np.dtype(dtype):
        raise ValueError(f"{name} has dtype {value.dtype}, expected {dtype}")
    if not value.flags.c_contiguous:
        raise ValueError(
            f"{name} is not C-contiguous (strides {value.strides}), expected a C-contiguous "
            f"array: pass np.ascontiguousarray({name})"
        )
    if not value.flags.aligned:
        raise ValueError(f"{name} is not aligned, expected an aligned array: pass {name}.copy()")
    return value


def wrap(spec: Any, module: ModuleType, path: Path) -> Kernels:
    """The checked kernels of a loaded module (the BLAS held to one thread where they say)."""
    functions = {
        name: one_blas_thread(getattr(module, name))
        for name in getattr(module, "BLAS_IN_THREADS", ())
    }
    return Kernels(spec, module, path, check_array, functions)
