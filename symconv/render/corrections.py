"""Slips worth avoiding, each shown where symconv prints the formula they get wrong.

They are the slips of the lecture notes symconv grew from (seed 000 and 001 in the
project's shared notes), restated in the page's own notation (the loss L, the input
X, elements counted from 0 as in those examples) so a reader needs no other
document.  Every "right" form is what the derivation itself gives (the tests check it
against SymPy and PyTorch), not a second opinion.
"""

from __future__ import annotations

from symconv.render.outline import Correction

#: ∂/∂C01 max(...) multiplied by ∂L/∂P00 taken as "C01 · ∂L/∂P00".
MAX_DERIVATIVE = Correction(
    wrote="∂L/∂C01 = ∂/∂C01 max(C00, C01, C10, C11) · ∂L/∂P00 = C01 · ∂L/∂P00",
    right="∂L/∂C01 = 1 · ∂L/∂P00 = ∂L/∂P00, C01 being the maximum of its window",
    why=(
        "The derivative of a max with respect to its largest argument is 1: near that "
        "point max(C00, C01, C10, C11) = C01, and ∂C01/∂C01 = 1. The window passes its "
        "gradient on unchanged; the value of C01 does not enter (elements counted from 0)."
    ),
)

#: The routed grid drawn with the values C01, C03, C20, C32 at the maxima.
GRID_ENTRIES = Correction(
    wrote="∂L/∂C = [0 C01 0 C03; 0 0 0 0; C20 0 0 0; 0 0 C32 0]",
    right=(
        "the entries at the maxima are ∂L/∂P00, ∂L/∂P01, ∂L/∂P10 and ∂L/∂P11, "
        "each window's own gradient"
    ),
    why=(
        "The same slip: ∂L/∂C is a gradient. Where each maximum sits decides where "
        "∂L/∂P goes; its value does not."
    ),
)

#: One of the three chain-rule lines ending in ∂F/∂P.
CHAIN_FACTOR = Correction(
    wrote="∂L/∂F = ∂C/∂F × ∂P/∂C × ∂F/∂P (in one of its three chain-rule lines)",
    right="∂L/∂F = ∂C/∂F × ∂P/∂C × ∂L/∂P",
    why="The last factor is the gradient that arrives from the next layer, ∂L/∂P.",
)

#: The sixth term of ∂L/∂F01 pairing ∂L/∂C11 with X11.
GRAD_F01 = Correction(
    wrote=(
        "∂L/∂F01 = ∂L/∂C00 × X01 + ∂L/∂C01 × X02 + ∂L/∂C02 × X03 + ∂L/∂C03 × X04 "
        "+ ∂L/∂C10 × X11 + ∂L/∂C11 × X11 + …"
    ),
    right="the sixth term is ∂L/∂C11 × X12",
    why=(
        "F01 multiplies the input one column right of each output's window corner, so "
        "∂L/∂C at row k, column l pairs with X at row k, column l + 1: ∂L/∂C11 with X12 "
        "(elements counted from 0)."
    ),
)

#: The average-pooling example's bottom-left output.
AVERAGE_EXAMPLE = Correction(
    wrote="avgpool([1 3 2 1; 2 9 1 1; 1 3 2 3; 5 6 1 2], f=2, s=2) = [3.75 1.25; 4 2]",
    right="the bottom-left entry is (1 + 3 + 5 + 6)/4 = 3.75",
    why="Its window holds 1, 3, 5 and 6, which add up to 15, not 16.",
)

#: The inputs of those examples, to recognise them in the user's numbers.
AVERAGE_EXAMPLE_INPUT = ((1, 3, 2, 1), (2, 9, 1, 1), (1, 3, 2, 3), (5, 6, 1, 2))
#: The lecture's arg-max picture: window (0-based) -> position of its maximum in C.
LECTURE_ROUTING = {(0, 0): (0, 1), (0, 1): (0, 3), (1, 0): (2, 0), (1, 1): (3, 2)}
