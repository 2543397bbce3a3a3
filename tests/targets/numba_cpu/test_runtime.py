"""Tests for the CPU target's calls: `out=`, and workspaces allocated once per thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from symconv.kinds import ConvSpec, PoolSpec, kind_of, relative_error
from symconv.pipeline import generate

#: Padding and a stride: every kernel of it works in a padded or dilated copy.
PADDED = ConvSpec((6, 7), 3, in_channels=2, out_channels=3, batch=2, padding=((1, 0), (2, 1)),
                  stride=2, bias=True, dtype="float64")  # fmt: skip


@pytest.fixture(scope="module")
def kernels():
    return generate(PADDED)


def test_every_kernel_of_the_layer_has_workspaces_to_reuse(kernels):
    """The layer is chosen so that the reuse below is tested at all."""
    assert all(kernels.module.WORKSPACES[name] for name in ("forward", "grad_input"))


def test_out_receives_the_result_and_is_returned(kernels):
    kind = kind_of(PADDED)
    arrays = kind.random_inputs(PADDED, np.random.default_rng(1))
    want = kind.reference(PADDED, arrays)
    out = np.full(PADDED.output_shape, np.nan)
    assert kernels.forward(arrays["x"], arrays["w"], arrays["b"], out=out) is out
    assert relative_error(out, want["forward"])[1] <= 1e-12


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (lambda shape: np.zeros(shape[:-1]), r"out has shape \(2, 3, 3\), expected \(2, 3, 3, 4\)"),
        (lambda shape: np.zeros(shape, np.float32), "out has dtype float32, expected float64"),
        (
            lambda shape: np.zeros(shape[::-1]).T,
            r"out is not C-contiguous .*: pass np.empty\(\(2, 3, 3, 4\), np.float64\) and copy",
        ),
        (lambda shape: np.zeros(shape).tolist(), "out is a list, expected a numpy.ndarray"),
        (lambda shape: _read_only(np.zeros(shape)), "out is read-only"),
    ],
)
def test_a_wrong_out_is_refused_in_one_line(kernels, make_out, message):
    arrays = kind_of(PADDED).random_inputs(PADDED, np.random.default_rng(2))
    with pytest.raises(ValueError, match=message) as caught:
        kernels.forward(arrays["x"], arrays["w"], arrays["b"], out=make_out(PADDED.output_shape))
    assert "\n" not in str(caught.value)
    assert "ascontiguousarray(out)" not in str(caught.value)  # a copy would receive the result


def test_an_out_that_overlaps_an_argument_is_refused(kernels):
    """dL/dX of a 1-channel layer has x's shape: writing into x while reading it is refused."""
    spec = ConvSpec((5, 5), 3, padding=1, dtype="float64")
    same = generate(spec)
    x = np.ones(spec.input_shape)
    gy = np.ones(spec.output_shape)
    with pytest.raises(ValueError, match="out overlaps an argument"):
        same.grad_input(gy, np.ones((1, 1, 3, 3)), out=gy.reshape(spec.input_shape))
    assert same.grad_input(gy, np.ones((1, 1, 3, 3)), out=x) is x


def test_two_threads_calling_one_kernel_never_share_a_workspace(kernels):
    """Each thread gets its own padded copies: interleaved calls stay exact."""
    kind = kind_of(PADDED)
    inputs = [kind.random_inputs(PADDED, np.random.default_rng(seed)) for seed in (3, 4)]
    wants = [kind.reference(PADDED, arrays) for arrays in inputs]
    errors: list[str] = []
    start = threading.Barrier(2)

    def work(arrays: dict, want: dict) -> None:
        start.wait()
        for _ in range(200):
            got = kernels.grad_input(arrays["gy"], arrays["w"])
            if not relative_error(got, want["grad_input"])[1] <= 1e-12:
                errors.append("grad_input differs from the reference")
                return

    threads = [threading.Thread(target=work, args=pair) for pair in zip(inputs, wants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_workspaces_are_allocated_once_per_thread(kernels):
    call = kernels.forward._function
    first = call.workspaces()
    assert all(a is b for a, b in zip(first, call.workspaces()))
    other: list = []
    thread = threading.Thread(target=lambda: other.extend(call.workspaces()))
    thread.start()
    thread.join()
    assert len(other) == len(first) and not any(a is b for a, b in zip(first, other))


def test_max_pooling_dl_dx_starts_from_zero_in_a_dirty_out():
    """Its kernel adds each gradient into the winning element: `out` is zeroed first."""
    spec = PoolSpec("max", (6, 6), 2, stride=1, channels=2, dtype="float64")
    pool = generate(spec)
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(5))
    out = np.full(spec.input_shape, 1e30)
    pool.grad_input(arrays["gy"], arrays["x"], out=out)
    want = kind.reference(spec, arrays)["grad_input"]
    assert relative_error(out, want)[1] <= 1e-12


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def test_numba_threads_holds_and_restores_the_thread_count():
    import numba

    from symconv.targets.numba_cpu.runtime import numba_threads

    before = numba.get_num_threads()
    with numba_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with numba_threads(10**6):  # more than there are: as many as Numba has
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == before


def test_kernels_scheduled_on_one_or_two_threads_say_so_and_stay_right(tmp_path):
    """THREADS in the module: 1 for a kernel compiled without threads, N held to N."""
    spec = ConvSpec((12, 12), 3, in_channels=2, out_channels=8, batch=8, padding=1)
    kernels = generate(spec, tmp_path, schedules={"forward": "rows@1", "grad_input": "rows@2"})
    assert kernels.threads["forward"] == 1 and kernels.threads["grad_input"] == 2
    assert kernels.threads["grad_weight"] == 0  # the default: every thread Numba has
    source = kernels.path.read_text()
    forward = source[source.index("def forward(") - 80 : source.index("def forward(")]
    assert "parallel=False" in forward
    kind = kind_of(spec)
    arrays = kind.random_inputs(spec, np.random.default_rng(3))
    want = kind.reference(spec, arrays)
    got = {
        "forward": kernels.forward(arrays["x"], arrays["w"]),
        "grad_input": kernels.grad_input(arrays["gy"], arrays["w"]),
    }
    for name, value in got.items():
        assert relative_error(value, want[name])[1] <= 1e-5, name


def test_large_workspaces_start_a_cache_line_and_small_ones_are_plain():
    from symconv.targets.numba_cpu.runtime import ALIGNMENT, SMALL_BYTES, aligned_full

    for count in range(SMALL_BYTES // 4, SMALL_BYTES // 4 + 20):
        array = aligned_full((count,), 1.5, np.dtype(np.float32))
        assert array.ctypes.data % ALIGNMENT == 0 and array.flags.c_contiguous
        assert array.shape == (count,) and (array == 1.5).all()
    small = aligned_full((3, 5), None, np.dtype(np.float64))
    assert small.shape == (3, 5) and small.dtype == np.float64 and small.flags.c_contiguous
