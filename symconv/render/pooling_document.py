"""What the lecture on one pooling layer says, in which order: the outline every format prints.

As for a convolution (`symconv.render.document`): the configuration, the forward
equations, the local gradients of the first window, the chain-rule sums, the
gradients, then, with the user's numbers, the routed gradient grid.  The sections are
functions of the derivation and a `Names`, so `chain_document` reuses them with the
pooling input called C.  Common slips are set beside the formula they concern.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symconv.render.corrections as corrections
import symconv.render.matrices as matrices
from symconv.formatting import plural
from symconv.kinds import PoolSpec
from symconv.render.document import LOCAL_PER_LINE, equation_rows
from symconv.render.elide import More, elide_rows, elide_terms, head_tail
from symconv.render.names import DIMENSION_NAMES, Names, Partial
from symconv.render.outline import (
    Block,
    Callout,
    ChainRule,
    Equation,
    Equations,
    MaxRule,
    Outline,
    Paragraph,
    Section,
    SizeRule,
    SizeRules,
    Term,
    Verdict,
)
from symconv.symbolic.numbers import readable
from symconv.symbolic.pooling import PoolDerivation

#: Windows whose maximum is listed in words before "and N more".
LISTED_WINDOWS = 8
#: Terms one cell of a gradient grid may hold before the grid is left out (too wide to set).
MAX_CELL_TERMS = 2


def shared(grid: np.ndarray, divisor: int) -> np.ndarray:
    """Average pooling's cells as (1/|w|)·(∂L/∂P_a + ∂L/∂P_b): the share written once."""
    out = np.empty(grid.shape, dtype=object)
    share = sp.Rational(1, divisor)
    for index in np.ndindex(grid.shape):
        total = sp.expand(grid[index] * divisor)
        out[index] = sp.Mul(share, total, evaluate=False) if total != 0 else sp.S.Zero
    return out


def names_for(d: PoolDerivation, zero_based: bool) -> Names:
    """Names of the pooling tensors: the input (X or C), P and their gradients."""
    shapes = {d.keys["x"]: (d.spec.input_shape, 2), "gp": (d.spec.output_shape, 2)}
    return Names(None, d.table, zero_based, shapes=shapes)


def build(d: PoolDerivation, zero_based: bool = False) -> tuple[Outline, Names]:
    """The outline of a pooling derivation and the names to print it with."""
    names = names_for(d, zero_based)
    sections = [configuration(d, names)]
    if d.element_level:
        sections += [
            forward_pass(d, names),
            local_gradient_section(d, names),
            chain_rule_section(d, names),
            gradient_section(d, names),
            routing_section(d, names, d.values),
        ]
    if d.notes:
        sections.append(Section("Notes", tuple(Callout(n) for n in d.notes)))
    kind = "max" if d.kind == "max" else "average"
    outline = Outline(
        title=f"Backpropagation through one {kind}-pooling layer",
        subtitle=d.spec.label,
        sections=tuple(sections),
    )
    return outline, names


# ----- 1. configuration -------------------------------------------------------------------
def rule_sentence(d: PoolDerivation) -> str:
    """What the layer computes and how padding enters, PyTorch's conventions named."""
    x, spec = d.letter, d.spec
    padded = any(spec.padding)
    if d.kind == "max":
        words = (
            f"P = maxpool({x}): each output is the largest entry of its window of {x}. "
            f"The layer has no parameters; L depends on {x} only through P, so only ∂L/∂{x} "
            "is passed back."
        )
        if padded:
            words += (
                " Padding counts as −∞ (PyTorch's rule): a padded position is never the "
                "largest, so a window on the border compares only its real entries."
            )
        return words
    words = (
        f"P = avgpool({x}): each output is the mean of its window of {x}. The divisor is "
        f"always the whole window, {spec.window_size} entries"
    )
    if padded:
        words += ", padded zeros included (PyTorch's count_include_pad=True)"
    return words + f". The layer has no parameters; only ∂L/∂{x} is passed back."


def naming_sentence(spec: PoolSpec, names: Names, key: str) -> str:
    """How to read an element name, as the convolution's document says it."""
    base = "0" if names.zero_based else "1"
    letter = names.letter(key)
    spatial = {1: ["position"], 2: ["row", "column"], 3: ["depth", "row", "column"]}[spec.rank]
    axes = names.shown_axes(key)
    if any(a < 2 for a in axes):
        parts = [(["batch n", "channel c"] + spatial)[a] for a in axes]
        return (
            f"Indices count from {base} and list, in order, {', '.join(parts)} "
            "(axes with a single value are left out)."
        )
    example = tuple(range(spec.rank)) if spec.rank > 1 else (1,)
    where = ", ".join(f"{w} {names.number(i)}" for w, i in zip(spatial, example))
    return f"Indices count from {base}: {letter}{names.label(example)} is {where} of {letter}."


