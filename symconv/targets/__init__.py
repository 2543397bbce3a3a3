"""Targets: the hardware a layer's kernels are generated for, by name.

Adding a target is one folder here (its view of the IR and its runtime wrapper,
ending in a `Target`) plus its templates in ``templates/<name>/``, and one entry in
`_targets`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from symconv.targets.base import Target

#: Short names a user types: --target cpu, --target cuda.
ALIASES = {"cpu": "numba_cpu", "cuda": "numba_cuda"}


@cache
def _targets() -> dict[str, Target]:
    """Every target by name, imported on first use (see `numba_cpu`'s docstring: a
    generated module imports the intrinsics of this package, not the lowering stack)."""
    from symconv.targets.numba_cpu.target import NUMBA_CPU
    from symconv.targets.numba_cuda import NUMBA_CUDA

    return {NUMBA_CPU.name: NUMBA_CPU, NUMBA_CUDA.name: NUMBA_CUDA}


def __getattr__(name: str) -> Any:
    if name == "TARGETS":
        return _targets()
    if name == "DEFAULT":
        return _targets()["numba_cpu"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(name: str | Target | None) -> Target:
    """The target called `name` (a `Target` passes through; None: the CPU)."""
    if name is None:
        return _targets()["numba_cpu"]
    if isinstance(name, Target):
        return name
    name = ALIASES.get(name, name)
    if name not in _targets():
        raise ValueError(f"target={name!r} must be one of {', '.join(names())}")
    return _targets()[name]


def names() -> tuple[str, ...]:
    """Every name `get` accepts: the short aliases first."""
    return (*ALIASES, *_targets())


__all__ = ["ALIASES", "DEFAULT", "TARGETS", "Target", "get", "names"]
