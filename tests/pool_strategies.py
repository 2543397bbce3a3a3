"""Hypothesis strategies for valid `PoolSpec`s and matching arrays, shared by the pooling tests.

As in tests/strategies.py, specs are built from the output side: draw the kernel, the
stride (below, at or above the kernel), the padding (at most half the kernel), the
number of windows and the leftover rows after the last one; together they fix the
input length.  Every draw is valid, no filtering.

Max pooling is tested on small integers, so most windows hold their maximum more
than once and the tie rule decides the gradient, not luck.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from symconv.kinds import PoolSpec
from symconv.kinds.convolution import DTYPES
from symconv.kinds.pooling import POOL_KINDS

_DEFAULT_MAX_OUTPUT = {1: 5, 2: 3, 3: 2}
_DEFAULT_MAX_KERNEL = {1: 4, 2: 3, 3: 2}


@st.composite
def _dimension(
    draw: st.DrawFn, max_kernel: int, max_stride: int, max_output: int
) -> tuple[int, int, int, int]:
    """One spatial dimension: (input, kernel, stride, padding)."""
    kernel = draw(st.integers(1, max_kernel))
    stride = draw(st.integers(1, max_stride))
    padding = draw(st.integers(0, kernel // 2))
    outputs = draw(st.integers(1, max_output))
    leftover = draw(st.integers(0, stride - 1))
    size = kernel + (outputs - 1) * stride + leftover - 2 * padding
    return max(size, 1), kernel, stride, padding


@st.composite
def pool_specs(
    draw: st.DrawFn,
    max_rank: int = 3,
    *,
    min_rank: int = 1,
    kinds: tuple[str, ...] = POOL_KINDS,
    dtypes: tuple[str, ...] = DTYPES,
    max_batch: int = 2,
    max_channels: int = 2,
    max_stride: int = 3,
    max_kernel: int | None = None,
    max_output: int | None = None,
) -> PoolSpec:
    """Valid PoolSpecs of rank min_rank..max_rank, tiny per-rank sizes by default."""
    rank = draw(st.integers(min_rank, max_rank))
    k_cap = max_kernel if max_kernel is not None else _DEFAULT_MAX_KERNEL[rank]
    o_cap = max_output if max_output is not None else _DEFAULT_MAX_OUTPUT[rank]
    dims = [draw(_dimension(k_cap, max_stride, o_cap)) for _ in range(rank)]
    return PoolSpec(
        kind=draw(st.sampled_from(kinds)),
        input_size=tuple(d[0] for d in dims),
        kernel_size=tuple(d[1] for d in dims),
        stride=tuple(d[2] for d in dims),
        padding=tuple(d[3] for d in dims),
        channels=draw(st.integers(1, max_channels)),
        batch=draw(st.integers(1, max_batch)),
        dtype=draw(st.sampled_from(dtypes)),
    )


def pool_arrays(spec: PoolSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x, gy) in spec.dtype: x from the integers −2..2 for max pooling (ties), else normal."""
    dtype = np.dtype(spec.dtype)
    if spec.kind == "max":
        x = rng.integers(-2, 3, spec.input_shape).astype(dtype)
    else:
        x = rng.standard_normal(spec.input_shape).astype(dtype)
    gy = rng.standard_normal(spec.output_shape).astype(dtype)
    return x, gy
