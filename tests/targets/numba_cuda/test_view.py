"""The CUDA target's rendered source: launch layout, stride phases, shared memory, atomics.

Rendering needs neither numba-cuda nor a GPU; what the kernels compute is tested on
the simulator (test_simulator.py).
"""

from __future__ import annotations

import ast

from symconv import ConvSpec, PoolSpec
from symconv.pipeline import render


def cuda_source(spec) -> str:
    source = render(spec, target="cuda")
    ast.parse(source)  # valid Python
    return source


def kernel(source: str, name: str) -> str:
    start = source.index(f"def {name}(")
    end = source.find("@cuda.jit", start)
    return source[start : end if end > 0 else None]


def test_forward_grids_planes_and_stages_the_channels_weights_in_shared_memory():
    spec = ConvSpec((6, 5), 3, 4, 6, batch=2, groups=2, padding=1, bias=True)
    forward = kernel(cuda_source(spec), "forward")
    assert "plane = cuda.blockIdx.y" in forward
    assert "w_shared = cuda.shared.array(18, FLOAT)" in forward  # 2 channels × 3 × 3 taps
    assert "cuda.syncthreads()" in forward
    assert forward.index("cuda.syncthreads()") < forward.index("if position < 30:")
    assert "return" not in forward  # no thread leaves before the barrier
    assert "* w_shared[9 * c + 3 * th + tw]" in forward


def test_convolution_mode_reads_the_rotated_weight_from_global_memory():
    forward = kernel(cuda_source(ConvSpec((5, 5), 2, mode="convolution")), "forward")
    assert "w_shared" not in forward and "w[" in forward


def test_grad_input_loops_over_its_stride_phase_only():
    spec = ConvSpec((5, 5), 3, stride=2, padding=((1, 0), (0, 1)))
    grad_input = kernel(cuda_source(spec), "grad_input")
    assert "for th in range((rh + 1) % 2, 3, 2):" in grad_input
    assert "for tw in range(rw % 2, 3, 2):" in grad_input
    assert "% 2 == 0" not in grad_input  # the divisibility guards are gone


def test_weight_and_bias_gradients_sum_by_blocks_in_shared_memory():
    spec = ConvSpec((9,), 2, 1, 2, batch=4, bias=True)
    source = cuda_source(spec)
    for name in ("grad_weight", "grad_bias"):
        body = kernel(source, name)
        assert "partial = cuda.shared.array(REDUCE_THREADS, FLOAT)" in body
        assert "cuda.atomic" not in body
    assert '"grad_weight": (4, 128),' in source  # one block per weight element


def test_max_pooling_gradient_adds_atomically_where_windows_overlap():
    source = cuda_source(PoolSpec("max", (5, 5), 3, stride=2))
    assert "cuda.atomic.add(gx, (" in kernel(source, "grad_input")
    assert '"grad_input": ("gx", (1, 1, 5, 5), True),' in source  # the result starts at 0
