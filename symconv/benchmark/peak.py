"""The machine's peak rate of fused multiply-adds, measured: the ceiling no kernel can pass.

Each thread runs 12 independent chains of vector FMAs on values held in registers
(symconv's own intrinsics, at the widest vectors of the CPU): enough chains to cover
the FMA latency on every FMA unit, no memory traffic at all.  What one second of that
reaches, in GFLOP/s (an FMA counts as two floating-point operations per lane), is the
peak.  On the development machine (2 AMD EPYC cores with AVX-512) it is about 500 GFLOP/s
in float32, where NumPy's BLAS multiplies matrices at about 200: the gemm ceiling is a
practical reference, the peak the physical one.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np

from symconv.machine import HOST
from symconv.targets.numba_cpu.vector_names import names

#: FMAs per chain per call: long enough that the thread start-up does not count.
STEPS = 2_000_000
CHAINS = 12


@cache
def _kernel(dtype: str, lanes: int):
    import numba

    from symconv.targets.numba_cpu import intrinsics

    ops = {op: getattr(intrinsics, name) for op, name in names(dtype, lanes).items()}
    fma, broadcast, zero, total = ops["fma"], ops["broadcast"], ops["zero"], ops["total"]
    kind = getattr(np, dtype)

    @numba.njit(parallel=True)
    def chains(steps, out):  # pragma: no cover - compiled
        for thread in numba.prange(out.shape[0]):
            a = broadcast(kind(1.0000001))
            b = broadcast(kind(0.9999999))
            c0, c1, c2, c3, c4, c5 = zero(), zero(), zero(), zero(), zero(), zero()
            c6, c7, c8, c9, c10, c11 = zero(), zero(), zero(), zero(), zero(), zero()
            for _ in range(steps):
                c0, c1, c2 = fma(a, c0, b), fma(a, c1, b), fma(a, c2, b)
                c3, c4, c5 = fma(a, c3, b), fma(a, c4, b), fma(a, c5, b)
                c6, c7, c8 = fma(a, c6, b), fma(a, c7, b), fma(a, c8, b)
                c9, c10, c11 = fma(a, c9, b), fma(a, c10, b), fma(a, c11, b)
            out[thread] = (
                total(c0) + total(c1) + total(c2) + total(c3) + total(c4) + total(c5)
                + total(c6) + total(c7) + total(c8) + total(c9) + total(c10) + total(c11)
            )  # fmt: skip

    return chains


def peak_gflops(dtype: str, threads: int) -> float:
    """GFLOP/s of `threads` threads each running `CHAINS` vector FMA chains (best of 3)."""
    lanes = HOST.lanes(dtype)
    chains = _kernel(dtype, lanes)
    out = np.zeros(threads, dtype)
    chains(10, out)  # compile
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        chains(STEPS, out)
        best = min(best, time.perf_counter() - started)
    return threads * STEPS * CHAINS * lanes * 2 / best / 1e9
