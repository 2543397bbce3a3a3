"""The CPU target: Numba-compiled Python modules, threads by ``prange``, SciPy's BLAS."""

from symconv.lower import lower_all
from symconv.machine import HOST
from symconv.targets.base import Target
from symconv.targets.numba_cpu import runtime, view

NUMBA_CPU = Target(
    name="numba_cpu",
    machine=HOST,
    render=view.render_module,
    wrap=runtime.wrap,
    templates=view.TEMPLATES,
    lower=lower_all,
)

__all__ = ["NUMBA_CPU"]
