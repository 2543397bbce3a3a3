"""How tensor elements are named in print: the lecture's letters and 1- or 0-based indices.

The symbols of a derivation carry names such as ``dL/dO11``, fixed 1-based when they
were made.  Printers never parse those names: they look the symbol up in the
`SymbolTable` and name it afresh from its tensor and index, so the same derivation
prints 1-based (as the lecture does) or 0-based (as the code does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from symconv.kinds import ConvSpec
from symconv.symbolic.tensors import SymbolTable, format_index, shown_axes

#: The lecture's letters: X ⊛ F = O.  Keys starting with "g" are gradients dL/d(letter).
#: Pooling reads C (seed 001's name for a convolution's output) or X and writes P.
LETTERS: dict[str, str] = {
    "x": "X",
    "w": "F",
    "b": "b",
    "y": "O",
    "gy": "O",
    "gx": "X",
    "gw": "F",
    "gb": "b",
    "c": "C",
    "gc": "C",
    "p": "P",
    "gp": "P",
}

#: Names of the spatial dimensions, outermost first.
DIMENSION_NAMES: dict[int, tuple[str, ...]] = {
    1: ("length",),
    2: ("height", "width"),
    3: ("depth", "height", "width"),
}

#: The tensor whose shape (and so whose shown axes) each key shares.
SAME_SHAPE_AS: dict[str, str] = {"gx": "x", "gw": "w", "gb": "b", "y": "gy", "gc": "c", "p": "gp"}

#: A tensor's shape and the first axis that is spatial.
Shape = tuple[tuple[int, ...], int]


def is_gradient(key: str) -> bool:
    """True for dL/dO, dL/dX, dL/dF and dL/db, which print as fractions."""
    return key.startswith("g")


@dataclass(frozen=True)
class Ref:
    """One element of a tensor by its shown, zero-based index; ``index=()`` names the tensor."""

    key: str
    index: tuple[int, ...] = ()

    @property
    def letter(self) -> str:
        return LETTERS[self.key]


@dataclass(frozen=True)
class Partial:
    """A local gradient ∂O_k/∂v: how one output moves with one variable."""

    of: Ref
    by: Ref


@dataclass(frozen=True)
class Names:
    """Names the elements of one spec, 1-based (the lecture) or 0-based (the code).

    `shapes` adds or overrides tensors (a pooling layer's "c", "gp"; `spec` may then be
    None) and `letters` renames keys: after a convolution the pooling input is the
    convolution's output, so there "y" and "gy" print as C, as seed 001 writes them.
    """

    spec: ConvSpec | None
    table: SymbolTable
    zero_based: bool = False
    shapes: Mapping[str, Shape] = field(default_factory=dict, compare=False)
    letters: Mapping[str, str] = field(default_factory=dict, compare=False)

    def letter(self, key: str) -> str:
        return self.letters.get(key, LETTERS[key])

    def ref(self, symbol: sp.Symbol) -> Ref | None:
        """The element `symbol` stands for, or None for a symbol of no tensor (an index)."""
        if symbol not in self.table.where:
            return None
        key, index = self.table.where[symbol]
        return self.element(key, index)

    def element(self, key: str, index: tuple[int, ...]) -> Ref:
        """Element `index` (full, zero-based) of tensor `key`, singleton axes dropped."""
        axes = self.shown_axes(key)
        return Ref(key, tuple(index[a] for a in axes))

    def shown_axes(self, key: str) -> tuple[int, ...]:
        """Axes worth printing: spatial ones, and batch/channel ones with several values."""
        shape, spatial_from = self.shape(key)
        return shown_axes(shape, spatial_from)

    def shape(self, key: str) -> Shape:
        """Shape of tensor `key` and the first axis that is spatial."""
        base = SAME_SHAPE_AS.get(key, key)
        if base in self.shapes:
            return self.shapes[base]
        spec = self.spec
        shapes = {
            "x": (spec.input_shape, 2),
            "w": (spec.weight_shape, 2),
            "gy": (spec.output_shape, 2),
            "b": (spec.bias_shape, 1),
        }
        return shapes[base]

    def label(self, index: tuple[int, ...]) -> str:
        """``(0, 1) -> "12"`` (or ``"01"`` 0-based); commas once any part has two digits."""
        return format_index(index, one_based=not self.zero_based)

    def number(self, position: int) -> int:
        """A zero-based position as the reader counts it."""
        return position if self.zero_based else position + 1

    def plain(self, item: Ref | Partial) -> str:
        """Unicode name for prose and terminals: X11, ∂L/∂O12, X[1,12], ∂O11/∂F11."""
        if isinstance(item, Partial):
            return f"∂{self.plain(item.of)}/∂{self.plain(item.by)}"
        label = self.label(item.index) if item.index else ""
        if "," in label:
            label = f"[{label}]"
        name = f"{self.letter(item.key)}{label}"
        return f"∂L/∂{name}" if is_gradient(item.key) else name
