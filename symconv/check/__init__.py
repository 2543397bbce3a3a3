"""`symconv.check`: find the smallest layer where someone's convolution is wrong.

The flow: read what each function can be asked (its convention and signature give
`Limits`), run the named cases of `catalogue.py`, search random layers with
Hypothesis and shrink the first failure (`search.py`), then print the chain-rule
equation of its worst element (`explain.py`) in a `CheckReport`.
"""

from __future__ import annotations

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
from symconv.check.run import Outcome, run_layer
from symconv.check.search import smallest_failing

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
) -> CheckReport:
    """Check the given functions against symconv's reference on named and random layers.

    `convention` says how a layer is passed ("torch": PyTorch's functional signatures
    with tensors; "torch-numpy": the same with NumPy arrays; "numpy": arrays by
    position and ConvSpec fields by keyword, see `conventions.py`).  `ranks` limits
    the spatial ranks asked about (PyTorch's conv2d takes rank 2 only).  `examples`
    random layers are searched after the named cases; 0 skips the search.
    """
    started = time.perf_counter()
    functions = _given(forward, grad_input, grad_weight)
    style = convention_named(convention)
    limits = _limits(style, functions, ranks)
    report = CheckReport(
        functions={k: qualified_name(f) for k, f in functions.items()}, convention=style.name
    )
    say = progress or (lambda message: None)
    for case in CATALOGUE:
        say(f"case: {case.name}")
        report.cases.append(_run_case(case, functions, style, limits))
    if examples > 0:
        say(f"random search: up to {examples} layers")
        smallest, report.searched = smallest_failing(
            limits, lambda spec: not _all_ok(run_layer(spec, functions, style)), examples, seed
        )
        if smallest is not None:
            report.shrunk = True
            report.failure = _first_failure(run_layer(smallest, functions, style))
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
    case: Case, functions: dict[str, UserFunction], style: Convention, limits: Limits
) -> CaseResult:
    outcomes: list[Outcome] = []
    for dtype in DTYPES:
        spec = case.spec(dtype, bias=limits.bias)
        reason = limits.refusal(spec)
        if reason is not None:
            return CaseResult(case, skipped=reason)
        outcomes += run_layer(spec, functions, style)
    return CaseResult(case, tuple(outcomes))


def _all_ok(outcomes: list[Outcome]) -> bool:
    return all(o.ok for o in outcomes)


def _first_failure(outcomes: Iterable[Outcome]) -> Outcome | None:
    return next((o for o in outcomes if not o.ok), None)
