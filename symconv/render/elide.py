"""Elision: show the beginning and the end of something too long, and say how much is left out.

A LeNet layer has 576 outputs of 25 terms each and a dL/dF entry of 576 terms; a
reader learns the pattern from the first few and the last one.  Every list, sum and
matrix in the outline goes through these helpers, so all formats elide alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

#: Equations in one group before eliding: the first MAX_ROWS - 2, "⋮", the last.
MAX_ROWS = 12
#: Terms of one sum before eliding (a 5×5 kernel's 25 products stay whole), and what is kept.
MAX_TERMS = 25
TERMS_HEAD = 8
TERMS_TAIL = 2
#: Rows or columns of one matrix before eliding: the first MAX_CELLS - 2, dots, the last.
MAX_CELLS = 8
#: 2-D slices of one tensor before eliding.
MAX_SLICES = 4


@dataclass(frozen=True)
class More:
    """Stands for `count` left-out items (equations, terms, slices) of one kind."""

    count: int
    unit: str

    @property
    def words(self) -> str:
        unit = self.unit if self.count != 1 else self.unit.rstrip("s")
        return f"{self.count} more {unit}"


@dataclass(frozen=True)
class Dots:
    """A left-out stretch of a matrix: "h" (⋯ in a row), "v" (⋮ in a column), "d" (⋱)."""

    direction: str


def head_tail(
    items: Sequence[T], limit: int, unit: str, *, head: int | None = None, tail: int = 1
) -> list[T | More]:
    """All items when at most `limit`, else the first `head`, a `More`, and the last `tail`."""
    if len(items) <= limit:
        return list(items)
    if head is None:
        head = limit - tail - 1
    return [*items[:head], More(len(items) - head - tail, unit), *items[len(items) - tail :]]


def elide_terms(terms: Sequence[T]) -> list[T | More]:
    """A long sum keeps its first TERMS_HEAD and last TERMS_TAIL terms."""
    return head_tail(terms, MAX_TERMS, "terms", head=TERMS_HEAD, tail=TERMS_TAIL)


def elide_rows(rows: Sequence[T]) -> list[T | More]:
    """A long group of equations keeps its first MAX_ROWS - 2 and its last one."""
    return head_tail(rows, MAX_ROWS, "equations")


def kept_positions(n: int, limit: int = MAX_CELLS) -> list[int | None]:
    """Positions 0..n-1 to show, None where the dots go: [0, 1, ..., 5, None, n-1]."""
    if n <= limit:
        return list(range(n))
    return [*range(limit - 2), None, n - 1]


def elide_grid(grid: np.ndarray, limit: int = MAX_CELLS) -> list[list[object]]:
    """A 2-D array as rows of cells, with `Dots` in place of left-out rows and columns."""
    rows = kept_positions(grid.shape[0], limit)
    cols = kept_positions(grid.shape[1], limit)
    out = []
    for r in rows:
        row: list[object] = []
        for c in cols:
            if r is None and c is None:
                row.append(Dots("d"))
            elif r is None:
                row.append(Dots("v"))
            elif c is None:
                row.append(Dots("h"))
            else:
                row.append(grid[r, c])
        out.append(row)
    return out
