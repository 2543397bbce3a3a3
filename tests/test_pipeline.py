"""Tests for symconv.pipeline: compiled kernels equal the reference for random layers.

This is where Numba compiles, so the example count is bounded: each distinct spec
costs one to four seconds of compilation.  Specs come from `conv_specs` (ranks 1–3,
stride 1–3 with leftover rows, lopsided padding, dilation, groups, bias, both modes,
float32 and float64) with tiny shapes.  The error is measured relative to the
largest magnitude of the reference result, with the tolerances `symconv.verify`
states: 1e-4 for float32, 1e-10 for float64.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from symconv import reference
from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.lower.algorithms.winograd import LARGEST_M
from symconv.lower.driver import variants_for, with_threads
from symconv.machine import HOST
from symconv.manifest import load_manifest
from symconv.pipeline import generate, generate_many, module_file, render, write, write_many
from symconv.verify import TOLERANCES
from tests.paths import ROOT
from tests.strategies import (
    coinciding_specs,
    conv_specs,
    depthwise_specs,
    long_row_specs,
    pointwise_specs,
    random_arrays,
    tiled_specs,
)

LECTURE = ConvSpec((3, 3), 2)

#: Largest relative error seen per dtype (printed at the end with ``pytest -s``).
LARGEST_ERROR = {"float32": 0.0, "float64": 0.0}


#: (layer, kernel, schedule) cells the variant tests compiled (printed at the end).
VARIANT_CELLS: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="module", autouse=True)
def report_largest_errors():
    yield
    print(f"\nlargest relative kernel errors in test_pipeline: {LARGEST_ERROR}")
    print(f"(layer, kernel, schedule) cells compiled by the variant tests: {len(VARIANT_CELLS)}")


def assert_kernels_match_reference(
    spec: ConvSpec, seed: int, schedules: dict[str, str] | None = None
) -> None:
    """Every kernel against the reference, on its second call, written into a NaN-filled `out=`.

    The first call, on other data, leaves the kernel's workspaces (padded copies,
    scratch, partial sums) full: a second call that trusted them would be caught.
    """
    kernels = generate(spec, schedules=schedules)
    rng = np.random.default_rng(seed)
    _call_every_kernel(kernels, spec, *random_arrays(spec, rng), out=False)
    x, w, b, gy = random_arrays(spec, rng)
    got = _call_every_kernel(kernels, spec, x, w, b, gy, out=True)
    want = {
        "forward": reference.forward(spec, x, w, b),
        "grad_input": reference.grad_input(spec, gy, w),
        "grad_weight": reference.grad_weight(spec, x, gy),
    }
    if spec.bias:
        want["grad_bias"] = reference.grad_bias(spec, gy)
    assert set(got) == set(want)
    for name, value in got.items():
        assert value.shape == want[name].shape and value.dtype == np.dtype(spec.dtype), name
        scale = float(np.max(np.abs(want[name].astype(np.float64)), initial=0.0)) or 1.0
        error = float(np.max(np.abs(value.astype(np.float64) - want[name]), initial=0.0)) / scale
        LARGEST_ERROR[spec.dtype] = max(LARGEST_ERROR[spec.dtype], error)
        assert error <= TOLERANCES[spec.dtype], f"{name}: relative error {error:.3g}"


def _call_every_kernel(kernels, spec, x, w, b, gy, out: bool) -> dict[str, np.ndarray]:
    """Each kernel's result; with `out`, written into a NaN-filled array it must return."""
    calls = {
        "forward": (kernels.forward, (x, w, b)),
        "grad_input": (kernels.grad_input, (gy, w)),
        "grad_weight": (kernels.grad_weight, (x, gy)),
    }
    if spec.bias:
        calls["grad_bias"] = (kernels.grad_bias, (gy,))
    results = {}
    for name, (kernel, args) in calls.items():
        if not out:
            results[name] = kernel(*args)
            continue
        shape = kernels.shapes[kernel.signature.result]
        given = np.full(shape, np.nan, spec.dtype)
        results[name] = kernel(*args, out=given)
        assert results[name] is given, f"{name} did not return out"
    return results


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=conv_specs(), seed=st.integers(0, 2**16))
@example(
    spec=ConvSpec((14, 14), 3, in_channels=36, out_channels=64, padding=1, batch=8), seed=0
).via("36 input channels = F(4, 3)²'s 36 products per tile, threaded Winograd by default")
@example(spec=ConvSpec((64,), 3, in_channels=32, out_channels=4, batch=4, stride=2), seed=0).via(
    "4 chunks of images = 4 output channels"
)
def test_generated_kernels_equal_the_reference(spec, seed):
    assert_kernels_match_reference(spec, seed)


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec((3, 3), 2),  # the lecture example
        ConvSpec((7,), 3, stride=3, padding=((2, 0),), dilation=2, mode="convolution"),
        ConvSpec(
            (4, 5, 3),
            (2, 3, 1),
            stride=(2, 1, 3),
            groups=2,
            in_channels=2,
            out_channels=4,
            bias=True,
            dtype="float64",
        ),
        # dL/dX by stride phases woven into rows of 35 (18 + 17), float32: positions by default
        ConvSpec((35, 35), 7, in_channels=3, out_channels=4, stride=2, padding=3, dtype="float32"),
        # simd's forward of 36 float64 channels: a tile of 4 vectors × 6 positions (stride 2,
        # rows of 8: 6 + 2), then the partial group of a block of 4 channels
        ConvSpec(
            (16, 16),
            3,
            in_channels=8,
            out_channels=36,
            stride=2,
            padding=1,
            bias=True,
            dtype="float64",
        ),  # fmt: skip
    ],
)
def test_hand_picked_layers(spec):
    assert_kernels_match_reference(spec, seed=7)


