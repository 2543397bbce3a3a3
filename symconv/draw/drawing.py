"""`draw(spec)`: the figures of one layer, and writing them to a folder.

`Drawing` holds the figure models and prints them on demand: SVG (still, and animated
for the sliding windows), TikZ for the LaTeX document, PNG where matplotlib is
installed, and a Markdown index that links them.  In Jupyter a drawing shows its
figures inline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symconv.draw import convolution, pooling
from symconv.draw.layout import Page, lay_out
from symconv.draw.model import Figure
from symconv.draw.svg import write_svg
from symconv.draw.text import write_text
from symconv.files import OutputError, output_folder, write_bytes_atomic
from symconv.kinds import POOLING, TRANSPOSED, kind_of
from symconv.render.names import Names
from symconv.render.outline import Picture
from symconv.symbolic.chain import ChainDerivation
from symconv.symbolic.convolution import ConvDerivation
from symconv.symbolic.pooling import PoolDerivation
from symconv.symbolic.tensors import SymbolTable
from symconv.symbolic.transposed import TransposedDerivation

#: Written into every file this package makes, so a later run knows it may replace it.
MARKER = "symconv figure"
INDEX = "index.md"


@dataclass
class Drawing:
    """The figures of one layer (`figures`), printed as SVG, TikZ, PNG or Markdown."""

    label: str
    figures: list[Figure]
    names: Names
    #: Each figure's layout, made once however many files print it (still, animated, PNG).
    _pages: dict[str, Page] = field(default_factory=dict, repr=False, compare=False)

    def figure(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        known = ", ".join(f.name for f in self.figures)
        raise ValueError(f"figure={name!r} is not drawn for {self.label}; choose from {known}")

    def page(self, name: str) -> Page:
        if name not in self._pages:
            self._pages[name] = lay_out(self.figure(name), self.names)
        return self._pages[name]

    def svg(self, name: str, animated: bool = False) -> str:
        """Figure `name` as SVG: its first step, or with `animated` every step in turn."""
        figure = self.figure(name)
        text = write_svg(self.page(name), figure.title, animated and figure.animated)
        return text.replace("<title>", f"<!-- {MARKER}: {self.label} {name} -->\n<title>", 1)

    def tikz(self, name: str) -> str:
        from symconv.draw.tikz import write_tikz

        return write_tikz(self.page(name))

    def files(self) -> dict[str, str]:
        """File name -> SVG text of every still and animated figure."""
        found = {}
        for figure in self.figures:
            found[f"{self.label}_{figure.name}.svg"] = self.svg(figure.name)
            if figure.animated and len(figure.frames) > 1:
                found[f"{self.label}_{figure.name}_animated.svg"] = self.svg(figure.name, True)
        return found

    def markdown(self, pngs: bool = False) -> str:
        """A section linking every figure, with its caption."""
        lines = [f"## Figures of `{self.label}`", ""]
        for figure in self.figures:
            stem = f"{self.label}_{figure.name}"
            lines += [
                f"### {figure.title}",
                "",
                figure.caption,
                "",
                f"![{figure.title}]({stem}.svg)",
                "",
            ]
            if figure.animated and len(figure.frames) > 1:
                lines += [
                    f"Animated, one step per frame: [{stem}_animated.svg]({stem}_animated.svg)",
                    "",
                ]
            if pngs:
                lines += [f"PNG: [{stem}.png]({stem}.png)", ""]
        return "\n".join(lines)

    def contents(self, png: bool) -> dict[str, bytes]:
        """File name -> bytes of every figure file (no index)."""
        found = {name: text.encode() for name, text in self.files().items()}
        if png:
            from symconv.draw.png import write_png

            for figure in self.figures:
                found[f"{self.label}_{figure.name}.png"] = write_png(self.page(figure.name), MARKER)
        return found

    def write(self, folder: str | os.PathLike[str], png: bool | None = None) -> list[Path]:
        """Every figure as SVG (and PNG where matplotlib is installed) plus `index.md`."""
        return write_drawings([self], folder, png)

    def _repr_html_(self) -> str:
        """Jupyter: every figure inline, animated where it has steps."""
        parts = [f"<h3>Figures of <code>{self.label}</code></h3>"]
        for figure in self.figures:
            parts.append(f"<p>{_escape(figure.caption)}</p>")
            parts.append(self.svg(figure.name, animated=True))
        return "\n".join(parts)


def write_drawings(
    drawings: list[Drawing],
    folder: str | os.PathLike[str],
    png: bool | None = None,
    index: bool = True,
) -> list[Path]:
    """The figures of every drawing, and one `index.md` linking them all.

    Files this package wrote before are replaced; any other file in the way stops the
    whole write before anything is written.
    """
    folder, _ = output_folder(folder)
    if png is None:
        png = png_available()
    contents: dict[str, bytes] = {}
    for drawing in drawings:
        contents.update(drawing.contents(png))
    title = " and ".join(f"`{d.label}`" for d in drawings)
    if index:
        lines = [f"<!-- {MARKER}s -->", f"# Figures of {title}", ""]
        contents[INDEX] = "\n".join(lines + [d.markdown(png) for d in drawings]).encode()
    for name in contents:
        refuse_foreign(folder / name)
    return [write_bytes_atomic(folder / name, data) for name, data in contents.items()]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def refuse_foreign(path: Path) -> None:
    """An `OutputError` when `path` exists and symconv's figures did not write it."""
    if not path.exists():
        return
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if MARKER.encode() in head:
            return
    raise OutputError(f"cannot write {path}: a file not written by symconv draw is in the way")


