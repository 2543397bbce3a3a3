"""`run_suite`: every layer, operation and dtype timed in one process, as one result.

For each layer the generated kernels are built (or loaded from the cache), each
contender's answer is checked against the NumPy reference once, and then each is
timed (`timing.time_call`).  PyTorch gets the same thread count as Numba
(`NUMBA_NUM_THREADS`, else every core), so the ratio compares like with like.  The
sgemm (and dgemm) rate of NumPy's BLAS is measured in the same run: the ceiling
the percentages refer to.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from symconv.benchmark.contenders import (
    OPERATIONS,
    Inputs,
    check_agreement,
    flops,
    generated_calls,
    numpy_calls,
    torch_calls,
)
from symconv.benchmark.peak import peak_gflops
from symconv.kinds import ConvSpec
from symconv.machine import cpu_name
from symconv.runtime.memory import check_fits
from symconv.timing import Timing, time_call
from symconv.verify import MEMORY_COPIES

Progress = Callable[[str], None]
CONTENDERS = ("symconv", "torch", "numpy")
GEMM_SIZE = 1024


@dataclass(frozen=True)
class Measurement:
    """One timed cell: layer × operation × dtype × contender."""

    layer: str
    operation: str
    dtype: str
    contender: str
    seconds: float
    low: float
    high: float
    runs: int
    gflops: float
    algorithm: str = ""


@dataclass
class BenchResult:
    """Everything one run measured, plus the machine it ran on."""

    machine: dict[str, object]
    threads: int
    ceilings: dict[str, float]
    layers: dict[str, dict[str, object]]
    measurements: list[Measurement] = field(default_factory=list)
    #: The FMA peak per dtype (`symconv.benchmark.peak`): the physical ceiling.
    peaks: dict[str, float] = field(default_factory=dict)

    def seconds(self, layer: str, operation: str, dtype: str, contender: str) -> float | None:
        for m in self.measurements:
            if (m.layer, m.operation, m.dtype, m.contender) == (layer, operation, dtype, contender):
                return m.seconds
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "machine": self.machine,
            "threads": self.threads,
            "ceilings_gflops": self.ceilings,
            "peaks_gflops": self.peaks,
            "layers": self.layers,
            "measurements": [dataclasses.asdict(m) for m in self.measurements],
        }


def machine_info() -> dict[str, object]:
    """What the numbers depend on: CPU, cores, library versions, date."""
    import numba

    info: dict[str, object] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_at_start": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "date": datetime.date.today().isoformat(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ModuleNotFoundError:
        info["torch"] = None
    return info


def load_average() -> float | None:
    """The 1-minute load average (processes running or waiting), None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def thread_count() -> int:
    """Numba's thread count (NUMBA_NUM_THREADS, else every core); torch is set to match.

    PyTorch is imported *before* Numba starts its threading layer: the other way round
    (Numba's OpenMP pool running when torch loads its own), every float64 convolution
    of PyTorch's took 35 ms instead of 50 µs on the 32×1×8×8 layer (measured), a collapse
    that would flatter symconv.
    """
    try:
        import torch
    except ModuleNotFoundError:
        torch = None
    import numba

    threads = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    return threads


