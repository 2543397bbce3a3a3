"""Tests for generate(PoolSpec): compiled pooling kernels equal the reference and PyTorch.

Numba compiles here, so the example count is bounded (each distinct spec compiles
two kernels).  Specs come from `pool_specs`: ranks 1–3, stride below, at and above
the kernel, padding up to half the kernel, both kinds, float32 and float64, tiny
shapes; max pooling runs on small integers so ties decide most gradients.  Errors
are relative to the largest magnitude of the oracle, with symconv.verify's
tolerances.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import POOLING, ConvSpec, PoolSpec
from symconv.manifest import load_manifest
from symconv.pipeline import generate, generate_many, main, module_file, render, write
from symconv.verify import TOLERANCES
from tests.paths import ROOT
from tests.pool_strategies import pool_arrays, pool_specs
from tests.stand_in import stand_in, stand_in_module

LENET = load_manifest(ROOT / "examples" / "lenet.toml")
HAS_TORCH = importlib.util.find_spec("torch") is not None

#: Largest relative error seen per dtype (printed at the end with ``pytest -s``).
LARGEST_ERROR = {"float32": 0.0, "float64": 0.0}


@pytest.fixture(scope="module", autouse=True)
def report_largest_errors():
    yield
    print(f"\nlargest relative pooling kernel errors: {LARGEST_ERROR}")


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    got64, want64 = got.astype(np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want64)
    assert (got64[~finite] == want64[~finite]).all()  # −∞ maxima exactly
    scale = float(np.max(np.abs(want64[finite]), initial=0.0)) or 1.0
    return float(np.max(np.abs(got64[finite] - want64[finite]), initial=0.0)) / scale


def assert_pool_kernels_match(spec: PoolSpec, x: np.ndarray, gy: np.ndarray) -> None:
    """Compared on the second call, into NaN-filled `out=` arrays: the first call (on other
    data) leaves the workspaces full and max pooling's dL/dX adds into its result."""
    kernels = generate(spec)
    assert kernels.kernel_names == ("forward", "grad_input")
    kernels.forward(x[::-1].copy()), kernels.grad_input(gy[::-1].copy(), x[::-1].copy())
    got = {
        "forward": np.full(kernels.shapes["y"], np.nan, spec.dtype),
        "grad_input": np.full(kernels.shapes["gx"], np.nan, spec.dtype),
    }
    assert kernels.forward(x, out=got["forward"]) is got["forward"]
    assert kernels.grad_input(gy, x, out=got["grad_input"]) is got["grad_input"]
    oracles = {
        "reference": {
            "forward": reference.pool_forward(spec, x),
            "grad_input": reference.pool_grad_input(spec, gy, x),
        }
    }
    if HAS_TORCH:
        oracles["torch"] = POOLING.torch_reference(spec, {"x": x, "gy": gy})
    for oracle, wants in oracles.items():
        for name, want in wants.items():
            assert got[name].shape == want.shape, name
            assert got[name].dtype == np.dtype(spec.dtype), name
            error = relative_error(got[name], want)
            LARGEST_ERROR[spec.dtype] = max(LARGEST_ERROR[spec.dtype], error)
            assert error <= TOLERANCES[spec.dtype], f"{name} vs {oracle}: {error:.3g}"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=pool_specs(), seed=st.integers(0, 2**16))
def test_generated_pooling_kernels_equal_the_reference_and_pytorch(spec, seed):
    x, gy = pool_arrays(spec, np.random.default_rng(seed))
    assert_pool_kernels_match(spec, x, gy)


@pytest.mark.parametrize("name", ["lenet_pool1", "lenet_pool2"])
def test_lenet_max_pool_layers(name):
    spec = LENET[name]
    assert spec.kind == "max" and spec.kernel_size == spec.stride == (2, 2)
    x, gy = pool_arrays(spec, np.random.default_rng(1))
    assert_pool_kernels_match(spec, x, gy)
    normal = np.random.default_rng(2).standard_normal(spec.input_shape).astype(np.float32)
    assert_pool_kernels_match(spec, normal, gy)


def test_minus_infinity_inputs_route_like_pytorch():
    spec = PoolSpec("max", (5, 4), 3, stride=(2, 1), padding=1, channels=2, dtype="float64")
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 2, spec.input_shape).astype(np.float64)
    x[rng.random(spec.input_shape) < 0.7] = -np.inf
    x[0, 0] = -np.inf  # one plane with nothing finite at all
    assert_pool_kernels_match(spec, x, rng.standard_normal(spec.output_shape))


