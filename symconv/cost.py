"""The efficiency table of the lecture: convolution vs the same map as a dense or sparse matrix.

A convolution is a linear map from the input to the output, so it could be stored as a
matrix.  The table counts, per image, the floats each form stores and the float
multiplications and additions each spends, as Goodfellow et al. (and seed 000) do for
a 320×280 image and a 2×1 kernel: 2 vs more than 8e9 vs 178,640 floats.

Only taps that read a real input element count as matrix entries: a tap that lands in
the zero padding multiplies nothing.  Counts are exact integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from symconv.spec import ConvSpec


@dataclass(frozen=True)
class CostRow:
    """Stored floats and float multiplications-or-additions of one representation."""

    name: str
    stored_floats: int
    operations: int


@dataclass(frozen=True)
class CostTable:
    """Per-image costs of the three forms of one layer's linear map."""

    spec: ConvSpec
    convolution: CostRow
    dense: CostRow
    sparse: CostRow

    @property
    def rows(self) -> tuple[CostRow, CostRow, CostRow]:
        return (self.convolution, self.dense, self.sparse)


def _real_taps_per_dimension(spec: ConvSpec, d: int) -> tuple[int, int]:
    """(output, tap) pairs that read a real input element, and outputs reading none."""
    s, dil, lo = spec.stride[d], spec.dilation[d], spec.padding[d][0]
    pairs, empty = 0, 0
    for j in range(spec.output_size[d]):
        real = sum(
            0 <= s * j + dil * t - lo < spec.input_size[d] for t in range(spec.kernel_size[d])
        )
        pairs += real
        empty += real == 0
    return pairs, empty


def conv_cost(spec: ConvSpec) -> CostTable:
    """Exact per-image counts for `spec` (bias included when the layer has one)."""
    per_dim = [_real_taps_per_dimension(spec, d) for d in range(spec.rank)]
    nonzeros = spec.out_channels * spec.in_channels_per_group * math.prod(p for p, _ in per_dim)
    reached = spec.out_channels * math.prod(o - e for o, (_, e) in zip(spec.output_size, per_dim))
    outputs = spec.out_channels * math.prod(spec.output_size)
    inputs = spec.in_channels * math.prod(spec.input_size)
    bias = spec.out_channels if spec.bias else 0
    bias_adds = outputs if spec.bias else 0
    # r products need r multiplications and r - 1 additions: 2·nnz − (outputs with r ≥ 1)
    sparse_ops = 2 * nonzeros - reached + bias_adds
    weights = spec.out_channels * spec.in_channels_per_group * math.prod(spec.kernel_size)
    return CostTable(
        spec=spec,
        convolution=CostRow("convolution", weights + bias, sparse_ops),
        dense=CostRow(
            "dense matrix", outputs * inputs + bias, outputs * (2 * inputs - 1) + bias_adds
        ),
        sparse=CostRow("sparse matrix", nonzeros + bias, sparse_ops),
    )
