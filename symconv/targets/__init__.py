"""Targets: the hardware a layer's kernels are generated for, by name.

Adding a target is one folder here (its view of the IR and its runtime wrapper,
ending in a `Target`) plus its templates in ``templates/<name>/``, and one entry in
`TARGETS`.
"""

from __future__ import annotations

from symconv.targets.base import Target
from symconv.targets.numba_cpu import NUMBA_CPU

TARGETS: dict[str, Target] = {NUMBA_CPU.name: NUMBA_CPU}
DEFAULT = NUMBA_CPU


def get(name: str | Target | None) -> Target:
    """The target called `name` (a `Target` passes through; None: the CPU)."""
    if name is None:
        return DEFAULT
    if isinstance(name, Target):
        return name
    if name not in TARGETS:
        raise ValueError(f"target={name!r} must be one of {', '.join(TARGETS)}")
    return TARGETS[name]


__all__ = ["DEFAULT", "TARGETS", "Target", "get"]
