"""Autotuning: time every algorithm that can lower each kernel on this machine, keep the fastest.

The default choice (`symconv.lower.algorithms.default`) is a rule of thumb measured
on one machine; `generate(spec, autotune=True)` measures instead.  Every applicable
algorithm of every kernel (Winograd at output tiles 2, 4 and 6, blocked at two channel
tiles besides its own) is compiled, its answer checked against the NumPy reference,
and timed as the benchmark times (warm-up, then the median of repeated calls).

A candidate that fails to compile, raises or answers wrong is dropped: it is reported
in one line naming the layer and the algorithm, recorded as rejected with its error,
never timed and never chosen, and the tuning goes on.

Compiling one module per candidate of every kernel would multiply the compile time by
the kernels; instead round i compiles one module whose kernel k uses k's i-th
candidate, so the rounds are as many as the longest candidate list.  Then the threads:
the fastest algorithm of each threaded kernel is timed again on one thread (compiled
without threads, one more round: schedule "rows@1") and on each power of two below all
threads (the same kernel, Numba held to that many: "rows@2"), and the fastest of all
is the choice.

The candidates, their medians and the choice go to a JSON file beside the module
(``<layer>_<key>.autotune.json``).  A later ``generate(spec, autotune=True)`` on the
same machine (CPU, cores, threads, symconv version, templates) reads it and times
nothing; a different machine, or a changed symconv, measures again.  Timing happens
only on request: `generate(spec)` stays deterministic.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symconv.files import write_text_atomic
from symconv.kinds import TOLERANCES, kind_of, relative_error
from symconv.lower.algorithms.blocked import BLOCKED
from symconv.lower.algorithms.blocked import tiles as blocked_tiles
from symconv.lower.algorithms.winograd import LARGEST_TILE
from symconv.lower.driver import default_schedule, schedules_for, tunings_for, with_threads
from symconv.machine import HOST, cpu_name
from symconv.timing import time_call
from symconv.version import __version__

#: Winograd output tiles the tuner tries besides the default one.
WINOGRAD_TILES = (2, 4, 6)
#: Seconds of timing per candidate kernel (at least `MIN_RUNS` calls).
BUDGET = 0.3
MIN_RUNS = 5
#: A candidate whose first call takes this many times the best median is not timed further.
HOPELESS = 10
#: Seconds a tuning run may take before it starts no further round (compiling is most
#: of it: a 3-D layer's Winograd candidates alone compile for minutes).
SECONDS = 120.0

Build = Callable[[dict[str, str]], Any]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Tuning:
    """What a tuning run measured: seconds per candidate per kernel, and the choice."""

    machine: dict[str, object]
    seconds: dict[str, dict[str, float]]
    #: Candidates left untimed when the time budget ran out, per kernel.
    not_tried: dict[str, tuple[str, ...]] = field(default_factory=dict)
    budget_seconds: float = SECONDS
    #: Candidates dropped, per kernel: why (a compile error, an exception, a wrong answer).
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def choice(self) -> dict[str, str]:
        return {kernel: min(times, key=times.get) for kernel, times in self.seconds.items()}

    def to_json(self, spec: Any) -> str:
        data = {
            "layer": spec.label,
            "spec": spec.to_dict(),
            "machine": self.machine,
            "candidates_seconds": self.seconds,
            "not_tried": {k: list(v) for k, v in self.not_tried.items() if v},
            "rejected": {k: dict(v) for k, v in self.rejected.items() if v},
            "budget_seconds": self.budget_seconds,
            "choice": self.choice,
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def machine_fingerprint(target_digest: str) -> dict[str, object]:
    """What a choice depends on besides the layer: hardware, threads, code versions."""
    import numba

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": numba.get_num_threads(),
        "numba": numba.__version__,
        "symconv": __version__,
        "templates": target_digest,
    }


def record_path(module: Path, spec: Any) -> Path:
    """The JSON beside the module: named after the layer, not the algorithms chosen."""
    return module.parent / f"{module.stem.rsplit('_', 1)[0]}_{spec.key}.autotune.json"


def recorded_choice(path: Path, machine: dict[str, object]) -> dict[str, str] | None:
    """The choice in `path` if it was measured on this machine by this code, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("machine") != machine:
        return None
    choice = data.get("choice")
    if not isinstance(choice, dict) or not all(isinstance(v, str) for v in choice.values()):
        return None
    return choice


