"""The CUDA target: numba-cuda kernels from the same formulas, one thread (or block) per element.

Its own lowering (`lowering.py`: stride phases, the work's layout), its view and
templates (``templates/numba_cuda``), and a runtime that takes host or device arrays.
`numba-cuda` is optional: the target loads without it, and says what to install on
first use.  With ``NUMBA_ENABLE_CUDASIM=1`` its kernels run on Numba's CUDA simulator.
"""

from symconv.machine import HOST
from symconv.targets.base import Target
from symconv.targets.numba_cuda import lowering, runtime, view

NUMBA_CUDA = Target(
    name="numba_cuda",
    machine=HOST,
    render=view.render_module,
    wrap=runtime.wrap,
    templates=view.TEMPLATES,
    lower=lowering.lower_all,
    launch=view.LAUNCH,
    require=runtime.cuda_runnable,
)

__all__ = ["NUMBA_CUDA"]
