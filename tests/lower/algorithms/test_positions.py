"""The positions algorithm's choices that the equivalence tests cannot see: its dL/dF tile
stays within the vector registers (a tile past them spills in the inner loop), the dL/dX
of a strided layer multiplies no zero the stride inserts, and the dL/dF of a strided layer
reads X where it lies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from symconv.kinds import ConvSpec, kind_of
from symconv.lower import lower
from symconv.lower.algorithms.positions import weight_tile
from symconv.lower.ir import For, VecFma, VecLoad, VecStore, VecStoreInterleaved, walk
from symconv.machine import Machine


def test_weight_tiles_worked_out_by_hand():
    # 32 channels, 3 taps a row, 24 accumulators of 32 registers: 4×3 holds 12 accumulators,
    # 4 vectors of dL/dO and X (12 FMAs per 7 loads); 8×3 would need 24 + 8 + 2 = 34 registers
    assert weight_tile(32, 3, 24) == (4, 3)
    # 6 channels, 5 taps a row: 6×3 (18 FMAs per 9 loads) beats 3×5 (15 per 8)
    assert weight_tile(6, 5, 24) == (6, 3)
    # AVX2's 12 accumulators of 16 registers: 4×2 (8 FMAs per 6 loads, 14 registers) beats
    # 2×3 (6 per 5); 4×3 would need 18
    assert weight_tile(32, 3, 12) == (4, 2)


@given(channels=st.integers(1, 128), taps=st.integers(1, 15), room=st.sampled_from([12, 24]))
def test_a_weight_tile_fits_the_registers_and_divides_the_channels(channels, taps, room):
    m, t = weight_tile(channels, taps, room)
    registers = room + room // 3
    assert channels % m == 0 and 1 <= t <= taps
    assert m * t <= room and m * t + m + 2 <= registers


def lowered(spec: ConvSpec, kernel: str, schedule: str, parallel: bool = False):
    formula = next(f for f in kind_of(spec).index_level(spec).formulas() if f.name == kernel)
    return lower(formula, spec, schedule=schedule, parallel=parallel)


def strided_grad_input(spec: ConvSpec):
    return lowered(spec, "grad_input", "positions:1x1x1")


def test_strided_grad_input_reads_only_the_taps_that_meet_an_output():
    """k3, stride 2, padding 1, 1-D: input 2q gets ∂L/∂O[q]·w1 (one tap), input 2q + 1 gets
    ∂L/∂O[q + 1]·w0 + ∂L/∂O[q]·w2 (two): 3 FMAs per pair of inputs, not the 6 of the
    three taps over ∂L/∂O with a zero between neighbours."""
    nest = strided_grad_input(ConvSpec((40,), 3, stride=2, padding=1))
    loops = {}
    for stmt, enclosing in walk(nest.body):
        if isinstance(stmt, VecFma):
            taps = next(loop for loop in reversed(enclosing) if loop.var.name == "rtl")
            loops[stmt.acc] = taps.extent
    assert sorted(loops.values()) == [1, 2] * (len(loops) // 2)  # per phase: 1 tap, 2 taps
    # the copy of ∂L/∂O is zero-bordered only: no zeros between its elements
    assert all(axis.step == 1 for staged in nest.staged for axis in staged.axes)
    stores = [s for s, _ in walk(nest.body) if isinstance(s, VecStoreInterleaved)]
    assert stores and all(len(s.vars) == 2 for s in stores)  # both phases woven into the row


def test_strided_grad_weight_reads_every_other_column_of_x_in_place():
    """k3, stride 2, padding 1, rows of 28 outputs (a vector of 16, then 12 lanes): tap 0
    of the first vector reads columns −1, 1, 3, …: lane 0 in the padding, masked off; no
    copy of X is made."""
    nest = lowered(ConvSpec((8, 56), 3, stride=2, padding=1, dtype="float32"), "grad_weight",
                   "positions")  # fmt: skip
    assert not nest.scratch or all(s.name != "phased" for s in nest.scratch)
    loads = [s for s, _ in walk(nest.body) if isinstance(s, VecLoad) and s.source.buffer == "x"]
    assert loads and all(load.step == 2 for load in loads)
    masks = sorted({(load.first, load.stop) for load in loads})
    # first vector: tap 0 starts in the padding (lane 0 off), taps 1, 2 whole; the second
    # vector holds 12 outputs, its tap 2 reaching column 2·27 + 1 = 55, the row's last
    assert masks == [(0, 0), (0, 12), (1, 16)]


def parallel_loops(spec: ConvSpec, kernel: str):
    nest = lowered(spec, kernel, "positions", parallel=True)
    return [stmt for stmt, _ in walk(nest.body) if isinstance(stmt, For) and stmt.parallel]


def test_enough_images_are_copied_and_correlated_one_at_a_time():
    """4 images of 2 × 40 float32 values: one parallel loop over the images, its body the
    copy of that image (a serial loop over its channels) then its tiles."""
    (loop,) = parallel_loops(ConvSpec((40,), 3, in_channels=2, batch=4, padding=1), "forward")
    assert loop.var.name == "n" and loop.extent == 4
    fill, *tiles = loop.body
    assert isinstance(fill, For) and fill.var.name == "fc" and fill.extent == 2
    assert tiles and not any(s.parallel for s, _ in walk(loop.body) if isinstance(s, For))
    stores = [s for s, _ in walk(tiles) if isinstance(s, VecStore)]
    assert stores and all(s.target.index[0] == loop.var for s in stores)


def test_few_images_or_a_large_copy_keep_the_batch_wide_copy():
    """3 images (fewer than Machine.image_chunks), or 4 images whose copy of 256 × 1,024
    float32 values (1 MB each) outgrows Machine.task_cache_bytes: the copy of every image
    runs first, in its own parallel loop."""
    few = ConvSpec((40,), 3, in_channels=2, batch=3, padding=1)
    large = ConvSpec((1024,), 3, in_channels=256, batch=4, padding=1)
    for spec in (few, large):
        fill, *tiles = parallel_loops(spec, "forward")
        assert fill.var.name == "ftask" and fill.extent == spec.batch * spec.in_channels
        assert tiles


def test_grad_weight_splits_a_batch_whose_data_outgrows_the_cache_into_chunks_that_fit():
    """1 input channel, 32 output channels, 28 × 28: the default tile takes a few output
    channels; per image it reads (tile + 1) × 784 float32 values.  With a task cache of
    one image's worth or less, every image is its own chunk; with a roomy one, none."""
    spec = ConvSpec((28, 28), 3, out_channels=32, batch=4, padding=1)
    formula = next(f for f in kind_of(spec).index_level(spec).formulas() if f.name == "grad_weight")
    tight = lower(formula, spec, schedule="positions", parallel=True,
                  machine=Machine(task_cache_bytes=1024))  # fmt: skip
    roomy = lower(formula, spec, schedule="positions", parallel=True,
                  machine=Machine(task_cache_bytes=10**9))  # fmt: skip
    assert any("batch split into 4 chunks" in note for note in tight.notes), tight.notes
    assert not any("chunks" in note for note in roomy.notes), roomy.notes
