"""Tests for the gemm algorithm: pointwise layers as one matrix product per image and group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower, lower_all
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from symconv.lower.ir import For, Gemm, walk
from symconv.machine import Machine
from tests.strategies import conv_specs, pointwise_specs

GEMM_KERNELS = ("forward", "grad_input", "grad_weight")


def kernel_arrays(spec: ConvSpec, seed: int) -> dict[str, np.ndarray]:
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    return {name: a.astype(np.float64) for name, a in arrays.items()}


@settings(max_examples=60, deadline=None)
@given(spec=pointwise_specs(), seed=st.integers(0, 2**16))
def test_gemm_nests_compute_the_reference(spec, seed):
    arrays = kernel_arrays(spec, seed)
    expected = CONVOLUTION.reference(spec, arrays)
    for formula in index_level(spec).formulas():
        if formula.name not in GEMM_KERNELS:
            continue
        nest = lower(formula, spec, schedule="gemm")
        assert any(isinstance(s, Gemm) for s, _ in walk(nest.body))
        np.testing.assert_allclose(
            run(nest, arrays), expected[formula.name], rtol=1e-12, atol=1e-12
        )


@settings(max_examples=60, deadline=None)
@given(spec=conv_specs())
def test_gemm_applies_exactly_to_pointwise_layers(spec):
    pointwise = (
        all(k == 1 for k in spec.kernel_size)
        and all(s == 1 for s in spec.stride)
        and all(p == (0, 0) for p in spec.padding)
    )
    for formula in index_level(spec).formulas():
        offered = "gemm" in schedules_for(formula, spec)
        assert offered == (pointwise and formula.name in GEMM_KERNELS), formula.name


def test_without_explicit_vectors_the_default_picks_gemm_for_a_large_pointwise_layer():
    """(With them, simd and positions win: see `Gemm.preferred`.)  Images run in turn."""
    spec = ConvSpec((28, 28), 1, in_channels=256, out_channels=64, batch=8)
    plain = Machine(vector_bits=0)
    for name, nest in lower_all(index_level(spec), spec, machine=plain).items():
        assert any(isinstance(s, Gemm) for s, _ in walk(nest.body)), name
        # one level of parallelism: the BLAS's threads, never a parallel loop around it
        assert not nest.parallel and not any(
            isinstance(s, For) and s.parallel for s, _ in walk(nest.body)
        )


def test_a_strided_pointwise_layer_is_refused_by_name():
    spec = ConvSpec((8, 8), 1, stride=2)
    with pytest.raises(ValueError, match="schedule='gemm' cannot lower forward"):
        lower(index_level(spec).forward, spec, schedule="gemm")
