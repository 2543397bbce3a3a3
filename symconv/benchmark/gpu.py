"""`symconv bench --target cuda`: the CUDA target's kernels against PyTorch on the GPU.

Both sides get device arrays made once; every timed call ends with a device
synchronisation, so the time is the kernel's, not the launch's.  Each answer is
checked against the NumPy reference before it is timed, as on the CPU.  Without a
usable GPU the command refuses in one line; with Numba's simulator
(``NUMBA_ENABLE_CUDASIM=1``) it runs, slowly, which tests the code path only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from symconv.benchmark.contenders import (
    OPERATIONS,
    Inputs,
    check_agreement,
    numpy_calls,
    torch_calls,
)
from symconv.kinds import ConvSpec
from symconv.timing import time_call

Progress = Callable[[str], None]


def gpu_missing() -> str | None:
    """None when the CUDA target can run here, else why not (one line)."""
    from symconv.targets.numba_cuda.runtime import cuda_module

    cuda = cuda_module()  # a one-line error without numba-cuda
    if not cuda.is_available():
        return "--target cuda needs a CUDA GPU, and numba.cuda.is_available() is False here"
    return None


def _torch_on_gpu() -> bool:
    try:
        import torch
    except ModuleNotFoundError:
        return False
    return bool(torch.cuda.is_available())


def run_gpu(
    layers: dict[str, ConvSpec], dtypes: tuple[str, ...], budget: float, say: Progress
) -> list[dict[str, object]]:
    """One row per layer, dtype and operation: symconv's and PyTorch's median seconds."""
    from numba import cuda

    from symconv.pipeline import generate

    reason = gpu_missing()
    if reason is not None:
        raise ValueError(reason)
    with_torch = _torch_on_gpu()
    if not with_torch:
        say("PyTorch with CUDA is not available: timing symconv's CUDA kernels only")
    rows = []
    for name, base in layers.items():
        for dtype in dtypes:
            spec = dataclasses.replace(base, dtype=dtype)
            say(f"{name} {dtype}: generating the CUDA kernels")
            kernels = generate(spec, target="cuda")
            data = Inputs.random(spec)
            ours = cuda_calls(kernels, data)
            theirs = torch_calls(spec, data, device="cuda") if with_torch else {}
            for operation in OPERATIONS:
                expected = np.asarray(numpy_calls(spec, data)[operation](), dtype=np.float64)
                check_agreement(
                    f"symconv cuda {operation} of {name}",
                    ours[operation]().copy_to_host(),
                    expected,
                    dtype,
                )
                row = {"layer": name, "dtype": dtype, "operation": operation}
                row["symconv"] = _timed(ours[operation], cuda.synchronize, budget)
                if with_torch:
                    import torch

                    row["torch"] = _timed(theirs[operation], torch.cuda.synchronize, budget)
                rows.append(row)
                say(f"{name} {dtype} {operation}: {row['symconv'] * 1e6:.1f} µs")
    return rows


def cuda_calls(kernels: object, data: Inputs) -> dict[str, Callable[[], object]]:
    """The CUDA kernels on device copies of `data`, made once."""
    from numba import cuda

    device = {k: cuda.to_device(v) for k, v in vars(data).items() if v is not None}
    return {
        "forward": lambda: kernels.forward(device["x"], device["w"], device.get("b")),
        "grad_input": lambda: kernels.grad_input(device["gy"], device["w"]),
        "grad_weight": lambda: kernels.grad_weight(device["x"], device["gy"]),
    }


def _timed(call: Callable[[], object], synchronize: Callable[[], None], budget: float) -> float:
    def synchronized() -> None:
        call()
        synchronize()

    return time_call(synchronized, budget=budget, min_runs=3).median


def markdown(rows: list[dict[str, object]]) -> str:
    """The table: µs per call, and PyTorch's time over symconv's where PyTorch ran."""
    lines = [
        "| layer | dtype | operation | symconv µs | PyTorch µs | vs PyTorch |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        ours = float(row["symconv"])
        theirs = row.get("torch")
        ratio = f"{float(theirs) / ours:.2f}×" if theirs is not None else "–"
        torch_text = f"{float(theirs) * 1e6:.1f}" if theirs is not None else "–"
        lines.append(
            f"| {row['layer']} | {row['dtype']} | {row['operation']} | {ours * 1e6:.1f} | "
            f"{torch_text} | {ratio} |"
        )
    return "\n".join(lines)
