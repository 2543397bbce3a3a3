"""Slips of the lecture notes on pooling, each shown where symconv prints the formula it gets wrong.

The notes count from 0 (C00 … C33) and call the loss E and the input A; the texts
quote them as written.  Every "right" form here is what the derivation itself gives
(the tests check it against SymPy and PyTorch), not a second opinion.
"""

from __future__ import annotations

from symconv.render.outline import Correction

#: Seed 001: ∂/∂C01 max(...) multiplied by ∂E/∂P00 "= C01 ∂E/∂P00".
MAX_DERIVATIVE = Correction(
    wrote="∂E/∂C01 = ∂/∂C01 max(C00, C01, C10, C11) · ∂E/∂P00 = C01 · ∂E/∂P00",
    right="∂E/∂C01 = 1 · ∂E/∂P00 = ∂E/∂P00, C01 being the maximum of its window",
    why=(
        "The derivative of a max with respect to its largest argument is 1: near that "
        "point max(C00, C01, C10, C11) = C01, and ∂C01/∂C01 = 1. The window passes its "
        "gradient on unchanged; the value of C01 does not enter (the notes count from 0)."
    ),
)

#: Seed 001: the routed grid drawn with the values C01, C03, C20, C32 at the maxima.
GRID_ENTRIES = Correction(
    wrote="∂E/∂C = [0 C01 0 C03; 0 0 0 0; C20 0 0 0; 0 0 C32 0]",
    right=(
        "the entries at the maxima are ∂E/∂P00, ∂E/∂P01, ∂E/∂P10 and ∂E/∂P11, "
        "each window's own gradient"
    ),
    why=(
        "The same slip: ∂E/∂C is a gradient. Where each maximum sits decides where "
        "∂E/∂P goes; its value does not."
    ),
)

#: Seed 001: one of the three chain-rule lines ends in ∂F/∂P.
CHAIN_FACTOR = Correction(
    wrote="∂E/∂F = ∂C/∂F × ∂P/∂C × ∂F/∂P (in one of its three chain-rule lines)",
    right="∂E/∂F = ∂C/∂F × ∂P/∂C × ∂E/∂P",
    why="The last factor is the gradient that arrives from the next layer, ∂E/∂P.",
)

#: Seed 001: the sixth term of ∂E/∂F01 pairs ∂E/∂C11 with A11.
GRAD_F01 = Correction(
    wrote=(
        "∂E/∂F01 = ∂E/∂C00 × A01 + ∂E/∂C01 × A02 + ∂E/∂C02 × A03 + ∂E/∂C03 × A04 "
        "+ ∂E/∂C10 × A11 + ∂E/∂C11 × A11 + …"
    ),
    right="the sixth term is ∂E/∂C11 × A12",
    why=(
        "F01 multiplies the input one column right of each output's window corner, so "
        "∂E/∂C at row k, column l pairs with A at row k, column l + 1: ∂E/∂C11 with A12 "
        "(the notes count from 0)."
    ),
)

#: Seed 000: the average pooling example's bottom-left output.
AVERAGE_EXAMPLE = Correction(
    wrote="avgpool([1 3 2 1; 2 9 1 1; 1 3 2 3; 5 6 1 2], f=2, s=2) = [3.75 1.25; 4 2]",
    right="the bottom-left entry is (1 + 3 + 5 + 6)/4 = 3.75",
    why="Its window holds 1, 3, 5 and 6, which add up to 15, not 16.",
)

#: The inputs of the notes' examples, to recognise them in the user's numbers.
AVERAGE_EXAMPLE_INPUT = ((1, 3, 2, 1), (2, 9, 1, 1), (1, 3, 2, 3), (5, 6, 1, 2))
#: Seed 001's arg-max picture: window (0-based) -> position of its maximum in C.
NOTES_ROUTING = {(0, 0): (0, 1), (0, 1): (0, 3), (1, 0): (2, 0), (1, 1): (3, 2)}
