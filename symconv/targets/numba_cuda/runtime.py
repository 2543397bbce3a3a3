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
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numba import float64

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


#: Threads per block of the per-channel kernels.
CHANNEL_THREADS = 128


#: ``numba.cuda`` once a per-channel kernel is first compiled (a global, not a closure
#: variable: the simulator runs a kernel with its module's ``cuda`` global swapped for its own).
cuda: Any = None


def _add_bias(flat, bias, plane, channels):  # pragma: no cover - runs on the device
    """One thread per element of the flat result: add its channel's bias."""
    i = cuda.grid(1)
    if i < flat.size:
        flat[i] += bias[(i // plane) % channels]


def _channel_sums(flat, sums, plane, channels, images):  # pragma: no cover - on the device
    """One block per channel: its threads sum strided parts of the channel's N·P elements
    in float64, then halve the partial sums in shared memory."""
    c, t = cuda.blockIdx.x, cuda.threadIdx.x
    partial = cuda.shared.array(CHANNEL_THREADS, float64)
    total = 0.0
    for k in range(t, images * plane, CHANNEL_THREADS):
        total += flat[((k // plane) * channels + c) * plane + k % plane]
    partial[t] = total
    cuda.syncthreads()
    half = CHANNEL_THREADS // 2
    while half > 0:
        if t < half:
            partial[t] += partial[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        sums[c] = partial[0]


@cache
def channel_kernels() -> tuple[Any, Any]:
    """(add_bias, channel_sums) as CUDA kernels, compiled on first use."""
    global cuda
    cuda = cuda_module()
    return cuda.jit(_add_bias), cuda.jit(_channel_sums)


class DeviceChannels:
    """Per-channel arithmetic on the device (a transposed convolution's bias and grad_bias):
    the bias is added where the result is; the sums are always taken on the device."""

    #: What computes grad_bias, for `Kernels.algorithms`.
    name = "channel sums on the device"

    @staticmethod
    def add_bias(result: Any, bias: Argument) -> Any:
        """result[n, c, ...] += bias[c], in place, on whichever side the result is."""
        if isinstance(result, np.ndarray):  # every input came from the host
            result += bias.array.copy_to_host().reshape(1, -1, *(1,) * (result.ndim - 2))
            return result
        add_bias, _ = channel_kernels()
        flat = result.reshape(result.size)
        plane = int(np.prod(result.shape[2:]))
        blocks = -(-result.size // CHANNEL_THREADS)
        add_bias[blocks, CHANNEL_THREADS](flat, bias.array, plane, result.shape[1])
        return result

    @staticmethod
    def channel_sums(values: Argument, out: object = None) -> Any:
        """Σ over the batch and every position of each channel, summed on the device."""
        cuda = cuda_module()
        _, channel_sums = channel_kernels()
        array = values.array
        shape, dtype = (array.shape[1],), np.dtype(array.dtype)
        if out is not None and not isinstance(out, np.ndarray):
            sums = check_argument("out", out, shape, dtype.name).array
        else:
            sums = cuda.device_array(shape, dtype)
        plane = int(np.prod(array.shape[2:]))
        flat = array.reshape(array.size)
        channel_sums[shape[0], CHANNEL_THREADS](flat, sums, plane, shape[0], array.shape[0])
        if isinstance(out, np.ndarray):
            check_out(out, shape, dtype.name, ())
            sums.copy_to_host(out)
            return out
        if out is not None:
            return out
        return sums.copy_to_host() if values.from_host else sums


def wrap(spec: Any, module: ModuleType, path: Path) -> Kernels:
    functions = {name: launcher(module, name) for name in module.LAUNCH}
    return Kernels(spec, module, path, check_argument, functions, DeviceChannels())
