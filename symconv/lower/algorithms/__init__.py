"""The algorithms a kernel can be lowered with, in the order the default choice tries them.

Adding an algorithm is one file in this folder and one line in `ALGORITHMS`: a
subclass of `Algorithm` saying when it applies, whether the default should pick it,
how it builds its nest and which passes rewrite it.  `generate(spec,
schedules={"forward": "direct"})` forces one by name; "winograd:4" and "blocked:2x1"
fix an algorithm's main parameter (the output tile, the channel tile).
"""

from __future__ import annotations

from symconv.lower.algorithms.base import Algorithm
from symconv.lower.algorithms.blocked import BLOCKED, MAX_BLOCK, Blocked, parse_tile
from symconv.lower.algorithms.channel_blocked import CHANNEL_BLOCKED, ChannelBlocked
from symconv.lower.algorithms.channel_blocked import parse_tile as parse_positions_count
from symconv.lower.algorithms.depthwise import DEPTHWISE
from symconv.lower.algorithms.direct import DIRECT
from symconv.lower.algorithms.gemm import GEMM
from symconv.lower.algorithms.positions import POSITIONS, Positions
from symconv.lower.algorithms.positions import parse_tile as parse_positions_tile
from symconv.lower.algorithms.rows import ROWS
from symconv.lower.algorithms.simd import SIMD, Simd
from symconv.lower.algorithms.simd import parse_tile as parse_simd_tile
from symconv.lower.algorithms.unfold import UNFOLD
from symconv.lower.algorithms.winograd import LARGEST_M, WINOGRAD, WinogradAlgorithm
from symconv.lower.passes import LoweringContext

#: Most specialised first; `direct` applies to everything and closes the list.
ALGORITHMS: tuple[Algorithm, ...] = (
    GEMM,
    DEPTHWISE,
    CHANNEL_BLOCKED,
    WINOGRAD,
    POSITIONS,
    SIMD,
    UNFOLD,
    ROWS,
    BLOCKED,
    DIRECT,
)


def by_name(name: str) -> Algorithm:
    """The algorithm called `name`; "winograd:M" fixes Winograd's output tile to M."""
    for algorithm in ALGORITHMS:
        if algorithm.name == name:
            return algorithm
    prefix, _, tile = name.partition(":")
    if (
        prefix == WINOGRAD.name
        and tile.isascii()
        and tile.isdigit()
        and 1 <= int(tile) <= LARGEST_M
    ):
        return WinogradAlgorithm(int(tile))
    if prefix == BLOCKED.name and parse_tile(tile) is not None:
        return Blocked(parse_tile(tile))
    if prefix == SIMD.name and parse_simd_tile(tile) is not None:
        return Simd(parse_simd_tile(tile))
    if prefix == POSITIONS.name and parse_positions_tile(tile) is not None:
        return Positions(parse_positions_tile(tile))
    if prefix == CHANNEL_BLOCKED.name and parse_positions_count(tile) is not None:
        return ChannelBlocked(parse_positions_count(tile))
    known = ", ".join(a.name for a in ALGORITHMS) + (
        f", winograd:M (M from 1 to {LARGEST_M}), blocked:BmxBc (each from 1 to {MAX_BLOCK}), "
        "simd:VxP (V vectors of channels × P positions), "
        "positions:CxHxV (C channels × H rows × V vectors of positions), "
        "channel_blocked:P (P positions of vectors of channels)"
    )
    raise ValueError(f"schedule={name!r} is not an algorithm symconv has; choose from {known}")


def applicable(context: LoweringContext) -> tuple[Algorithm, ...]:
    """The algorithms that can lower the context's formula, `direct` first."""
    found = [a for a in ALGORITHMS if a.applies(context)]
    return tuple(sorted(found, key=lambda a: a is not DIRECT))


def variants(context: LoweringContext) -> tuple[Algorithm, ...]:
    """Every applicable algorithm with every parameter setting it accepts, `direct` first."""
    return tuple(v for a in applicable(context) for v in a.variants(context))


def default(context: LoweringContext) -> Algorithm:
    """The first algorithm in `ALGORITHMS` that applies and prefers itself."""
    return next(a for a in ALGORITHMS if a.applies(context) and a.preferred(context))


def choose(context: LoweringContext, name: str | None) -> Algorithm:
    """The algorithm named `name` (it must apply), or the default choice."""
    if name is None:
        return default(context)
    algorithm = by_name(name)
    if not algorithm.applies(context):
        names = ", ".join(a.name for a in applicable(context))
        why = algorithm.why_not(context)
        raise ValueError(
            f"schedule={name!r} cannot lower {context.formula.name}"
            + (f": {why};" if why else ":")
            + f" choose from {names}"
        )
    return algorithm
