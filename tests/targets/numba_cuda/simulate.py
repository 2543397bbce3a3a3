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

from symconv.kinds import kind_of, relative_error, spec_from_json
from symconv.pipeline import generate


def _calls(spec, rng):
    """Each kernel's arguments and the NumPy reference's result, from the layer's kind."""
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, rng)
    want = kind.reference(spec, arrays)
    return {
        s.name: (tuple(arrays.get(p) for p in s.params), want[s.name])
        for s in kind.signatures(spec)
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
