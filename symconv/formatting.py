"""How sizes and per-dimension values read in prose, one rule for every printer.

A shape is a product of sizes and reads as one: ``1×6×24×24``.  Per-dimension values
(stride, padding, dilation, leftover) are not products, so they read as tuples,
``(2, 1)``, or as one number when every dimension agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def fmt_shape(shape: Iterable[int]) -> str:
    """``1×6×24×24``: the sizes of a tensor, multiplied out they give its elements."""
    return "×".join(str(v) for v in shape)


def fmt_tuple(values: Sequence[int]) -> str:
    """``2`` when every dimension has the same value, else ``(2, 1)``."""
    if len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(str(v) for v in values) + ")"


def fmt_padding(padding: Sequence[tuple[int, int]]) -> str:
    """Symmetric padding as `fmt_tuple`; otherwise ``(0:1, 1:0)``, before:after per dimension."""
    if all(lo == hi for lo, hi in padding):
        return fmt_tuple([lo for lo, _ in padding])
    return "(" + ", ".join(f"{lo}:{hi}" for lo, hi in padding) + ")"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 zero``, ``2 zeros``: a count with its noun in the right number."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
