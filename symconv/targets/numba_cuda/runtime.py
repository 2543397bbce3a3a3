"""The CUDA target's side of a call: host or device arrays in, a launch, the result out.

A kernel accepts NumPy arrays (copied to the device, and the result copied back) and
device arrays without any copy: Numba's device arrays and anything exposing
``__cuda_array_interface__`` (a PyTorch CUDA tensor, a CuPy array).  The checks are
the CPU's (shape, dtype, C-contiguous) and name the argument.  When any argument was
already on the device the result stays there, as a Numba device array (wrap it with
``torch.as_tensor(result, device="cuda")``).
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symconv.runtime.kernels import Kernels
from symconv.targets.numba_cpu.runtime import check_array, check_out

INSTALL = 'the CUDA target needs numba-cuda: pip install -e ".[cuda]" (or pip install numba-cuda)'


def cuda_module() -> Any:
    """``numba.cuda``, or a one-line error saying what to install."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise ValueError(INSTALL)
    from numba import cuda

    return cuda


def cuda_runnable() -> Any:
    """``numba.cuda`` when its kernels can run here (a GPU, or the simulator), else a one-line
    error saying what is missing, before anything is generated or written."""
    cuda = cuda_module()
    if not cuda.is_available():
        raise ValueError(
            "the CUDA target found no usable CUDA GPU here (numba.cuda.is_available() is "
            "False): set NUMBA_ENABLE_CUDASIM=1 to run its kernels on Numba's CUDA simulator, "
            "on the CPU"
        )
    return cuda


def _on_device(cuda: Any, value: object) -> Any | None:
    """`value` as a Numba device array when it lives on the device, else None.

    Numba's own device arrays (the simulator's too) pass as they are; anything else
    exposing ``__cuda_array_interface__`` is viewed without a copy.
    """
    if cuda.devicearray.is_cuda_ndarray(value):
        return value
    if hasattr(value, "__cuda_array_interface__") and hasattr(cuda, "as_cuda_array"):
        return cuda.as_cuda_array(value)
    return None


@dataclass(frozen=True)
class Argument:
    """A checked argument on the device, and whether the caller gave it from the host."""

    array: Any
    from_host: bool


def check_argument(name: str, value: object, shape: tuple[int, ...], dtype: str) -> Argument:
    cuda = cuda_module()
    if isinstance(value, np.ndarray):
        return Argument(cuda.to_device(check_array(name, value, shape, dtype)), True)
    array = _on_device(cuda, value)
    if array is None:
        raise ValueError(
            f"{name} is a {type(value).__name__}, expected a numpy.ndarray or a CUDA array "
            "(a Numba device array, or anything with __cuda_array_interface__ such as a "
            "torch CUDA tensor)"
        )
    if tuple(array.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(array.shape)}, expected {shape}")
    if np.dtype(array.dtype) != np.dtype(dtype):
        raise ValueError(f"{name} has dtype {array.dtype}, expected {dtype}")
    if not array.is_c_contiguous():
        raise ValueError(f"{name} is not C-contiguous, expected a C-contiguous CUDA array")
    return Argument(array, False)


def launcher(module: ModuleType, name: str) -> Any:
    """A function of the kernel's arguments that allocates the result and launches it."""
    cuda = cuda_module()
    kernel = getattr(module, name)
    blocks, threads = module.LAUNCH[name]
    _, shape, zeroed = module.RESULTS[name]
    dtype = np.dtype(module.DTYPE)

    def launch(*arguments: Argument, out: object = None) -> Any:
        if isinstance(out, np.ndarray):  # computed on the device, then copied into it
            check_out(out, shape, dtype.name, ())
            result = cuda.device_array(shape, dtype)
        elif out is not None:
            result = check_argument("out", out, shape, dtype.name).array
        else:
            result = cuda.device_array(shape, dtype)
        if zeroed:
            result.copy_to_device(np.zeros(shape, dtype))  # the kernel adds into it
        kernel[blocks, threads](*(a.array for a in arguments), result)
        if isinstance(out, np.ndarray):
            result.copy_to_host(out)
            return out
        if out is not None:
            return out
        if all(a.from_host for a in arguments):
            return result.copy_to_host()
        return result

    params = [
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in module.ARGUMENTS[name]
    ]
    launch.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    launch.__name__ = name
    return launch


def wrap(spec: Any, module: ModuleType, path: Path) -> Kernels:
    functions = {name: launcher(module, name) for name in module.LAUNCH}
    return Kernels(spec, module, path, check_argument, functions)
