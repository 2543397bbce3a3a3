"""Median wall time of a call: warmed up, repeated, bounded by a time budget.

A median over repeated runs shrugs off the odd slow run (another process, a page
fault); the budget keeps the slow contender (the NumPy reference on a big layer)
from taking minutes, while `min_runs` keeps even it a median of several runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and quartiles of `runs` timed calls."""

    median: float
    low: float
    high: float
    runs: int


def time_call(
    call: Callable[[], object],
    *,
    warmup: int = 2,
    min_runs: int = 5,
    max_runs: int = 50,
    budget: float = 1.0,
) -> Timing:
    """Warm up, then time `call` until `max_runs` or `budget` seconds (at least `min_runs`)."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs:
        begin = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begin)
        if len(samples) >= min_runs and time.perf_counter() - started > budget:
            break
    if len(samples) >= 4:
        low, _, high = statistics.quantiles(samples, n=4)
    else:
        low, high = min(samples), max(samples)
    return Timing(statistics.median(samples), low, high, len(samples))
