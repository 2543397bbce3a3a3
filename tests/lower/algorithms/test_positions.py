"""The positions algorithm's choices that the equivalence tests cannot see: its dL/dF tile
stays within the vector registers (a tile past them spills in the inner loop)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from symconv.lower.algorithms.positions import weight_tile


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
