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

from symconv.lower.blocking import block_channels, largest_divisor, outer_symbol
from symconv.lower.build import build_nest, parameter_order, reduction_of, tensor_shapes
from symconv.lower.fuse import fuse_outer
from symconv.lower.hoist import hoist_invariant_reads
from symconv.lower.ir import For, LoopNest, Operand, walk
from symconv.lower.phases import stride_phases
from symconv.lower.privatize import CHUNK, PARTIAL, privatize
from symconv.lower.rows import build_rows_nest, channel_block, outer_variables
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
#: Multiply-adds from which a convolution gather uses the rows schedule by default.
ROWS_MIN_WORK = 2**12
#: Shortest row (last axis) a one-channel rows pass is worth: an AVX-512 float32 vector.
MIN_ROW = 16
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
    return largest_divisor(batch[0], TARGET_TASKS // tasks)


def schedules_for(formula: IndexFormula, spec: ConvSpec | PoolSpec) -> tuple[str, ...]:
    """The schedules that can lower `formula`: "direct" always, "rows" for conv gathers."""
    if isinstance(spec, ConvSpec) and formula.name in ("forward", "grad_input"):
        return ("direct", "rows")
    if isinstance(spec, ConvSpec) and formula.name == "grad_weight":
        return ("direct", "blocked")
    return ("direct",)


def default_schedule(formula: IndexFormula, spec: ConvSpec | PoolSpec) -> str:
    """The documented heuristic: past `ROWS_MIN_WORK`, "rows" for the convolution gathers
    (forward, dL/dX) and "blocked" for dL/dF; "direct" for rows narrower than `MIN_ROW`
    that only one channel at a time would walk.

    A layer as small as the lecture's is over before a rows pass pays its set-up.
    """
    if work(formula) < ROWS_MIN_WORK or _narrow_and_unblocked(formula, spec):
        return "direct"
    for fast in ("rows", "blocked"):
        if fast in schedules_for(formula, spec):
            return fast
    return "direct"


def _narrow_and_unblocked(formula: IndexFormula, spec: ConvSpec | PoolSpec) -> bool:
    """A rows pass over rows shorter than a vector, for one channel at a time, loses.

    Measured on the digits layer's dL/dX (1 input channel, 8×8): rows 368 µs, direct
    100 µs; with a block of channels (LeNet conv2, also 8 wide) rows still wins 5×.
    """
    if formula.name not in ("forward", "grad_input"):
        return False
    ix = make_indices(spec.rank)
    (block_loop,) = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    return channel_block(block_loop.extent) == 1 and formula.loops[-1].extent < MIN_ROW


def lower(
    formula: IndexFormula,
    spec: ConvSpec | PoolSpec,
    *,
    parallel: bool | None = None,
    unroll: bool | None = None,
    stage: bool = True,
    schedule: str | None = None,
) -> LoopNest:
    """The loop nest of one formula; `parallel`/`unroll`/`schedule` None: decided from the spec.

    The keyword overrides exist for tests, experiments and autotuning; a module
    records the schedule it was generated with, so spec and schedule determine it.
    """
    ix = make_indices(spec.rank)
    threaded = work(formula) >= PARALLEL_MIN_WORK if parallel is None else parallel
    unrolled = math.prod(spec.kernel_size) <= MAX_UNROLLED_TAPS if unroll is None else unroll
    schedule = default_schedule(formula, spec) if schedule is None else schedule
    if schedule not in schedules_for(formula, spec):
        raise ValueError(
            f"schedule={schedule!r} cannot lower {formula.name}: "
            f"choose from {', '.join(schedules_for(formula, spec))}"
        )
    if schedule == "rows":
        return _lower_rows(formula, spec, ix, threaded, unrolled)
    shapes = tensor_shapes(spec)
    order = parameter_order(spec)

    def run_passes(f: IndexFormula, shapes: dict[str, tuple[int, ...]]) -> LoopNest:
        blocks: set[sp.Symbol] = set()
        if schedule == "blocked":
            f, blocks = block_channels(f, ix)
        nest = fold_static_guards(drop_unit_loops(build_nest(f, shapes, order)))
        if stage:
            nest = stage_guarded_reads(nest)
        if unrolled or blocks:
            nest = unroll_pass(nest, blocks | (set(ix.tap) if unrolled else set()))
        nest = fold_static_guards(nest)
        independent = independent_indices(ix) | {outer_symbol(ix.c_out), outer_symbol(ix.c_in)}
        return fuse_outer(nest, independent, disjoint_positions(f))

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


def _lower_rows(
    formula: IndexFormula, spec: ConvSpec, ix: Indices, threaded: bool, unrolled: bool
) -> LoopNest:
    """The rows schedule (`rows`), one stride phase (`phases`) after another."""
    shapes, order = tensor_shapes(spec), parameter_order(spec)
    phases = stride_phases(formula)
    staged: tuple = ()
    body: tuple = ()
    for phase in phases:
        nest, blocks, taps = build_rows_nest(phase, shapes, order, ix)
        nest = fold_static_guards(drop_unit_loops(replace(nest, staged=staged)))
        nest = stage_guarded_reads(nest)
        nest = unroll_pass(nest, blocks | (taps if unrolled else set()))
        nest = fold_static_guards(nest)
        nest = fuse_outer(nest, outer_variables(ix))
        nest = hoist_invariant_reads(nest)
        staged, body = nest.staged, body + nest.body
    names = {f.tensor for f in formula.factors}
    params = tuple(Operand(n, shapes[n]) for n in order if n in names or _is_addend(formula, n))
    parallel = threaded and any(isinstance(s, For) and s.parallel for s, _ in walk(body))
    notes = _notes(spec, formula, parallel, unrolled, 1)
    notes += (f"rows schedule: {rows_note(formula, ix, len(phases))}",)
    return replace(nest, params=params, body=body, staged=staged, parallel=parallel, notes=notes)


def _is_addend(formula: IndexFormula, name: str) -> bool:
    return formula.addend is not None and formula.addend.tensor == name


def rows_note(formula: IndexFormula, ix: Indices, phases: int) -> str:
    """Why the rows nest looks as it does, for the kernel's docstring."""
    (block_loop,) = [lp for lp in formula.loops if lp.var in (ix.c_out, ix.c_in)]
    text = f"{channel_block(block_loop.extent)} output channels per pass, rows in place"
    if phases > 1:
        text += f", {phases} stride phases (no multiply by an inserted zero)"
    return text


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


def lower_all(
    level: IndexLevel | PoolLevel,
    spec: ConvSpec | PoolSpec,
    schedules: dict[str, str] | None = None,
) -> dict[str, LoopNest]:
    """Every kernel of the layer: forward, grad_input (and grad_weight, grad_bias).

    `schedules` names a schedule per kernel (autotuning's choice); the rest default.
    """
    chosen = schedules or {}
    return {f.name: lower(f, spec, schedule=chosen.get(f.name)) for f in level.formulas()}
