"""`lower(formula, spec)`: from an index-level formula to the loop nest a kernel runs.

The driver builds the context (the layer's kind, shapes and parameter order, the
machine, the thread and unroll decisions), lets the chosen algorithm
(`symconv.lower.algorithms`) build its nest and run its named passes, and collects
the passes' times.  Whether a kernel runs threads at all is decided from the amount
of work: threading a few thousand multiply-adds costs more than it saves, and a
parallel kernel takes about three times longer to compile.
"""

from __future__ import annotations

import math
from dataclasses import replace

import symconv.lower.algorithms as algorithms
from symconv.kinds import kind_of
from symconv.lower.algorithms.base import work
from symconv.lower.ir import LoopNest, has_parallel_loop
from symconv.lower.passes import LoweringContext
from symconv.lower.rewrites.privatize import PARTIAL
from symconv.machine import HOST, Machine
from symconv.symbolic.indices import IndexFormula, IndexLevel, make_indices


def context_for(
    formula: IndexFormula,
    spec: object,
    machine: Machine = HOST,
    *,
    parallel: bool | None = None,
    unroll: bool | None = None,
    stage: bool = True,
) -> LoweringContext:
    """Everything the algorithms and passes read about one kernel of one layer."""
    kind = kind_of(spec)
    signature = kind.signature(spec, formula.name)
    threaded = work(formula) >= machine.parallel_min_work if parallel is None else parallel
    taps = math.prod(spec.kernel_size)
    return LoweringContext(
        formula=formula,
        spec=spec,
        kind=kind,
        machine=machine,
        indices=make_indices(spec.rank),
        shapes=kind.tensor_shapes(spec),
        order=(*signature.params, PARTIAL),
        threaded=threaded,
        unroll_taps=taps <= machine.max_unrolled_taps if unroll is None else unroll,
        stage=stage,
    )


def schedules_for(formula: IndexFormula, spec: object, machine: Machine = HOST) -> tuple[str, ...]:
    """The names of the algorithms that can lower `formula`, "direct" first."""
    return tuple(a.name for a in algorithms.applicable(context_for(formula, spec, machine)))


def variants_for(formula: IndexFormula, spec: object, machine: Machine = HOST) -> tuple[str, ...]:
    """Every algorithm and parameter setting that can lower `formula` ("winograd:2",
    "blocked:2x1", ...), without threads, "direct" first."""
    return tuple(a.name for a in algorithms.variants(context_for(formula, spec, machine)))


def tunings_for(
    formula: IndexFormula, spec: object, name: str, machine: Machine = HOST
) -> tuple[str, ...]:
    """Other parameter settings of algorithm `name` worth timing ("simd:2x8", ...)."""
    context = context_for(formula, spec, machine)
    return tuple(a.name for a in algorithms.by_name(name).tunings(context))


def default_schedule(formula: IndexFormula, spec: object, machine: Machine = HOST) -> str:
    """The algorithm the default choice picks for `formula` (see `algorithms.ALGORITHMS`)."""
    return algorithms.default(context_for(formula, spec, machine)).name


#: A schedule names an algorithm and, after this mark, the threads its kernel runs on:
#: "rows@1" is the rows algorithm compiled without threads, "unfold@4" on 4 threads.
THREADS_MARK = "@"


def parse_schedule(schedule: str | None) -> tuple[str | None, int | None]:
    """(algorithm name, threads) of a schedule; either is None when not given."""
    if schedule is None:
        return None, None
    name, mark, count = schedule.partition(THREADS_MARK)
    if not mark:
        return name, None
    if not (count.isascii() and count.isdigit() and int(count) >= 1):
        raise ValueError(
            f"schedule={schedule!r}: the threads after {THREADS_MARK!r} must be a whole "
            "number of at least 1"
        )
    return name, int(count)


def with_threads(name: str, threads: int) -> str:
    """The schedule running algorithm `name` on `threads` threads."""
    return f"{name}{THREADS_MARK}{threads}"


def lower(
    formula: IndexFormula,
    spec: object,
    *,
    machine: Machine = HOST,
    parallel: bool | None = None,
    unroll: bool | None = None,
    stage: bool = True,
    schedule: str | None = None,
    timings: dict[str, float] | None = None,
) -> LoopNest:
    """The loop nest of one formula; `parallel`/`unroll`/`schedule` None: decided from the spec.

    The keyword overrides exist for tests, experiments and autotuning; a module
    records the schedule it was generated with, so spec and schedule determine it.
    A schedule with threads ("rows@1", see `parse_schedule`) lowers without threads
    for 1, and with threads held to that many for more.  `timings`, when given, gains
    the seconds each named pass took.
    """
    name, threads = parse_schedule(schedule)
    if threads is not None:
        parallel = threads > 1
    context = context_for(formula, spec, machine, parallel=parallel, unroll=unroll, stage=stage)
    algorithm = algorithms.choose(context, name)
    nest = replace(algorithm.build(context), algorithm=algorithm.name)
    if nest.parallel and not has_parallel_loop(nest.body):  # every parallel loop had one trip
        nest = replace(nest, parallel=False, blas_in_threads=False)
    if threads is not None and nest.parallel:
        nest = replace(nest, threads=threads)
    if timings is not None:
        for name, seconds in context.timings.items():
            timings[name] = timings.get(name, 0.0) + seconds
    return nest


def lower_all(
    level: IndexLevel,
    spec: object,
    schedules: dict[str, str] | None = None,
    machine: Machine = HOST,
    timings: dict[str, float] | None = None,
) -> dict[str, LoopNest]:
    """Every kernel of the layer: forward, grad_input (and grad_weight, grad_bias).

    `schedules` names an algorithm per kernel (autotuning's choice); the rest default.
    """
    chosen = schedules or {}
    return {
        f.name: lower(f, spec, machine=machine, schedule=chosen.get(f.name), timings=timings)
        for f in level.formulas()
    }
