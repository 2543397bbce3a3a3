"""Tensors as the lecture draws them: 2-D grids, one per batch/channel (and depth) slice.

The evidence of the patterns is 4- to 5-dimensional (batch or channel axes first,
then 1-3 spatial axes).  A reader sees matrices, so each tensor becomes labelled
2-D slices: a 1-D signal is one row, a 3-D volume one slice per depth.  Slices
and cells past a few are elided the same way in every format.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import numpy as np

from symconv.render.elide import MAX_SLICES, More, elide_grid, head_tail, kept_positions
from symconv.render.names import Names
from symconv.render.outline import MatrixStack, Slice

SliceAt = tuple[tuple[int, ...], int | None]
#: Maps the leading indices of a slice to the channel numbers its label shows.
Relabel = Callable[[tuple[int, ...]], tuple[int, ...]]


def stack(
    array: np.ndarray,
    caption: str,
    axis_names: tuple[str, str],
    names: Names,
    relabel: Relabel | None = None,
) -> MatrixStack:
    """`array` of shape (A, B, *spatial) as labelled 2-D slices.

    `axis_names` name the two leading axes in labels ("n", "m" for dL/dO); an axis
    with a single value is left out of the label, as it is left out of the names.
    `relabel` turns a slice's leading indices into the channels a reader knows (the
    rotated filter of a grouped layer holds channel m of its group, not of the layer).
    """
    lead, spatial = array.shape[:2], array.shape[2:]
    depths: list[int | None] = list(range(spatial[0])) if len(spatial) == 3 else [None]
    where: list[SliceAt] = [(ab, z) for ab in product(*map(range, lead)) for z in depths]
    slices: list[Slice | More] = []
    for item in head_tail(where, MAX_SLICES, "slices"):
        if isinstance(item, More):
            slices.append(item)
            continue
        ab, z = item
        grid = array[ab] if z is None else array[ab][z]
        if grid.ndim == 1:
            grid = grid[np.newaxis, :]
        rows = tuple(tuple(row) for row in elide_grid(grid))
        label = _label(relabel(ab) if relabel else ab, z, lead, axis_names, names)
        row_at = tuple(kept_positions(grid.shape[0]))
        col_at = tuple(kept_positions(grid.shape[1]))
        slices.append(Slice(label, rows, row_at, col_at))
    return MatrixStack(caption, tuple(slices))


def _label(
    ab: tuple[int, ...],
    z: int | None,
    lead: tuple[int, ...],
    axis_names: tuple[str, str],
    names: Names,
) -> str:
    parts = [f"{name} = {names.number(i)}" for name, i, n in zip(axis_names, ab, lead) if n > 1]
    if z is not None:
        parts.append(f"depth {names.number(z)}")
    return ", ".join(parts)
