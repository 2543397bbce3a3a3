"""`verify(spec)`: generate the kernels of a layer and prove them against the oracles.

Every kernel runs on random standard-normal data and is compared element-wise with
`symconv.reference` (NumPy, accumulating in float64) and, when PyTorch can be
imported, with ``torch.nn.functional.conv{1,2,3}d`` and its autograd.  The error is
measured relative to the largest magnitude of the oracle's result, because entries
near zero carry only the cancellation noise of their sum:

    rel = max|kernel − oracle| / max|oracle|

and a kernel passes when rel ≤ `TOLERANCES[dtype]`: 1e-4 for float32 (a few hundred
float32 roundings of the accumulated products, with room to spare) and 1e-10 for
float64.

A pooling layer (`PoolSpec`) is verified the same way against
`reference.pool_forward` / `pool_grad_input` and ``torch.nn.functional.max_pool*d`` /
``avg_pool*d(count_include_pad=True)``.  Max pooling's x is drawn from the integers
−3..3, so most windows hold their maximum more than once and the tie rule (the
first maximum in row-major order gets the gradient) is checked on every run.

``verify(spec, algorithms="all")`` does the same for every algorithm and parameter
variant that can lower each kernel (`symconv.lower.driver.variants_for`: every
Winograd output tile, every blocked channel tile), each compiled without threads
("@1") and with them ("@N", N = all of Numba's threads, at least 2), so a user who
distrusts a forced schedule or an autotuned choice checks every one in one call.
The modules are built in rounds, as the autotuner builds them: round i compiles one
module whose kernel k uses k's i-th variant.  A variant that fails to build or raises
is a failed row with its error, never the end of the run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from symconv.kinds import TOLERANCES, LayerSpec, kind_of, relative_error
from symconv.pipeline import generate
from symconv.runtime.memory import check_fits

#: Float64 copies of a layer's tensors a verification holds at its peak: the inputs,
#: the kernels' results, the NumPy oracle's padded and windowed intermediates and
#: PyTorch's copies.
MEMORY_COPIES = 8


@dataclass(frozen=True)
class Comparison:
    """One kernel against one oracle (`schedule`: the variant checked, "" for the default;
    `error`: why the kernel gave no answer at all)."""

    kernel: str
    oracle: str
    max_abs: float
    max_rel: float
    tolerance: float
    schedule: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(np.isfinite(self.max_rel)) and self.max_rel <= self.tolerance


@dataclass(frozen=True)
class VerifyReport:
    """The comparisons of one layer's kernels, and where the kernels came from."""

    spec: LayerSpec
    seed: int
    path: Path
    comparisons: tuple[Comparison, ...]
    torch_note: str

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def worst(self) -> dict[str, float]:
        """Largest relative error of each kernel over all oracles."""
        worst: dict[str, float] = {}
        for c in self.comparisons:
            worst[c.kernel] = max(worst.get(c.kernel, 0.0), c.max_rel)
        return worst

    def format(self) -> str:
        """A plain-text table a person reads in a terminal."""
        if any(c.schedule for c in self.comparisons):
            return self._format_variants()
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"verify {self.spec.label} ({self.spec.dtype}, seed {self.seed}): {verdict}",
            f"  {self.spec.describe()}",
            f"  kernels: {self.path}",
            f"  error = max|kernel - oracle| / max|oracle|; {self.torch_note}",
            "",
            f"  {'kernel':<12} {'oracle':<10} {'max abs':>10} {'max rel':>10} "
            f"{'tolerance':>10}  ok",
        ]
        for c in self.comparisons:
            lines.append(
                f"  {c.kernel:<12} {c.oracle:<10} {c.max_abs:>10.2e} {c.max_rel:>10.2e} "
                f"{c.tolerance:>10.0e}  {'yes' if c.ok else 'NO'}"
            )
        return "\n".join(lines)

    def _format_variants(self) -> str:
        """One row per (kernel, variant): its error against each oracle."""
        oracles = list(dict.fromkeys(c.oracle for c in self.comparisons))
        rows: dict[tuple[str, str], dict[str, Comparison]] = {}
        for c in self.comparisons:
            rows.setdefault((c.kernel, c.schedule), {})[c.oracle] = c
        failed = sum(1 for cells in rows.values() if not all(c.ok for c in cells.values()))
        verdict = "OK" if not failed else f"FAILED ({failed} of {len(rows)} variants)"
        tolerance = TOLERANCES[self.spec.dtype]
        width = max([len("variant"), *(len(schedule) for _, schedule in rows)])
        lines = [
            f"verify {self.spec.label} ({self.spec.dtype}, seed {self.seed}), every algorithm "
            f"and variant: {verdict}",
            f"  {self.spec.describe()}",
            f"  {len(rows)} (kernel, variant) cells; @1: compiled without threads, @N: on N "
            "threads",
            f"  error = max|kernel - oracle| / max|oracle|, tolerance {tolerance:.0e}; "
            f"{self.torch_note}",
            "",
            f"  {'kernel':<12} {'variant':<{width}}"
            + "".join(f" {o:>10}" for o in oracles)
            + "  ok",
        ]
        for (kernel, schedule), cells in rows.items():
            first = next(iter(cells.values()))
            if first.error:
                lines.append(f"  {kernel:<12} {schedule:<{width}} NO: {first.error}")
                continue
            errors = "".join(
                f" {cells[o].max_rel:>10.2e}" if o in cells else f" {'-':>10}" for o in oracles
            )
            ok = "yes" if all(c.ok for c in cells.values()) else "NO"
            lines.append(f"  {kernel:<12} {schedule:<{width}}{errors}  {ok}")
        return "\n".join(lines)