def size_rules(spec: PoolSpec) -> SizeRules:
    rules = tuple(
        SizeRule(
            dimension=DIMENSION_NAMES[spec.rank][d],
            i=spec.input_size[d],
            lo=spec.padding[d],
            hi=spec.padding[d],
            k=spec.kernel_size[d],
            d=1,
            s=spec.stride[d],
            k_eff=spec.kernel_size[d],
            o=spec.output_size[d],
            a=(spec.input_size[d] + 2 * spec.padding[d] - spec.kernel_size[d]) % spec.stride[d],
        )
        for d in range(spec.rank)
    )
    return SizeRules(rules, pooling=True)


def configuration_blocks(d: PoolDerivation, names: Names) -> list[Block]:
    """The pooling layer's part of a configuration section."""
    blocks: list[Block] = [
        Paragraph(f"The pooling layer: {d.spec.describe()}."),
        Paragraph(rule_sentence(d)),
        Paragraph("Output size per dimension:"),
        size_rules(d.spec),
    ]
    if any(s < k for s, k in zip(d.spec.stride, d.spec.kernel_size)):
        blocks.append(
            Paragraph(
                "The stride is smaller than the window, so windows overlap: an entry can "
                "lie in several windows and collect gradient from each."
            )
        )
    return blocks


def configuration(d: PoolDerivation, names: Names) -> Section:
    blocks = configuration_blocks(d, names)
    blocks.insert(2, Paragraph(naming_sentence(d.spec, names, d.keys["x"])))
    return Section("Configuration", tuple(blocks))


# ----- 2. forward -------------------------------------------------------------------------
def shown_output(d: PoolDerivation, k: tuple[int, ...]) -> sp.Expr:
    """P_k as printed: max(...) as derived, an average as (1/|w|)·(sum), unexpanded."""
    if d.kind == "max":
        return d.output[k]
    window = next(w for w in d.windows if w.output == k)
    total = sp.Add(*(d.symbols["x"][m] for m in window.members))
    return sp.Mul(sp.Rational(1, d.spec.window_size), total, evaluate=False)


def forward_pass(d: PoolDerivation, names: Names) -> Section:
    x = d.letter
    if d.kind == "max":
        words = f"Each output is the largest entry of its window of {x}"
    else:
        words = f"Each output is the sum of its window of {x} over {d.spec.window_size}"
    if any(w.padded for w in d.windows):
        words += (
            "; padded positions are left out"
            if d.kind == "max"
            else "; padded zeros add nothing but still count in the divisor"
        )
    rows: list[Equation | More] = []
    for item in elide_rows(list(np.ndindex(d.output.shape))):
        if isinstance(item, More):
            rows.append(item)
        else:
            rows.append(Equation(names.element("p", item), ((shown_output(d, item),),)))
    return Section(
        f"Forward pass: P = {d.kind}pool({x})", (Paragraph(words + ":"), Equations(tuple(rows)))
    )


# ----- 3. local gradients ---------------------------------------------------------------------
def local_gradient_blocks(d: PoolDerivation, names: Names) -> list[Block]:
    x = d.letter
    first = d.windows[0]
    of = names.element("p", first.output)
    rows = [
        Equation(
            Partial(of, names.element(d.keys["x"], m)),
            ((_local(d, first.output, m),),),
        )
        for m in first.members
    ]
    if d.kind == "max":
        entry = first.members[min(1, len(first.members) - 1)]
        theta = d.sympy_derivative[entry]
        theta_row = Equation(Partial(of, names.element(d.keys["x"], entry)), ((theta,),))
        blocks: list[Block] = [
            Paragraph(
                f"∂P/∂{x} is the local gradient. SymPy differentiates a max as a step: "
                f"for {names.plain(of)},"
            ),
            Equations((theta_row,)),
            Paragraph(
                "which is 1 where that entry is the largest, 0 where it is not, and undefined at "
                "a tie (SymPy's θ(0) = 1/2). PyTorch sends the whole gradient to the first "
                "maximum in row-major window order, so each local gradient below is 1 on "
                "exactly one position of the window. [·] is 1 when the condition holds, else 0:"
            ),
            Equations(tuple(elide_rows(rows))),
        ]
        blocks += [Verdict(c.title, c.holds, c.statement) for c in d.checks.values()]
    else:
        blocks = [
            Paragraph(
                f"∂P/∂{x} is the local gradient. Differentiating the equation of {names.plain(of)}:"
            ),
            Equations(tuple(elide_rows(rows)), per_line=LOCAL_PER_LINE),
        ]
    others = len(d.windows) - 1
    if others:
        blocks.append(Paragraph(f"Similarly for the other {plural(others, 'window')}."))
    return blocks