def test_threaded_scatter_over_planes_equals_the_reference():
    """Large enough for threads: forward and the argmax scatter run as prange over n × c,
    each after filling its −∞-bordered copy of x one (image, channel) plane per iteration."""
    spec = PoolSpec("max", (32, 32), 3, stride=1, padding=1, channels=4, batch=2)
    source = render(spec)
    assert source.count("parallel=in_written_order()") == 2
    assert source.count("for copy_plane in numba.prange(8):") == 2
    assert source.count("numba.prange(8)") == 4
    x, gy = pool_arrays(spec, np.random.default_rng(6))
    assert_pool_kernels_match(spec, x, gy)


# ----- checked calls --------------------------------------------------------------------------
SPEC = PoolSpec("max", (4, 4), 2, channels=2)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda k: k.forward(np.zeros((1, 2, 4, 5), np.float32)), "x has shape (1, 2, 4, 5)"),
        (lambda k: k.forward(np.zeros((1, 2, 4, 4))), "x has dtype float64, expected float32"),
        (
            lambda k: k.forward(np.zeros((1, 2, 4, 4), np.float32).transpose(0, 1, 3, 2)),
            "x is not C-contiguous",
        ),
        (lambda k: k.forward([[0.0]]), "x is a list, expected a numpy.ndarray"),
        (
            lambda k: k.grad_input(np.zeros((1, 2, 4, 4), np.float32), np.zeros((1, 2, 4, 4))),
            "gy has shape (1, 2, 4, 4), expected (1, 2, 2, 2)",
        ),
        (
            lambda k: k.grad_input(np.zeros((1, 2, 2, 2), np.float32), np.zeros((1, 2, 4, 4))),
            "x has dtype float64, expected float32",
        ),
    ],
    ids=["x-shape", "x-dtype", "x-layout", "x-type", "gy-shape", "grad-x-dtype"],
)
def test_arguments_are_checked_before_any_compiled_code(call, message, tmp_path):
    kernels = stand_in(SPEC)
    with pytest.raises(ValueError) as info:
        call(kernels)
    assert message in str(info.value)


def test_average_pooling_checks_x_but_passes_only_gy(tmp_path):
    spec = PoolSpec("avg", (4,), 2)
    module = stand_in_module(spec)
    module.grad_input = lambda gy: gy.ndim
    kernels = stand_in(spec, module)
    gy, x = np.zeros(spec.output_shape, np.float32), np.zeros(spec.input_shape, np.float32)
    assert kernels.grad_input(gy, x) == 3
    with pytest.raises(ValueError, match="x has shape"):
        kernels.grad_input(gy, np.zeros((1, 1, 5), np.float32))


def test_a_module_of_another_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="was generated for spec key"):
        stand_in(SPEC, stand_in_module(PoolSpec("avg", (4, 4), 2)))


def test_repr_names_the_class_and_shapes(tmp_path):
    text = repr(stand_in(SPEC))
    assert text.startswith("Kernels(maxpool2d_1x2x4x4_k2x2_s2, float32, 1×2×4×4 -> 1×2×2×2")


# ----- the driver -----------------------------------------------------------------------------
def test_generate_many_returns_the_kernel_class_of_each_layer():
    kernels = generate_many({"conv": ConvSpec((3, 3), 2), "pool": LENET["lenet_pool1"]})
    assert kernels["conv"].kernel_names == ("forward", "grad_input", "grad_weight")
    assert kernels["pool"].kernel_names == ("forward", "grad_input")


def test_header_command_regenerates_the_pooling_module(tmp_path):
    spec = PoolSpec("avg", (5,), 3, stride=2, padding=1)
    source = render(spec)
    (command,) = [line for line in source.splitlines() if line.startswith("# Regenerate: ")]
    argv = shlex.split(command.removeprefix("# Regenerate: "))
    done = subprocess.run(
        [sys.executable, *argv[1:], "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / module_file(spec).name).read_text() == source
    assert write(spec, tmp_path) == tmp_path / module_file(spec).name


def test_file_names_stay_ascii_for_mixed_strides():
    spec = PoolSpec("avg", (4, 6), (2, 3), stride=(1, 3))
    name = module_file(spec).name
    assert name.isascii() and name.startswith("avgpool2d_1x1x4x6_k2x3_s1x3_")


@pytest.mark.parametrize(
    "argument,message",
    [
        ('{"kind": "min", "input_size": [4], "kernel_size": 2}', "kind='min' must be one of"),
        ('{"kind": "max", "input_size": [4], "kernel": 2}', "unknown PoolSpec field 'kernel'"),
        ("[1, 2]", "a layer spec is a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_pipeline_command_rejects_bad_specs_in_one_line(argument, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([argument])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
