"""The FMA peak kernel computes what its chains say (so its timing measures real FMAs)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the peak kernel is compiled by Numba")

from symconv.benchmark import peak  # noqa: E402
from symconv.machine import HOST  # noqa: E402


@pytest.mark.skipif(HOST.lanes("float32") < 2, reason="this machine has no explicit vectors")
def test_every_chain_of_every_thread_runs_each_step():
    lanes = HOST.lanes("float32")
    kernel = peak._kernel("float32", lanes)
    out = np.zeros(2, np.float32)
    kernel(3, out)
    a, b, c = np.float32(1.0000001), np.float32(0.9999999), np.float32(0.0)
    for _ in range(3):
        c = a * c + b
    expected = peak.CHAINS * lanes * float(c)
    np.testing.assert_allclose(out, [expected, expected], rtol=1e-5)
    assert expected > 2.9 * peak.CHAINS * lanes  # three steps, not one