def _local(d: PoolDerivation, k: tuple[int, ...], m: tuple[int, ...]) -> sp.Expr:
    return next(t.local_gradient for t in d.chain[m] if t.output_index == k)


#: Windows whose ∂L/∂P the grid box names (the lecture's grid has four).
GRID_BOX_WINDOWS = 4


def local_gradient_section(d: PoolDerivation, names: Names) -> Section:
    blocks = local_gradient_blocks(d, names)
    if d.kind == "max" and d.values is None:
        blocks += max_derivative_box(d, names)
    return Section("Local gradients", tuple(blocks))


def max_derivative_box(
    d: PoolDerivation, names: Names, values: np.ndarray | None = None
) -> list[Block]:
    """The notes' slip on ∂ max / ∂ entry, said of this page's first window: symbolically,
    or with `values` for what the numbers give (a window of one entry has no slip)."""
    first = d.windows[0]
    if len(first.members) < 2:
        return []
    members = tuple(names.plain(names.element(d.keys["x"], m)) for m in first.members)
    upstream = names.plain(names.element("gp", first.output))
    if values is None:
        return [corrections.max_derivative(members, upstream)]
    winner = first.members.index(d.argmax(values)[first.output])
    numbers = tuple(readable(values[m]) for m in first.members)
    return [corrections.max_derivative(members, upstream, numbers, winner)]


# ----- 4. chain rule --------------------------------------------------------------------------
def chain_rows(d: PoolDerivation, names: Names) -> tuple[Equation | More, ...]:
    """∂L/∂X_i = Σ_k ∂L/∂P_k · ∂P_k/∂X_i over the windows k that hold X_i."""
    rows: list[Equation | More] = []
    for item in elide_rows(list(np.ndindex(d.chain.shape))):
        if isinstance(item, More):
            rows.append(item)
            continue
        by = names.element(d.keys["x"], item)
        terms: list[Term] = [
            (names.element("gp", t.output_index), Partial(names.element("p", t.output_index), by))
            for t in d.chain[item]
        ]
        rows.append(Equation(names.element(d.keys["gx"], item), tuple(elide_terms(terms))))
    return tuple(rows)


def chain_rule_section(d: PoolDerivation, names: Names) -> Section:
    x = d.letter
    blocks: list[Block] = [
        Paragraph(
            f"∂L/∂P arrives from the next layer. By the chain rule, each entry of {x} collects "
            "one term from every window it lies in (none: its gradient is 0):"
        ),
        ChainRule(d.keys["x"], of="p"),
        Equations(chain_rows(d, names)),
    ]
    return Section("Chain rule", tuple(blocks))


# ----- 5. gradients ---------------------------------------------------------------------------
def gradient_section(d: PoolDerivation, names: Names) -> Section:
    x = d.letter
    if d.kind == "max":
        words = (
            f"Putting in the local gradients: each window sends its whole ∂L/∂P to one entry "
            f"of {x}, its first maximum, and 0 to the others:"
        )
    else:
        words = (
            f"Putting in the local gradients: each entry of {x} receives 1/{d.spec.window_size} "
            "of the gradient of every window it lies in; the shares of padded positions go "
            "nowhere:"
        )
    rows = equation_rows(d.grad_input, d.keys["gx"], names)
    return Section(f"Gradient ∂L/∂{x}", (Paragraph(words), Equations(rows)))


