"""The CPU target's side of a call: NumPy arrays checked, buffers reused, the kernel called.

The kernels are compiled for C-contiguous, aligned arrays of exactly the layer's
shapes and dtype; inputs are only read, so read-only arrays (memmaps, views of
read-only buffers) are accepted as they are.

A generated kernel takes its result and its workspaces (padded copies, scratch,
transformed weights) as arguments (the module's RESULTS and WORKSPACES say what
they are).  `Call` allocates the workspaces once per kernel object and thread, not
on every call: a fresh ``np.zeros`` of a padded 8×64×58×58 input costs its page
faults again on every call, and two threads calling one kernel must never share a
workspace.  The result is a new array unless the caller passes ``out=``.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symconv.runtime.kernels import Kernels
from symconv.targets.numba_cpu.blas import one_blas_thread


@functools.cache
def _dtype(name: str) -> np.dtype:
    """np.dtype(name), made once: at every argument of every call it cost 0.1 µs."""
    return np.dtype(name)


def check_array(name: str, value: object, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Return `value` if a compiled kernel accepts it as `name`, else raise ValueError."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} is a {type(value).__name__}, expected a numpy.ndarray")
    if value.shape != shape:
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
    if value.dtype != _dtype(dtype):
        raise ValueError(f"{name} has dtype {value.dtype}, expected {dtype}")
    flags = value.flags  # a new object at every reading of the attribute
    if not flags.c_contiguous:
        fix = (
            f"pass np.empty({shape}, np.{dtype}) and copy the result where you need it (a "
            "contiguous copy of out would receive the result instead of out)"
            if name == "out"
            else f"pass np.ascontiguousarray({name})"
        )
        raise ValueError(
            f"{name} is not C-contiguous (strides {value.strides}), expected a C-contiguous "
            f"array: {fix}"
        )
    if not flags.aligned:
        raise ValueError(f"{name} is not aligned, expected an aligned array: pass {name}.copy()")
    return value


def check_out(out: object, shape: tuple[int, ...], dtype: str, inputs: tuple) -> np.ndarray:
    """`out` if the kernel may write its result there: the result's array, writable, apart."""
    check_array("out", out, shape, dtype)
    if not out.flags.writeable:
        raise ValueError("out is read-only, expected a writable array")
    for value in inputs:
        if np.may_share_memory(out, value):
            raise ValueError("out overlaps an argument, expected an array of its own")
    return out


#: Bytes a workspace's first element is aligned to: a cache line, and a 512-bit vector.
ALIGNMENT = 64
#: Arrays smaller than this are left where NumPy puts them: a few cache lines cost nothing
#: misaligned, and aligning took 3 of the lecture layer's 8 µs per call.
SMALL_BYTES = 4096


def aligned_full(shape: tuple[int, ...], fill: float | None, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array whose first element starts a cache line, filled (None: not).

    NumPy aligns to 16 bytes: a vector kernel's packed weights then straddle two cache
    lines at every 512-bit load in three processes out of four, and the same kernel ran
    at 440 µs or 700 µs depending on where its workspace landed.
    """
    size = math.prod(shape)
    if size * dtype.itemsize < SMALL_BYTES:
        array = np.empty(shape, dtype)
    else:
        spare = ALIGNMENT // dtype.itemsize
        buffer = np.empty(size + spare, dtype)
        skip = (-buffer.__array_interface__["data"][0] % ALIGNMENT) // dtype.itemsize
        array = buffer[skip : skip + size].reshape(shape)
    if fill is not None:
        array.fill(fill)
    return array


@contextmanager
def numba_threads(count: int) -> Iterator[None]:
    """Hold this thread's parallel kernels to `count` threads (at most Numba's) meanwhile."""
    import numba  # only here: importing symconv (to derive, say) does not import Numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class Call:
    """One compiled kernel with its workspaces, allocated on a thread's first call.

    ``call(*arguments, out=None)`` passes the arguments, the result (``out`` or a new
    array) and this thread's workspaces.  A staged copy is allocated with its fill
    (zeros, −∞) once: each call copies the argument into the same elements and the
    border keeps the fill.
    """

    def __init__(self, module: ModuleType, name: str, function: Callable[..., Any]) -> None:
        self._function = function
        self._dtype = np.dtype(module.DTYPE)
        _, self._shape, _ = module.RESULTS[name]
        #: A result `aligned_full` would leave unaligned anyway: made by np.empty directly
        #: (the lecture's layer spent 0.5 of its 1.5 µs here in `aligned_full`).
        self._small = math.prod(self._shape) * self._dtype.itemsize < SMALL_BYTES
        self._workspaces = module.WORKSPACES[name]
        self._threads = module.THREADS[name] if module.THREADS[name] > 1 else 0
        self._local = threading.local()
        compiled = getattr(function, "py_func", function)
        takes = list(inspect.signature(compiled).parameters)[: -1 - len(self._workspaces)]
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in takes]
        )
        self.__name__ = name

    def workspaces(self) -> tuple[np.ndarray, ...]:
        """This thread's workspaces, allocated on its first call."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = tuple(
                aligned_full(shape, fill, self._dtype) for _, shape, fill in self._workspaces
            )
            self._local.buffers = buffers
        return buffers

    def __call__(self, *arguments: np.ndarray, out: object = None) -> np.ndarray:
        if out is None:
            result = np.empty(self._shape, self._dtype) if self._small else self._new_result()
        else:
            result = check_out(out, self._shape, self._dtype.name, arguments)
        if not self._threads:
            return self._function(*arguments, result, *self.workspaces())
        with numba_threads(self._threads):
            return self._function(*arguments, result, *self.workspaces())

    def _new_result(self) -> np.ndarray:
        return aligned_full(self._shape, None, self._dtype)


class HostChannels:
    """Per-channel arithmetic on NumPy arrays, for a kind whose bias its generated module
    does not hold (a transposed convolution runs its convolution's kernels, bias-free)."""

    #: What computes grad_bias, for `Kernels.algorithms`.
    name = "numpy sum"

    @staticmethod
    def add_bias(result: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """result[n, c, ...] += bias[c], in place."""
        result += bias.reshape(1, -1, *(1,) * (result.ndim - 2))
        return result

    @staticmethod
    def channel_sums(values: np.ndarray, out: object = None) -> np.ndarray:
        """Σ over the batch and every position of each channel, accumulated in float64."""
        axes = (0, *range(2, values.ndim))
        total = values.sum(axis=axes, dtype=np.float64).astype(values.dtype)
        if out is None:
            return total
        checked = check_out(out, total.shape, values.dtype.name, (values,))
        checked[...] = total
        return checked


def wrap(spec: Any, module: ModuleType, path: Path) -> Kernels:
    """The checked kernels of a loaded module (the BLAS held to one thread where they say)."""
    blas_in_threads = set(getattr(module, "BLAS_IN_THREADS", ()))
    functions = {}
    for name in module.RESULTS:
        function = getattr(module, name)
        if name in blas_in_threads:
            function = one_blas_thread(function)
        functions[name] = Call(module, name, function)
    return Kernels(spec, module, path, check_array, functions, HostChannels())
