"""The CPU target: Numba-compiled Python modules, threads by ``prange``, SciPy's BLAS.

`NUMBA_CPU` (in `target`) loads on first use: every generated module imports this
package's `intrinsics`, and a compile worker that imported the lowering stack with it
(SymPy, the algorithms) spent 0.4 of its 0.8 s of start-up there.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "NUMBA_CPU":
        from symconv.targets.numba_cpu.target import NUMBA_CPU

        return NUMBA_CPU
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NUMBA_CPU"]
