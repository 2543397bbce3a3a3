"""What the lecture on one layer says, in which order: the outline every format prints.

The order follows the lecture notes symconv grew from: the configuration and its size
arithmetic, the closed forms (which exist at every size), then for small layers the
forward equations, the local gradients of the first output, the chain-rule sums, the
gradients, the patterns with their matrices, the rows left without gradient, and the
derivation's own notes.  Formats differ only in how blocks look, so all the decisions
(term order, elision, wording) are made here, once.
"""

from __future__ import annotations

import numpy as np

import symconv.render.pattern_section as pattern_section
import symconv.render.winograd_section as winograd_section
from symconv.kinds import ConvSpec
from symconv.render.elide import More, elide_rows, elide_terms, head_tail
from symconv.render.indexform import closed_form
from symconv.render.names import DIMENSION_NAMES, Names, Partial
from symconv.render.ordering import ordered_terms, sorted_by_index
from symconv.render.outline import (
    Block,
    Callout,
    ChainRule,
    Equation,
    Equations,
    Outline,
    Paragraph,
    Section,
    SizeRule,
    SizeRules,
    Table,
    Term,
)
from symconv.symbolic.convolution import ConvDerivation
from symconv.symbolic.elements import local_gradients

GRADIENT_KEY = {"x": "gx", "w": "gw", "b": "gb"}
CLOSED_FORM_TITLES = {
    "forward": "Forward pass",
    "grad_input": "Gradient for the input, ∂L/∂X",
    "grad_weight": "Gradient for the filter, ∂L/∂F",
    "grad_bias": "Gradient for the bias, ∂L/∂b",
}
#: Local gradients set side by side on one line, as a lecture sets them.
LOCAL_PER_LINE = 4


def build(derivation: ConvDerivation, zero_based: bool = False) -> tuple[Outline, Names]:
    """The outline of `derivation` and the names to print it with; element sections only
    when it has the element level."""
    spec = derivation.spec
    names = Names(spec, derivation.table, zero_based)
    sections = [configuration(spec, names), closed_forms(derivation, names)]
    if derivation.element_level:
        sections += [
            forward_pass(derivation, names),
            local_gradient_section(derivation, names),
            chain_rule_section(derivation, names),
            gradient_section(derivation, names),
            pattern_section.build(derivation, names),
            leftover_section(derivation, names),
        ]
    if derivation.winograd is not None:
        sections.append(winograd_section.build(spec, derivation.winograd, names))
    sections.append(efficiency(spec))
    if derivation.notes:
        sections.append(Section("Notes", tuple(Callout(n) for n in derivation.notes)))
    outline = Outline(
        title="Backpropagation through one convolution layer",
        subtitle=spec.label,
        sections=tuple(sections),
    )
    return outline, names


def efficiency(spec: ConvSpec) -> Section:
    """The lecture's table: the same linear map stored as a convolution or as a matrix."""
    table = spec.cost()
    rows = tuple(
        (row.name, _count(row.stored_floats), _count(row.operations)) for row in table.rows
    )
    words = (
        "The layer is a linear map from the input to the output, so it could be stored as a "
        "matrix. Per image, counting only taps that read a real input element"
    )
    if table.winograd:
        words += (
            " (a Winograd row counts every product and sum of its tiles, padding and overhang "
            "included, and both transforms)"
        )
    words += ":"
    return Section(
        "Efficiency",
        (Paragraph(words), Table(("form", "stored floats", "multiplications and additions"), rows)),
    )


def _count(value: int) -> str:
    """Exact, with thousands separators; a rounded power of ten beside large numbers."""
    exact = f"{value:,}"
    if value < 10**7:
        return exact
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{exact} (≈ {mantissa}e{int(exponent)})"


# ----- 1. configuration ---------------------------------------------------------------------
def configuration(spec: ConvSpec, names: Names) -> Section:
    blocks: list[Block] = [
        Paragraph(f"The layer: {spec.describe()}."),
        Paragraph(mode_sentence(spec)),
    ]
    blocks += [
        Paragraph(naming_sentence(spec, names)),
        Paragraph(
            "Output size per dimension: the dilated kernel spans k_eff = d(k − 1) + 1, "
            "and the leftover a counts the padded rows past the last window."
        ),
        SizeRules(size_rules(spec)),
    ]
    return Section("Configuration", tuple(blocks))


def mode_sentence(spec: ConvSpec) -> str:
    """Why a deep-learning "convolution" is a cross-correlation, or what convolution mode flips."""
    if spec.flips_kernel:
        return (
            "Mode “convolution”: O = X ⊛ F applies F rotated by 180°, a true convolution, "
            "so each output pairs X with the mirrored entries of F."
        )
    return (
        "The forward pass O = X ⊛ F slides F over X and adds up the products without "
        "flipping F. Lectures and libraries call this a convolution, but it is a "
        "cross-correlation (Goodfellow, Bengio and Courville, Deep Learning, ch. 9.1); "
        "mode “convolution” gives the flipped one."
    )


