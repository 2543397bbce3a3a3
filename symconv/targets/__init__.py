"""Targets: the hardware a layer's kernels are generated for, by name.

Adding a target is one folder here (its view of the IR and its runtime wrapper,
ending in a `Target`) plus its templates in ``templates/<name>/``, and one entry in
`TARGETS`.
"""

from __future__ import annotations

from symconv.targets.base import Target
from symconv.targets.numba_cpu import NUMBA_CPU
from symconv.targets.numba_cuda import NUMBA_CUDA

TARGETS: dict[str, Target] = {NUMBA_CPU.name: NUMBA_CPU, NUMBA_CUDA.name: NUMBA_CUDA}
#: Short names a user types: --target cpu, --target cuda.
ALIASES = {"cpu": NUMBA_CPU.name, "cuda": NUMBA_CUDA.name}
DEFAULT = NUMBA_CPU


def get(name: str | Target | None) -> Target:
    """The target called `name` (a `Target` passes through; None: the CPU)."""
    if name is None:
        return DEFAULT
    if isinstance(name, Target):
        return name
    name = ALIASES.get(name, name)
    if name not in TARGETS:
        raise ValueError(f"target={name!r} must be one of {', '.join(names())}")
    return TARGETS[name]


def names() -> tuple[str, ...]:
    """Every name `get` accepts: the short aliases first."""
    return (*ALIASES, *TARGETS)


__all__ = ["ALIASES", "DEFAULT", "TARGETS", "Target", "get", "names"]
