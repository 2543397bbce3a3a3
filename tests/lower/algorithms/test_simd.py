"""The simd algorithm's choices that the equivalence tests cannot see: how a tile of output
channels × positions is written into the channel-major result."""

from __future__ import annotations

import re

from symconv.kinds import ConvSpec
from symconv.pipeline import render


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