def naming_sentence(spec: ConvSpec, names: Names) -> str:
    """How to read a name once batch or channel indices join the spatial ones."""
    base = "0" if names.zero_based else "1"
    spatial = {1: ["position"], 2: ["row", "column"], 3: ["depth", "row", "column"]}[spec.rank]
    tiles = [f"tile {word}" for word in spatial] if spec.tiled else []
    words = {
        "x": ["batch n", "channel c", *spatial],
        "w": ["output channel m", "input channel c", *tiles, *spatial],
        "gy": ["batch n", "channel m", *spatial],
    }
    described = []
    for key, letter in (("x", "X"), ("w", "F"), ("gy", "O")):
        axes = names.shown_axes(key)
        if any(a < 2 for a in axes) or (key == "w" and spec.tiled):
            parts = [words[key][a] for a in axes]
            described.append(f"{letter} by {', '.join(parts)}")
    if not described:
        example = tuple(range(spec.rank)) if spec.rank > 1 else (2,)
        where = ", ".join(f"{w} {names.number(i)}" for w, i in zip(spatial, example))
        return f"Indices count from {base}: X{names.label(example)} is {where} of X."
    return (
        f"Indices count from {base} and list, in order, "
        + "; ".join(described)
        + " (axes with a single value are left out)."
    )


def size_rules(spec: ConvSpec) -> tuple[SizeRule, ...]:
    return tuple(
        SizeRule(
            dimension=DIMENSION_NAMES[spec.rank][d],
            i=spec.input_size[d],
            lo=spec.padding[d][0],
            hi=spec.padding[d][1],
            k=spec.kernel_size[d],
            d=spec.dilation[d],
            s=spec.stride[d],
            k_eff=spec.effective_kernel[d],
            o=spec.output_size[d],
            a=spec.leftover[d],
        )
        for d in range(spec.rank)
    )


# ----- 2. closed forms ----------------------------------------------------------------------
def closed_forms(derivation: ConvDerivation, names: Names) -> Section:
    counting = "Index variables start at 0"
    if derivation.element_level:
        counting += (
            ", as the element names below do"
            if names.zero_based
            else ", while the element names below count from 1 (index 0 here is 1 there)"
        )
    blocks: list[Block] = [
        Paragraph(
            f"The index-level formulas hold at every size. {counting}. The conditions under a "
            "sum keep only the taps that read a real input element (not padding) and, for a "
            "strided layer, that line up with an output."
        )
    ]
    for formula in derivation.index.formulas():
        blocks.append(closed_form(CLOSED_FORM_TITLES[formula.name], formula, names))
    return Section("Closed forms (index level)", tuple(blocks))


# ----- 3. forward ---------------------------------------------------------------------------
def forward_pass(derivation: ConvDerivation, names: Names) -> Section:
    spec = derivation.spec
    words = "Each output is the sum of the products of F with the window of X it covers"
    if spec.bias:
        words += ", plus the bias of its channel"
    if any(lo or hi for lo, hi in spec.padding):
        words += "; taps on the zero padding contribute nothing"
    rows = equation_rows(derivation.output, "y", names)
    return Section("Forward pass: O = X ⊛ F", (Paragraph(words + ":"), Equations(rows)))


def equation_rows(exprs: np.ndarray, key: str, names: Names) -> tuple[Equation | More, ...]:
    """One equation per element of `exprs` (elided), each sum in the lecture's order."""
    where = names.table.where
    rows: list[Equation | More] = []
    for item in elide_rows(list(np.ndindex(exprs.shape))):
        if isinstance(item, More):
            rows.append(item)
            continue
        terms: list[Term] = [(t,) for t in ordered_terms(exprs[item], where)]
        rows.append(Equation(names.element(key, item), tuple(elide_terms(terms))))
    return tuple(rows)


# ----- 4. local gradients -------------------------------------------------------------------
def local_gradient_section(derivation: ConvDerivation, names: Names) -> Section:
    outputs = list(np.ndindex(derivation.output.shape))
    first = next((i for i in outputs if derivation.output[i] != 0), None)
    if first is None:
        return Section("Local gradients", (Paragraph("Every output is zero: nothing to read."),))
    of = names.element("y", first)
    locals_ = local_gradients(derivation.output[first])
    where = names.table.where
    blocks: list[Block] = [
        Paragraph(
            f"∂O/∂F and ∂O/∂X are the local gradients. Differentiating the equation of "
            f"{names.plain(of)}:"
        )
    ]
    for key in ("w", "x", "b"):
        variables = sorted_by_index((v for v in locals_ if where[v][0] == key), where)
        if not variables:
            continue
        rows = [
            Equation(
                Partial(of, names.ref(v)), tuple((t,) for t in ordered_terms(locals_[v], where))
            )
            for v in variables
        ]
        blocks.append(Equations(tuple(elide_rows(rows)), per_line=LOCAL_PER_LINE))
    others = [names.plain(names.element("y", i)) for i in outputs if i != first]
    if others:
        blocks.append(Paragraph(f"Similarly for {_listing(others)}."))
    return Section("Local gradients", tuple(blocks))


