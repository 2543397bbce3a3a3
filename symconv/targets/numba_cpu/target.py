"""The CPU target itself: what renders, lowers and wraps its modules."""

from symconv.lower import lower_all
from symconv.machine import HOST
from symconv.targets.base import Target
from symconv.targets.numba_cpu import runtime, vector_names, view

NUMBA_CPU = Target(
    name="numba_cpu",
    machine=HOST,
    render=view.render_module,
    wrap=runtime.wrap,
    templates=view.TEMPLATES,
    lower=lower_all,
    # the intrinsics' source and the vector width the modules bake in
    code_digest=lambda: f"{vector_names.digest()}-{HOST.vector_bits}",
)
