"""The CUDA target's kernels against the NumPy reference, on Numba's CUDA simulator.

The simulator runs each thread as a Python thread, so the layers are tiny; they
cover ranks 1-3, strides that leave rows unread, asymmetric padding, dilation,
groups, both modes and dtypes, bias, and both poolings (overlapping windows make the
max-pool gradient's scatter-add collide: it must be atomic).  Random layers from the
shared strategy come on top of the named ones.  A real GPU, when present, runs a
marked test; without one it is skipped with the reason printed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symconv import ConvSpec, ConvTransposeSpec, PoolSpec
from symconv.kinds import TOLERANCES
from tests.paths import ROOT
from tests.strategies import conv_specs, transposed_specs

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None,
    reason="numba-cuda is not installed (pip install -e '.[cuda]')",
)

NAMED = {
    "1-D leftover, dilation, padding, convolution mode, float64": ConvSpec(
        (8,),
        3,
        stride=2,
        dilation=2,
        padding=((1, 0),),
        bias=True,
        batch=2,
        mode="convolution",
        dtype="float64",
    ),
    "2-D groups, asymmetric padding, stride with leftover": ConvSpec(
        (6, 5),
        (3, 2),
        stride=2,
        padding=((1, 0), (0, 2)),
        in_channels=4,
        out_channels=4,
        groups=2,
        bias=True,
    ),
    "2-D dilation with stride, float64": ConvSpec(
        (7, 7),
        2,
        stride=(2, 3),
        dilation=(2, 1),
        in_channels=2,
        out_channels=3,
        dtype="float64",
    ),
    "3-D per-axis stride": ConvSpec((3, 4, 3), 2, stride=(1, 2, 1), in_channels=2),
    "dL/dF summed by blocks (long batch-and-position sum)": ConvSpec(
        (9,),
        2,
        batch=4,
        in_channels=1,
        out_channels=2,
        bias=True,
    ),
    "max pooling, overlapping windows, padding": PoolSpec(
        "max", (5, 5), 3, stride=2, padding=1, channels=2
    ),
    "average pooling 1-D, float64": PoolSpec("avg", (7,), 3, stride=2, padding=1, dtype="float64"),
    "max pooling 3-D": PoolSpec("max", (3, 4, 4), 2),
    "transposed 2-D, stride 2, output_padding 1, groups, bias": ConvTransposeSpec(
        (3, 4),
        3,
        stride=2,
        padding=1,
        output_padding=1,
        in_channels=4,
        out_channels=2,
        groups=2,
        bias=True,
    ),
    "transposed 1-D, dilation, output_padding from the dilation, float64": ConvTransposeSpec(
        (5,), 2, stride=1, dilation=3, output_padding=2, padding=2, bias=True, dtype="float64"
    ),
}


def simulate(specs, tmp_path, simulator: bool = True) -> dict:
    """Each kernel's errors, run in a subprocess (on the simulator, or on the real GPU)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env.update(NUMBA_ENABLE_CUDASIM="1", NUMBA_CACHE_DIR=str(tmp_path / "nc"))
    texts = [spec.to_json() for spec in specs]
    result = subprocess.run(
        [sys.executable, "-m", "tests.targets.numba_cuda.simulate", str(tmp_path), *texts],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def assert_all_close(specs, results) -> None:
    for spec in specs:
        errors = results[spec.to_json()]
        tolerance = TOLERANCES[spec.dtype]
        for name, error in errors.items():
            if name == "algorithms":
                continue
            assert error["host"] <= tolerance, (spec.label, name, error)
            assert error["device"] is not None and error["device"] <= tolerance, (spec.label, name)
            assert error["host_type"] == "ndarray" and error["dtype"] == spec.dtype


def test_named_layers_match_the_reference_on_the_simulator(tmp_path):
    specs = list(NAMED.values())
    results = simulate(specs, tmp_path)
    assert_all_close(specs, results)
    algorithms = results[NAMED["dL/dF summed by blocks (long batch-and-position sum)"].to_json()]
    assert algorithms["algorithms"]["grad_weight"] == "block per element"
    assert algorithms["algorithms"]["forward"] == "thread per element"
    transposed = NAMED["transposed 2-D, stride 2, output_padding 1, groups, bias"]
    assert results[transposed.to_json()]["algorithms"]["grad_bias"] == "channel sums on the device"


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    specs=st.lists(conv_specs(max_batch=2), min_size=6, max_size=6),
    transposed=st.lists(transposed_specs(max_size=3), min_size=3, max_size=3),
)
def test_random_layers_match_the_reference_on_the_simulator(specs, transposed, tmp_path_factory):
    specs = specs + transposed
    results = simulate(specs, tmp_path_factory.mktemp("cuda"))
    assert_all_close(specs, results)


def _real_gpu() -> str | None:
    """None when a CUDA GPU is usable here, else why not."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "numba-cuda is not installed"
    probe = subprocess.run(
        [sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
        capture_output=True,
        text=True,
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"},
    )
    if probe.stdout.strip() != "True":
        return "no CUDA GPU on this machine (numba.cuda.is_available() is False)"
    return None


@pytest.mark.gpu
def test_on_a_real_gpu_the_kernels_match_the_reference(tmp_path):
    reason = _real_gpu()
    if reason is not None:
        pytest.skip(reason)
    specs = list(NAMED.values())
    assert_all_close(specs, simulate(specs, tmp_path, simulator=False))