def candidates(spec: Any) -> dict[str, tuple[str, ...]]:
    """Per kernel, the algorithms to try: the default choice first (so a run cut short by
    its time budget still has it), then every other applicable one, Winograd at each
    output tile, blocked at its default channel tile and the next largest ones, simd and
    positions at their default register tile and a few around it."""
    found = {}
    for formula in kind_of(spec).index_level(spec).formulas():
        names: list[str] = [default_schedule(formula, spec)]
        for name in schedules_for(formula, spec):
            if name == "winograd":
                names += [f"winograd:{m}" for m in WINOGRAD_TILES if _fits(spec, m)]
            elif name == BLOCKED.name:
                names.append(name)
                names += [f"{name}:{b_m}x{b_c}" for b_m, b_c in blocked_tiles(spec, HOST)]
            else:
                names.append(name)
                names += tunings_for(formula, spec, name)
        found[formula.name] = tuple(dict.fromkeys(names))
    return found


def _fits(spec: Any, m: int) -> bool:
    return max(spec.kernel_size) + m - 1 <= LARGEST_TILE


def tune(
    spec: Any, build: Build, machine: dict[str, object], say: Progress, budget: float = SECONDS
) -> Tuning:
    """Compile, check and time every candidate of every kernel (`build(schedules)` compiles).

    Round 1 (the default choice) always runs; no round starts after `budget` seconds,
    and the candidates left are recorded as not tried.
    """
    session = _Session(spec, build, say)
    options = candidates(spec)
    session.defaults = {k: names[0] for k, names in options.items()}
    rounds = max(len(names) for names in options.values())
    started = time.perf_counter()
    for index in range(rounds):
        schedules = {k: names[min(index, len(names) - 1)] for k, names in options.items()}
        if index and time.perf_counter() - started > budget:
            return session.stopped(options, budget, machine)
        session.round(schedules, f"round {index + 1} of {rounds}")
    if time.perf_counter() - started > budget:
        say(f"{spec.label}: autotune stopped after {budget:g} s, before timing thread counts")
    else:
        session.tune_threads(thread_counts(_available_threads()))
    return session.tuning(machine, {}, budget)


def thread_counts(available: int) -> tuple[int, ...]:
    """Thread counts worth timing below all `available` ones: 1, then powers of two.

    All threads is what every candidate already ran on; fewer can win where the work
    is too small to share (one thread needs no hand-over, and a kernel compiled
    without threads none of the parallel set-up).
    """
    counts, n = [], 1
    while n < available:
        counts.append(n)
        n *= 2
    return tuple(counts)


def _available_threads() -> int:
    import numba

    return numba.get_num_threads()


