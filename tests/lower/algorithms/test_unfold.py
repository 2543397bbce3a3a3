"""Tests for the unfold (im2col) algorithm: column matrices and BLAS products per image."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.interpret import run
from symconv.lower.ir import For, Gemm, If, walk
from tests.strategies import conv_specs

KERNELS = ("forward", "grad_input", "grad_weight")


@settings(max_examples=40, deadline=None)
@given(spec=conv_specs(max_batch=4), threads=st.booleans(), seed=st.integers(0, 2**16))
def test_unfold_nests_compute_the_reference(spec, threads, seed):
    """Every awkward case of conv_specs, images in chunks (threads) or one at a time."""
    arrays = {
        k: a.astype(np.float64)
        for k, a in CONVOLUTION.random_inputs(spec, np.random.default_rng(seed)).items()
    }
    expected = CONVOLUTION.reference(spec, arrays)
    for formula in index_level(spec).formulas():
        if formula.name not in KERNELS:
            continue
        nest = lower(formula, spec, schedule="unfold", parallel=threads)
        assert not any(isinstance(s, If) for s, _ in walk(nest.body))
        np.testing.assert_allclose(
            run(nest, arrays), expected[formula.name], rtol=1e-11, atol=1e-11
        )


def test_images_run_in_chunks_with_the_blas_held_to_one_thread():
    spec = ConvSpec((9, 9), 3, stride=2, in_channels=4, out_channels=4, batch=8)
    nest = lower(index_level(spec).forward, spec, schedule="unfold", parallel=True)
    (chunks,) = [s for s, _ in walk(nest.body) if isinstance(s, For) and s.parallel]
    assert chunks.extent == 4 and nest.blas_in_threads
    assert [s for s, _ in walk(nest.body) if isinstance(s, Gemm)]
    single = lower(index_level(spec).forward, spec, schedule="unfold", parallel=False)
    assert not single.blas_in_threads