# ----- 6. with numbers: the routed grid --------------------------------------------------------
def routing_section(d: PoolDerivation, names: Names, values: np.ndarray | None) -> Section:
    """Seed 001's picture: the numbers, each window's maximum and the sparse ∂L/∂X grid."""
    x = d.letter
    title = "With your numbers" if values is not None else f"∂L/∂{x} as a grid"
    if values is None and d.kind == "max":
        words = (
            f"Which entry wins a window depends on the numbers in {x}. Give them (symconv "
            f"derive --values, or values= in derive) to see the maxima and the routed grid."
        )
        return Section(title, (Paragraph(words),))
    blocks: list[Block] = []
    if values is not None:
        blocks += value_blocks(d, names, values)
        blocks += _example_slips(d, values)
    grid = d.routed(values) if values is not None else d.grad_input
    if d.kind == "avg":
        grid = shared(grid, d.spec.window_size)
    if max(len(sp.Add.make_args(sp.expand(e))) for e in grid.flat) > MAX_CELL_TERMS:
        blocks.append(
            Paragraph(
                f"The grid of ∂L/∂{x} is left out: its entries add up to "
                f"{max(len(sp.Add.make_args(sp.expand(e))) for e in grid.flat)} shares each "
                "(overlapping windows); the equations above list them."
            )
        )
        return Section(title, tuple(blocks))
    caption = (
        f"∂L/∂{x}: zeros except at the maximum of each window, which receives that window's "
        "∂L/∂P (added up where windows overlap)"
        if d.kind == "max"
        else f"∂L/∂{x}: every entry gets 1/{d.spec.window_size} of each window it lies in"
    )
    blocks.append(matrices.stack(grid, caption, ("n", "c"), names))
    if d.kind == "max":
        blocks.append(grid_entries_box(d, names))
    return Section(title, tuple(blocks))


def grid_entries_box(d: PoolDerivation, names: Names) -> Block:
    """The notes' slip of drawing C's values into the routed grid, in this page's names."""
    shown = d.windows[:GRID_BOX_WINDOWS]
    upstreams = tuple(names.plain(names.element("gp", w.output)) for w in shown)
    return corrections.grid_entries(upstreams, more=len(d.windows) > len(shown))


def value_blocks(d: PoolDerivation, names: Names, values: np.ndarray) -> list[Block]:
    """The input and output numbers; for max, seed 001's lines for the first window."""
    x, key = d.letter, d.keys["x"]
    outputs = d.forward_values(values)
    shown = np.vectorize(readable, otypes=[object])(outputs)
    blocks: list[Block] = [
        matrices.stack(values, f"{x}, the numbers given", ("n", "c"), names),
        matrices.stack(shown, f"P = {d.kind}pool({x})", ("n", "c"), names),
    ]
    if d.kind != "max":
        return blocks
    winners = d.argmax(values)
    first = d.windows[0]
    blocks.append(
        Paragraph(
            f"The first window, entry by entry: ∂L/∂{x}_i = ∂P/∂{x}_i · ∂L/∂P, and "
            f"∂P/∂{x}_i is 1 for the first maximum, 0 for the other entries:"
        )
    )
    blocks.append(
        MaxRule(
            output=names.element("p", first.output),
            upstream=names.element("gp", first.output),
            members=tuple(names.element(key, m) for m in first.members),
            gradients=tuple(names.element(d.keys["gx"], m) for m in first.members),
            values=tuple(values[m] for m in first.members),
            winner=first.members.index(winners[first.output]),
        )
    )
    blocks += max_derivative_box(d, names, values)
    blocks.append(Paragraph(maxima_sentence(d, names, values, winners)))
    return blocks


def maxima_sentence(d: PoolDerivation, names: Names, values: np.ndarray, winners: dict) -> str:
    """ "P11 = 9 at X22, P12 = 2 at X13, ..." for the first few windows."""
    parts = []
    listed = head_tail(list(d.windows), LISTED_WINDOWS, "windows", head=LISTED_WINDOWS, tail=0)
    for item in listed:
        if isinstance(item, More):
            parts.append(f"and {item.words}")
            continue
        at = winners[item.output]
        value = (
            sp.sstr(values[at]) if not isinstance(values[at], sp.Float) else repr(float(values[at]))
        )
        parts.append(
            f"{names.plain(names.element('p', item.output))} = {value} at "
            f"{names.plain(names.element(d.keys['x'], at))}"
        )
    return "The maximum of each window (the first one where entries tie): " + ", ".join(parts) + "."


def _example_slips(d: PoolDerivation, values: np.ndarray) -> list[Block]:
    """Seed 000's average-pooling example, recognised in the user's numbers."""
    spec = d.spec
    if (
        d.kind == "avg"
        and spec.input_shape == (1, 1, 4, 4)
        and spec.kernel_size == (2, 2)
        and spec.stride == (2, 2)
        and spec.padding == (0, 0)
        and all(
            v == w
            for row, expected in zip(values[0, 0], corrections.AVERAGE_EXAMPLE_INPUT)
            for v, w in zip(row, expected)
        )
    ):
        return [corrections.AVERAGE_EXAMPLE]
    return []
