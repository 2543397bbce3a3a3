"""A laid-out figure as PNG, drawn by matplotlib (optional: ``pip install matplotlib``).

matplotlib draws the page's own boxes, texts and lines (the still picture: the first
frame's marks), in the same units as the SVG, so the two pictures agree cell for cell.
"""

from __future__ import annotations

import io

from symconv.draw.layout import MARK_STROKE, Page

DPI = 100


def write_png(page: Page, marker: str) -> bytes:
    """The page as PNG bytes; `marker` goes into the file's Software text chunk."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure as Canvas
    from matplotlib.patches import Rectangle

    canvas = Canvas(figsize=(page.width / DPI, page.height / DPI), dpi=DPI)
    axes = canvas.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, page.width)
    axes.set_ylim(page.height, 0)
    axes.axis("off")
    for line in page.lines:
        axes.plot([line.x1, line.x2], [line.y1, line.y2], color="#7a8797", linewidth=1)
    marks = page.still_marks
    for box in page.boxes:
        axes.add_patch(
            Rectangle(
                (box.x, box.y),
                box.width,
                box.height,
                facecolor=box.fill,
                edgecolor="#6b6b6b",
                linewidth=0.6,
                linestyle="--" if box.dashed else "-",
            )
        )
        if box.label:
            axes.text(box.cx, box.label_y - 4, box.label, ha="center", va="center", fontsize=8.5)
    for box in marks:
        axes.add_patch(
            Rectangle(
                (box.x, box.y),
                box.width,
                box.height,
                facecolor=box.fill,
                alpha=0.5,
                edgecolor=MARK_STROKE,
                linewidth=1.8,
            )
        )
    for text in page.texts:
        axes.text(
            text.x,
            text.y,
            text.text,
            ha={"start": "left", "middle": "center", "end": "right"}[text.anchor],
            va="baseline",
            fontsize=text.size * 0.72,
            fontweight="bold" if text.bold else "normal",
        )
    if page.captions:
        axes.text(*page.caption_at, page.still_caption, fontsize=8.5, style="italic", va="baseline")
    buffer = io.BytesIO()
    canvas.savefig(buffer, format="png", dpi=DPI, metadata={"Software": marker})
    return buffer.getvalue()
