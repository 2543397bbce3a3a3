"""Checks shared by every layer spec: one-line errors naming the field, the value and the rule.

Limits.  Every size, stride, padding and channel count is a literal in the generated
kernels and an index in int64 arithmetic, so each must be below 2**63, and so must
every tensor's element count and the multiply-adds of a pass (`check_count`).  Those
are the limits of the representation; whether a layer also fits in this machine's
memory is asked only by the commands that allocate its tensors
(`symconv.runtime.memory`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

#: Every int field and every element count must stay below this: int64 arithmetic.
INT64_LIMIT = 2**63


def is_int(value: Any) -> bool:
    """True for real integers only: bool is an int in Python but never a size."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: Any) -> int:
    if not is_int(value):
        raise ValueError(f"{name}={value!r} must be an int, not {type(value).__name__}")
    if abs(value) >= INT64_LIMIT:
        raise ValueError(f"{name}={value} must be below 2**63 (it is an int64 index)")
    return value


def positive(name: str, value: Any) -> int:
    value = check_int(name, value)
    if value < 1:
        raise ValueError(f"{name}={value} must be a positive int (>= 1)")
    return value


def per_dim(name: str, value: Any, rank: int) -> tuple[Any, ...]:
    """Broadcast an int to every spatial dimension, or check a sequence has `rank` items."""
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise ValueError(
                f"{name}={tuple(value)!r} has {len(value)} entries, but the input has "
                f"{rank} spatial dimension{'s' if rank > 1 else ''}"
            )
        return tuple(value)
    return (value,) * rank


def positive_per_dim(name: str, value: Any, rank: int) -> tuple[int, ...]:
    items = per_dim(name, value, rank)
    return tuple(positive(f"{name}[{d}]", v) for d, v in enumerate(items))


def spatial_sizes(input_size: Any) -> tuple[int, ...]:
    """The spatial input sizes: a tuple of 1, 2 or 3 positive ints (the rank is its length)."""
    if not isinstance(input_size, (list, tuple)):
        raise ValueError(f"input_size={input_size!r} must be a tuple of 1, 2 or 3 spatial sizes")
    if len(input_size) not in (1, 2, 3):
        raise ValueError(
            f"input_size={tuple(input_size)!r} has {len(input_size)} entries; "
            "symconv handles 1, 2 or 3 spatial dimensions"
        )
    return tuple(positive(f"input_size[{d}]", v) for d, v in enumerate(input_size))


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def check_count(what: str, factors: Iterable[int]) -> int:
    """The product of `factors`, refused with a one-line reason when it reaches 2**63."""
    count = math.prod(factors)
    if count >= INT64_LIMIT:
        raise ValueError(
            f"{what} would hold {count:.3g} elements, more than an int64 index reaches "
            "(2**63 - 1): symconv's limit for any tensor or pass"
        )
    return count
