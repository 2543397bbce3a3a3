"""What the lecture on one transposed convolution says, in order: the outline every format prints.

The configuration and its output-size arithmetic (output_padding read as the leftover of
the convolution that maps the output back), the forward equations from the scatter that
defines the layer, the gradients by the chain rule, and then what the layer is: the
three identities with the convolution it transposes, each proved element by element.
"""

from __future__ import annotations

from dataclasses import replace

from symconv.formatting import fmt_tuple
from symconv.render.document import GRADIENT_KEY, GRADIENT_WORDS, efficiency, equation_rows
from symconv.render.names import DIMENSION_NAMES, Names, Ref
from symconv.render.outline import Callout, Equations, Outline, Paragraph, Section, Verdict
from symconv.render.pattern_section import identity_blocks
from symconv.symbolic.patterns import grad_input_identity, unreached_positions
from symconv.symbolic.transposed import TransposedDerivation


def build(d: TransposedDerivation, zero_based: bool = False) -> tuple[Outline, Names]:
    spec = d.spec
    names = Names(spec, d.table, zero_based)
    sections = [configuration(d)]
    if d.element_level:
        sections += [forward_pass(d, names), gradients(d, names), identities(d, names)]
    else:
        sections.append(identities(d, names))
    sections.append(cost(d))
    if d.notes:
        sections.append(Section("Notes", tuple(Callout(n) for n in d.notes)))
    outline = Outline(
        title="Backpropagation through one transposed convolution",
        subtitle=spec.label,
        sections=tuple(sections),
    )
    return outline, names


def configuration(d: TransposedDerivation) -> Section:
    spec = d.spec
    conv = spec.convolution
    lines = []
    for axis, name in enumerate(DIMENSION_NAMES[spec.rank]):
        i, s, p = spec.input_size[axis], spec.stride[axis], spec.padding[axis]
        k, dl, a = spec.kernel_size[axis], spec.dilation[axis], spec.output_padding[axis]
        o = spec.output_size[axis]
        lines.append(
            f"{name}: o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 = "
            f"({i} − 1)·{s} − 2·{p} + {dl}·({k} − 1) + {a} + 1 = {o}"
        )
    leftover = fmt_tuple(conv.leftover)
    blocks = [
        Paragraph(f"The layer: {spec.describe()}."),
        Paragraph(
            "A transposed convolution scatters: input element i sends x[i]·F[t] to output "
            "s·i + d·t − p for every tap t, and the outputs add up what they receive. Its "
            "output size per dimension:"
        ),
        *(Paragraph(line) for line in lines),
        Paragraph(
            f"output_padding = {fmt_tuple(spec.output_padding)} adds that many rows at the far "
            "end of the output. Seen from the convolution that maps an output of this size back "
            f"to the input (stride {fmt_tuple(conv.stride)}, padding "
            f"{', '.join(f'({lo}, {hi})' for lo, hi in conv.padding)}), it is the leftover "
            f"a = (o + lo + hi − k_eff) mod s = {leftover}: the padded rows past that "
            "convolution's last window. An output a rows shorter maps back to the same input "
            "size, so the input alone does not fix the output size; output_padding chooses it."
        ),
        Paragraph(unreached_rows(spec)),
    ]
    return Section("Configuration", tuple(blocks))


def unreached_rows(spec) -> str:
    """Which output rows receive no product: the rows no window of the convolution reads."""
    unreached = unreached_positions(spec.convolution)
    dims = DIMENSION_NAMES[spec.rank]
    if not any(unreached):
        return "Every output row receives at least one product."
    listed = "; ".join(
        f"{', '.join(str(r + 1) for r in rows)} along {dim}"
        for rows, dim in zip(unreached, dims)
        if rows
    )
    what = "the bias alone" if spec.bias else "exactly 0"
    return (
        f"Output rows that no input reaches (1-based): {listed}. No product lands there, so "
        f"O is {what} in them, and ∂L/∂O there reaches neither X nor F."
    )


def forward_pass(d: TransposedDerivation, names: Names) -> Section:
    words = "Collecting what each output receives"
    if d.spec.bias:
        words += ", plus the bias of its channel"
    rows = equation_rows(d.output, "y", names)
    return Section("Forward pass", (Paragraph(words + ":"), Equations(rows)))


def gradients(d: TransposedDerivation, names: Names) -> Section:
    grads = {"w": d.grad_weight, "x": d.grad_input, "b": d.grad_bias}
    keys = ("w", "x", "b") if d.spec.bias else ("w", "x")
    blocks = [
        Paragraph(
            "By the chain rule from these equations, ∂L/∂v = Σ_k ∂L/∂O_k · ∂O_k/∂v for every "
            "variable v:"
        )
    ]
    for key in keys:
        blocks.append(Paragraph(GRADIENT_WORDS[key]))
        blocks.append(Equations(equation_rows(grads[key], GRADIENT_KEY[key], names)))
    return Section("Gradients", tuple(blocks))


def identities(d: TransposedDerivation, names: Names) -> Section:
    if not d.patterns:
        conv = d.spec.convolution
        return Section(
            "What the layer is",
            (
                Paragraph(
                    f"Its forward pass is ∂L/∂X of the convolution with input "
                    f"{'×'.join(map(str, conv.input_size))} and the same stride, padding and "
                    "weight, its ∂L/∂X that convolution's "
                    "forward, and its ∂L/∂F that convolution's ∂L/∂F with X and ∂L/∂O swapped "
                    "(proved on layers small enough to expand)."
                ),
            ),
        )
    blocks: list = []
    for pattern in d.patterns.values():
        blocks.append(Verdict(pattern.title, pattern.holds, pattern.statement))
        if pattern.name == "transposed_forward":
            blocks += forward_identity(d, names)
    return Section("What the layer is", tuple(blocks))


#: The transposed layer's tensors as the convolution's ∂L/∂X identity names its operands:
#: its X stands where the convolution's ∂L/∂O does.
AS_OPERANDS = {"gy": ("X", ("n", "c")), "w": ("F", ("c", "m"))}


def forward_identity(d: TransposedDerivation, names: Names) -> list:
    """O = full cross-correlation(X dilated and padded, F rotated): the convolution's ∂L/∂X
    identity drawn with this layer's own symbols, X's dilated, padded grid included."""
    conv = d.spec.convolution
    identity = grad_input_identity(conv)
    symbols = {"gy": d.symbols["x"], "w": d.symbols["w"]}
    blocks = identity_blocks(identity, conv, symbols, names, AS_OPERANDS)
    equation = replace(blocks[0], lhs=Ref("y"))
    return [equation, *blocks[1:]]


def cost(d: TransposedDerivation) -> Section:
    """The convolution's table: the transposed layer is its matrix transposed, same sizes."""
    table = efficiency(d.spec.convolution)
    note = Paragraph(
        "The layer is the transpose of its convolution's matrix: it stores and multiplies "
        "exactly as much."
    )
    return Section("Efficiency", (note, *table.blocks))
