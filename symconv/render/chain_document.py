"""The lecture of seed 001: a convolution, then pooling, and the gradient through both.

X ⊛ F = C, P = pool(C).  The outline shows the convolution's equations (with the
user's numbers put in), the pooling layer's sections from `pooling_document` with its
input called C, then the chain: ∂L/∂C routed from ∂L/∂P, ∂L/∂F as the convolution's
∂L/∂F with ∂L/∂C in place of ∂L/∂O, and seed 001's picture
∂L/∂F = Convolution(X, ∂L/∂C).  The notes' slips sit beside the formulas they concern.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import sympy as sp

import symconv.render.corrections as corrections
import symconv.render.document as lecture
import symconv.render.matrices as matrices
import symconv.render.pattern_section as pattern_section
import symconv.render.pooling_document as pooling_document
from symconv.kinds import ConvSpec
from symconv.render.elide import More
from symconv.render.names import Names
from symconv.render.outline import (
    Block,
    Callout,
    ChainRule,
    Correction,
    Equation,
    Equations,
    Outline,
    Paragraph,
    Section,
    SizeRules,
)
from symconv.symbolic.chain import ChainDerivation, filter_for_routing
from symconv.symbolic.numbers import is_numeric

#: Equal entries of C listed in words before "and N more groups".
LISTED_GROUPS = 6


def names_for(chain: ChainDerivation, zero_based: bool) -> Names:
    """The convolution's names, with its output O called C as in seed 001, plus P."""
    pool = chain.pool_spec
    shapes = {"c": (pool.input_shape, 2), "gp": (pool.output_shape, 2)}
    return Names(
        chain.spec,
        chain.table,
        zero_based,
        shapes=shapes,
        letters={"y": "C", "gy": "C"},
    )


def build(chain: ChainDerivation, zero_based: bool = False) -> tuple[Outline, Names]:
    names = names_for(chain, zero_based)
    pool = chain.pool
    sections = [configuration(chain, names)]
    if chain.element_level:
        sections += [
            convolution_section(chain, names),
            pooling_forward(chain, names),
            Section("Local gradients of the pooling", tuple(_pool_locals(chain, names))),
            Section(
                "∂L/∂C: the pooling layer's chain rule",
                tuple(_pool_gradient_blocks(chain, names)),
            ),
        ]
        if chain.routed or pool.kind == "avg":
            sections.append(routing(chain, names))
        sections.append(filter_gradient(chain, names))
    sections.append(lecture.efficiency(chain.spec))
    if chain.notes:
        sections.append(Section("Notes", tuple(Callout(n) for n in chain.notes)))
    kind = "max" if pool.kind == "max" else "average"
    outline = Outline(
        title=f"Backpropagation through a convolution and {kind} pooling",
        subtitle=f"{chain.spec.label} → {chain.pool_spec.label}",
        sections=tuple(sections),
    )
    return outline, names


# ----- 1. configuration -------------------------------------------------------------------
def configuration(chain: ChainDerivation, names: Names) -> Section:
    spec, pool = chain.spec, chain.pool
    blocks: list[Block] = [
        Paragraph(
            f"Two layers: X ⊛ F = C, then P = {pool.kind}pool(C); the loss L sees F only "
            "through C and P."
        ),
        Paragraph(f"The convolution: {spec.describe()}."),
        Paragraph(lecture.mode_sentence(spec)),
        Paragraph(lecture.naming_sentence(spec, names)),
        SizeRules(lecture.size_rules(spec)),
        *pooling_document.configuration_blocks(pool, names),
    ]
    return Section("Configuration", tuple(blocks))


# ----- 2. the convolution, with the numbers put in ------------------------------------------
def convolution_section(chain: ChainDerivation, names: Names) -> Section:
    c = chain.pool_input
    blocks: list[Block] = []
    if chain.values is not None:
        blocks.append(matrices.stack(chain.values, "X, the numbers given", ("n", "c"), names))
    if chain.filter_values is not None:
        blocks.append(
            matrices.stack(chain.filter_values, "F, the numbers given", ("m", "c"), names)
        )
    if is_numeric(c.flat):
        blocks.append(matrices.stack(c, "C = X ⊛ F", ("n", "m"), names))
    else:
        words = "Each entry of C is the sum of the products of F with the window of X it covers"
        if chain.values is not None:
            words += ", here with the numbers of X put in"
        blocks += [Paragraph(words + ":"), Equations(lecture.equation_rows(c, "y", names))]
        if chain.values is not None:
            blocks += equal_entries(chain, names)
    return Section("Convolution: C = X ⊛ F", tuple(blocks))