def gemm_ceiling(dtype: str, size: int = GEMM_SIZE, budget: float = 1.0) -> float:
    """GFLOP/s of NumPy's BLAS multiplying two size×size matrices: the practical peak."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    timing = time_call(lambda: a @ b, budget=budget)
    return 2 * size**3 / timing.median / 1e9


#: Seconds to wait before timing a contender: long enough for the previous one's
#: thread pool (OpenBLAS, OpenMP) to stop spinning and give the cores back.
SETTLE_SECONDS = 0.1


def settle() -> None:
    """Let idle worker threads of the last library go to sleep before the next timing.

    OpenBLAS and OpenMP workers busy-wait for a while after a call; timed right
    after the NumPy reference, a Numba kernel measured up to twice as slow.
    """
    time.sleep(SETTLE_SECONDS)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def run_suite(
    layers: dict[str, ConvSpec],
    *,
    dtypes: tuple[str, ...] = ("float32", "float64"),
    budget: float = 1.0,
    min_runs: int = 5,
    progress: Progress | None = None,
    advance: Callable[[], None] | None = None,
) -> BenchResult:
    """Time every layer's forward, grad_input and grad_weight for each contender and dtype.

    `progress` hears what is being done; `advance` is called once per finished cell
    (layer × dtype × operation), for a progress bar.
    """
    say = progress or (lambda message: None)
    threads = thread_count()
    with_torch = torch_available()
    if not with_torch:
        say("PyTorch is not installed: timing symconv and NumPy only")
    ceilings = {dtype: gemm_ceiling(dtype, budget=budget) for dtype in dtypes}
    say("gemm ceiling: " + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in ceilings.items()))
    peaks = {dtype: peak_gflops(dtype, threads) for dtype in dtypes}
    say("FMA peak: " + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in peaks.items()))
    result = BenchResult(machine_info(), threads, ceilings, {}, peaks=peaks)
    for name, base in layers.items():
        check_fits(base, "the benchmark", MEMORY_COPIES)
        result.layers[name] = {
            "spec": base.to_dict(),
            "label": base.label,
            "flops": flops(base),
            "cold_generate_seconds": {},
        }
        for dtype in dtypes:
            spec = dataclasses.replace(base, dtype=dtype)
            say(f"{name} {dtype}: generating kernels (cold: a fresh folder, nothing cached)")
            kernels, seconds = cold_generate(spec)
            result.layers[name]["cold_generate_seconds"][dtype] = seconds
            data = Inputs.random(spec)
            contenders = {
                "symconv": generated_calls(kernels, data),
                "numpy": numpy_calls(spec, data),
            }
            if with_torch:
                contenders["torch"] = torch_calls(spec, data)
            for operation in OPERATIONS:
                expected = np.asarray(contenders["numpy"][operation](), dtype=np.float64)
                for contender in CONTENDERS:
                    if contender not in contenders:
                        continue
                    call = contenders[contender][operation]
                    if contender != "numpy":  # the reference is `expected` itself
                        check_agreement(
                            f"{contender} {operation} of {name}", _numpy(call()), expected, dtype
                        )
                    settle()
                    timing = time_call(call, budget=budget, min_runs=min_runs)
                    algorithm = (
                        kernels.algorithms.get(operation, "") if contender == "symconv" else ""
                    )
                    result.measurements.append(
                        _measurement(name, operation, dtype, contender, timing, spec, algorithm)
                    )
                say(f"{name} {dtype} {operation}: " + _summary(result, name, operation, dtype))
                if advance is not None:
                    advance()
    result.machine["load_at_end"] = load_average()
    return result


def cold_generate(spec: ConvSpec) -> tuple[object, float]:
    """The layer's kernels generated into an empty folder (derive, lower, render, compile),
    and the seconds that took: what a new user waits the first time."""
    from symconv.pipeline import generate

    with tempfile.TemporaryDirectory(prefix="symconv-bench-") as folder:
        started = time.perf_counter()
        kernels = generate(spec, folder)
        return kernels, time.perf_counter() - started


def _numpy(value: object) -> np.ndarray:
    if hasattr(value, "numpy"):
        return value.numpy()  # type: ignore[union-attr]
    return np.asarray(value)


def _measurement(
    layer: str,
    operation: str,
    dtype: str,
    contender: str,
    timing: Timing,
    spec: ConvSpec,
    algorithm: str = "",
) -> Measurement:
    return Measurement(
        layer,
        operation,
        dtype,
        contender,
        timing.median,
        timing.low,
        timing.high,
        timing.runs,
        flops(spec) / timing.median / 1e9,
        algorithm,
    )


def _summary(result: BenchResult, layer: str, operation: str, dtype: str) -> str:
    parts = []
    for contender in CONTENDERS:
        seconds = result.seconds(layer, operation, dtype, contender)
        if seconds is not None:
            parts.append(f"{contender} {seconds * 1e6:.0f} µs")
    ours, theirs = (result.seconds(layer, operation, dtype, c) for c in ("symconv", "torch"))
    if ours and theirs:
        parts.append(f"{theirs / ours:.2f}× PyTorch")
    return ", ".join(parts)
