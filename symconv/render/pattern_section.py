"""The patterns section: each proved statement and the matrices that show it.

The notes explain backpropagation through a convolution with pictures: the filter
rotated by 180°, ∂L/∂O with zeros between and around its entries, and the two
gradients written as correlations of such matrices.  Here each `Pattern` of the
derivation becomes its verdict plus those pictures, drawn from the pattern's own
evidence, never recomputed.
"""

from __future__ import annotations

import symconv.render.matrices as matrices
from symconv.formatting import fmt_shape
from symconv.kinds import ConvSpec
from symconv.render.names import DIMENSION_NAMES, Names, Ref
from symconv.render.outline import Apply, Block, Paragraph, Section, Verdict, prose
from symconv.symbolic.convolution import ConvDerivation
from symconv.symbolic.patterns import Pattern, pad_or_crop


def build(derivation: ConvDerivation, names: Names) -> Section:
    blocks: list[Block] = [
        Paragraph(
            "The shortcuts the notes teach, each proved by comparing SymPy expressions "
            "with the chain-rule results above (✓ proved, ✗ does not hold)."
        )
    ]
    for pattern in derivation.patterns.values():
        blocks.append(Verdict(prose(pattern.title), pattern.holds, prose(pattern.statement)))
        blocks.extend(pattern_blocks(pattern, derivation, names))
    return Section("Patterns", tuple(blocks))


def pattern_blocks(pattern: Pattern, derivation: ConvDerivation, names: Names) -> list[Block]:
    """The matrices that show a pattern, as the notes draw them."""
    if pattern.name == "rotation":
        return rotation_blocks(pattern, derivation, names)
    if pattern.name == "dilation" and any(s > 1 for s in derivation.spec.stride):
        dilated = pattern.evidence["dilated"]
        stride = derivation.spec.stride
        zeros = ", ".join(str(s - 1) for s in stride)
        caption = f"∂L/∂O with {zeros} zero(s) between neighbours (stride {fmt_shape(stride)})"
        return [matrices.stack(dilated, caption, ("n", "m"), names)]
    if pattern.name == "grad_weight":
        return grad_weight_blocks(pattern, derivation, names)
    return []


#: What the notes' "Full Convolution(rot180 F, dL/dO)" precisely is, in one sentence.
FULL_CONVOLUTION = (
    "The notes write “Full Convolution(rot180 F, ∂L/∂O)”; precisely, it is the full "
    "cross-correlation of the 180°-rotated filter with ∂L/∂O (rot180 F slides over the "
    "zero-padded ∂L/∂O), which is the same as the true full convolution of F with ∂L/∂O."
)
FLIPPED_FULL = (
    "Here the forward pass is a true convolution (F applied rotated), so the rotations "
    "cancel: ∂L/∂X is the full cross-correlation of F itself with ∂L/∂O, F sliding over the "
    "zero-padded ∂L/∂O."
)


def rotation_blocks(pattern: Pattern, derivation: ConvDerivation, names: Names) -> list[Block]:
    spec = derivation.spec
    rotated = pattern.evidence["rotated_filter"]
    dilation = derivation.patterns.get("dilation")
    upstream = dilation.evidence["dilated"] if dilation else derivation.symbols["gy"]
    filter_caption = (
        "F itself, channels swapped (convolution mode already applies it rotated)"
        if spec.flips_kernel
        else "F rotated by 180°, channels swapped"
    )
    upstream_caption = "∂L/∂O" + (
        " dilated by the stride" if any(s > 1 for s in spec.stride) else ""
    )
    amounts = derivation.patterns["padding"].evidence["amounts"]
    padded = ", ".join(
        f"{b} before and {a} after in {dim}"
        for (b, a), dim in zip(amounts, DIMENSION_NAMES[spec.rank])
    )
    return [
        Apply(
            Ref("gx"),
            "full cross-correlation",
            (
                matrices.stack(
                    rotated, filter_caption, ("c", "m"), names, relabel=_rotated_channels(spec)
                ),
                matrices.stack(upstream, upstream_caption, ("n", "m"), names),
            ),
        ),
        Paragraph(FLIPPED_FULL if spec.flips_kernel else FULL_CONVOLUTION),
        matrices.stack(
            pattern.evidence["grid"],
            f"the grid it slides over: ∂L/∂O padded with zeros, {padded}",
            ("n", "m"),
            names,
        ),
    ]


def _rotated_channels(spec: ConvSpec) -> matrices.Relabel:
    """Slice (c, m within the group of c) of the rotated filter holds F's channel m of the layer."""

    def relabel(ab: tuple[int, ...]) -> tuple[int, ...]:
        c, m = ab
        return c, (c // spec.in_channels_per_group) * spec.out_channels_per_group + m

    return relabel


def grad_weight_blocks(pattern: Pattern, derivation: ConvDerivation, names: Names) -> list[Block]:
    spec = derivation.spec
    padded = any(lo or hi for lo, hi in spec.padding)
    x = pad_or_crop(derivation.symbols["x"], spec.padding) if padded else derivation.symbols["x"]
    strided = any(s > 1 for s in spec.stride)
    return [
        Apply(
            Ref("gw"),
            "cross-correlation",
            (
                matrices.stack(x, "X" + (" zero-padded" if padded else ""), ("n", "c"), names),
                matrices.stack(
                    pattern.evidence["kernel"],
                    "∂L/∂O" + (" dilated by the stride" if strided else ""),
                    ("n", "m"),
                    names,
                ),
            ),
        ),
        Paragraph(
            "This is the notes’ “Convolution(X, ∂L/∂O)”: ∂L/∂O slides over X as the kernel, "
            + (
                "and convolution mode stores the result rotated by 180°"
                if spec.flips_kernel
                else "again without flipping"
            )
            + (", and the results add up over the batch." if spec.batch > 1 else ".")
        ),
    ]
