"""Run the CUDA target's kernels on Numba's CUDA simulator; print each kernel's error as JSON.

    NUMBA_ENABLE_CUDASIM=1 python -m tests.targets.numba_cuda.simulate OUT SPEC_JSON...

The simulator must be switched on before `numba.cuda` is first imported, so the tests
run this in a subprocess.  Each kernel is called twice: with NumPy arrays (copied to
the device and back) and with device arrays (the result must stay on the device).
Errors are relative to the largest reference value (`symconv.kinds.relative_error`).
"""

from __future__ import annotations

import json
import sys

import numpy as np
from numba import cuda

from symconv import reference
from symconv.kinds import relative_error, spec_from_json
from symconv.pipeline import generate


def _calls(spec, rng):
    dtype = np.dtype(spec.dtype)
    x = rng.standard_normal(spec.input_shape).astype(dtype)
    gy = rng.standard_normal(spec.output_shape).astype(dtype)
    if hasattr(spec, "weight_shape"):
        w = rng.standard_normal(spec.weight_shape).astype(dtype)
        b = rng.standard_normal(spec.bias_shape).astype(dtype) if spec.bias else None
        calls = {
            "forward": ((x, w, b), reference.forward(spec, x, w, b)),
            "grad_input": ((gy, w), reference.grad_input(spec, gy, w)),
            "grad_weight": ((x, gy), reference.grad_weight(spec, x, gy)),
        }
        if spec.bias:
            calls["grad_bias"] = ((gy,), reference.grad_bias(spec, gy))
        return calls
    return {
        "forward": ((x,), reference.pool_forward(spec, x)),
        "grad_input": ((gy, x), reference.pool_grad_input(spec, gy, x)),
    }


def main(out: str, texts: list[str]) -> None:
    results = {}
    for text in texts:
        spec = spec_from_json(text)
        kernels = generate(spec, out, target="cuda")
        rng = np.random.default_rng(0)
        errors = {"algorithms": kernels.algorithms}
        for name, (args, want) in _calls(spec, rng).items():
            kernel = getattr(kernels, name)
            host = kernel(*args)
            device = kernel(*(None if a is None else cuda.to_device(a) for a in args))
            stays = cuda.devicearray.is_cuda_ndarray(device)
            errors[name] = {
                "host": relative_error(host, want)[1],
                "device": relative_error(device.copy_to_host(), want)[1] if stays else None,
                "host_type": type(host).__name__,
                "dtype": str(host.dtype),
            }
        results[text] = errors
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