def _listing(items: list[str], limit: int = 5) -> str:
    """ "A, B and C", or "the other N outputs" when there are many."""
    if len(items) > limit:
        return f"the other {len(items)} outputs"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


# ----- 5. chain rule ------------------------------------------------------------------------
def variables_of(derivation: ConvDerivation) -> tuple[str, ...]:
    """The lecture finds ∂L/∂F first, then ∂L/∂X; the bias closes."""
    return ("w", "x", "b") if derivation.spec.bias else ("w", "x")


def chain_rule_section(derivation: ConvDerivation, names: Names) -> Section:
    blocks: list[Block] = [
        Paragraph(
            "∂L/∂O arrives from the next layer. By the chain rule, each variable collects "
            "one term from every output it appears in:"
        )
    ]
    for key in variables_of(derivation):
        blocks.append(ChainRule(key))
        blocks.append(Equations(chain_rows(derivation.chain[key], key, names)))
    return Section("Chain rule", tuple(blocks))


def chain_rows(chain: np.ndarray, key: str, names: Names) -> tuple[Equation | More, ...]:
    """∂L/∂v = Σ_k ∂L/∂O_k · ∂O_k/∂v, one row per element v, from `ConvDerivation.chain`."""
    rows: list[Equation | More] = []
    for item in elide_rows(list(np.ndindex(chain.shape))):
        if isinstance(item, More):
            rows.append(item)
            continue
        by = names.element(key, item)
        terms: list[Term] = [
            (names.element("gy", t.output_index), Partial(names.element("y", t.output_index), by))
            for t in sorted(chain[item], key=lambda t: t.output_index)
        ]
        rows.append(Equation(names.element(GRADIENT_KEY[key], item), tuple(elide_terms(terms))))
    return tuple(rows)


# ----- 6. gradients -------------------------------------------------------------------------
GRADIENT_WORDS = {
    "w": "∂L/∂F, the gradient that updates the filter:",
    "x": "∂L/∂X, the gradient passed back to the previous layer:",
    "b": "∂L/∂b, the gradient that updates the bias:",
}


def gradient_section(derivation: ConvDerivation, names: Names) -> Section:
    grads = {"w": derivation.grad_weight, "x": derivation.grad_input, "b": derivation.grad_bias}
    blocks: list[Block] = [Paragraph("Putting in the local gradients gives every entry.")]
    for key in variables_of(derivation):
        blocks.append(Paragraph(GRADIENT_WORDS[key]))
        blocks.append(Equations(equation_rows(grads[key], GRADIENT_KEY[key], names)))
    return Section("Gradients", tuple(blocks))


# ----- 8. leftover --------------------------------------------------------------------------
def leftover_section(derivation: ConvDerivation, names: Names) -> Section:
    spec = derivation.spec
    pattern = derivation.patterns.get("leftover")
    unreached = pattern.evidence["unreached"] if pattern else ((),) * spec.rank
    dims = DIMENSION_NAMES[spec.rank]
    leftover = ", ".join(f"{a} ({dim})" for a, dim in zip(spec.leftover, dims))
    if not any(unreached):
        kinds = [POSITION_WORDS[dim][0] for dim in dims]
        every = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        text = (
            f"Leftover a = {leftover}. Every input {every} is read by some window, "
            "so no element of ∂L/∂X is zero by construction."
        )
        return Section("Rows without gradient", (Paragraph(text),))
    listed = " and ".join(
        _positions(rows, dim, names) for rows, dim in zip(unreached, dims) if rows
    )
    why = "lie past the last window"
    if any(d > 1 for d in spec.dilation) or any(
        s > k for s, k in zip(spec.stride, spec.effective_kernel)
    ):
        why += " or fall between the taps of a window"
    text = (
        f"Leftover a = {leftover}. No window reads {listed} of X: these {why}. They appear "
        "in no forward equation, so the chain rule gives them no term and ∂L/∂X is exactly "
        "0 there."
    )
    return Section("Rows without gradient", (Paragraph(text),))


POSITION_WORDS = {
    "length": ("position", "positions"),
    "depth": ("depth slice", "depth slices"),
    "height": ("row", "rows"),
    "width": ("column", "columns"),
}


def _positions(rows: tuple[int, ...], dimension: str, names: Names) -> str:
    """ "rows 5, 6", counted the reader's way."""
    shown = [str(names.number(p)) for p in head_tail(rows, 8, "") if not isinstance(p, More)]
    one, many = POSITION_WORDS[dimension]
    word = one if len(rows) == 1 else many
    more = f" and {len(rows) - len(shown)} more" if len(shown) < len(rows) else ""
    return f"{word} {', '.join(shown)}{more}"
