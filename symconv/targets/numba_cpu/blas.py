"""Holding the BLAS to one thread while a kernel calls it from its own threads.

A Winograd kernel runs its matrix products inside ``prange``: each of the kernel's
threads calls the BLAS on its own small matrices (OpenBLAS's small-matrix path runs
one thread anyway, and measured 100–110 GFLOP/s per core on 64×64 by 64×196 in
float32, against 75 when the products of one image ran in turn).  If the BLAS also
started its threads, the two pools would oversubscribe the cores.  threadpoolctl
finds the BLAS libraries loaded in the process (SciPy's, which Numba calls) and sets
their thread count for the duration of the call, restoring it after.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any


@cache
def _blas():
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS Numba calls)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def one_blas_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, called with every loaded BLAS held to one thread (about 17 µs a call)."""

    @wraps(function)
    def call(*args: Any) -> Any:
        with _blas().limit(limits=1):
            return function(*args)

    call.py_func = getattr(function, "py_func", function)
    return call
