"""A figure as plain text, for terminals and the text and Markdown derivations.

Panels are stacked, each grid printed row by row with its first frame's window in
brackets; a 3-D grid prints its depth slices one under another.  Glyphs stand for the
roles a picture colours: ``·`` padding, ``0`` a zero the stride inserted, a trailing
``×`` an element no window reads.  Columns past the width are elided with ``…``.
"""

from __future__ import annotations

from itertools import product

import numpy as np

from symconv.draw.layout import MAX_DEPTH_SLICES, cell_label
from symconv.draw.model import Cell, Figure, Grid, Links, Role, shown_indices
from symconv.render.names import Names

INDENT = "  "
GLYPHS = {
    Role.PADDING: "· padding",
    Role.INSERTED: "0 a zero the stride inserted",
    Role.UNREACHED: "× read by no window",
}


def write_text(figure: Figure, names: Names, width: int = 100) -> str:
    """The figure's panels as text at most `width` columns wide, with a legend line."""
    marks = figure.still.marks
    lines: list[str] = []
    for number, panel in enumerate(figure.panels):
        if isinstance(panel, Links):
            lines += _links(panel)
        else:
            lines += _grid(panel, names, marks.get(number, frozenset()), width)
    legend = [GLYPHS[role] for role in figure.roles() if role in GLYPHS]
    if figure.frames:
        legend.append(f"[ ] {figure.still.caption}")
    if legend:
        lines.append(INDENT + "; ".join(legend))
    return "\n".join(lines)


def glyph(cell: Cell, names: Names) -> str:
    if cell.role is Role.PADDING and cell.text == "0":
        return "·"
    label = cell_label(cell, names) or "∘"  # a cell that only shows where it is
    return label + "×" if cell.role is Role.UNREACHED else label


def _grid(grid: Grid, names: Names, marks: frozenset, width: int) -> list[str]:
    cells = grid.cells
    planes: list[tuple[str, tuple[int, ...], np.ndarray | None]]
    if grid.rank == 1:
        planes = [("", (), cells.reshape(1, -1))]
    elif grid.rank == 2:
        planes = [("", (), cells)]
    else:
        depths = shown_indices(cells.shape[0])
        if len(depths) > MAX_DEPTH_SLICES:
            depths = [*depths[: MAX_DEPTH_SLICES - 1], None, depths[-1]]
        planes = [(f"depth {d + 1}", (d,), cells[d]) if d is not None else ("⋮", (), None)
                  for d in depths]  # fmt: skip
    cell_width = max((len(glyph(c, names)) for c in shown_cells(grid)), default=1) + 2
    fit = max(3, (width - len(INDENT)) // (cell_width + 1))
    out = [f"{INDENT}{grid.title}:"]
    for title, prefix, plane in planes:
        if plane is None:
            out.append(INDENT + title)
            continue
        if title:
            out.append(f"{INDENT}{title}")
        rows, cols = shown_indices(plane.shape[0]), shown_indices(plane.shape[1])
        if len(cols) > fit:
            cols = [*range(fit - 2), None, plane.shape[1] - 1]
        for i in rows:
            if i is None:
                out.append(INDENT + " ".join("⋮".center(cell_width) for _ in cols).rstrip())
                continue
            parts = []
            for j in cols:
                if j is None:
                    parts.append("…".center(cell_width))
                    continue
                index = (*prefix, i, j) if grid.rank > 1 else (j,)
                text = glyph(plane[i, j], names)
                text = f"[{text}]" if index in marks else f" {text} "
                parts.append(text.center(cell_width))
            out.append((INDENT + " ".join(parts)).rstrip())
    return out


def shown_cells(grid: Grid) -> list[Cell]:
    """The cells an elided printing shows (their labels size the columns)."""
    axes = [[i for i in shown_indices(n) if i is not None] for n in grid.shape]
    return [grid.cells[index] for index in product(*axes)]


def _links(links: Links) -> list[str]:
    feeds: dict[int, list[str]] = {}
    for c, m in links.edges:
        feeds.setdefault(m, []).append(links.left[c])
    out = [f"{INDENT}{links.title}:"]
    for m, name in enumerate(links.right):
        out.append(f"{INDENT}{name} ← {', '.join(feeds.get(m, [])) or 'nothing'}")
    return out
