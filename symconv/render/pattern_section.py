"""The patterns section: each proved statement and the equation that shows it.

A lecture explains backpropagation through a convolution with pictures: the filter
rotated by 180°, ∂L/∂O with zeros between and around its entries, and the gradients
written as correlations of such matrices.  Here each pattern's `Identity` becomes
that picture: the operation, its stride and dilation, and each operand drawn from its
own steps (rotated, dilated, padded, cropped), with a caption said from those same
steps.  Nothing is recomputed or reworded: what is printed is what was proved.
"""

from __future__ import annotations

import symconv.render.matrices as matrices
from symconv.formatting import fmt_tuple, plural
from symconv.kinds import ConvSpec
from symconv.render.names import DIMENSION_NAMES, Names, Ref
from symconv.render.outline import (
    Apply,
    Block,
    MatrixStack,
    Paragraph,
    Section,
    Table,
    Verdict,
)
from symconv.symbolic.convolution import ConvDerivation
from symconv.symbolic.identities import (
    DEFINITION,
    Dilate,
    Identity,
    Mask,
    Operand,
    Pad,
    Phase,
    Rotate,
    SwapChannels,
    TileOf,
)

#: How each tensor of an identity is named, and the two leading axes of its slices.
TENSORS = {"gy": ("∂L/∂O", ("n", "m")), "x": ("X", ("n", "c")), "w": ("F", ("c", "m"))}


def build(derivation: ConvDerivation, names: Names) -> Section:
    blocks: list[Block] = [
        Paragraph(
            "The shortcuts a lecture on convolution teaches, each proved for this layer by "
            "comparing SymPy expressions with the chain-rule results above (✓ proved, ✗ does "
            f"not hold). In them, {DEFINITION}"
        )
    ]
    for pattern in derivation.patterns.values():
        blocks.append(Verdict(pattern.title, pattern.holds, pattern.statement))
        if pattern.identity is not None:
            blocks += identity_blocks(pattern.identity, derivation.spec, derivation.symbols, names)
        elif pattern.name == "dilation" and "dilated" in pattern.evidence:
            stride = derivation.spec.stride
            caption = f"∂L/∂O with {_zeros(derivation.spec, stride)} between neighbours"
            blocks.append(matrices.stack(pattern.evidence["dilated"], caption, ("n", "m"), names))
        if "tile_map" in pattern.evidence:
            blocks += tile_map_blocks(derivation.spec, pattern.evidence["tile_map"], names)
    return Section("Patterns", tuple(blocks))


def identity_blocks(
    identity: Identity,
    spec: ConvSpec,
    symbols: dict,
    names: Names,
    tensors: dict[str, tuple[str, tuple[str, str]]] = TENSORS,
) -> list[Block]:
    """The equation with its operands as matrices; for a full correlation, also the grid
    the kernel slides over once the operation's own padding is in.

    `symbols` are what the operands are built from (the derivation's own, or numbers
    and a routed gradient in their place); `tensors` names them (∂L/∂C after pooling).
    """
    operation = identity.operation
    equation = Apply(
        Ref(identity.lhs, identity.lhs_tile),
        operation.name,
        tuple(
            operand_stack(operand, spec, symbols, names, tensors)
            for operand in (identity.grid, identity.kernel)
        ),
        parameters=tuple((name, fmt_tuple(values)) for name, values in operation.parameters),
        wrapper="rot180" if any(isinstance(s, Rotate) for s in identity.result_steps) else None,
    )
    blocks: list[Block] = [equation]
    if operation.full:
        spans = tuple(a.span - 1 for a in spec.window_axes)
        grid = Pad(tuple((s, s) for s in spans)).apply(identity.grid.value(symbols))
        zeros = plural(spans[0], "zero") if len(set(spans)) == 1 else f"{fmt_tuple(spans)} zeros"
        caption = (
            "The grid the kernel slides over in the full correlation: the first operand with "
            f"k_eff − 1 = {zeros} on every side"
        )
        blocks.append(matrices.stack(grid, caption, tensors[identity.grid.tensor][1], names))
    return blocks


