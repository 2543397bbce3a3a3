"""The Winograd section: F(m, r) derived for this layer, proved, tiled, costed and measured.

Everything shown comes from `symconv.symbolic.winograd.WinogradStudy`: the points, the
three matrices as exact rationals, the verdicts of the proofs, the tiling and, for
every F(m', r) worth considering, its products per tile against the direct method's
and its float32 error measured on random tiles.
"""

from __future__ import annotations

import numpy as np

import symconv.render.matrices as matrices
from symconv.kinds import ConvSpec
from symconv.render.names import DIMENSION_NAMES, Names
from symconv.render.outline import Block, Paragraph, Section, Table, Verdict
from symconv.symbolic.winograd import Winograd, WinogradStudy

#: The nested form of the identity, per rank.
NESTED = {
    1: "y = Aᵀ·((G·g) ⊙ (Bᵀ·d))",
    2: "Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A",
    3: "Y = the 1-D form applied along depth, height and width in turn",
}


def build(spec: ConvSpec, winograd: WinogradStudy, names: Names) -> Section:
    tiling = winograd.tiling
    blocks: list[Block] = [
        Paragraph(
            f"Winograd's minimal filtering {tiling.label} computes a tile of outputs from a tile "
            f"of inputs with {tiling.products_per_tile} multiplications instead of the direct "
            f"method's {tiling.direct_per_tile}, after transforming the input tile (Bᵀ), the "
            "filter (G) and the products back (Aᵀ). The matrices are derived here by Cook–Toom "
            "interpolation, not copied from a table."
        )
    ]
    for transform in winograd.distinct:
        blocks += transform_blocks(transform, winograd.proofs[transform.label], names)
    rank = spec.rank
    blocks.append(
        Verdict(
            f"The nested form {NESTED[rank]} is the correlation of a "
            f"{'×'.join(str(t.n) for t in tiling.transforms)} tile with the "
            f"{'×'.join(str(t.r) for t in tiling.transforms)} kernel",
            winograd.proofs["nested"],
            "Checked coefficient by coefficient in exact rationals: the form is bilinear in the "
            "tile d and the kernel g, and its coefficient of every d·g product at every output "
            "is the correlation's (1 where the tap lines up, 0 elsewhere).",
        )
    )
    blocks += tiling_blocks(spec, winograd)
    blocks.append(grad_input_note(spec))
    blocks += weight_blocks(winograd, names)
    return Section(f"Winograd {tiling.label}", tuple(blocks))


def grad_input_note(spec: ConvSpec) -> Paragraph:
    """Why the same transforms serve ∂L/∂X, with this layer's padding of ∂L/∂O."""
    before = tuple(k - 1 - lo for k, (lo, _) in zip(spec.kernel_size, spec.padding))
    after = tuple(k - 1 - hi for k, (_, hi) in zip(spec.kernel_size, spec.padding))
    return Paragraph(
        "∂L/∂X of a stride-1 layer is the full correlation of ∂L/∂O with the 180°-rotated "
        "filter (the rotation pattern proved above), so the same transforms compute it: the "
        f"input is ∂L/∂O padded by {_dims(before)} before and {_dims(after)} after (k − 1 − lo "
        "and k − 1 − hi; a negative amount crops), the kernel is the rotated filter with its "
        "input and output channels swapped."
    )


def weight_blocks(winograd: WinogradStudy, names: Names) -> list[Block]:
    """∂L/∂F by F(r, m): the roles of data and filter swapped, and its proof."""
    if not winograd.weight:
        return []
    labels = ", ".join(dict.fromkeys(t.label for t in winograd.weight))
    m = winograd.weight[0].r
    shown = set(winograd.distinct)
    matrices_of_weight = [
        block
        for t in dict.fromkeys(winograd.weight)
        if t not in shown
        for block in transform_blocks(t, winograd.proofs[t.label], names)
    ]
    return [
        Paragraph(
            f"∂L/∂F[k, c, t] = Σ_n Σ_j ∂L/∂O[n, k, j]·X[n, c, j + t − lo] is, per tile of {m} "
            "positions j, a correlation whose outputs are the kernel's taps: the tile of ∂L/∂O "
            f"is the filter and the taps the outputs, so {labels} computes it (∂L/∂O past the "
            "layer's edge counts as zero), with the products of all tiles and images summed "
            "before the output transform."
        ),
        *matrices_of_weight,
        Verdict(
            f"{labels} nested over the axes is the correlation of a window of X with a tile of "
            "∂L/∂O",
            winograd.proofs.get("nested weight", False)
            and all(winograd.proofs[t.label] for t in winograd.weight),
            "Proved as F(m, r) above: symbolically per axis, then coefficient by coefficient "
            "for the nested form.",
        ),
    ]


def _dims(values: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in values)


def transform_blocks(t: Winograd, holds: bool, names: Names) -> list[Block]:
    points = ", ".join(str(p) for p in t.points) + ", ∞"
    return [
        Paragraph(
            f"{t.label}: m = {t.m} outputs of an r = {t.r}-tap correlation from n = {t.n} "
            f"inputs. The interpolation points are {points}."
        ),
        _matrix(t.AT, f"Aᵀ ({t.m} × {t.n}), the output transform", names),
        _matrix(t.G, f"G ({t.n} × {t.r}), the filter transform", names),
        _matrix(t.BT, f"Bᵀ ({t.n} × {t.n}), the input transform", names),
        Verdict(
            f"Aᵀ·((G·g) ⊙ (Bᵀ·d)) is the {t.r}-tap correlation of d",
            holds,
            f"Proved with SymPy for symbols d0 … d{t.n - 1}, g0 … g{t.r - 1}: each of the "
            f"{t.m} outputs y(i) expands to exactly the sum over k of d(i + k)·g(k).",
        ),
    ]


def tiling_blocks(spec: ConvSpec, winograd: WinogradStudy) -> list[Block]:
    tiling = winograd.tiling
    dims = DIMENSION_NAMES[spec.rank]
    rows = tuple(
        (dim, str(o), str(t.m), str(tiles), str(over))
        for dim, o, t, tiles, over in zip(
            dims, tiling.outputs, tiling.transforms, tiling.tiles, tiling.overhang
        )
    )
    candidates = tuple(
        (
            c.tiling.label,
            f"{c.tiling.products_per_tile:,}",
            f"{c.tiling.direct_per_tile:,}",
            f"{c.saving:.2f}×",
            f"{c.error:.1e}",
        )
        for c in winograd.candidates
    )
    return [
        Paragraph(
            f"The layer's {_dims(spec.output_size)} output in tiles of "
            f"{_dims(tuple(t.m for t in tiling.transforms))}; where the last tile overhangs the "
            "edge, its extra outputs are computed from zero padding and not stored:"
        ),
        Table(("dimension", "outputs", "tile", "tiles", "overhang"), rows),
        Paragraph(
            "Every F(m, r) worth considering: its multiplications per tile against the direct "
            "method's, and its float32 error: the largest error of 400 random standard-normal "
            "tiles, transformed and multiplied in float32, against the float64 correlation, "
            "relative to the root mean square of all their correct outputs (the size of a "
            "typical output, the same yardstick for every tile size). Larger tiles save more "
            "and err more, which is why m stops at 4 to 6 for a 3-tap kernel:"
        ),
        Table(("transform", "products per tile", "direct", "fewer", "fp32 error"), candidates),
    ]


def _matrix(matrix: object, caption: str, names: Names) -> Block:
    grid = np.array(matrix, dtype=object)[np.newaxis, np.newaxis]
    return matrices.stack(grid, caption, ("n", "m"), names)