def test_threaded_kernels_with_batch_chunks_equal_the_reference():
    """Large enough to be compiled with threads; blocked's grad_weight splits the batch of 8."""
    spec = ConvSpec((8, 8), 3, in_channels=4, out_channels=4, batch=8, bias=True)
    source = render(spec, {"grad_weight": "blocked"})
    assert source.count("parallel=in_written_order()") == 3  # forward, grad_input, grad_weight
    assert '("partial", (4, 4, 4, 3, 3), 0.0)' in source and "for nn in range(2):" in source
    assert_kernels_match_reference(spec, seed=11, schedules={"grad_weight": "blocked"})


# ----- the checked-in generated/ folder -----------------------------------------------------
def test_checked_in_generated_folder_equals_a_fresh_regeneration():
    """generated/ holds exactly the modules of examples/lenet.toml, as rendered now.

    After changing the generator, regenerate with
    ``python -m symconv.pipeline --manifest examples/lenet.toml -o generated``
    (and delete files of layers no longer listed).  The kernels depend on the CPU's
    vector width (`symconv.machine.HOST`): they were rendered for AVX-512.
    """
    if HOST.vector_bits != 512:
        pytest.skip(
            f"generated/ holds kernels rendered for AVX-512; this CPU has {HOST.vector_bits}-bit"
            " vectors, so a fresh regeneration here differs by design"
        )
    specs = load_manifest(ROOT / "examples" / "lenet.toml")
    expected = {module_file(spec).name: spec for spec in specs.values()}
    present = {p.name for p in (ROOT / "generated").glob("*.py")}
    assert present == set(expected)
    for name, spec in expected.items():
        assert (ROOT / "generated" / name).read_text(encoding="utf-8") == render(spec), name


