"""`symconv.check`: find the smallest layer where someone's convolution is wrong.

The flow: read what each function can be asked (its convention and signature give
`Limits`), run the named cases of `catalogue.py`, search random layers with
Hypothesis and shrink the first failure (`search.py`), then print the chain-rule
equation of its worst element (`explain.py`) in a `CheckReport`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

from symconv.check.catalogue import CATALOGUE, Case
from symconv.check.conventions import (
    CONVENTIONS,
    KERNELS,
    Convention,
    Limits,
    UserFunction,
    qualified_name,
)
from symconv.check.conventions import (
    convention as convention_named,
)
from symconv.check.explain import explain
from symconv.check.report import CaseResult, CheckReport
from symconv.check.run import TIMEOUT, Outcome, run_layer
from symconv.check.search import smallest_failing
from symconv.kinds import ConvSpec

__all__ = ["CATALOGUE", "CONVENTIONS", "CheckReport", "check"]

DTYPES = ("float64", "float32")


def check(
    forward: UserFunction | None = None,
    grad_input: UserFunction | None = None,
    grad_weight: UserFunction | None = None,
    convention: str = "torch",
    *,
    ranks: Iterable[int] = (1, 2, 3),
    examples: int = 200,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    timeout: float | None = TIMEOUT,
    names: dict[str, str] | None = None,
) -> CheckReport:
    """Check the given functions against symconv's reference on named and random layers.

    `convention` says how a layer is passed ("torch": PyTorch's functional signatures
    with tensors; "torch-numpy": the same with NumPy arrays; "numpy": arrays by
    position and ConvSpec fields by keyword, see `conventions.py`).  `ranks` limits
    the spatial ranks asked about; a rank on which a function raises in every named case
    is reported as not supported and left out of the rest (PyTorch's conv2d takes rank 2
    only).  `examples` random layers are searched after the named cases; 0 skips the
    search.  `timeout` is the seconds a call may take (None: no limit); `names` shows
    the functions by the names the user gave them (the CLI's ``file.py:function``).
    """
    started = time.perf_counter()
    functions = _given(forward, grad_input, grad_weight)
    style = convention_named(convention)
    limits = _limits(style, functions, ranks)
    shown = {k: (names or {}).get(k) or qualified_name(f) for k, f in functions.items()}
    report = CheckReport(functions=shown, convention=style.name)
    say = progress or (lambda message: None)
    for case in CATALOGUE:
        say(f"case: {case.name}")
        report.cases.append(_run_case(case, functions, style, limits, timeout))
    report.unsupported = unsupported_ranks(report.cases, functions)
    if report.unsupported:
        report.cases = [_drop_unsupported(c, report.unsupported) for c in report.cases]
        limits = dataclasses.replace(
            limits, ranks=tuple(r for r in limits.ranks if r not in report.unsupported)
        )

    def layer_fails(spec: ConvSpec) -> bool:
        return not _all_ok(run_layer(spec, functions, style, timeout))

    if examples > 0 and limits.ranks:
        say(f"random search: up to {examples} layers")
        smallest, report.searched = smallest_failing(limits, layer_fails, examples, seed)
        if smallest is not None:
            report.shrunk = True
            report.failure = _first_failure(run_layer(smallest, functions, style, timeout))
    if report.failure is None and report.failed_cases:
        report.failure = _first_failure(report.failed_cases[0].outcomes)
    if report.failure is not None and report.failure.problem is None:
        say("deriving the wrong element")
        report.wrong = explain(report.failure)
    report.seconds = time.perf_counter() - started
    return report


def _given(*functions: UserFunction | None) -> dict[str, UserFunction]:
    given = {k: f for k, f in zip(KERNELS, functions) if f is not None}
    if not given:
        raise ValueError("nothing to check: give at least one of forward, grad_input, grad_weight")
    for kernel, function in given.items():
        if not callable(function):
            raise ValueError(f"{kernel}={function!r} is not callable")
    return given


def _limits(style: Convention, functions: dict[str, UserFunction], ranks: Iterable[int]) -> Limits:
    ranks = tuple(sorted(set(ranks)))
    for rank in ranks:
        if rank not in (1, 2, 3):
            raise ValueError(f"ranks={ranks} must hold spatial ranks among 1, 2, 3")
    if not ranks:
        raise ValueError("ranks=() must hold at least one spatial rank (1, 2 or 3)")
    limits = Limits(ranks=ranks)
    for kernel, function in functions.items():
        limits = limits.meet(style.limits(kernel, function))
    return limits


def _run_case(
    case: Case,
    functions: dict[str, UserFunction],
    style: Convention,
    limits: Limits,
    timeout: float | None,
) -> CaseResult:
    outcomes: list[Outcome] = []
    for dtype in DTYPES:
        spec = case.spec(dtype, bias=limits.bias)
        reason = limits.refusal(spec)
        if reason is not None:
            return CaseResult(case, skipped=reason)
        outcomes += run_layer(spec, functions, style, timeout)
    return CaseResult(case, tuple(outcomes))


def unsupported_ranks(
    cases: list[CaseResult], functions: dict[str, UserFunction]
) -> dict[int, str]:
    """Ranks some function raised on in every named case, with what it raised.

    Such a function does not take that rank at all (PyTorch's conv2d and a 1-D layer),
    which is not a wrong answer.  A function that answers some cases of a rank and
    raises on others is wrong, and stays so.  When every rank asked is refused, none
    is left out: a function that raises on everything is simply broken.
    """
    by_rank: dict[int, list[Outcome]] = {}
    for result in cases:
        for outcome in result.outcomes:
            by_rank.setdefault(outcome.spec.rank, []).append(outcome)
    found = {}
    for rank, outcomes in sorted(by_rank.items()):
        for kernel in functions:
            mine = [o for o in outcomes if o.kernel == kernel]
            if mine and all(o.raised for o in mine):
                found[rank] = f"{kernel}: every case raised {mine[0].raised}"
                break
    return {} if set(found) == set(by_rank) else found


def _drop_unsupported(result: CaseResult, unsupported: dict[int, str]) -> CaseResult:
    if not result.outcomes or result.outcomes[0].spec.rank not in unsupported:
        return result
    rank = result.outcomes[0].spec.rank
    return CaseResult(result.case, skipped=f"rank {rank}: not supported")


def _all_ok(outcomes: list[Outcome]) -> bool:
    return all(o.ok for o in outcomes)


def _first_failure(outcomes: Iterable[Outcome]) -> Outcome | None:
    return next((o for o in outcomes if not o.ok), None)
