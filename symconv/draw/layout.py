"""A figure laid out on a page: boxes, texts and lines at coordinates, for every printer.

The SVG, TikZ and PNG printers draw exactly these primitives, so the three pictures
agree to the cell.  Sizes are in SVG user units (pixels); y grows downwards.

A grid of rank 1 is one row; rank 2 is rows × columns; rank 3 is its depth slices side
by side.  An axis longer than `MAX_CELLS` shows its first and last cells with an
ellipsis between, as the printed matrices do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from symconv.draw.model import LEGEND, Cell, Figure, Grid, Links, Role, shown_indices
from symconv.render.names import Names

CELL_HEIGHT = 30
CHAR_WIDTH = 7.2
MIN_CELL_WIDTH = 30
PANEL_GAP = 36
SLICE_GAP = 14
TITLE_HEIGHT = 36
MARGIN = 12
FONT_SIZE = 12
MAX_DEPTH_SLICES = 4
#: Panels wrap onto a new row past this width.
MAX_WIDTH = 1100

FILLS: dict[Role, str] = {
    Role.DATA: "#ffffff",
    Role.PADDING: "#e9e9e9",
    Role.INSERTED: "#fde3c0",
    Role.UNREACHED: "#f6c9c9",
    Role.VALUE: "#ffffff",
    Role.ROUTED: "#dff0d8",
    Role.EMPTY: "#eeeeee",
}
#: Tints of phases (stride phases, tiles), colour-blind safe and light enough for text.
PHASE_FILLS = ("#dbe9f6", "#e2f0d9", "#fff2cc", "#ead1f5", "#d5f0ee", "#fbdfe2")
MARK_STROKE = "#1c5bb8"
MARK_FILL = "#8fb5ea"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str
    label: str = ""
    #: (panel, grid index) the box draws, or None for decoration.
    key: tuple[int, tuple[int, ...]] | None = None
    dashed: bool = False

    @property
    def cx(self) -> float:
        """Where its label is centred."""
        return round(self.x + self.width / 2, 2)

    @property
    def label_y(self) -> float:
        """The label's baseline: a 12-unit font sits centred in the box."""
        return round(self.y + self.height / 2 + 4, 2)


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = FONT_SIZE
    anchor: str = "middle"  # "start", "middle" or "end"
    bold: bool = False


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Page:
    """Every primitive of one figure, and the marks of each frame as boxes to overlay."""

    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    #: One list of overlay boxes per frame (marks), and one caption per frame.
    frames: list[list[Box]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    caption_at: tuple[float, float] = (0.0, 0.0)
    #: The frame a still picture shows.
    still: int = 0

    @property
    def still_marks(self) -> list[Box]:
        return self.frames[self.still] if self.frames else []

    @property
    def still_caption(self) -> str:
        return self.captions[self.still] if self.captions else ""


def cell_label(cell: Cell, names: Names) -> str:
    if cell.text:
        return cell.text
    return names.plain(cell.ref) if cell.ref is not None else ""


def slices(grid: Grid) -> list[tuple[str, tuple[int, ...] | None, np.ndarray]]:
    """(title, depth prefix, 2-D cells) of a grid: one for ranks 1–2, depth slices for 3."""
    cells = grid.cells
    if grid.rank == 1:
        return [("", None, cells.reshape(1, -1))]
    if grid.rank == 2:
        return [("", None, cells)]
    depths = shown_indices(cells.shape[0])
    if len(depths) > MAX_DEPTH_SLICES:
        depths = [*depths[: MAX_DEPTH_SLICES - 1], None, depths[-1]]
    return [
        (f"depth {d + 1}", (d,), cells[d]) if d is not None else ("…", None, None) for d in depths
    ]


def lay_out(figure: Figure, names: Names) -> Page:
    """Panels left to right under the title, the legend and the caption below them."""
    page = Page(0, 0)
    x, top = MARGIN, MARGIN + TITLE_HEIGHT
    page.texts.append(Text(MARGIN, MARGIN + 16, figure.title, 15, "start", True))
    bottom, widest = top, 0.0
    placed: dict[tuple[int, tuple[int, ...]], Box] = {}
    for number, panel in enumerate(figure.panels):
        scratch, spots = Page(0, 0), {}
        if isinstance(panel, Links):
            right, low = _links(scratch, panel, 0, 0)
        else:
            right, low = _grid(scratch, panel, number, 0, 0, names, spots)
        if x > MARGIN and x + right > MAX_WIDTH:  # wrap: the next row of panels
            x, top = MARGIN, bottom + PANEL_GAP
        _place(scratch, spots, x, top, page, placed)
        widest = max(widest, x + right)
        x, bottom = x + right + PANEL_GAP, max(bottom, top + low)
    width = max(widest + MARGIN, 360, 2 * MARGIN + text_width(figure.title, 15))
    y = bottom + 18
    for role in figure.roles():
        page.boxes.append(Box(MARGIN, y - 11, 14, 14, FILLS[role]))
        page.texts.append(Text(MARGIN + 20, y, legend(figure, role), 11, "start"))
        y += 18
    if figure.frames:
        page.boxes.append(Box(MARGIN, y - 11, 14, 14, MARK_FILL))
        page.texts.append(Text(MARGIN + 20, y, "the window of the step shown", 11, "start"))
        y += 22
    for frame in figure.frames:
        marks = []
        for panel, indices in frame.marks.items():
            for index in indices:
                box = placed.get((panel, tuple(index)))
                if box is not None:
                    marks.append(Box(box.x, box.y, box.width, box.height, MARK_FILL, box.label))
        page.frames.append(marks)
        page.captions.append(frame.caption)
    page.caption_at = (MARGIN, y)
    page.still = figure.still_index
    y += 20 if figure.frames else 0
    for line in wrap(figure.caption, width - 2 * MARGIN) + [
        n for note in figure.notes for n in wrap(note, width - 2 * MARGIN)
    ]:
        page.texts.append(Text(MARGIN, y, line, 12, "start"))
        y += 17
    page.width, page.height = width, y + MARGIN
    return page


def _place(scratch: Page, spots: dict, dx: float, dy: float, page: Page, placed: dict) -> None:
    """Copy a panel laid out at the origin onto the page at (dx, dy)."""
    page.boxes += [replace(b, x=b.x + dx, y=b.y + dy) for b in scratch.boxes]
    page.texts += [replace(t, x=t.x + dx, y=t.y + dy) for t in scratch.texts]
    page.lines += [Line(v.x1 + dx, v.y1 + dy, v.x2 + dx, v.y2 + dy) for v in scratch.lines]
    for key, box in spots.items():
        placed[key] = replace(box, x=box.x + dx, y=box.y + dy)


def legend(figure: Figure, role: Role) -> str:
    """The legend line of `role`; padding says what it holds (0, or −∞ for a max)."""
    if role is Role.PADDING:
        held = {
            cell.text
            for panel in figure.panels
            if isinstance(panel, Grid)
            for cell in panel.cells.flat
            if cell.role is Role.PADDING
        }
        return f"padding ({', '.join(sorted(held))})"
    return LEGEND[role]


def text_width(text: str, size: float) -> float:
    """Roughly how wide a bold line of `text` is, in units, at font `size` (0.62·size per
    character, a little wider than `wrap`'s regular text): a panel is at least as wide as
    its title, or the title runs past the panel's right edge and off the picture."""
    return 0.62 * size * len(text)


def wrap(text: str, width: float, size: float = 12) -> list[str]:
    """Greedy word wrap to `width` units at roughly 0.55·size per character."""
    limit = max(20, int(width / (0.55 * size)))
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > limit:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return lines + ([current] if current else [])


def _grid(
    page, grid: Grid, number: int, x0: float, top: float, names: Names, placed
) -> tuple[float, float]:
    labels = [cell_label(c, names) for c in grid.cells.flat]
    width = max(MIN_CELL_WIDTH, CHAR_WIDTH * max(map(len, labels), default=1) + 10)
    page.texts.append(Text(x0, top + 4, grid.title, 13, "start", True))
    y0 = top + 14
    x, bottom = x0, y0
    for title, prefix, cells in slices(grid):
        if cells is None:
            page.texts.append(Text(x + 8, y0 + CELL_HEIGHT, "…", 16))
            x += 16 + SLICE_GAP
            continue
        if title:
            page.texts.append(Text(x, y0 + 10, title, 11, "start"))
        y_start = y0 + (16 if title else 0)
        rows, cols = shown_indices(cells.shape[0]), shown_indices(cells.shape[1])
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                bx, by = x + b * width, y_start + a * CELL_HEIGHT
                if i is None or j is None:
                    page.texts.append(Text(bx + width / 2, by + 20, "⋮" if i is None else "…", 14))
                    continue
                cell = cells[i, j]
                index = (*(prefix or ()), i, j) if grid.rank > 1 else (j,)
                fill = FILLS[cell.role]
                if cell.phase is not None and cell.role is Role.DATA:
                    fill = PHASE_FILLS[cell.phase % len(PHASE_FILLS)]
                box = Box(
                    bx,
                    by,
                    width,
                    CELL_HEIGHT,
                    fill,
                    cell_label(cell, names),
                    (number, index),
                    dashed=cell.role is Role.PADDING,
                )
                page.boxes.append(box)
                placed[(number, index)] = box
        x += len(cols) * width + SLICE_GAP
        bottom = max(bottom, y_start + len(rows) * CELL_HEIGHT)
    return max(x - SLICE_GAP, x0 + text_width(grid.title, 13)), bottom


def _links(page, links: Links, x0: float, top: float) -> tuple[float, float]:
    page.texts.append(Text(x0, top + 4, links.title, 13, "start", True))
    y0, width, gap = top + 16, 64, 120
    for side, items in ((0, links.left), (1, links.right)):
        for k, name in enumerate(items):
            page.boxes.append(
                Box(x0 + side * (width + gap), y0 + k * 26, width, 22, "#ffffff", name)
            )
    for c, m in links.edges:
        page.lines.append(Line(x0 + width, y0 + c * 26 + 11, x0 + width + gap, y0 + m * 26 + 11))
    rows = max(len(links.left), len(links.right))
    return max(x0 + 2 * width + gap, x0 + text_width(links.title, 13)), y0 + rows * 26
