"""`lower(formula, spec)`: from an index-level formula to the loop nest a kernel runs.

The nest is built from the formula (`build`), never typed per kernel, and then
rewritten by general passes, in this order:

1. `drop_unit_loops`: loops of extent 1 vanish, their index becomes 0.
2. `fold_static_guards`: guards decided by the loop bounds alone disappear.
3. `stage_guarded_reads`: guarded reads become reads of padded / dilated copies.
4. `unroll` the taps when the kernel has at most `MAX_UNROLLED_TAPS` per channel.
5. `fold_static_guards` again, for guards that unrolling made constant.
6. `fuse_outer`: batch × group × channel loops become one parallel loop (or, with
   none of them, the outermost loop over result positions is the parallel one).

A reduction over the batch with few independent outputs (dL/dF) is first split into
per-chunk partial sums (`privatize`), so threads never add into the same element.
A nest that scatters (max pooling's dL/dx, `PoolFormula.scatters`) is parallel over
batch × channel planes only, never over positions: two windows of one plane may add
into the same element.
Whether Numba compiles with threads at all is decided from the amount of work:
threading a few thousand multiply-adds costs more than it saves, and a parallel
kernel takes about three times longer to compile.
"""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from symconv.lower.build import build_nest, parameter_order, reduction_of, tensor_shapes
from symconv.lower.fuse import fuse_outer
from symconv.lower.ir import For, LoopNest, Operand, walk
from symconv.lower.privatize import CHUNK, PARTIAL, privatize
from symconv.lower.simplify import drop_unit_loops, fold_static_guards
from symconv.lower.staging import stage_guarded_reads
from symconv.lower.unroll import unroll as unroll_pass
from symconv.pool_spec import PoolSpec
from symconv.spec import ConvSpec
from symconv.symbolic.indices import IndexFormula, IndexLevel, Indices, make_indices
from symconv.symbolic.pool_formulas import PoolLevel

#: Taps per channel up to which tap loops become straight-line code (a 7×7 kernel).
MAX_UNROLLED_TAPS = 49
#: Multiply-adds (loop iterations) from which a kernel is compiled with threads.
PARALLEL_MIN_WORK = 2**15
#: Parallel tasks a batch split aims for; more only adds partial buffers to sum.
TARGET_TASKS = 64


def work(formula: IndexFormula) -> int:
    """Iterations of the innermost statement: the multiply-adds of the formula."""
    return math.prod(loop.extent for loop in formula.loops + formula.reductions)


def independent_indices(ix: Indices) -> set[sp.Symbol]:
    """Indices whose iterations write disjoint outputs: batch, group, channels, chunks."""
    return {ix.n, ix.g, ix.c_out, ix.c_in, CHUNK}


def batch_chunks(formula: IndexFormula, ix: Indices) -> int:
    """Largest divisor of the batch that brings the parallel tasks near `TARGET_TASKS`.

    Only a product summed over the batch is split (dL/dF); a plain sum (dL/db) is
    memory-bound and tiny, and a formula that is free in the batch needs no split.
    """
    batch = [loop.extent for loop in formula.reductions if loop.var == ix.n]
    if not batch or len(formula.factors) < 2:
        return 1
    independent = independent_indices(ix)
    tasks = math.prod(loop.extent for loop in formula.loops if loop.var in independent)
    limit = min(batch[0], max(1, TARGET_TASKS // tasks))
    return max(d for d in range(1, limit + 1) if batch[0] % d == 0)


def lower(
    formula: IndexFormula,
    spec: ConvSpec | PoolSpec,
    *,
    parallel: bool | None = None,
    unroll: bool | None = None,
    stage: bool = True,
) -> LoopNest:
    """The loop nest of one formula; `parallel`/`unroll` None means decided from the spec.

    The keyword overrides exist for tests and experiments; the generated modules
    always use the defaults, so a spec alone determines its kernel source.
    """
    ix = make_indices(spec.rank)
    threaded = work(formula) >= PARALLEL_MIN_WORK if parallel is None else parallel
    unrolled = math.prod(spec.kernel_size) <= MAX_UNROLLED_TAPS if unroll is None else unroll
    shapes = tensor_shapes(spec)
    order = parameter_order(spec)

    def run_passes(f: IndexFormula, shapes: dict[str, tuple[int, ...]]) -> LoopNest:
        nest = fold_static_guards(drop_unit_loops(build_nest(f, shapes, order)))
        if stage:
            nest = stage_guarded_reads(nest)
        if unrolled:
            nest = unroll_pass(nest, set(ix.tap))
        nest = fold_static_guards(nest)
        return fuse_outer(nest, independent_indices(ix), disjoint_positions(f))

    chunks = batch_chunks(formula, ix) if threaded else 1
    if chunks > 1:
        partial, combine = privatize(formula, ix.n, chunks)
        scratch = Operand(PARTIAL, (chunks, *shapes[formula.target.tensor]))
        shapes = {**shapes, PARTIAL: scratch.shape}
        main, tail = run_passes(partial, shapes), run_passes(combine, shapes)
        nest = replace(main, result=tail.result, body=main.body + tail.body, scratch=(scratch,))
    else:
        nest = run_passes(formula, shapes)
    has_parallel_loop = any(isinstance(s, For) and s.parallel for s, _ in walk(nest.body))
    has_taps = any(loop.var in ix.tap for loop in formula.loops + formula.reductions)
    notes = _notes(spec, formula, threaded and has_parallel_loop, unrolled and has_taps, chunks)
    return replace(nest, parallel=threaded and has_parallel_loop, notes=notes)


def disjoint_positions(formula: IndexFormula) -> frozenset[sp.Symbol]:
    """Free indices whose iterations write disjoint elements of the result.

    Every free index of a gather writes its own element; a scatter's target also
    depends on the reduction (the winning tap), so no spatial loop of it qualifies.
    """
    if reduction_of(formula) == "argmax":
        return frozenset()
    return frozenset(loop.var for loop in formula.loops)


def _notes(
    spec: ConvSpec | PoolSpec,
    formula: IndexFormula,
    parallel: bool,
    unrolled: bool,
    chunks: int,
) -> tuple[str, ...]:
    """Why the nest looks the way it does, in words (for the generated docstrings)."""
    taps = math.prod(spec.kernel_size)
    threads = "threads" if parallel else "one thread"
    relation = ">=" if work(formula) >= PARALLEL_MIN_WORK else "<"
    unit = "window reads" if isinstance(spec, PoolSpec) else "multiply-adds"
    notes = [f"{work(formula)} {unit} {relation} {PARALLEL_MIN_WORK}: {threads}"]
    if reduction_of(formula) != "sum":
        notes.append("the max starts at -inf: no fastmath, which assumes finite values")
    if reduction_of(formula) == "argmax":
        notes.append("ties keep the first maximum (strict >); threads own whole (n, c) planes")
    if unrolled:
        notes.append(f"{taps} taps per channel, unrolled")
    elif taps > MAX_UNROLLED_TAPS:
        notes.append(f"{taps} taps per channel, more than {MAX_UNROLLED_TAPS}: a tap loop")
    if chunks > 1:
        notes.append(f"batch split into {chunks} chunks with private partial sums")
    return tuple(notes)


def lower_all(level: IndexLevel | PoolLevel, spec: ConvSpec | PoolSpec) -> dict[str, LoopNest]:
    """Every kernel of the layer: forward, grad_input (and grad_weight, grad_bias)."""
    return {f.name: lower(f, spec) for f in level.formulas()}
