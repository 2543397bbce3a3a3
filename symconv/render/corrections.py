"""Slips worth avoiding, each shown where symconv prints the formula they get wrong.

They are the slips of the lecture notes symconv grew from (seed 000 and 001 in the
project's shared notes), restated in the page's own notation (the loss L, the input
X, elements counted from 0 as in those examples) so a reader needs no other
document.  Every "right" form is what the derivation itself gives (the tests check it
against SymPy and PyTorch), not a second opinion.
"""

from __future__ import annotations

from symconv.render.outline import Correction


def max_derivative(
    members: tuple[str, ...],
    upstream: str,
    values: tuple[object, ...] | None = None,
    winner: int | None = None,
) -> Correction:
    """∂/∂C01 max(...) · ∂L/∂P00 taken as "C01 · ∂L/∂P00", said of the page's first window.

    The notes' slip concerns the window's second entry (their C01), so the box does too,
    in the page's own names.  Without numbers it says the rule; with them (`values`, the
    members' numbers, and `winner`, the index of the first maximum) it says what the
    rule gives here: 1 · ∂L/∂P when that entry is the window's first maximum, else 0,
    naming the entry that is.
    """
    entry = members[1]
    window = f"max({', '.join(members)})"
    wrote = f"∂L/∂{entry} = ∂/∂{entry} {window} · {upstream} = {entry} · {upstream}"
    why = (
        "The derivative of a max with respect to one of its arguments is 1 where that "
        "argument is the largest (the first of equal ones, as PyTorch routes it) and 0 where "
        f"another one is larger: the window passes {upstream} on unchanged to its maximum, and "
        f"the value of {entry} never enters, only whether it is the maximum."
    )
    if values is None or winner is None:
        right = (
            f"∂L/∂{entry} = 1 · {upstream} = {upstream} where {entry} is the first maximum of "
            f"its window, and 0 · {upstream} = 0 where it is not"
        )
    elif winner == 1:
        right = (
            f"∂L/∂{entry} = 1 · {upstream} = {upstream}: with these numbers {entry} = "
            f"{values[1]} is the window's first maximum"
        )
    else:
        best = members[winner]
        right = (
            f"∂L/∂{entry} = 0 · {upstream} = 0: with these numbers the window's first maximum "
            f"is {best} = {values[winner]}, so ∂L/∂{best} = {upstream} and the other entries "
            "get 0"
        )
    return Correction(wrote=wrote, right=right, why=why)


def grid_entries(upstreams: tuple[str, ...], more: bool = False) -> Correction:
    """The routed grid drawn with the values of C at the maxima (the notes' C01, C03, C20,
    C32, counted from 0), set right in the page's names: `upstreams` are the ∂L/∂P of
    its first windows (`more`: there are others)."""
    listed = ", ".join(upstreams[:-1]) + (", " if more else " and ") + upstreams[-1]
    return Correction(
        wrote="∂L/∂C = [0 C01 0 C03; 0 0 0 0; C20 0 0 0; 0 0 C32 0] (their grid, counted from 0)",
        right=(
            f"the entry at each window's maximum is that window's own gradient: {listed}"
            + (", …" if more else "")
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