class _Session:
    """One tuning run's state: the inputs, the reference, every median and where it came from."""

    def __init__(self, spec: Any, build: Build, say: Progress) -> None:
        self.spec, self.build, self.say = spec, build, say
        self.kind = kind_of(spec)
        self.arrays = self.kind.random_inputs(spec, np.random.default_rng(0))
        self.expected = self.kind.reference(spec, self.arrays)
        self.seconds: dict[str, dict[str, float]] = {s.name: {} for s in self.kind.signatures(spec)}
        #: Candidates dropped, per kernel, with the reason.
        self.rejected: dict[str, dict[str, str]] = {kernel: {} for kernel in self.seconds}
        #: The default choice of each kernel, the first candidate tried (set by `tune`).
        self.defaults: dict[str, str] = {}
        #: The compiled kernels each timed candidate came from, per kernel.
        self.built: dict[str, dict[str, Any]] = {kernel: {} for kernel in self.seconds}

    def tried(self, kernel: str, schedule: str) -> bool:
        return schedule in self.seconds[kernel] or schedule in self.rejected[kernel]

    def round(self, schedules: dict[str, str], title: str) -> None:
        """Compile one module of `schedules`; check and time every candidate not yet tried.

        When the module fails to build, each new candidate is built again alone (the other
        kernels at their default choice), so one bad candidate rejects only itself.
        """
        fresh = {k: s for k, s in schedules.items() if not self.tried(k, s)}
        if not fresh:
            return
        self.say(f"{self.spec.label}: autotune {title}: " + _describe(fresh))
        try:
            kernels = self.build(schedules)
        except Exception as error:  # noqa: BLE001 - a candidate's failure is a result
            if len(fresh) == 1:
                ((name, schedule),) = fresh.items()
                self.reject(name, schedule, f"did not build: {_one_line(error)}")
                return
            for name, schedule in fresh.items():
                alone = {k: self.defaults[k] for k in schedules} | {name: schedule}
                self.round(alone, f"{title}, {name} alone")
            return
        for name, schedule in fresh.items():
            self.time(name, schedule, _call(kernels, self._signature(name), self.arrays))
            self.built[name][schedule] = kernels

    def reject(self, name: str, schedule: str, why: str) -> None:
        """Drop a candidate: reported in one line, recorded, never timed nor chosen."""
        self.rejected[name][schedule] = why
        self.say(f"{self.spec.label}: {name} {schedule} rejected: {why}")

    def time(self, name: str, schedule: str, call: Callable[[], Any]) -> None:
        """Check `call`'s answer against the reference, then record its median."""
        try:
            answer = np.asarray(call())
        except Exception as error:  # noqa: BLE001 - a candidate's failure is a result
            self.reject(name, schedule, f"raised {_one_line(error)}")
            return
        _, error = relative_error(answer, self.expected[name])
        if not error <= TOLERANCES[self.spec.dtype]:
            self.reject(
                name,
                schedule,
                f"wrong answer: relative error {error:.3g} against the NumPy reference "
                f"(tolerance {TOLERANCES[self.spec.dtype]:g})",
            )
            return
        best = min(self.seconds[name].values(), default=None)
        self.seconds[name][schedule] = measure(call, best)
        self.say(
            f"{self.spec.label}: {name} {schedule}: {self.seconds[name][schedule] * 1e6:,.0f} µs"
        )

    def tune_threads(self, counts: tuple[int, ...]) -> None:
        """The fastest algorithm of each threaded kernel, again on each of `counts` threads.

        One thread is a module of its own (compiled without threads); more run the
        compiled threaded kernel with Numba held to that many.
        """
        best = {k: min(times, key=times.get) for k, times in self.seconds.items() if times}
        threaded = {k: name for k, name in best.items() if self.built[k][name].threads.get(k) != 1}
        if not threaded or not counts:
            return
        if counts[0] == 1:
            serial = {k: with_threads(best[k], 1) if k in threaded else best[k] for k in best}
            self.round(serial, "threads round: 1 thread")
        for count in counts[1:]:
            for k, name in threaded.items():
                call = _call(self.built[k][name], self._signature(k), self.arrays)
                self.time(k, with_threads(name, count), _on_threads(call, count))

    def stopped(self, options: dict[str, tuple[str, ...]], budget: float, machine: dict) -> Tuning:
        left = {k: tuple(n for n in names if not self.tried(k, n)) for k, names in options.items()}
        self.say(
            f"{self.spec.label}: autotune stopped after {budget:g} s; not tried: " + _left(left)
        )
        return self.tuning(machine, left, budget)

    def tuning(self, machine: dict, left: dict[str, tuple[str, ...]], budget: float) -> Tuning:
        """The result; a kernel none of whose candidates was right is an error (a bug)."""
        failed = [k for k, times in self.seconds.items() if not times]
        if failed:
            why = "; ".join(f"{k}: " + ", ".join(self.rejected[k]) for k in failed)
            raise RuntimeError(
                f"autotune of {self.spec.label}: no candidate was right for {why} "
                "(please report this layer)"
            )
        return Tuning(machine, self.seconds, left, budget, self.rejected)

    def _signature(self, name: str) -> Any:
        return self.kind.signature(self.spec, name)


def _on_threads(call: Callable[[], Any], count: int) -> Callable[[], Any]:
    from symconv.targets.numba_cpu.runtime import numba_threads

    def on_threads() -> Any:
        with numba_threads(count):
            return call()

    return on_threads


def measure(call: Callable[[], Any], best: float | None) -> float:
    """Median seconds of `call`; one timed call is enough when it is far off the best so far."""
    first = time_call(call, warmup=0, min_runs=1, max_runs=1).median
    if best is not None and first > HOPELESS * best:
        return first
    return time_call(call, budget=BUDGET, min_runs=MIN_RUNS).median


def write_record(path: Path, spec: Any, tuning: Tuning) -> None:
    write_text_atomic(path, tuning.to_json(spec))


def _call(kernels: Any, signature: Any, arrays: dict[str, np.ndarray]) -> Callable[[], Any]:
    function = getattr(kernels, signature.name)
    args = tuple(arrays.get(p) for p in signature.params if p not in signature.absent)
    return lambda: function(*args)


def _one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _left(left: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{kernel} {', '.join(names)}" for kernel, names in left.items() if names)


def _describe(schedules: dict[str, str]) -> str:
    return ", ".join(f"{kernel} {name}" for kernel, name in schedules.items())
