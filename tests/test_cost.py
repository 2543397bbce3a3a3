"""The efficiency table: the lecture's numbers, and counts checked against a real matrix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from symconv import ConvSpec, reference
from tests.strategies import conv_specs


def test_lecture_efficiency_table():
    """Seed 000: 320×280 input, 2×1 kernel, 319×280 output."""
    table = ConvSpec((320, 280), (2, 1)).cost()
    assert table.convolution.stored_floats == 2
    assert table.dense.stored_floats == 319 * 280 * 320 * 280
    assert table.dense.stored_floats > 8e9
    assert table.sparse.stored_floats == 2 * 319 * 280 == 178_640
    assert table.convolution.operations == 319 * 280 * 3 == 267_960
    assert table.dense.operations > 16e9
    assert table.sparse.operations == 267_960


@settings(max_examples=30, deadline=None)
@given(spec=conv_specs(max_rank=2, max_batch=1, dtype="float64", bias=False))
def test_sparse_count_is_the_nonzeros_of_the_layer_matrix(spec):
    """Build the layer's matrix column by column from the reference and count its entries."""
    rng = np.random.default_rng(0)
    w = rng.uniform(1.0, 2.0, spec.weight_shape)  # no weight is zero, so no entry cancels
    n_in = int(np.prod(spec.input_shape))
    columns = []
    for k in range(n_in):
        basis = np.zeros(n_in)
        basis[k] = 1.0
        columns.append(reference.forward(spec, basis.reshape(spec.input_shape), w).ravel())
    matrix = np.stack(columns, axis=1)
    table = spec.cost()
    assert table.sparse.stored_floats == np.count_nonzero(matrix)
    assert table.dense.stored_floats == matrix.size
    per_row = np.count_nonzero(matrix, axis=1)
    assert table.convolution.operations == int(np.sum(np.maximum(2 * per_row - 1, 0)))
    assert table.dense.operations == matrix.shape[0] * (2 * matrix.shape[1] - 1)
    assert table.convolution.stored_floats == w.size


def test_bias_adds_one_float_per_channel_and_one_addition_per_output():
    plain = ConvSpec((5, 5), 3, out_channels=2).cost()
    biased = ConvSpec((5, 5), 3, out_channels=2, bias=True).cost()
    assert biased.convolution.stored_floats == plain.convolution.stored_floats + 2
    assert biased.convolution.operations == plain.convolution.operations + 2 * 3 * 3


def test_derive_prints_the_efficiency_table():
    import re

    from symconv import derive

    text = derive(ConvSpec((320, 280), (2, 1))).to_text()
    table = text[text.index("Efficiency") :].splitlines()
    cells = [re.split(r"\s{2,}", line.strip()) for line in table if line.startswith("  ")]
    assert ["convolution", "2", "267,960"] in cells
    assert ["dense matrix", "8,003,072,000 (≈ 8.0e9)", "16,006,054,680 (≈ 1.6e10)"] in cells
    assert ["sparse matrix", "178,640", "267,960"] in cells