def equal_entries(chain: ChainDerivation, names: Names) -> list[Block]:
    """Entries of C that are equal whatever F is: they tie in every window they share."""
    groups: dict[sp.Expr, list[tuple[int, ...]]] = defaultdict(list)
    for index in np.ndindex(chain.pool_input.shape):
        groups[sp.expand(chain.pool_input[index])].append(index)
    equal = [g for g in groups.values() if len(g) > 1]
    if not equal:
        return []
    shown = [" = ".join(names.plain(names.element("y", i)) for i in g) for g in equal]
    more = len(shown) - LISTED_GROUPS
    listed = "; ".join(shown[:LISTED_GROUPS]) + (f"; and {more} more groups" if more > 0 else "")
    return [
        Paragraph(
            f"With these numbers some entries of C are equal whatever F is: {listed}. "
            "Which entry of a window is largest still depends on F: give numbers for F "
            "(--filter-values, or filter_values= in derive) to route ∂L/∂P by numbers."
        )
    ]


# ----- 3. pooling -------------------------------------------------------------------------------
def pooling_forward(chain: ChainDerivation, names: Names) -> Section:
    return pooling_document.forward_pass(chain.pool, names)


def _pool_locals(chain: ChainDerivation, names: Names) -> list[Block]:
    blocks = pooling_document.local_gradient_blocks(chain.pool, names)
    if chain.pool.kind == "max" and not (chain.routed and is_numeric(chain.pool_input.flat)):
        blocks += pooling_document.max_derivative_box(chain.pool, names)
    return blocks


def _pool_gradient_blocks(chain: ChainDerivation, names: Names) -> list[Block]:
    pool = chain.pool
    blocks: list[Block] = [
        Paragraph(
            "∂L/∂P arrives from the next layer; each entry of C collects one term from every "
            "window it lies in:"
        ),
        ChainRule("c", of="p"),
        Equations(pooling_document.chain_rows(pool, names)),
        Paragraph("Putting in the local gradients:"),
        Equations(lecture.equation_rows(pool.grad_input, "gc", names)),
    ]
    return blocks


def routing(chain: ChainDerivation, names: Names) -> Section:
    """The routed grid: sparse for max pooling (C known), the 1/|w| spread for average."""
    pool = chain.pool
    blocks: list[Block] = []
    if pool.kind == "max" and is_numeric(chain.pool_input.flat):
        blocks += pooling_document.value_blocks(pool, names, chain.pool_input)[1:]
    terms = max(len(sp.Add.make_args(sp.expand(e))) for e in chain.grad_pool_input.flat)
    if terms > pooling_document.MAX_CELL_TERMS:
        blocks.append(
            Paragraph(
                f"The grid of ∂L/∂C is left out: its entries add up to {terms} shares each "
                "(overlapping windows); the equations above list them."
            )
        )
    elif pool.kind == "max":
        caption = (
            "∂L/∂C: zeros except at the maximum of each window, which receives that window's ∂L/∂P"
        )
        blocks += [
            matrices.stack(chain.grad_pool_input, caption, ("n", "m"), names),
            pooling_document.grid_entries_box(pool, names),
        ]
    else:
        caption = f"∂L/∂C: each entry gets 1/{pool.spec.window_size} of every window it lies in"
        grid = pooling_document.shared(chain.grad_pool_input, pool.spec.window_size)
        blocks.append(matrices.stack(grid, caption, ("n", "m"), names))
    title = "Routing with the numbers" if pool.kind == "max" else "∂L/∂C as a grid"
    return Section(title, tuple(blocks))


# ----- 4. the filter's gradient through both layers --------------------------------------------
def filter_gradient(chain: ChainDerivation, names: Names) -> Section:
    spec = chain.spec
    blocks: list[Block] = [
        Paragraph(
            "By the chain rule through both layers, ∂L/∂F = ∂C/∂F · ∂P/∂C · ∂L/∂P: the last "
            "two factors are ∂L/∂C above, so ∂L/∂F is the convolution's own gradient with "
            "∂L/∂C in place of ∂L/∂O."
        ),
        corrections.CHAIN_FACTOR,
        ChainRule("w", of="y"),
        Equations(_grad_weight_rows(chain, names)),
    ]
    if _notes_f01_applies(spec):
        blocks.append(corrections.GRAD_F01)
    blocks += _convolution_picture(chain, names)
    blocks.append(
        Paragraph(
            "Lectures write this as ∂L/∂F = Convolution(X, ∂L/∂C): ∂L/∂C slides over X as "
            "the kernel, without flipping, so it is a cross-correlation."
        )
    )
    if chain.pool.kind == "max" and not chain.routed:
        blocks.append(pooling_document.grid_entries_box(chain.pool, names))  # the notes' grid
    if chain.routed:
        blocks += [
            Paragraph("Putting in the routed ∂L/∂C gives ∂L/∂F in terms of ∂L/∂P:"),
            Equations(lecture.equation_rows(chain.grad_weight, "gw", names)),
        ]
    blocks += _notes_routing_blocks(chain, names)
    blocks.append(
        Paragraph(
            "∂L/∂X, for a layer further back, is likewise the convolution's ∂L/∂X (the full "
            "cross-correlation of ∂L/∂O, dilated by the stride, with the 180°-rotated F) with "
            "∂L/∂C in place of ∂L/∂O; symconv derive without --pool shows that derivation."
        )
    )
    return Section("∂L/∂F through both layers", tuple(blocks))


