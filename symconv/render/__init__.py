"""Printers of a derivation: text, Markdown and LaTeX, from one outline.

`render(derivation, format)` is the whole stage: the document module of the
derivation's kind builds one neutral outline (sections of prose, equations and
matrices, in the lecture's order, elided for large layers), and the format's writer
prints it.  `pdf` compiles the LaTeX when pdflatex is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from symconv.render import (
    chain_document,
    document,
    html,
    latex,
    markdown,
    pooling_document,
    text,
    transposed_document,
)
from symconv.render.names import Names
from symconv.render.outline import Outline, Picture, Section
from symconv.symbolic.chain import ChainDerivation
from symconv.symbolic.convolution import ConvDerivation
from symconv.symbolic.pooling import PoolDerivation
from symconv.symbolic.transposed import TransposedDerivation

FORMATS = ("text", "markdown", "latex", "html")

#: The outline builder of each kind of derivation.
BUILDERS: dict[type, Callable[[Any, bool], tuple[Outline, Names]]] = {
    ConvDerivation: document.build,
    PoolDerivation: pooling_document.build,
    ChainDerivation: chain_document.build,
    TransposedDerivation: transposed_document.build,
}


def outline(derivation: Any, zero_based: bool = False) -> tuple[Outline, Names]:
    """The outline of any derivation, and the names its elements print with."""
    builder = BUILDERS.get(type(derivation))
    if builder is None:
        raise TypeError(f"cannot render a {type(derivation).__name__}; expected a derivation")
    return builder(derivation, zero_based)


def render(
    derivation: Any,
    fmt: str = "text",
    *,
    zero_based: bool = False,
    document: bool = True,
    notebook: bool = False,
    pictures: tuple[Picture, ...] = (),
) -> str:
    """`derivation` as ``text``, ``markdown``, ``latex`` or ``html`` (MathML, one page).

    `pictures` (figures of `symconv.draw`) are appended as a last section, each format
    showing them as it can: inline SVG, TikZ, a file link, a caption.

    `zero_based` counts indices from 0; `document=False` gives the LaTeX body without
    the preamble (to ``\\input`` into a document of your own); `notebook` is Markdown for
    Jupyter (plain block quotes instead of GitHub's alerts).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r} must be one of {', '.join(FORMATS)}")
    built, names = outline(derivation, zero_based)
    if pictures:
        built = replace(built, sections=(*built.sections, Section("Figures", tuple(pictures))))
    if fmt == "html":
        return html.write(built, names)
    if fmt == "text":
        return text.write(built, names)
    if fmt == "markdown":
        return markdown.write(built, names, notebook=notebook)
    return latex.write(built, names, document=document)


__all__ = ["FORMATS", "Picture", "outline", "render"]
