"""Figures of one layer, drawn from its derivation's data: `symconv.draw(spec)`.

The stage reads model → layout → printer: each layer kind's figure builder (this
package's `convolution` and `pooling` modules) makes `Figure` models from the window
equation and the identities the printed derivation proves; `layout` places their
cells; `svg`, `tikz` and `png` print the same placed cells.
"""

from __future__ import annotations

from symconv.draw.drawing import Drawing, draw

__all__ = ["Drawing", "draw"]