def png_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


#: The most cells a figure's largest grid may hold: every cell is a Python object, and a
#: 256 × 256 grid (drawn elided) already takes about a second.
MAX_GRID_CELLS = 1 << 16


def largest_grid(spec: object) -> int:
    """Cells of the largest grid a figure of `spec` holds: the padded input, or ∂L/∂O
    dilated and padded for the full correlation."""
    cells = 1
    for axis in spec.window_axes:
        dilated = (axis.outputs - 1) * axis.stride + 1 + 2 * (axis.span - 1)
        cells *= max(axis.padded, dilated)
    return cells


def refusal(spec: object) -> str | None:
    """Why `spec` is not drawn (its grids are too large), or None."""
    # a transposed layer is drawn as its convolution's ∂L/∂X: that convolution's grids
    cells = largest_grid(spec.convolution if kind_of(spec) is TRANSPOSED else spec)
    if cells <= MAX_GRID_CELLS:
        return None
    return (
        f"{spec.label} is not drawn: its largest grid holds {cells:,} cells, more than "
        f"{MAX_GRID_CELLS:,} (figures show a layer's every cell, elided only when printed)"
    )


def draw(
    spec: object,
    *,
    values: np.ndarray | list | None = None,
    winograd: int | None = None,
    zero_based: bool = False,
) -> Drawing:
    """The figures of `spec` (a ConvSpec or a PoolSpec).

    `values` are a pooling layer's input values (one image, one channel; default 1 … n
    shuffled); `winograd` the output tile m of the Winograd figure (default 2).
    """
    reason = refusal(spec)
    if reason is not None:
        raise ValueError(reason)
    if kind_of(spec) is TRANSPOSED:
        if values is not None or winograd is not None:
            raise ValueError("values= and winograd= are not for a transposed layer's figures")
        names = Names(spec, SymbolTable(), zero_based)
        return Drawing(spec.label, convolution.transposed_figures(spec, names), names)
    if kind_of(spec) is POOLING:
        found = pooling.figures(spec, values)
        names = pooling.names_for(spec)
    else:
        if values is not None:
            raise ValueError("values= is for a pooling layer's figures; a convolution draws names")
        names = Names(spec, SymbolTable(), zero_based)
        found = convolution.figures(spec, names, winograd)
    return Drawing(spec.label, found, names)


# ----- figures of a derivation -------------------------------------------------------------
def drawings_of(derivation: object, zero_based: bool = False) -> list[Drawing]:
    """The drawings of every layer a derivation covers (a chain: the convolution, then
    the pooling, with the pooling input's numbers when the derivation has them)."""
    maker = DERIVATION_LAYERS.get(type(derivation))
    if maker is None:
        raise TypeError(f"cannot draw a {type(derivation).__name__}; expected a derivation")
    return maker(derivation, zero_based)


def refused_layers(derivation: object) -> list[str]:
    """Why each layer of a derivation that is too large to draw is not drawn."""
    specs = DERIVATION_SPECS[type(derivation)](derivation)
    return [reason for reason in map(refusal, specs) if reason is not None]


def _conv_layers(derivation, zero_based: bool) -> list[Drawing]:
    if refusal(derivation.spec):
        return []
    return [draw(derivation.spec, zero_based=zero_based)]


def _pool_layers(derivation, zero_based: bool) -> list[Drawing]:
    if refusal(derivation.spec):
        return []
    values = derivation.values
    plane = None
    if values is not None:
        plane = np.asarray(values, float).reshape(derivation.spec.input_shape)[0, 0]
    return [draw(derivation.spec, values=plane)]


def _chain_layers(derivation, zero_based: bool) -> list[Drawing]:
    plane = None
    if derivation.pool_input is not None:
        try:
            numbers = np.asarray(derivation.pool_input, float)
            plane = numbers.reshape(derivation.pool.spec.input_shape)[0, 0]
        except (TypeError, ValueError):
            plane = None  # C is symbolic (no filter numbers): the default numbers are drawn
    found = []
    if not refusal(derivation.conv.spec):
        found.append(draw(derivation.conv.spec, zero_based=zero_based))
    if not refusal(derivation.pool.spec):
        found.append(draw(derivation.pool.spec, values=plane))
    return found


DERIVATION_SPECS = {
    TransposedDerivation: lambda d: [d.spec],
    ConvDerivation: lambda d: [d.spec],
    PoolDerivation: lambda d: [d.spec],
    ChainDerivation: lambda d: [d.conv.spec, d.pool.spec],
}
DERIVATION_LAYERS = {
    TransposedDerivation: _conv_layers,
    ConvDerivation: _conv_layers,
    PoolDerivation: _pool_layers,
    ChainDerivation: _chain_layers,
}


def pictures(drawings: list[Drawing], fmt: str, notebook: bool = False) -> tuple[Picture, ...]:
    """The figures as outline blocks for format `fmt`: animated SVG inline for HTML (and a
    notebook's Markdown), TikZ for LaTeX, text grids for text and Markdown."""
    found = []
    for drawing in drawings:
        for figure in drawing.figures:
            inline = fmt == "html" or (fmt == "markdown" and notebook)
            found.append(
                Picture(
                    figure.title,
                    figure.caption + "".join(" " + note for note in figure.notes),
                    svg=drawing.svg(figure.name, animated=True) if inline else "",
                    tikz=drawing.tikz(figure.name) if fmt == "latex" else "",
                    text=write_text(figure, drawing.names) if fmt in ("text", "markdown") else "",
                )
            )
    return tuple(found)