def test_header_command_regenerates_the_module(tmp_path):
    spec = ConvSpec((5,), 2, stride=2, padding=((1, 0),), bias=True)
    source = render(spec)
    (command,) = [line for line in source.splitlines() if line.startswith("# Regenerate: ")]
    argv = shlex.split(command.removeprefix("# Regenerate: "))
    assert argv[:3] == ["python", "-m", "symconv.pipeline"]
    done = subprocess.run(
        [sys.executable, *argv[1:], "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / module_file(spec).name).read_text() == source


# ----- the driver -----------------------------------------------------------------------
def test_write_many_names_layers_in_progress_and_compiles_nothing(tmp_path):
    messages: list[str] = []
    specs = {"one": LECTURE, "two": ConvSpec((4,), 2)}
    paths = write_many(specs, tmp_path, messages.append)
    assert paths == {name: tmp_path / module_file(s).name for name, s in specs.items()}
    assert any(m.startswith("[one] ") for m in messages)
    assert any(m.startswith("[two] ") for m in messages)
    assert not (tmp_path / "__pycache__").exists()


def test_generate_many_and_generate_return_the_same_kernels():
    messages: list[str] = []
    kernels = generate_many({"lecture": LECTURE}, progress=messages.append)
    assert kernels["lecture"].path == generate(LECTURE).path
    assert kernels["lecture"].path == write(LECTURE)
    assert any("compiling" in m for m in messages)


# ----- every algorithm and variant compiles to the same answer ------------------------------
#: Each family of variants (an algorithm, or one Winograd output tile) with the layers it
#: is drawn on.  Every family is a test of its own, threads forced off ("@1") and on
#: ("@2", compiled with prange even where the layer is too small to choose threads), so
#: every run compiles every family both ways; a blocked family draws its channel tile.
#: Winograd tiles of 5 and more are compiled in 1-D, 3-D layers only with m = 1: a 2-D
#: F(9, 3) kernel alone takes 35 s to compile, a 3-D F(2, 3) one 20 s
#: (tests/lower/test_variants.py interprets 2-D layers up to m = 4 and 3-D up to 2).
def stride_one(max_kernel: int, max_rank: int, dtype: object = None) -> st.SearchStrategy:
    specs = conv_specs(max_rank, max_stride=1, max_dilation=1, max_kernel=max_kernel,
                       max_channels_per_group=3, max_batch=3, dtype=dtype)  # fmt: skip
    return specs.filter(lambda s: max(s.kernel_size) > 1)


def winograd_layers(m: int) -> st.SearchStrategy:
    """Layers F(m, r) applies to (float32 tiles up to 8 points, float64 up to 12), of the
    ranks and kernels whose kernels compile in seconds: 3-D for m = 1, 2-D up to m = 4."""
    rank = 3 if m == 1 else 2 if m <= 4 else 1
    largest_kernel = min(4 if rank == 1 else 3, 9 - m)
    if largest_kernel < 2:  # even F(m, 2) is past float32's tiles: float64 only
        return stride_one(2, rank, "float64")
    return stride_one(largest_kernel, rank)


FAMILIES: dict[str, st.SearchStrategy] = {
    "direct": conv_specs(max_channels_per_group=3, max_batch=3),
    "rows": conv_specs(max_channels_per_group=3, max_batch=3),
    "blocked": conv_specs(max_channels_per_group=4, max_batch=4),
    "unfold": conv_specs(max_channels_per_group=3, max_batch=4),
    "simd": conv_specs(max_channels_per_group=18, max_batch=3),
    "positions": long_row_specs(max_batch=5),  # from 4 images: one image at a time
    "gemm": pointwise_specs(),
    "channel_blocked": depthwise_specs(max_batch=5),
    "depthwise": conv_specs(groups=(2, 3), max_batch=3).filter(
        lambda s: s.in_channels_per_group == 1
    ),
    **{f"winograd:{m}": winograd_layers(m) for m in range(1, LARGEST_M + 1)},
}


def in_family(name: str, family: str) -> bool:
    return name == family or name.startswith(f"{family}:")


def family_schedules(spec, family: str, threads: int, draw) -> dict[str, str]:
    """Each kernel that has a variant of `family`: one of them, on `threads`."""
    schedules = {}
    for formula in CONVOLUTION.index_level(spec).formulas():
        names = [n for n in variants_for(formula, spec) if in_family(n, family)]
        if names:
            chosen = draw(st.sampled_from(names), label=formula.name)
            schedules[formula.name] = with_threads(chosen, threads)
    return schedules


def assert_family_compiles_to_the_reference(family: str, threads: int, data, seed: int) -> None:
    spec = data.draw(FAMILIES[family], label="spec")
    schedules = family_schedules(spec, family, threads, data.draw)
    assume(schedules)  # a float32 tile may be refused for its error (see winograd.py)
    assert_kernels_match_reference(spec, seed, schedules)
    VARIANT_CELLS.update((spec.label, k, s) for k, s in schedules.items())


FAMILY_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
THREADS = pytest.mark.parametrize("threads", [1, 2], ids=["serial", "threaded"])


@THREADS
@pytest.mark.parametrize("family", [f for f in FAMILIES if not f.startswith("winograd:")])
@settings(max_examples=2, deadline=None, suppress_health_check=FAMILY_HEALTH)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_every_variant_compiles_to_the_reference(family, threads, data, seed):
    """Each family on random layers it applies to (both dtypes, every awkward case)."""
    assert_family_compiles_to_the_reference(family, threads, data, seed)


@THREADS
@pytest.mark.parametrize("family", [f for f in FAMILIES if f.startswith("winograd:")])
@settings(max_examples=1, deadline=None, suppress_health_check=FAMILY_HEALTH)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_every_winograd_tile_compiles_to_the_reference(family, threads, data, seed):
    """Each output tile on one random layer per run (each compiles for 5-10 s)."""
    assert_family_compiles_to_the_reference(family, threads, data, seed)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=coinciding_specs(), data=st.data(), seed=st.integers(0, 2**16))
@example(
    spec=ConvSpec((4,), 3, in_channels=3, out_channels=3),
    data=None,
    seed=0,
).via("the issue: 3 channels = F(1, 3)'s 3 products per tile, every kernel winograd:1@2")
@example(
    spec=ConvSpec((64,), 3, in_channels=32, out_channels=4, batch=4, stride=2),
    data=None,
    seed=0,
).via("the issue: 4 chunks of images = 4 output channels, unfold's dL/dF on threads")
def test_layers_whose_loop_extents_coincide_compile_to_the_reference(spec, data, seed):
    """Every kernel on threads, each with a variant drawn from all it has."""
    if data is None:  # the explicit examples: the issue's own schedules
        schedules = ISSUE_SCHEDULES[spec.label]
    else:
        schedules = {
            f.name: with_threads(data.draw(st.sampled_from(variants_for(f, spec))), 2)
            for f in CONVOLUTION.index_level(spec).formulas()
        }
    assert_kernels_match_reference(spec, seed, schedules)
    VARIANT_CELLS.update((spec.label, k, s) for k, s in schedules.items())


ISSUE_SCHEDULES = {
    "conv1d_1x3x4_to3_k3_s1": {k: "winograd:1@2" for k in ("forward", "grad_input", "grad_weight")},
    "conv1d_4x32x64_to4_k3_s2": {"grad_weight": "unfold"},
}


FAST = {"forward": "rows", "grad_input": "rows", "grad_weight": "blocked"}
DIRECT = {"forward": "direct", "grad_input": "direct", "grad_weight": "direct"}


def test_forced_schedules_get_their_own_module_file():
    assert module_file(LECTURE, schedules=FAST).name != module_file(LECTURE).name
    assert module_file(LECTURE, schedules=FAST).name != module_file(LECTURE, schedules=DIRECT).name


WINOGRAD = {"forward": "winograd", "grad_input": "winograd", "grad_weight": "winograd"}


def test_threaded_winograd_kernels_hold_the_blas_to_one_thread():
    """Big enough for threads: the products run in prange, the module says so, still exact.
    Forward and dL/dX multiply in vector registers (any host has 4 float32 lanes); dL/dF's
    products, over the tiles, stay with the BLAS, held to one thread."""
    spec = ConvSpec((14, 13), 3, padding=((1, 0), (2, 1)), in_channels=8, out_channels=8,
                    batch=3, bias=True)  # fmt: skip
    source = render(spec, schedules=WINOGRAD)
    assert 'BLAS_IN_THREADS = ("grad_weight", )' in source
    assert "for xi_p in numba.prange(36):" in source
    assert_kernels_match_reference(spec, seed=5, schedules=WINOGRAD)


UNFOLD = {"forward": "unfold", "grad_input": "unfold", "grad_weight": "unfold"}


def test_threaded_unfold_runs_chunks_of_images():
    spec = ConvSpec((11, 10), 3, stride=2, dilation=(1, 2), padding=((1, 0), (2, 1)),
                    in_channels=12, out_channels=8, groups=2, batch=8, bias=True)  # fmt: skip
    source = render(spec, schedules=UNFOLD)
    assert 'BLAS_IN_THREADS = ("forward", "grad_input", "grad_weight", )' in source
    assert_kernels_match_reference(spec, seed=9, schedules=UNFOLD)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=tiled_specs(max_batch=2), seed=st.integers(0, 2**16))
def test_tiled_kernels_compile_to_the_reference(spec, seed):
    """Tiled and locally connected layers, lowered by `direct`: every kernel, both dtypes."""
    assert_kernels_match_reference(spec, seed)
