"""Equations between tensors as data: ∂L/∂X = cross-correlation(A, K), A and K built by steps.

The lecture's shortcuts say that a gradient *is* a correlation of transformed tensors:
the filter rotated by 180°, ∂L/∂O with zeros between its entries and around it, X
cropped to the rows the windows reach.  An `Identity` holds such an equation exactly
as it is shown: the left side, the operation with its stride and dilation, and each
operand as a base tensor plus the steps applied to it, in order.  `evaluate` computes
the right side from those very steps, so the proof compares what is printed, and the
printers print only what the data says.

The operation, stated once for every printer (`DEFINITION`):

    cross-correlation(A, K; stride s, dilation d)[r] = Σ_t A[s·r + d·t]·K[t]

summed over the channels the layer connects (over the batch for ∂L/∂F).  A valid
correlation: r runs over the positions where the whole kernel lies inside A.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import symconv.symbolic.elements as elements
from symconv.kinds import ConvSpec
from symconv.symbolic.expressions import SYMPY, zeros_like

DEFINITION = (
    "cross-correlation(A, K; stride s, dilation d) has the entry Σ_t A[s·r + d·t]·K[t] at "
    "position r (every index per dimension), for the positions r where K lies wholly "
    "inside A, summed over the channels the layer connects; stride and dilation are 1 "
    "where not named."
)


# ----- steps ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rotate:
    """Reverse every spatial axis: the 180° rotation of a filter."""

    def apply(self, grid: np.ndarray) -> np.ndarray:
        spatial = tuple(slice(None, None, -1) for _ in grid.shape[2:])
        return grid[(slice(None), slice(None), *spatial)]


@dataclass(frozen=True)
class SwapChannels:
    """(C_out, C_in/G, …) -> (C_in, C_out/G, …): each group's output and input channels swap."""

    groups: int

    def apply(self, grid: np.ndarray) -> np.ndarray:
        cout_g = grid.shape[0] // self.groups
        cin_g = grid.shape[1]
        out = np.empty((cin_g * self.groups, cout_g, *grid.shape[2:]), dtype=object)
        for g in range(self.groups):
            block = grid[g * cout_g : (g + 1) * cout_g]
            out[g * cin_g : (g + 1) * cin_g] = np.swapaxes(block, 0, 1)
        return out


