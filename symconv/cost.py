"""The efficiency table of the lecture: convolution vs the same map as a dense or sparse matrix.

A convolution is a linear map from the input to the output, so it could be stored as a
matrix.  The table counts, per image, the floats each form stores and the float
multiplications and additions each spends, as Goodfellow, Bengio and Courville
(Deep Learning, ch. 9.1) do for a 320×280 image and a 2×1 kernel: 2 vs more than 8e9
vs 178,640 floats.

Only taps that read a real input element count as matrix entries: a tap that lands in
the zero padding multiplies nothing.  Counts are exact integers, from the closed forms
of `symconv.window.WindowAxis`, so the table of any layer costs microseconds.

A stride-1 layer also gets a row per Winograd F(m, r) considered
(`symconv.symbolic.winograd.considered`): its stored floats are the transformed
filter, its operations the products and sums of every tile (padding and overhang
included, as the algorithm computes them) plus the input and output transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from symconv.symbolic.winograd import Tiling, considered


@dataclass(frozen=True)
class CostRow:
    """Stored floats and float multiplications-or-additions of one representation."""

    name: str
    stored_floats: int
    operations: int


@dataclass(frozen=True)
class CostTable:
    """Per-image costs of the forms of one layer's linear map (`spec`: a ConvSpec).

    `winograd` holds one row per Winograd F(m, r) considered (stride-1 layers only).
    """

    spec: Any
    convolution: CostRow
    dense: CostRow
    sparse: CostRow
    winograd: tuple[CostRow, ...] = ()
    #: Weight sharing undone step by step: a tiled convolution, a locally connected layer.
    sharing: tuple[CostRow, ...] = ()

    @property
    def rows(self) -> tuple[CostRow, ...]:
        return (self.convolution, *self.sharing, self.dense, self.sparse, *self.winograd)

    def __str__(self) -> str:
        """The table as aligned text: one row per form, counts with thousands separators."""
        header = ("form", "stored floats", "multiplications and additions")
        rows = [(r.name, f"{r.stored_floats:,}", f"{r.operations:,}") for r in self.rows]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
        lines = [f"Per image, {self.spec.label}:"]
        for row in (header, tuple("─" * w for w in widths), *rows):
            lines.append(
                f"  {row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].rjust(widths[2])}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CostTable of {self.spec.label}: {len(self.rows)} forms (print() shows them)>"

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
    kernel = spec.out_channels * spec.in_channels_per_group * math.prod(spec.kernel_size)
    return CostTable(
        spec=spec,
        convolution=CostRow(_layer_name(spec), kernel * spec.filters + bias, sparse_ops),
        sharing=sharing_rows(spec, kernel, bias, sparse_ops),
        dense=CostRow(
            "dense matrix", outputs * inputs + bias, outputs * (2 * inputs - 1) + bias_adds
        ),
        sparse=CostRow("sparse matrix", nonzeros + bias, sparse_ops),
        winograd=() if spec.tiled else tuple(winograd_row(spec, t) for t in considered(spec)),
    )


def _layer_name(spec: Any) -> str:
    if spec.locally_connected:
        return "locally connected (this layer)"
    if spec.tiled:
        return f"tiled convolution, t = {_tiles(spec.tiles)} (this layer)"
    return "convolution"


def _tiles(tiles: tuple[int, ...]) -> str:
    return str(tiles[0]) if len(set(tiles)) == 1 else "×".join(map(str, tiles))


def sharing_rows(spec: Any, kernel: int, bias: int, operations: int) -> tuple[CostRow, ...]:
    """The same windows with less sharing: every output position still costs the same
    multiply-adds, but each distinct filter is stored.  Rows for the layer's relatives: an
    ordinary convolution (when this one is tiled), a tiled one (t = 2 where the output
    allows, or this layer's t) and the locally connected one (a filter per position)."""
    rows = []
    if spec.tiled:
        rows.append(CostRow("convolution (one shared filter)", kernel + bias, operations))
    else:
        example = tuple(min(2, o) for o in spec.output_size)
        if any(t > 1 for t in example) and example != spec.output_size:
            rows.append(
                CostRow(
                    f"tiled convolution, t = {_tiles(example)}",
                    kernel * math.prod(example) + bias,
                    operations,
                )
            )
    if not spec.locally_connected:
        positions = math.prod(spec.output_size)
        rows.append(CostRow("locally connected", kernel * positions + bias, operations))
    return tuple(rows)


def winograd_row(spec: Any, tiling: Tiling) -> CostRow:
    """F(m, r) on one image: transformed filter; tile products, their sums, both transforms."""
    tiles = math.prod(tiling.tiles)
    products = tiling.products_per_tile
    cin_g, cout = spec.in_channels_per_group, spec.out_channels
    # per tile position and output channel: cin_g products summed (cin_g − 1 additions)
    elementwise = tiles * products * cout * (2 * cin_g - 1)
    transforms = tiles * (
        spec.in_channels * tiling.transform_operations("BT")
        + cout * tiling.transform_operations("AT")
    )
    bias = spec.out_channels if spec.bias else 0
    bias_adds = spec.out_channels * math.prod(spec.output_size) if spec.bias else 0
    return CostRow(
        f"Winograd {tiling.label}",
        cout * cin_g * products + bias,
        elementwise + transforms + bias_adds,
    )
