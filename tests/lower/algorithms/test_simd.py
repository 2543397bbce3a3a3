"""The simd algorithm's choices that the equivalence tests cannot see: how a tile of output
channels × positions is written into the channel-major result, and how dL/dF splits a batch
whose ∂L/∂O blocks outgrow the core's cache."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symconv.kinds import ConvSpec, kind_of
from symconv.lower import lower
from symconv.lower.interpret import run
from symconv.machine import Machine
from symconv.pipeline import render
from tests.strategies import conv_specs


def test_a_tile_is_written_one_channel_row_at_a_time():
    """1,024 outputs per channel: a plane of 4 KiB in float32, where stores vector by vector
    (one position, every channel) would all fall in one L1 set.  Each vector of the tile is
    written as rows of positions, one channel a plane (1,024) after the other."""
    spec = ConvSpec((1024,), 3, padding=1, in_channels=2, out_channels=16)
    source = render(spec, schedules={"forward": "simd"})
    body = source[source.index("def _forward_task_0_body(") :]
    rows = re.findall(r"f32x\d+_store_rows\(y_flat, [^(]*, \(([^)]*)\), 1024, 1, \d+\)", body)
    assert rows, "the tile is not written by rows"
    assert all(len(row.split(",")) > 1 for row in rows)  # a row holds several positions
    assert not re.search(r"f32x\d+_store\(y_flat", body)  # and nothing goes vector by vector


def grad_weight_nest(spec: ConvSpec, machine: Machine, parallel: bool = True):
    formula = next(f for f in kind_of(spec).index_level(spec).formulas() if f.name == "grad_weight")
    return lower(formula, spec, schedule="simd", parallel=parallel, machine=machine)


def test_a_batch_whose_gradient_blocks_outgrow_the_cache_is_split_into_chunks_that_fit():
    """32 output channels (2 vectors of 16) × 299 positions × 4 bytes = 38,272 bytes of ∂L/∂O
    blocks per image; a task cache of 80,000 bytes holds 2 images, so 6 images go in 3
    chunks (the plain rule, tasks enough for the threads, would keep 1: 8 input channels ×
    2 tap chunks of 9 taps is 16 tasks)."""
    spec = ConvSpec((300,), 18, in_channels=8, out_channels=32, batch=6, padding=8)
    nest = grad_weight_nest(spec, Machine(task_cache_bytes=80_000))
    assert any("batch split into 3 chunks" in note for note in nest.notes), nest.notes
    roomy = grad_weight_nest(spec, Machine(task_cache_bytes=10**9))
    assert not any("chunks" in note for note in roomy.notes), roomy.notes


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=conv_specs(max_rank=2, max_channels_per_group=20, max_batch=4), seed=st.integers(0, 99))
def test_chunks_sized_to_a_small_cache_compute_the_reference(spec, seed):
    """A cache of 1 KB: every image its own chunk, partial sums added up (interpreted)."""
    kind = kind_of(spec)
    arrays = {
        k: a.astype(np.float64)
        for k, a in kind.random_inputs(spec, np.random.default_rng(seed)).items()
    }
    want = kind.reference(spec, arrays)["grad_weight"]
    got = run(grad_weight_nest(spec, Machine(task_cache_bytes=1024)), arrays)
    scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
    assert float(np.max(np.abs(got - want), initial=0.0)) / scale < 1e-9


def test_a_forward_of_four_blocks_takes_four_vectors_of_six_positions():
    """64 → 128 channels (8 blocks of 16 float32): 4 vectors × 6 positions, the 24
    accumulators of AVX-512 (10 loads per 24 FMAs); its dL/dX by stride phases keeps 2
    vectors, and AVX2's 12 accumulators (3 positions for 4 vectors) keep 2 as well."""
    spec = ConvSpec((56, 56), 3, in_channels=128, out_channels=128, stride=2, padding=1)
    level = kind_of(spec).index_level(spec)
    forward = lower(level.forward, spec, schedule="simd")
    assert "tiles of 4 vectors of 16 channels × 6 positions" in forward.notes[0]
    gradient = lower(level.grad_input, spec, schedule="simd")
    assert "tiles of 2 vectors" in gradient.notes[0]
    avx2 = lower(
        level.forward, spec, schedule="simd", machine=Machine(vector_bits=256, accumulators=12)
    )
    assert "tiles of 2 vectors of 8 channels × 6 positions" in avx2.notes[0]
