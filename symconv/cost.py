"""The efficiency table of the lecture: convolution vs the same map as a dense or sparse matrix.

A convolution is a linear map from the input to the output, so it could be stored as a
matrix.  The table counts, per image, the floats each form stores and the float
multiplications and additions each spends, as Goodfellow, Bengio and Courville
(Deep Learning, ch. 9.1) do for a 320×280 image and a 2×1 kernel: 2 vs more than 8e9
vs 178,640 floats.

Only taps that read a real input element count as matrix entries: a tap that lands in
the zero padding multiplies nothing.  Counts are exact integers, from the closed forms
of `symconv.window.WindowAxis`, so the table of any layer costs microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CostRow:
    """Stored floats and float multiplications-or-additions of one representation."""

    name: str
    stored_floats: int
    operations: int


@dataclass(frozen=True)
class CostTable:
    """Per-image costs of the three forms of one layer's linear map (`spec`: a ConvSpec)."""

    spec: Any
    convolution: CostRow
    dense: CostRow
    sparse: CostRow

    @property
    def rows(self) -> tuple[CostRow, CostRow, CostRow]:
        return (self.convolution, self.dense, self.sparse)

    def _repr_markdown_(self) -> str:
        """The table as Markdown, for Jupyter."""
        lines = [
            "| form | stored floats | multiplications and additions |",
            "| :-- | --: | --: |",
        ]
        lines += [f"| {r.name} | {r.stored_floats:,} | {r.operations:,} |" for r in self.rows]
        return "\n".join(lines)


def conv_cost(spec: Any) -> CostTable:
    """Exact per-image counts for a `ConvSpec` (bias included when the layer has one)."""
    axes = spec.window_axes
    pairs = math.prod(axis.real_pairs() for axis in axes)
    nonzeros = spec.out_channels * spec.in_channels_per_group * pairs
    reached = spec.out_channels * math.prod(axis.outputs - axis.empty_windows() for axis in axes)
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
