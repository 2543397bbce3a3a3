"""What a figure shows, as data: grids of cells, the cells a window marks, and its frames.

A figure is built from the derivation's own data (the window equation of
`symconv.window`, the identities' steps of `symconv.symbolic.identities`), never drawn
by hand, so it cannot disagree with the printed equations.  The printers of this
package (SVG, TikZ, text, PNG) turn the same model into pictures; none of them
computes an index.

A grid is an N-D array of `Cell`s: one row for a 1-D layer, rows × columns for 2-D, a
stack of slices for 3-D.  A `Frame` is one step of the sliding window: the cells it
marks in each panel.  A figure's still picture is its first frame; an animation plays
them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from symconv.render.names import Ref

#: The most cells a grid shows along one axis; longer axes keep their first
#: `HEAD_CELLS` and last `TAIL_CELLS`, with an ellipsis between (as the printed matrices).
MAX_CELLS = 12
HEAD_CELLS = 8
TAIL_CELLS = 3
#: The most frames an animation plays; a larger layer plays the windows that are shown.
MAX_FRAMES = 64


class Role(Enum):
    """What one cell holds: the legend every printer draws from."""

    DATA = "data"  # an element of the tensor
    PADDING = "padding"  # a zero of the padding around it
    INSERTED = "inserted"  # a zero the stride inserted between neighbours (dilated ∂L/∂O)
    UNREACHED = "unreached"  # an element no window reads (leftover rows, between dilated taps)
    VALUE = "value"  # a number given by the user (pooling's input)
    ROUTED = "routed"  # an element a pooling window sends its gradient to
    EMPTY = "empty"  # nothing (a routed gradient no window sends)


LEGEND: dict[Role, str] = {
    Role.DATA: "element",
    Role.PADDING: "padding (zero)",
    Role.INSERTED: "zero inserted by the stride",
    Role.UNREACHED: "read by no window",
    Role.VALUE: "value",
    Role.ROUTED: "receives gradient",
    Role.EMPTY: "receives nothing",
}


@dataclass(frozen=True)
class Cell:
    """One cell: its role, the element it names (if any), or a number, and a colour class.

    `phase` groups cells that behave alike (a stride phase of ∂L/∂X, a tile of a tiled
    layer); printers give each phase its own tint.
    """

    role: Role
    ref: Ref | None = None
    text: str = ""
    phase: int | None = None


@dataclass(frozen=True)
class Grid:
    """A titled N-D array of cells; `origin` is the grid index of element 0 along each axis
    (the padding before it), so captions can say where the data starts."""

    title: str
    cells: np.ndarray
    origin: tuple[int, ...] = ()

    @property
    def rank(self) -> int:
        return self.cells.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.cells.shape)


@dataclass(frozen=True)
class Links:
    """A bipartite picture: which left items (input channels) feed which right ones."""

    title: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]


Panel = Grid | Links


@dataclass(frozen=True)
class Frame:
    """One step: per panel index, the cells it marks; `caption` says what the step is."""

    marks: dict[int, frozenset[tuple[int, ...]]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A named figure: its panels side by side, its frames, its caption and legend."""

    name: str
    title: str
    caption: str
    panels: tuple[Panel, ...]
    frames: tuple[Frame, ...] = ()
    animated: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def still_index(self) -> int:
        """The frame a still picture shows: the first whose window meets an element of the
        first grid (a corner window of a padded grid may meet only zeros)."""
        first = self.panels[0] if self.panels else None
        if isinstance(first, Grid):
            for number, frame in enumerate(self.frames):
                if any(first.cells[m].role is Role.DATA for m in frame.marks.get(0, ())):
                    return number
        return 0

    @property
    def still(self) -> Frame:
        return self.frames[self.still_index] if self.frames else Frame({})

    def roles(self) -> list[Role]:
        """The roles its grids hold, in legend order."""
        found = {
            cell.role
            for panel in self.panels
            if isinstance(panel, Grid)
            for cell in panel.cells.flat
        }
        return [role for role in Role if role in found]


def shown_indices(length: int) -> list[int | None]:
    """The indices an axis of `length` shows, None standing for the elided ones."""
    if length <= MAX_CELLS:
        return list(range(length))
    return [*range(HEAD_CELLS), None, *range(length - TAIL_CELLS, length)]


def cell_array(shape: tuple[int, ...], make) -> np.ndarray:
    """An object array of `shape` with make(index) at every index."""
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = make(index)
    return out


def counted(index: tuple[int, ...]) -> str:
    """A zero-based position as a reader counts it: (0, 2) -> "(1, 3)", (4,) -> "5"."""
    numbers = [str(v + 1) for v in index]
    return numbers[0] if len(numbers) == 1 else "(" + ", ".join(numbers) + ")"
