"""Named, timed rewrites of a loop nest, and the context they read.

Each algorithm (`symconv.lower.algorithms`) declares its pass list; the driver runs
it with `run_passes`, which times every pass by name (``generate(...,
progress=...)`` reports the times), as Devito's ``Operator._lower`` times its stages.
A pass is a function of the nest and the `LoweringContext`: what to unroll, which
loops write disjoint data, whether guarded reads may be staged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symconv.lower.ir import For, LoopNest
from symconv.lower.passes.fuse import fuse_outer
from symconv.lower.passes.hoist import hoist_invariant_reads
from symconv.lower.passes.simplify import drop_unit_loops, fold_static_guards
from symconv.lower.passes.split import split_borders
from symconv.lower.passes.staging import stage_guarded_reads
from symconv.lower.passes.unroll import unroll
from symconv.machine import Machine
from symconv.symbolic.indices import IndexFormula, Indices


@dataclass
class LoweringContext:
    """One kernel being lowered: its formula, layer, machine and the passes' settings.

    `unroll` names the loops the unroll pass unrolls (the algorithm adds its register
    blocks; the taps join when `unroll_taps`); `independent` the loops whose iterations
    write disjoint data and may fuse into the parallel loop; `disjoint` the free
    indices that also qualify when nothing else does; `vector` the loops whose
    interior (after splitting off the borders) should be vectorized.
    """

    formula: IndexFormula
    spec: Any
    kind: Any
    machine: Machine
    indices: Indices
    shapes: dict[str, tuple[int, ...]]
    order: tuple[str, ...]
    threaded: bool
    unroll_taps: bool
    stage: bool = True
    unroll: set[sp.Symbol] = field(default_factory=set)
    independent: set[sp.Symbol] = field(default_factory=set)
    disjoint: frozenset[sp.Symbol] = frozenset()
    vector: set[sp.Symbol] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Pass:
    """One rewrite of a nest, named for the timings and the kernel's docstring."""

    name: str
    apply: Callable[[LoopNest, LoweringContext], LoopNest]


def run_passes(nest: LoopNest, passes: tuple[Pass, ...], context: LoweringContext) -> LoopNest:
    """Apply `passes` in order, adding each one's seconds to ``context.timings``."""
    for step in passes:
        started = time.perf_counter()
        nest = step.apply(nest, context)
        context.timings[step.name] = (
            context.timings.get(step.name, 0.0) + time.perf_counter() - started
        )
    return nest


def _unroll(nest: LoopNest, context: LoweringContext) -> LoopNest:
    taps = set(context.indices.tap) if context.unroll_taps else set()
    variables = context.unroll | taps
    return unroll(nest, variables) if variables else nest


DROP_UNIT_LOOPS = Pass("drop unit loops", lambda nest, _: drop_unit_loops(nest))
FOLD_GUARDS = Pass("fold static guards", lambda nest, _: fold_static_guards(nest))
STAGE = Pass(
    "stage guarded reads",
    lambda nest, context: stage_guarded_reads(nest) if context.stage else nest,
)
UNROLL = Pass("unroll", _unroll)
FUSE = Pass(
    "fuse outer loops",
    lambda nest, context: fuse_outer(nest, context.independent, context.disjoint),
)
HOIST = Pass("hoist invariant reads", lambda nest, _: hoist_invariant_reads(nest))
SPLIT = Pass(
    "split borders",
    lambda nest, context: split_borders(nest, _loop_variables(nest), context.vector),
)


def _loop_variables(nest: LoopNest) -> set[sp.Symbol]:
    return {stmt.var for stmt, _ in nest.statements() if isinstance(stmt, For)}


#: The passes most algorithms share, in their order.
STANDARD = (DROP_UNIT_LOOPS, FOLD_GUARDS, STAGE, UNROLL, FOLD_GUARDS, FUSE)
