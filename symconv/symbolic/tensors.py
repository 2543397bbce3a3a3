"""Symbol tensors: NumPy object arrays of SymPy symbols shaped like the numeric tensors.

Each symbol is named as the lecture notes name it (``X11``, ``F12``, ``dL/dO21``):
1-based, with the batch and channel indices left out where they have a single
value.  The `SymbolTable` remembers which tensor and which zero-based index every
symbol stands for, so the printers can show the same symbol 0-based or 1-based and
the evaluators can substitute numbers without parsing names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import sympy as sp

from symconv.kinds import ConvSpec
from symconv.symbolic.expressions import multiply, zeros_like

__all__ = ["SymbolTable", "make_symbols", "multiply", "zeros_like"]

#: Letters the lecture uses: X ⊛ F = O, and dL/dO arrives from the next layer.
TENSOR_LETTERS: dict[str, str] = {"x": "X", "w": "F", "b": "b", "gy": "O", "y": "O"}


@dataclass(frozen=True)
class TensorInfo:
    """Which axes of a tensor are worth showing (those with more than one value)."""

    key: str
    shape: tuple[int, ...]
    shown_axes: tuple[int, ...]


def shown_axes(shape: tuple[int, ...], spatial_from: int) -> tuple[int, ...]:
    """Spatial axes always; batch and channel axes only when they have more than one value."""
    return tuple(a for a, n in enumerate(shape) if a >= spatial_from or n > 1)


def format_index(index: tuple[int, ...], one_based: bool = True) -> str:
    """``(0, 1) -> "12"`` when every part is one digit, else ``"1,12"`` (readable, unambiguous)."""
    parts = [str(i + 1 if one_based else i) for i in index]
    if all(len(p) == 1 for p in parts):
        return "".join(parts)
    return ",".join(parts)


@dataclass
class SymbolTable:
    """Maps each symbol back to its tensor and zero-based index."""

    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    where: dict[sp.Symbol, tuple[str, tuple[int, ...]]] = field(default_factory=dict)


def symbol_name(key: str, shown: tuple[int, ...], one_based: bool = True) -> str:
    letter = TENSOR_LETTERS[key]
    suffix = format_index(shown, one_based) if shown else ""
    if key == "gy":
        return f"dL/d{letter}{suffix}"
    return f"{letter}{suffix}"


def make_symbols(spec: ConvSpec, table: SymbolTable) -> dict[str, np.ndarray]:
    """Symbols for x, w, gy (and b when the layer has a bias), registered in `table`."""
    shapes: dict[str, tuple[tuple[int, ...], int]] = {
        "x": (spec.input_shape, 2),
        "w": (spec.weight_shape, 2),
        "gy": (spec.output_shape, 2),
    }
    if spec.bias:
        shapes["b"] = (spec.bias_shape, 1)
    arrays = {}
    for key, (shape, spatial_from) in shapes.items():
        arrays[key] = _symbol_array(key, shape, spatial_from, table)
    return arrays


def _symbol_array(
    key: str, shape: tuple[int, ...], spatial_from: int, table: SymbolTable
) -> np.ndarray:
    axes = shown_axes(shape, spatial_from)
    table.tensors[key] = TensorInfo(key, shape, axes)
    array = np.empty(shape, dtype=object)
    for index in product(*(range(n) for n in shape)):
        shown = tuple(index[a] for a in axes)
        symbol = sp.Symbol(symbol_name(key, shown), real=True)
        table.where[symbol] = (key, index)
        array[index] = symbol
    return array
