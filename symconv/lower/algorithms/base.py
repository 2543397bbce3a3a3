"""What an algorithm is, and the bookkeeping every algorithm shares.

An algorithm turns one index formula into a loop nest: it says when it applies (to
which kernel of which layer kind, on which machine), whether the default choice
should pick it, how it builds its nest, and which passes rewrite that nest.  TVM
keeps the algorithm apart from its schedule in the same way: the formula says what is
computed, the algorithm how.
"""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from symconv.lower.build import build_nest
from symconv.lower.ir import LoopNest, Operand, has_parallel_loop
from symconv.lower.passes import LoweringContext, Pass, run_passes
from symconv.lower.rewrites.blocking import largest_divisor
from symconv.lower.rewrites.privatize import CHUNK, PARTIAL, privatize
from symconv.symbolic.indices import IndexFormula, Indices


class Algorithm:
    """One way to compute a kernel; subclasses fill in the four questions."""

    #: The name `generate(spec, schedules={kernel: name})` forces it by.
    name: str = ""
    #: The passes that rewrite the nest it builds, in order.
    passes: tuple[Pass, ...] = ()

    def applies(self, context: LoweringContext) -> bool:
        """True when this algorithm can compute `context.formula` at all."""
        raise NotImplementedError

    def preferred(self, context: LoweringContext) -> bool:
        """True when the default choice should pick it (given that it applies)."""
        return True

    def build(self, context: LoweringContext) -> LoopNest:
        """The finished nest (passes run, threads and notes decided)."""
        raise NotImplementedError

    def why_not(self, context: LoweringContext) -> str:
        """Why the algorithm does not apply, when it can say more than "choose another"."""
        return ""

    def variants(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Every parameter setting of this algorithm that applies (Winograd's output tiles,
        blocked's channel tiles): what `verify(spec, algorithms="all")` and the tests run.
        An algorithm without parameters is its only variant."""
        return (self,) if self.applies(context) else ()

    def tunings(self, context: LoweringContext) -> tuple[Algorithm, ...]:
        """Other settings of this algorithm's main parameter worth timing on the machine
        (register tiles around the default): what the autotuner adds to its candidates."""
        return ()


def shared_filter_convolution(context: LoweringContext) -> bool:
    """A convolution whose output positions all share one filter: what every specialised
    algorithm assumes (a tiled or locally connected layer is lowered by `direct`)."""
    return context.kind.name == "convolution" and not context.spec.tiled


def correlation_operands(context: LoweringContext, forward: bool) -> tuple[Operand, ...]:
    """The arguments of a forward kernel (x, w and b when the layer has a bias) or of a
    dL/dX kernel (gy, w), in the kernel's argument order."""
    names = ("x", "w", "b") if forward else ("gy", "w")
    return tuple(
        Operand(p, context.shapes[p])
        for p in context.order
        if p in names and (p != "b" or context.spec.bias)
    )


def work(formula: IndexFormula) -> int:
    """Iterations of the innermost statement: the multiply-adds of the formula."""
    return math.prod(loop.extent for loop in formula.loops + formula.reductions)


def independent_indices(ix: Indices) -> set[sp.Symbol]:
    """Indices whose iterations write disjoint outputs: batch, group, channels, chunks."""
    return {ix.n, ix.g, ix.c_out, ix.c_in, CHUNK}


def batch_chunks(formula: IndexFormula, ix: Indices, target_tasks: int) -> int:
    """Largest divisor of the batch that brings the parallel tasks near `target_tasks`.

    Only a product summed over the batch is split (dL/dF); a plain sum (dL/db) is
    memory-bound and tiny, and a formula that is free in the batch needs no split.
    """
    batch = [loop.extent for loop in formula.reductions if loop.var == ix.n]
    if not batch or len(formula.factors) < 2:
        return 1
    independent = independent_indices(ix)
    tasks = math.prod(loop.extent for loop in formula.loops if loop.var in independent)
    return largest_divisor(batch[0], target_tasks // tasks)


def cache_sized_chunks(context: LoweringContext, tasks: int, image_bytes: int) -> int:
    """Chunks of images for a dL/dF whose tasks each sum over a chunk: enough for the threads
    to get about `image_chunks` × 2 tasks, and enough that the `image_bytes` a task reads per
    image, over a chunk, fit `task_cache_bytes` (a thread takes the tasks of one chunk in a
    row, so all but the first find that data in the core's cache).  1 without threads."""
    if not context.threaded:
        return 1
    machine, batch = context.machine, context.spec.batch
    wanted = -(-2 * machine.image_chunks // tasks)
    fitting = max(1, machine.task_cache_bytes // image_bytes) if image_bytes else batch
    return largest_divisor(batch, max(wanted, -(-batch // fitting)))


def disjoint_positions(formula: IndexFormula) -> frozenset[sp.Symbol]:
    """Free indices whose iterations write disjoint elements of the result.

    Every free index of a gather writes its own element; a scatter's target also
    depends on the reduction (the winning tap), so no spatial loop of it qualifies.
    """
    if formula.scatters:
        return frozenset()
    return frozenset(loop.var for loop in formula.loops)


def lower_with_partials(
    context: LoweringContext,
    build_one: callable,
) -> tuple[LoopNest, int]:
    """`build_one(formula)` for the formula, or for its per-chunk partial sums and their sum.

    A reduction over the batch with few independent outputs (dL/dF) is split into
    per-chunk partial sums when threads run, so threads never add into one element.
    Returns the nest and the number of chunks.
    """
    formula, ix = context.formula, context.indices
    chunks = batch_chunks(formula, ix, context.machine.target_tasks) if context.threaded else 1
    if chunks == 1:
        return build_one(formula), 1
    partial, combine = privatize(formula, ix.n, chunks)
    scratch = Operand(PARTIAL, (chunks, *context.shapes[formula.target.tensor]))
    context.shapes = {**context.shapes, PARTIAL: scratch.shape}
    main, tail = build_one(partial), build_one(combine)
    nest = replace(main, result=tail.result, body=main.body + tail.body, scratch=(scratch,))
    return nest, chunks


def transcribe(
    context: LoweringContext, formula: IndexFormula, passes: tuple[Pass, ...]
) -> LoopNest:
    """The direct transcription of `formula`, rewritten by `passes`."""
    nest = build_nest(formula, context.shapes, context.order)
    return run_passes(nest, passes, context)


def finish(
    context: LoweringContext,
    nest: LoopNest,
    unrolled: bool,
    chunks: int,
    extra: tuple[str, ...] = (),
) -> LoopNest:
    """Threads only where a parallel loop survived; the notes of the kernel's docstring."""
    parallel = context.threaded and has_parallel_loop(nest.body)
    notes = kernel_notes(context, parallel, unrolled, chunks) + extra
    return replace(nest, parallel=parallel, notes=notes)


def kernel_notes(
    context: LoweringContext, parallel: bool, unrolled: bool, chunks: int
) -> tuple[str, ...]:
    """Why the nest looks the way it does, in words (for the generated docstrings)."""
    formula, machine = context.formula, context.machine
    taps = math.prod(context.spec.kernel_size)
    threads = "threads" if parallel else "one thread"
    relation = ">=" if work(formula) >= machine.parallel_min_work else "<"
    unit = context.kind.work_unit
    notes = [f"{work(formula)} {unit} {relation} {machine.parallel_min_work}: {threads}"]
    if formula.reduction != "sum":
        notes.append("the max starts at -inf and a NaN wins: no fast-math flags at all")
    if formula.reduction == "argmax":
        notes.append(
            "ties keep the first maximum (strict >), a NaN takes over (the last NaN, as PyTorch);"
            " threads own whole (n, c) planes"
        )
    if unrolled:
        notes.append(f"{taps} taps per channel, unrolled")
    elif taps > machine.max_unrolled_taps:
        notes.append(f"{taps} taps per channel, more than {machine.max_unrolled_taps}: a tap loop")
    if chunks > 1:
        notes.append(f"batch split into {chunks} chunks with private partial sums")
    return tuple(notes)


def splits(extent: int, size: int) -> list[tuple[int, int, int]]:
    """(first, how many tiles, tile size): the full tiles, then the rest."""
    size = min(size, extent)
    full, rest = divmod(extent, size)
    found = [(0, full, size)]
    if rest:
        found.append((full * size, 1, rest))
    return found