@dataclass(frozen=True)
class Dilate:
    """Insert (s − 1) zeros between neighbouring entries along every spatial axis."""

    factors: tuple[int, ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        spatial = grid.shape[2:]
        shape = grid.shape[:2] + tuple((n - 1) * s + 1 for n, s in zip(spatial, self.factors))
        out = zeros_like(shape)
        out[(slice(None), slice(None), *(slice(None, None, s) for s in self.factors))] = grid
        return out


@dataclass(frozen=True)
class Pad:
    """Zero-pad each spatial axis by (before, after); a negative amount crops instead.

    Entry q of the result is entry q − before of the grid, or zero where that falls
    outside it: one rule for padding, cropping, and a crop larger than the grid.
    """

    amounts: tuple[tuple[int, int], ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        spatial = grid.shape[2:]
        shape = grid.shape[:2] + tuple(n + b + a for n, (b, a) in zip(spatial, self.amounts))
        out = zeros_like(shape)
        source, target = [], []
        for n, m, (before, _) in zip(spatial, shape[2:], self.amounts):
            first, last = max(before, 0), min(m, n + before)  # target range that has a source
            if first >= last:
                return out
            source.append(slice(first - before, last - before))
            target.append(slice(first, last))
        out[(slice(None), slice(None), *target)] = grid[(slice(None), slice(None), *source)]
        return out

    @property
    def crops(self) -> bool:
        return any(min(pair) < 0 for pair in self.amounts)

    @property
    def pads(self) -> bool:
        return any(max(pair) > 0 for pair in self.amounts)


@dataclass(frozen=True)
class Phase:
    """Keep the entries at positions τ, τ + t, τ + 2t, … of every spatial axis: the output
    positions of one tile of a tiled layer (`offsets` = τ, `periods` = t)."""

    offsets: tuple[int, ...]
    periods: tuple[int, ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        picks = tuple(slice(o, None, p) for o, p in zip(self.offsets, self.periods))
        return grid[(slice(None), slice(None), *picks)]


@dataclass(frozen=True)
class Mask:
    """Zero every entry outside the positions τ + t·q (the same shape, the others kept)."""

    offsets: tuple[int, ...]
    periods: tuple[int, ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        out = zeros_like(grid.shape)
        picks = tuple(slice(o, None, p) for o, p in zip(self.offsets, self.periods))
        region = (slice(None), slice(None), *picks)
        out[region] = grid[region]
        return out


@dataclass(frozen=True)
class TileOf:
    """The filter of tile τ of a tiled weight (C_out, C_in/G, *tiles, *k) -> (C_out, C_in/G, *k)."""

    tile: tuple[int, ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return grid[(slice(None), slice(None), *self.tile)]


Step = Rotate | SwapChannels | Dilate | Pad | Phase | Mask | TileOf


def apply_steps(grid: np.ndarray, steps: tuple[Step, ...]) -> np.ndarray:
    for step in steps:
        grid = step.apply(grid)
    return grid


# ----- operands, the operation and the identity ---------------------------------------------
@dataclass(frozen=True)
class Operand:
    """A tensor of the derivation ("x", "w", "gy") after `steps`, in order."""

    tensor: str
    steps: tuple[Step, ...] = ()

    def value(self, symbols: dict[str, np.ndarray]) -> np.ndarray:
        """The operand's entries: SymPy symbols and the zeros the steps put in."""
        return apply_steps(symbols[self.tensor], self.steps)

    def step(self, kind: type) -> Step | None:
        return next((s for s in self.steps if isinstance(s, kind)), None)


@dataclass(frozen=True)
class Correlation:
    """cross-correlation(A, K; stride, dilation), summed over channels or over the batch.

    `over` is "channels" (A is (N, C, …), K is (M, C/G, …), the result (N, M, …)) or
    "batch" (∂L/∂F: A is (N, C, …), K is (N, M, …), the result (M, C/G, …) per group).
    `full` pads A with k_eff − 1 zeros on both sides of every axis first: the full
    correlation, which then needs no padding step of its own.
    """

    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    over: str = "channels"
    full: bool = False

    @property
    def name(self) -> str:
        return "full cross-correlation" if self.full else "cross-correlation"

    @property
    def parameters(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The non-default parameters, as printed after the operands: (name, values)."""
        named = (("stride", self.stride), ("dilation", self.dilation))
        return tuple((word, values) for word, values in named if any(v != 1 for v in values))

    def apply(self, grid: np.ndarray, kernel: np.ndarray, algebra: object = SYMPY) -> np.ndarray:
        if self.full:
            spans = tuple(d * (k - 1) for k, d in zip(kernel.shape[2:], self.dilation))
            grid = Pad(tuple((s, s) for s in spans)).apply(grid)
        if self.over == "channels":
            return correlate(grid, kernel, self.stride, self.dilation, self.groups, algebra)
        return self._over_batch(grid, kernel, algebra)

    def _over_batch(self, grid: np.ndarray, kernel: np.ndarray, algebra: object) -> np.ndarray:
        """Σ_n corr(A[n, c], K[n, m]) for every (m, c) of a group: the batch is contracted."""
        cin_g, cout_g = grid.shape[1] // self.groups, kernel.shape[1] // self.groups
        blocks = []
        for g in range(self.groups):
            inputs = np.swapaxes(grid[:, g * cin_g : (g + 1) * cin_g], 0, 1)  # (cin_g, N, …)
            outputs = np.swapaxes(kernel[:, g * cout_g : (g + 1) * cout_g], 0, 1)  # (cout_g, N)
            corr = correlate(inputs, outputs, self.stride, self.dilation, 1, algebra)
            blocks.append(np.swapaxes(corr, 0, 1))
        return np.concatenate(blocks, axis=0)


def correlate(
    grid: np.ndarray,
    kernel: np.ndarray,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    algebra: object = SYMPY,
) -> np.ndarray:
    """Valid cross-correlation of symbol grids, by the very forward rule being studied."""
    helper = ConvSpec(
        input_size=grid.shape[2:],
        kernel_size=kernel.shape[2:],
        in_channels=grid.shape[1],
        out_channels=kernel.shape[0],
        batch=grid.shape[0],
        stride=stride,
        dilation=dilation,
        groups=groups,
    )
    return elements.forward(helper, {"x": grid, "w": kernel}, algebra)


@dataclass(frozen=True)
class Identity:
    """lhs = result_steps(operation(grid, kernel)): an equation exactly as it is printed."""

    lhs: str
    operation: Correlation
    grid: Operand
    kernel: Operand
    result_steps: tuple[Step, ...] = field(default=())
    #: The tile τ of a tiled weight the left side is (its filter), or () for all of it.
    lhs_tile: tuple[int, ...] = ()

    def evaluate(self, symbols: dict[str, np.ndarray], algebra: object = SYMPY) -> np.ndarray:
        """The right side, built from the operands' steps and the operation as shown.

        SymPy expressions by default; `expressions.POLYNOMIALS` gives the polynomials
        the proofs compare, from the very same steps.
        """
        grid, kernel = self.grid.value(symbols), self.kernel.value(symbols)
        return apply_steps(self.operation.apply(grid, kernel, algebra), self.result_steps)
