"""Every algorithm with every parameter variant it accepts, threads forced on and off, run by
the interpreter on random layers of every kind and compared with the NumPy reference.

The interpreter checks each parallel loop for races as it runs it
(`symconv.lower.interpret.RaceError`): two iterations writing one element, one reading
what another writes, a local carried from one iteration to the next.  Together with the
CPU target's guarantee that parallel loops run in the order written (Numba's loop fusion
is off; tests/targets/numba_cpu/test_view.py checks every kernel says so), a nest that
passes here is right on threads too.  The compiled side is tests/test_pipeline.py.

The layers: `conv_specs` (ranks 1-3, stride with leftover rows, lopsided padding,
dilation, groups, both modes), `coinciding_specs` (loop extents made equal on purpose:
channels equal to Winograd's products per tile, batch chunks equal to output channels,
batch equal to channels), tiled and locally connected layers, and max and average
pooling.  Every variant of every kernel is run on every drawn layer, so every variant
the layer admits is covered on each example.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symconv.kinds import ConvSpec, kind_of
from symconv.lower import lower
from symconv.lower.driver import variants_for
from symconv.lower.interpret import run
from tests.pool_strategies import pool_specs
from tests.strategies import (
    coinciding_specs,
    conv_specs,
    depthwise_specs,
    long_row_specs,
    tiled_specs,
)

#: (layer, kernel, variant, threads) cells run, per layer family: printed at the end.
CELLS: dict[str, int] = {}
#: Winograd tiles above this are only drawn for 1-D layers: F(9, 3)² has 121 products per
#: tile and the interpreter runs each in Python; compiled tests cover them in 2-D.
LARGEST_INTERPRETED_TILE = {1: 9, 2: 4, 3: 2}


@pytest.fixture(scope="module", autouse=True)
def report_cells():
    yield
    print(f"\n(layer, kernel, variant, threads) cells interpreted: {CELLS}")


def interpreted(spec, name: str) -> bool:
    if not name.startswith("winograd:"):
        return True
    return int(name.partition(":")[2]) <= LARGEST_INTERPRETED_TILE[spec.rank]


def assert_every_variant_computes_the_reference(spec, seed: int, family: str) -> None:
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(seed))
    arrays = {name: a.astype(np.float64) for name, a in arrays.items()}
    expected = kind.reference(spec, arrays)
    for formula in kind.index_level(spec).formulas():
        want = expected[formula.name]
        scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
        for name in variants_for(formula, spec):
            if not interpreted(spec, name):
                continue
            for parallel in (False, True):
                nest = lower(formula, spec, schedule=name, parallel=parallel)
                got = run(nest, arrays)  # raises RaceError on a race
                error = float(np.max(np.abs(got - want), initial=0.0)) / scale
                where = f"{formula.name} {name} parallel={parallel}"
                assert error < 1e-9, f"{where}: relative error {error:.3g}"
                CELLS[family] = CELLS.get(family, 0) + 1


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(spec=conv_specs(max_channels_per_group=3, max_batch=3), seed=st.integers(0, 2**16))
@example(spec=ConvSpec((5, 19), 3, in_channels=2, out_channels=3, batch=4, padding=1), seed=0).via(
    "positions copies and correlates one image at a time from 4 images (Machine.image_chunks)"
)
def test_every_variant_on_random_layers(spec, seed):
    assert_every_variant_computes_the_reference(spec, seed, "conv_specs")


@SETTINGS
@given(spec=coinciding_specs(), seed=st.integers(0, 2**16))
@example(spec=ConvSpec(input_size=(4,), kernel_size=3, in_channels=3, out_channels=3), seed=0)
@example(spec=ConvSpec((64,), 3, in_channels=32, out_channels=4, batch=4, stride=2), seed=0).via(
    "the issue's unfold dL/dF case: 4 chunks of images, 4 output channels"
)
def test_every_variant_on_layers_whose_loop_extents_coincide(spec, seed):
    assert_every_variant_computes_the_reference(spec, seed, "coinciding_specs")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=tiled_specs(max_batch=2), seed=st.integers(0, 2**16))
def test_every_variant_on_tiled_layers(spec, seed):
    assert_every_variant_computes_the_reference(spec, seed, "tiled_specs")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=pool_specs(max_channels=3), seed=st.integers(0, 2**16))
def test_every_variant_on_pooling_layers(spec, seed):
    assert_every_variant_computes_the_reference(spec, seed, "pool_specs")


def assert_explicit_vectors_compute_the_reference(spec, seed: int, family: str) -> None:
    """Every variant of simd, positions and channel_blocked (the other algorithms are slow
    to interpret at these widths), threads on and off."""
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(seed))
    arrays = {name: a.astype(np.float64) for name, a in arrays.items()}
    expected = kind.reference(spec, arrays)
    for formula in kind.index_level(spec).formulas():
        explicit = ("simd", "positions", "channel_blocked")
        names = [n for n in variants_for(formula, spec) if n.startswith(explicit)]
        for name in names:
            for parallel in (False, True):
                got = run(lower(formula, spec, schedule=name, parallel=parallel), arrays)
                want = expected[formula.name]
                scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
                error = float(np.max(np.abs(got - want), initial=0.0)) / scale
                assert error < 1e-9, f"{formula.name} {name} parallel={parallel}: {error:.3g}"
                CELLS[family] = CELLS.get(family, 0) + 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=conv_specs(
        max_rank=2, max_channels_per_group=20, groups=(1, 2), max_batch=2, max_output=3
    ),  # fmt: skip
    seed=st.integers(0, 2**16),
)
@example(  # float64, 36 output channels: one tile of 4 vectors of 8 (the forward's default
    # from 4 blocks) and the partial group of a block of 4 channels; stride 2, rows of 7
    spec=ConvSpec((13, 13), 3, in_channels=2, out_channels=36, stride=2, dtype="float64"),
    seed=0,
)
def test_explicit_vectors_on_layers_wider_than_a_vector(spec, seed):
    """simd with several blocks of channels, a partial last one, groups and every tile."""
    assert_explicit_vectors_compute_the_reference(spec, seed, "vectors_wide")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=long_row_specs(),
    seed=st.integers(0, 2**16),
)
@example(  # rows of 5 vectors (a loop) and a partial one, dL/dF reading X in place
    spec=ConvSpec((70,), 3, in_channels=1, out_channels=2, padding=1, dtype="float32"), seed=0
)
@example(  # the padding wider than a row's first vector reaches
    spec=ConvSpec(
        (5, 3), (3, 5), in_channels=2, out_channels=1, padding=((1, 2), (3, 3)), dilation=(1, 2)
    ),  # fmt: skip
    seed=1,
)
@example(  # dL/dX by stride phases: 3 phases of 18, 18 and 17 inputs woven into a row of 53
    spec=ConvSpec((53,), 4, in_channels=2, out_channels=1, stride=3, padding=((2, 0),)), seed=2
)
@example(  # phases in both axes, the last one odd: rows of 9 and 8, columns of 17 and 16
    spec=ConvSpec((17, 33), 3, in_channels=1, out_channels=2, stride=2, padding=1), seed=3
)
def test_explicit_vectors_on_rows_longer_than_a_vector(spec, seed):
    """positions with several vectors per row, a partial last one, masked loads at the
    padding, stride phases of the copy, and dL/dX phase by phase woven into the rows."""
    assert_explicit_vectors_compute_the_reference(spec, seed, "vectors_long_rows")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=depthwise_specs(), seed=st.integers(0, 2**16))
@example(  # channels exactly a float32 vector; 2 images × 1 block over 4 slots: two idle
    spec=ConvSpec((20,), 3, in_channels=16, out_channels=16, groups=16, batch=2, stride=2),
    seed=0,
)
@example(  # two float64 vectors and a partial one; 3 images × 3 blocks dealt round 4 slots
    spec=ConvSpec(
        (7, 9),
        3,
        in_channels=20,
        out_channels=20,
        groups=20,
        batch=3,
        stride=2,
        padding=1,
        bias=True,
        dtype="float64",
    ),  # fmt: skip
    seed=1,
)
@example(  # a stride past the dilated kernel: phases no tap reaches, zeros in dL/dX
    spec=ConvSpec((11,), 2, in_channels=3, out_channels=3, groups=3, stride=4, padding=((0, 1),)),
    seed=2,
)
@example(  # 3-D, lopsided padding, dilation, convolution mode (the filter rotated)
    spec=ConvSpec(
        (5, 4, 6),
        2,
        in_channels=5,
        out_channels=5,
        groups=5,
        batch=2,
        stride=(1, 2, 3),
        padding=((1, 0), (0, 2), (1, 1)),
        dilation=(2, 1, 1),
        mode="convolution",
    ),  # fmt: skip
    seed=3,
)
def test_explicit_vectors_on_depthwise_layers(spec, seed):
    """channel_blocked (and positions) on depthwise layers: several blocks of channels and a
    partial last one, items dealt round the slots unevenly, rows of several vectors."""
    assert_explicit_vectors_compute_the_reference(spec, seed, "vectors_depthwise")