def _grad_weight_rows(chain: ChainDerivation, names: Names) -> tuple[Equation | More, ...]:
    """The convolution's ∂L/∂F with the numbers of X put in; its ∂L/∂O read as ∂L/∂C."""
    conv = chain.conv
    if chain.values is None:
        return lecture.equation_rows(conv.grad_weight, "gw", names)
    replace = dict(zip(conv.symbols["x"].flat, chain.values.flat))
    with_numbers = np.empty(conv.grad_weight.shape, dtype=object)
    for index in np.ndindex(with_numbers.shape):
        with_numbers[index] = conv.grad_weight[index].xreplace(replace)
    return lecture.equation_rows(with_numbers, "gw", names)


def _convolution_picture(chain: ChainDerivation, names: Names) -> list[Block]:
    """∂L/∂F as the convolution's own identity, with ∂L/∂C (routed, when known) for ∂L/∂O."""
    conv = chain.conv
    identity = conv.patterns["grad_weight"].identity
    routed = chain.routed
    symbols = {
        **conv.symbols,
        "x": chain.values if chain.values is not None else conv.symbols["x"],
        "gy": chain.grad_pool_input if routed else conv.symbols["gy"],
    }
    tensors = {
        **pattern_section.TENSORS,
        "x": ("X, the numbers given" if chain.values is not None else "X", ("n", "c")),
        "gy": ("∂L/∂C, routed" if routed else "∂L/∂C", ("n", "m")),
    }
    return pattern_section.identity_blocks(identity, chain.spec, symbols, names, tensors)


def _notes_f01_applies(spec: ConvSpec) -> bool:
    """The notes' ∂E/∂F01 line (terms up to ∂E/∂C03, ∂E/∂C11) exists for this layer."""
    return (
        spec.rank == 2
        and spec.stride == (1, 1)
        and spec.dilation == (1, 1)
        and all(p == (0, 0) for p in spec.padding)
        and spec.kernel_size[1] >= 2
        and spec.output_size[0] >= 2
        and spec.output_size[1] >= 4
    )


def _seed_layout(chain: ChainDerivation) -> bool:
    """Seed 001's layers: 6×6 input, 3×3 filter, 2×2 max pooling, one channel, no bias."""
    spec, pool = chain.spec, chain.pool_spec
    return (
        spec.input_shape == (1, 1, 6, 6)
        and spec.weight_shape == (1, 1, 3, 3)
        and spec.stride == (1, 1)
        and spec.dilation == (1, 1)
        and all(p == (0, 0) for p in spec.padding)
        and not spec.bias
        and pool.kind == "max"
        and pool.kernel_size == (2, 2)
        and pool.stride == (2, 2)
        and pool.padding == (0, 0)
    )


def _notes_routing_blocks(chain: ChainDerivation, names: Names) -> list[Block]:
    """Can any filter give the notes' picture (maxima at C01, C03, C20, C32) with these X?"""
    if not _seed_layout(chain) or chain.values is None or chain.filter_values is not None:
        return []
    winners = {(0, 0, *window): (0, 0, *at) for window, at in corrections.LECTURE_ROUTING.items()}
    found = filter_for_routing(chain, winners)
    picked = ", ".join(names.plain(names.element("y", at)) for at in winners.values())
    if found is None:
        return [
            Correction(
                wrote="∂L/∂C with ∂L/∂P routed to C01, C03, C20 and C32 (0-based)",
                right=(
                    f"no filter F puts the maxima there with these numbers of X: the "
                    f"first-maximum conditions for {picked} contradict each other"
                ),
                why=(
                    "This X repeats with period 3, so C does too: C03 = C00, C23 = C20, "
                    "C31 = C01, C32 = C02 for every F. The picks need C01 > C00 (first window), "
                    "C03 > C02 (second), C32 > C23 (fourth) and C20 ≥ C31 (third), that is "
                    "C01 > C00 > C02 > C20 ≥ C01, a cycle. SymPy's simplex method confirms that "
                    "no F satisfies them; the picture is an illustration."
                    if _is_seed_input(chain)
                    else "SymPy's simplex method finds no F that satisfies them."
                ),
            )
        ]
    listed = ", ".join(sp.sstr(v) for v in found.flat)
    return [
        Paragraph(
            f"The lecture's picture, maxima at {picked}, is what the filter F = ({listed}) "
            "(row-major) gives with these numbers of X."
        )
    ]


SEED_INPUT = tuple(tuple(5 + (r % 3) + (c % 3) for c in range(6)) for r in range(6))


def _is_seed_input(chain: ChainDerivation) -> bool:
    return all(
        v == w
        for row, expected in zip(chain.values[0, 0], SEED_INPUT)
        for v, w in zip(row, expected)
    )
