"""Will a layer's tensors fit in this machine's memory?  Asked before anything is allocated.

The commands that allocate a layer's tensors (`verify`, the benchmark) estimate what
they need from the spec alone and refuse, with one line, a layer that cannot fit,
instead of dying half-way with an allocation error and a traceback.
"""

from __future__ import annotations

import math
import os
from typing import Any

from symconv.kinds import kind_of


def available_bytes() -> int | None:
    """Memory the kernel reports as available (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def tensor_bytes(spec: Any) -> int:
    """Bytes of one copy of every tensor a layer names, in float64 (the oracles' type)."""
    shapes = kind_of(spec).tensor_shapes(spec).values()
    return 8 * sum(math.prod(shape) for shape in shapes)


def check_fits(spec: Any, what: str, copies: int) -> None:
    """Refuse `what` for `spec` when `copies` float64 copies of its tensors exceed memory."""
    needed = copies * tensor_bytes(spec)
    free = available_bytes()
    if free is not None and needed > free:
        raise ValueError(
            f"{what} of {spec.label} needs about {needed / 2**30:.3g} GiB ({copies} float64 "
            f"copies of its tensors), more than the {free / 2**30:.3g} GiB this machine has free"
        )
