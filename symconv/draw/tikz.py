"""A laid-out figure as a TikZ picture, for the LaTeX document (pdflatex compiles it).

The page's boxes, texts and lines in TikZ's units: 1 SVG unit = 0.028 cm with y up, so
a figure keeps its proportions; the still picture (the first frame's marks) is drawn.
Labels are the cells' Unicode names, set in math by `latex_label`.
"""

from __future__ import annotations

import re

from symconv.codegen.templates import environment
from symconv.draw.layout import MARK_STROKE, Page

#: Centimetres per SVG unit.
SCALE = 0.028


def latex_label(text: str) -> str:
    """A cell label in LaTeX: ∂L/∂O12 -> $\\partial L/\\partial O_{12}$, X[1,12] -> $X_{1,12}$."""
    if not text:
        return ""
    match = re.fullmatch(r"(∂L/∂)?([A-Za-z])\[?([0-9,]*)\]?", text)
    if match:
        prefix = r"\partial L/\partial " if match.group(1) else ""
        index = f"_{{{match.group(3)}}}" if match.group(3) else ""
        return f"${prefix}{match.group(2)}{index}$"
    return escape(text)


def escape(text: str) -> str:
    table = {
        "∂": r"$\partial$",
        "−": "$-$",
        "∞": r"$\infty$",
        "Σ": r"$\Sigma$",
        "·": r"$\cdot$",
        "⊛": r"$\circledast$",
        "×": r"$\times$",
        "°": r"$^\circ$",
        "…": r"\dots{}",
        "⋮": r"$\vdots$",
        "τ": r"$\tau$",
        "→": r"$\to$",
        "_": r"\_",
        "%": r"\%",
        "&": r"\&",
        "#": r"\#",
        "{": r"\{",
        "}": r"\}",
        "≤": r"$\le$",
        "|": r"$|$",
    }
    return "".join(table.get(char, char) for char in text)


def hex_colour(value: str) -> str:
    return value.lstrip("#").upper()


def write_tikz(page: Page) -> str:
    def x(v: float) -> str:
        return f"{v * SCALE:.3f}"

    def y(v: float) -> str:
        return f"{-v * SCALE:.3f}"

    colours = sorted({b.fill for b in page.boxes} | {b.fill for b in page.still_marks})
    names = {c: f"symconv{k}" for k, c in enumerate(colours)}
    boxes = [
        {
            "x0": x(b.x),
            "y0": y(b.y),
            "x1": x(b.x + b.width),
            "y1": y(b.y + b.height),
            "fill": names[b.fill],
            "dashed": b.dashed,
            "cx": x(b.cx),
            "cy": y(b.y + b.height / 2),
            "label": latex_label(b.label),
        }
        for b in page.boxes
    ]
    marks = [
        {
            "x0": x(b.x),
            "y0": y(b.y),
            "x1": x(b.x + b.width),
            "y1": y(b.y + b.height),
            "fill": names[b.fill],
        }
        for b in page.still_marks
    ]
    anchors = {"start": "west", "middle": "center", "end": "east"}
    texts = [
        {
            "x": x(t.x),
            "y": y(t.y - 4),
            "anchor": anchors[t.anchor],
            "bold": t.bold,
            "text": escape(t.text),
            "small": t.size < 13,
        }
        for t in page.texts
    ]
    if page.captions:
        cx, cy = page.caption_at
        texts.append(
            {
                "x": x(cx),
                "y": y(cy - 4),
                "anchor": "west",
                "bold": False,
                "text": r"\emph{" + escape(page.still_caption) + "}",
                "small": True,
            }
        )
    lines = [{"x1": x(v.x1), "y1": y(v.y1), "x2": x(v.x2), "y2": y(v.y2)} for v in page.lines]
    return (
        environment("draw")
        .get_template("figure.tikz.j2")
        .render(
            colours=[(names[c], hex_colour(c)) for c in colours],
            mark=hex_colour(MARK_STROKE),
            boxes=boxes,
            marks=marks,
            texts=texts,
            lines=lines,
        )
    )