def operand_stack(
    operand: Operand,
    spec: ConvSpec,
    symbols: dict,
    names: Names,
    tensors: dict[str, tuple[str, tuple[str, str]]] = TENSORS,
) -> MatrixStack:
    """An operand drawn as its matrices, captioned by its steps."""
    axes = tensors[operand.tensor][1]
    relabel = _swapped_channels(spec) if operand.step(SwapChannels) else None
    return matrices.stack(
        operand.value(symbols), caption(operand, spec, tensors), axes, names, relabel=relabel
    )


def caption(
    operand: Operand, spec: ConvSpec, tensors: dict[str, tuple[str, tuple[str, str]]] = TENSORS
) -> str:
    """ "F rotated by 180°, input and output channels swapped", from the steps, in order."""
    name = tensors[operand.tensor][0]
    words = []
    for step in operand.steps:
        if isinstance(step, Rotate):
            words.append("rotated by 180°")
        elif isinstance(step, SwapChannels):
            if spec.in_channels > 1 or spec.out_channels > 1:
                words.append("its input and output channels swapped")
        elif isinstance(step, Dilate):
            by = "by the stride " if step.factors == spec.stride else ""
            words.append(f"dilated {by}({_zeros(spec, step.factors)} between neighbours)")
        elif isinstance(step, Pad):
            words.append(_padding(spec, step))
        elif isinstance(step, Phase):
            words.append(f"at the output positions of tile τ = {fmt_tuple(step.offsets)} only")
        elif isinstance(step, Mask):
            words.append(f"kept at the positions of tile τ = {fmt_tuple(step.offsets)}")
        elif isinstance(step, TileOf):
            words.append(f"the filter of tile τ = {fmt_tuple(step.tile)}")
    if not words:
        return name
    return f"{name}, " + ", then ".join(words)


def tile_map_blocks(spec: ConvSpec, grid, names: Names) -> list[Block]:
    """Which output positions share a filter: each position's tile, as a small table."""
    one = 0 if names.zero_based else 1

    def label(tile: tuple[int, ...]) -> str:
        return ",".join(str(t + one) for t in tile)

    if spec.rank == 1:
        header = ("output position", *(str(j + one) for j in range(grid.shape[0])))
        return [Table(header, (("tile", *(label(t) for t in grid)),))]
    if spec.rank == 2:
        header = ("row / column", *(str(j + one) for j in range(grid.shape[1])))
        rows = tuple((str(i + one), *(label(t) for t in grid[i])) for i in range(grid.shape[0]))
        return [
            Paragraph("The tile (the filter) each output position uses, j mod t per axis:"),
            Table(header, rows),
        ]
    return [
        Paragraph(
            f"Output position (jd, jh, jw) uses the filter of tile (jd mod {spec.tiles[0]}, "
            f"jh mod {spec.tiles[1]}, jw mod {spec.tiles[2]})."
        )
    ]


def _zeros(spec: ConvSpec, factors: tuple[int, ...]) -> str:
    phrases = [plural(s - 1, "zero") for s in factors]
    if len(set(phrases)) == 1:
        return phrases[0]
    return " and ".join(f"{p} along {a}" for p, a in zip(phrases, DIMENSION_NAMES[spec.rank]))


def _padding(spec: ConvSpec, pad: Pad) -> str:
    """ "zero-padded by (2, 3) along height and (2, 3) along width" (negative: cropped)."""
    pairs = [f"({b}, {a})" for b, a in pad.amounts]
    if len(set(pairs)) == 1 and spec.rank > 1:
        where = f"{pairs[0]} along every axis"
    else:
        where = " and ".join(f"{p} along {a}" for p, a in zip(pairs, DIMENSION_NAMES[spec.rank]))
    if pad.crops and pad.pads:
        return f"padded by {where} (before, after; a negative amount crops)"
    if pad.crops:
        return f"cropped to the rows the windows reach: {where} (before, after)"
    return f"zero-padded by {where} (before, after)"


def _swapped_channels(spec: ConvSpec) -> matrices.Relabel:
    """Slice (c, m within the group of c) of the swapped filter holds F's channel m of the layer."""

    def relabel(ab: tuple[int, ...]) -> tuple[int, ...]:
        c, m = ab
        return c, (c // spec.in_channels_per_group) * spec.out_channels_per_group + m

    return relabel
