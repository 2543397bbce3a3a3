"""Figures of one layer, drawn from its derivation's data: `symconv.draw(spec)`.

The stage reads model → layout → printer: each layer kind's figure builder (this
package's `convolution` and `pooling` modules) makes `Figure` models from the window
equation and the identities the printed derivation proves; `layout` places their
cells; `svg`, `tikz` and `png` print the same placed cells.
"""

from __future__ import annotations

import sys
import types

from symconv.draw.drawing import Drawing, draw

__all__ = ["Drawing", "draw"]


class _DrawModule(types.ModuleType):
    """This package, callable: ``symconv.draw(spec)`` is ``symconv.draw.draw(spec)``.

    A package and the function it is named after would otherwise shadow each other on
    ``symconv`` (which one ``symconv.draw`` is would depend on what was imported first).
    """

    def __call__(self, spec: object, **options: object) -> Drawing:
        return draw(spec, **options)


sys.modules[__name__].__class__ = _DrawModule