def random_inputs(spec: LayerSpec, seed: int) -> dict[str, np.ndarray]:
    """Arguments for every kernel of `spec`, drawn by its kind (seeded)."""
    return kind_of(spec).random_inputs(spec, np.random.default_rng(seed))


def compare(kernel: str, oracle: str, got: np.ndarray, want: np.ndarray, tol: float) -> Comparison:
    """Largest absolute error, and the same relative to the oracle's largest magnitude."""
    max_abs, max_rel = relative_error(got, want)
    return Comparison(kernel, oracle, max_abs, max_rel, tol)


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


#: What `verify`'s `algorithms` accepts besides None (the default choice of each kernel).
ALL_ALGORITHMS = "all"


def verify(
    spec: LayerSpec,
    seed: int = 0,
    torch: bool | None = None,
    out: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    algorithms: str | None = None,
) -> VerifyReport:
    """Generate, run and compare every kernel of `spec` (a ConvSpec or a PoolSpec).

    torch=None compares with PyTorch when it can be imported, True requires it (an
    ImportError otherwise), False skips it.  algorithms=None checks the kernels the
    default choice lowers; "all" checks every algorithm and variant of every kernel,
    with threads and without (see the module docstring).
    """
    if algorithms not in (None, ALL_ALGORITHMS):
        raise ValueError(f"algorithms={algorithms!r}: expected None or {ALL_ALGORITHMS!r}")
    use_torch = _torch_available() if torch is None else torch
    if use_torch and not _torch_available():
        raise ImportError("verify(torch=True) needs PyTorch, which is not installed")
    kind = kind_of(spec)
    check_fits(spec, "verify", MEMORY_COPIES)
    arrays = random_inputs(spec, seed)
    oracles = {"reference": kind.reference(spec, arrays)}
    if use_torch:
        if progress is not None:
            progress(f"{spec.label}: computing PyTorch's answers")
        oracles["torch"] = kind.torch_reference(spec, arrays)
        note = "PyTorch compared"
    else:
        note = "PyTorch skipped" if torch is False else "PyTorch not installed"
    if algorithms == ALL_ALGORITHMS:
        return _verify_variants(spec, seed, out, progress, arrays, oracles, note)
    kernels = generate(spec, out, progress)
    got = kind.run(spec, kernels, arrays)
    tol = TOLERANCES[spec.dtype]
    comparisons = tuple(
        compare(name, oracle, got[name], results[name], tol)
        for name in got
        for oracle, results in oracles.items()
    )
    return VerifyReport(spec, seed, kernels.path, comparisons, note)


def every_variant(spec: LayerSpec, threads: int | None = None) -> dict[str, tuple[str, ...]]:
    """Per kernel, every schedule `verify(spec, algorithms="all")` checks: each variant
    compiled without threads ("@1") and on `threads` (default: Numba's, at least 2)."""
    from symconv.lower.driver import variants_for, with_threads

    if threads is None:
        import numba

        threads = numba.config.NUMBA_NUM_THREADS
    threads = max(2, threads)
    return {
        f.name: tuple(
            with_threads(v, count) for v in variants_for(f, spec) for count in (1, threads)
        )
        for f in kind_of(spec).index_level(spec).formulas()
    }


def _verify_variants(
    spec: LayerSpec,
    seed: int,
    out: str | os.PathLike | None,
    progress: Callable[[str], None] | None,
    arrays: dict[str, np.ndarray],
    oracles: dict[str, dict[str, np.ndarray]],
    note: str,
) -> VerifyReport:
    """Every variant of every kernel, in rounds of one module each (see the module docstring)."""
    say = progress or (lambda message: None)
    kind = kind_of(spec)
    options = every_variant(spec)
    rounds = max(len(names) for names in options.values())
    tol = TOLERANCES[spec.dtype]
    comparisons: list[Comparison] = []
    done: set[tuple[str, str]] = set()
    path = Path()
    for index in range(rounds):
        schedules = {k: names[min(index, len(names) - 1)] for k, names in options.items()}
        fresh = {k: s for k, s in schedules.items() if (k, s) not in done}
        done.update(fresh.items())
        say(
            f"{spec.label}: round {index + 1} of {rounds}: "
            + ", ".join(f"{k} {s}" for k, s in fresh.items())
        )
        try:
            kernels = generate(spec, out, schedules=schedules)
            path = kernels.path
        except Exception as error:  # noqa: BLE001 - a variant's failure is a result
            comparisons += [
                _failed(k, s, f"did not build: {_one_line(error)}", tol) for k, s in fresh.items()
            ]
            continue
        for name, schedule in fresh.items():
            signature = kind.signature(spec, name)
            try:
                got = getattr(kernels, name)(*(arrays.get(p) for p in signature.params))
            except Exception as error:  # noqa: BLE001
                comparisons.append(_failed(name, schedule, f"raised {_one_line(error)}", tol))
                continue
            comparisons += [
                replace(compare(name, oracle, got, results[name], tol), schedule=schedule)
                for oracle, results in oracles.items()
            ]
    kernels_order = list(options)

    def order(c: Comparison) -> tuple[int, int]:
        return kernels_order.index(c.kernel), options[c.kernel].index(c.schedule)

    return VerifyReport(spec, seed, path, tuple(sorted(comparisons, key=order)), note)


def _failed(kernel: str, schedule: str, why: str, tolerance: float) -> Comparison:
    return Comparison(kernel, "reference", np.inf, np.inf, tolerance, schedule, why)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
