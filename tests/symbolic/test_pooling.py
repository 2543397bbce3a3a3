"""derive(PoolSpec) and the convolution→pooling chain against hand-worked grids, NumPy and PyTorch.

Expected grids are written out by hand (the notes' examples, worked window by window),
never produced by symconv.  Max pooling is fed small integers, so windows hold their
maximum more than once and the tie rule ("the first maximum in row-major order, as
PyTorch does") decides the gradient.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symconv import ConvSpec, PoolSpec, derive
from symconv.symbolic.chain import ChainDerivation, derive_chain, filter_for_routing
from symconv.symbolic.pooling import MAX_POOL_TERMS, PoolDerivation, derive_pool

#: Seed 000's max/average pooling example (4×4, f = 2, s = 2).
SEED_000 = [[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]]
#: Seed 000's 5×5 example, pooled with f = 3, s = 1.
SEED_000_5X5 = [
    [1, 3, 2, 1, 3],
    [2, 9, 1, 1, 5],
    [1, 3, 2, 3, 2],
    [8, 3, 5, 1, 0],
    [5, 6, 1, 2, 9],
]
#: Seed 001's 6×6 input A: 5 + (row mod 3) + (column mod 3).
SEED_001_A = [
    [5, 6, 7, 5, 6, 7],
    [6, 7, 8, 6, 7, 8],
    [7, 8, 9, 7, 8, 9],
    [5, 6, 7, 5, 6, 7],
    [6, 7, 8, 6, 7, 8],
    [7, 8, 9, 7, 8, 9],
]
SEED_001_CONV = ConvSpec((6, 6), 3)
SEED_001_POOL = PoolSpec("max", (4, 4), 2)


def grid(rows: list[list[float]]) -> np.ndarray:
    """A 2-D grid as a (1, 1, H, W) tensor."""
    return np.asarray(rows, dtype=np.float64)[np.newaxis, np.newaxis]


# ----- brute force: windows enumerated, np.argmax picks the first maximum -----------------------
def brute_pool(spec: PoolSpec, x: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.zeros(spec.output_shape)
    gx = np.zeros(spec.input_shape)
    taps = list(product(*(range(k) for k in spec.kernel_size)))
    for n, c in product(range(spec.batch), range(spec.channels)):
        for out in product(*(range(o) for o in spec.output_size)):
            real = []
            for tap in taps:
                pos = tuple(
                    s * j + t - p for s, j, t, p in zip(spec.stride, out, tap, spec.padding)
                )
                if all(0 <= q < i for q, i in zip(pos, spec.input_size)):
                    real.append((n, c, *pos))
            values = [x[r] for r in real]
            if spec.kind == "max":
                first = int(np.argmax(values))
                y[(n, c, *out)] = values[first]
                gx[real[first]] += gy[(n, c, *out)]
            else:
                y[(n, c, *out)] = sum(values) / spec.window_size
                for r in real:
                    gx[r] += gy[(n, c, *out)] / spec.window_size
    return y, gx


@st.composite
def pool_specs(draw: st.DrawFn, max_rank: int = 3) -> PoolSpec:
    """Small pooling layers: stride below, at or above the window; padding up to half."""
    rank = draw(st.integers(1, max_rank))
    max_kernel, max_out = {1: (4, 4), 2: (3, 3), 3: (2, 2)}[rank]
    sizes, kernels, strides, paddings = [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, max_kernel))
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        outputs = draw(st.integers(1, max_out))
        leftover = draw(st.integers(0, s - 1))
        sizes.append(max(1, (outputs - 1) * s + k - 2 * p + leftover))
        kernels.append(k)
        strides.append(s)
        paddings.append(p)
    assume(all(k <= i + 2 * p for k, i, p in zip(kernels, sizes, paddings)))
    return PoolSpec(
        draw(st.sampled_from(("max", "avg"))),
        tuple(sizes),
        tuple(kernels),
        channels=draw(st.integers(1, 2)),
        batch=draw(st.integers(1, 2)),
        stride=tuple(strides),
        padding=tuple(paddings),
    )


def random_inputs(spec: PoolSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integers 0..3 for X (ties everywhere), random upstream gradients."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, spec.input_shape).astype(np.float64)
    gy = rng.integers(-5, 6, spec.output_shape).astype(np.float64)
    return x, gy


# ----- max pooling: hand-worked grids -------------------------------------------------------------
def test_seed_000_max_pooling_routes_each_window_to_its_maximum():
    d = derive(PoolSpec("max", (4, 4), 2), values=SEED_000)
    assert isinstance(d, PoolDerivation)
    got = d.evaluate(grid(SEED_000), grid([[10, 20], [30, 40]]))
    np.testing.assert_array_equal(got["output"], grid([[9, 2], [6, 3]]))
    np.testing.assert_array_equal(
        got["grad_input"],
        grid([[0, 0, 20, 0], [0, 10, 0, 0], [0, 0, 0, 40], [0, 30, 0, 0]]),
    )


def test_routed_grid_without_upstream_numbers_holds_the_dl_dp_symbols():
    d = derive_pool(PoolSpec("max", (4, 4), 2))
    routed = d.routed(SEED_000)
    gy = d.symbols["gy"]
    expected = [
        [0, 0, gy[0, 0, 0, 1], 0],
        [0, gy[0, 0, 0, 0], 0, 0],
        [0, 0, 0, gy[0, 0, 1, 1]],
        [0, gy[0, 0, 1, 0], 0, 0],
    ]
    assert routed[0, 0].tolist() == expected
    assert str(gy[0, 0, 0, 1]) == "dL/dP12"
    winners = d.argmax(SEED_000)
    assert winners == {
        (0, 0, 0, 0): (0, 0, 1, 1),
        (0, 0, 0, 1): (0, 0, 0, 2),
        (0, 0, 1, 0): (0, 0, 3, 1),
        (0, 0, 1, 1): (0, 0, 2, 3),
    }


def test_ties_go_to_the_first_position_in_row_major_window_order():
    x = [[1, 3, 3, 1], [3, 2, 1, 1], [0, 0, 2, 2], [2, 2, 2, 0]]
    d = derive(PoolSpec("max", (4, 4), 2))
    got = d.evaluate(grid(x), grid([[10, 20], [30, 40]]))
    # window 1: 3 at (0,1) before (1,0); window 2: 3 at (0,2); window 3: 2 at (3,0) before
    # (3,1); window 4: 2 at (2,2) before (2,3) and (3,2).
    np.testing.assert_array_equal(
        got["grad_input"],
        grid([[0, 10, 20, 0], [0, 0, 0, 0], [0, 0, 40, 0], [30, 0, 0, 0]]),
    )
    flat = derive(PoolSpec("max", (2, 2), 2)).routed([[7, 7], [7, 7]], [[5]])
    np.testing.assert_array_equal(flat, grid([[5, 0], [0, 0]]))


def test_overlapping_windows_add_up_and_the_tie_rule_holds_across_rows():
    d = derive(PoolSpec("max", (5, 5), 3, stride=1))
    upstream = grid([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    got = d.evaluate(grid(SEED_000_5X5), upstream)
    np.testing.assert_array_equal(got["output"], grid([[9, 9, 5], [9, 9, 5], [8, 6, 9]]))
    # 9 at (1,1) wins windows 1, 2, 4, 5; the 5 at (1,4) wins windows 3 and 6 (window 6
    # also holds a 5 at (3,2), later in row-major order); 8, 6, 9 win windows 7, 8, 9.
    expected = np.zeros((5, 5))
    expected[1, 1] = 1 + 2 + 4 + 5
    expected[1, 4] = 3 + 6
    expected[3, 0], expected[4, 1], expected[4, 4] = 7, 8, 9
    np.testing.assert_array_equal(got["grad_input"][0, 0], expected)


def test_max_pooling_treats_padding_as_minus_infinity():
    d = derive(PoolSpec("max", (3,), 3, stride=1, padding=1))
    got = d.evaluate(np.array([[[-5.0, -3.0, -4.0]]]), np.ones((1, 1, 3)))
    # a padded zero would win every window; as -inf it never does
    np.testing.assert_array_equal(got["output"], [[[-3, -3, -3]]])
    np.testing.assert_array_equal(got["grad_input"], [[[0, 3, 0]]])
    border = d.windows[0]
    assert border.padded == 1 and len(border.members) == 2


def test_local_gradient_is_the_first_maximum_indicator():
    d = derive_pool(PoolSpec("max", (2, 2), 2))
    x11, x12, x21, x22 = d.symbols["x"][0, 0].flat
    gy = d.symbols["gy"][0, 0, 0, 0]
    term = d.grad_input[0, 0, 0, 1]
    upstream, indicator = sorted(sp.Mul.make_args(term), key=lambda f: f != gy)
    assert upstream == gy and isinstance(indicator, sp.Piecewise)
    (one, condition), (zero, otherwise) = indicator.args
    assert (one, zero, otherwise) == (1, 0, sp.true)
    assert set(sp.And.make_args(condition)) == {
        sp.StrictGreaterThan(x12, x11),
        sp.GreaterThan(x12, x21),
        sp.GreaterThan(x12, x22),
    }
    assert d.sympy_derivative[(0, 0, 0, 1)] == sp.Heaviside(x12 - sp.Max(x11, x21, x22))
    assert all(check.holds for check in d.checks.values()) and d.all_patterns_hold


def test_away_from_ties_the_indicator_equals_sympys_derivative_of_max():
    d = derive_pool(PoolSpec("max", (3, 3), 3))
    entries = list(d.symbols["x"].flat)
    rng = np.random.default_rng(7)
    for _ in range(5):
        numbers = dict(zip(entries, map(sp.Integer, rng.permutation(9))))
        for m, theta in d.sympy_derivative.items():
            local = next(t.local_gradient for t in d.chain[m] if t.output_index == (0, 0, 0, 0))
            assert local.xreplace(numbers) == theta.xreplace(numbers)


# ----- average pooling --------------------------------------------------------------------------
def test_seed_000_average_pooling_is_3_75_not_4_in_the_bottom_left():
    d = derive(PoolSpec("avg", (4, 4), 2), values=SEED_000)
    p = d.forward_values(SEED_000)[0, 0]
    assert p.tolist() == [
        [sp.Rational(15, 4), sp.Rational(5, 4)],
        [sp.Rational(15, 4), 2],
    ]  # the notes print 4 for (1 + 3 + 5 + 6)/4


def test_average_pooling_with_padding_divides_by_the_whole_window():
    d = derive(PoolSpec("avg", (4,), 2, padding=1))
    got = d.evaluate(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 1.0, 1.0]]]))
    np.testing.assert_array_equal(got["output"], [[[0.5, 2.5, 2.0]]])  # (0+1)/2, (2+3)/2, (4+0)/2
    np.testing.assert_array_equal(got["grad_input"], [[[0.5, 0.5, 0.5, 0.5]]])
    two_d = derive(PoolSpec("avg", (3, 3), 2, padding=1)).evaluate(
        np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    )
    np.testing.assert_array_equal(two_d["output"], grid([[0.25, 0.5], [0.5, 1.0]]))


def test_average_gradient_is_the_uniform_share_without_numbers():
    d = derive_pool(PoolSpec("avg", (4, 4), 2))
    gy = d.symbols["gy"]
    assert d.grad_input[0, 0, 1, 2] == gy[0, 0, 0, 1] / 4
    assert d.routed()[0, 0, 3, 3] == gy[0, 0, 1, 1] / 4


# ----- random layers: NumPy brute force and PyTorch ---------------------------------------------
@settings(max_examples=40, deadline=None)
@given(spec=pool_specs(), seed=st.integers(0, 2**16))
def test_random_layers_match_brute_force(spec, seed):
    x, gy = random_inputs(spec, seed)
    got = derive_pool(spec).evaluate(x, gy)
    y, gx = brute_pool(spec, x, gy)
    np.testing.assert_allclose(got["output"], y, rtol=1e-12)
    np.testing.assert_allclose(got["grad_input"], gx, rtol=1e-12, atol=1e-12)


def torch_pool(spec: PoolSpec, x: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install torch")
    functional = torch.nn.functional
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    args = (spec.kernel_size, spec.stride, spec.padding)
    if spec.kind == "max":
        out = getattr(functional, f"max_pool{spec.rank}d")(tx, *args)
    else:
        out = getattr(functional, f"avg_pool{spec.rank}d")(tx, *args, count_include_pad=True)
    out.backward(torch.tensor(gy, dtype=torch.float64))
    return out.detach().numpy(), tx.grad.numpy()


@settings(max_examples=30, deadline=None)
@given(spec=pool_specs(), seed=st.integers(0, 2**16))
def test_random_layers_match_pytorch_including_ties(spec, seed):
    # PyTorch's avg_pool3d (alone of the six) refuses an input smaller than the window even
    # when the padding makes it fit: "input image ... smaller than kernel size".
    small = any(i < k for i, k in zip(spec.input_size, spec.kernel_size))
    assume(not (spec.kind == "avg" and spec.rank == 3 and small))
    x, gy = random_inputs(spec, seed)
    y, gx = torch_pool(spec, x, gy)
    got = derive_pool(spec).evaluate(x, gy)
    np.testing.assert_allclose(got["output"], y, rtol=1e-12)
    np.testing.assert_allclose(got["grad_input"], gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pytorch_routes_an_all_equal_window_to_its_first_entry(rank):
    spec = PoolSpec("max", (4,) * rank, 2, stride=1)
    x = np.ones(spec.input_shape)
    gy = np.arange(1, math.prod(spec.output_shape) + 1, dtype=np.float64).reshape(spec.output_shape)
    _, gx = torch_pool(spec, x, gy)
    # every window is all ones: each sends its gradient to its first (corner) entry, so
    # entry j receives window j's gradient and the entries past the last window get none
    expected = np.zeros(spec.input_shape)
    expected[(0, 0, *(slice(0, 3),) * rank)] = gy[0, 0]
    np.testing.assert_array_equal(gx, expected)
    np.testing.assert_array_equal(derive_pool(spec).evaluate(x, gy)["grad_input"], expected)


# ----- the chain: seed 001 ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_chain() -> ChainDerivation:
    return derive(SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A)


def test_seed_001_c_is_periodic_in_the_numbers_of_a(seed_chain):
    f = seed_chain.conv.symbols["w"][0, 0]
    c = seed_chain.pool_input[0, 0]
    expected_c00 = (
        5 * f[0, 0] + 6 * f[0, 1] + 7 * f[0, 2]
        + 6 * f[1, 0] + 7 * f[1, 1] + 8 * f[1, 2]
        + 7 * f[2, 0] + 8 * f[2, 1] + 9 * f[2, 2]
    )  # fmt: skip
    assert sp.expand(c[0, 0] - expected_c00) == 0
    for a, b in [((0, 3), (0, 0)), ((3, 2), (0, 2)), ((2, 3), (2, 0)), ((3, 1), (0, 1))]:
        assert sp.expand(c[a] - c[b]) == 0  # A repeats with period 3, so C does for every F
    assert not seed_chain.routed  # which entry wins depends on F


def test_no_filter_gives_the_notes_routing_with_seed_001s_a(seed_chain):
    notes = {(0, 0, 0, 0): (0, 0, 0, 1), (0, 0, 0, 1): (0, 0, 0, 3)}
    notes |= {(0, 0, 1, 0): (0, 0, 2, 0), (0, 0, 1, 1): (0, 0, 3, 2)}
    assert filter_for_routing(seed_chain, notes) is None
    other = np.random.default_rng(1).integers(0, 9, (6, 6))
    chain = derive(SEED_001_CONV, pool=SEED_001_POOL, values=other)
    found = filter_for_routing(chain, notes)
    assert found is not None
    routed = derive(SEED_001_CONV, pool=SEED_001_POOL, values=other, filter_values=found)
    assert routed.pool.argmax(routed.pool_input) == notes


def test_seed_001_chain_with_a_delta_filter_routes_to_the_top_left_copy_of_a():
    delta = [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    chain = derive(SEED_001_CONV, pool=SEED_001_POOL, values=SEED_001_A, filter_values=delta)
    c = np.array(chain.pool_input[0, 0].tolist(), dtype=float)
    np.testing.assert_array_equal(c, [[5, 6, 7, 5], [6, 7, 8, 6], [7, 8, 9, 7], [5, 6, 7, 5]])
    gp = chain.pool.symbols["gy"][0, 0]
    assert chain.routed
    assert chain.grad_pool_input[0, 0].tolist() == [
        [0, 0, 0, 0],
        [0, gp[0, 0], gp[0, 1], 0],
        [0, gp[1, 0], gp[1, 1], 0],
        [0, 0, 0, 0],
    ]  # maxima 7, 8, 8, 9 at (1,1), (1,2), (2,1), (2,2)
    # dL/dF00 = Σ_k A[maximum_k] dL/dP_k: A11 = 7, A12 = 8, A21 = 8, A22 = 9
    expected = 7 * gp[0, 0] + 8 * gp[0, 1] + 8 * gp[1, 0] + 9 * gp[1, 1]
    assert sp.expand(chain.grad_weight[0, 0, 0, 0] - expected) == 0
    numbers = chain.evaluate(grid(SEED_001_A), grid(delta), grid([[1, 2], [3, 4]]))
    assert numbers["grad_weight"][0, 0, 0, 0] == 7 + 2 * 8 + 3 * 8 + 4 * 9
    assert numbers["grad_weight"][0, 0, 2, 2] == 5 + 2 * 6 + 3 * 6 + 4 * 7


def test_chain_through_conv_and_pooling_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install torch")
    rng = np.random.default_rng(3)
    for conv, pool in [
        (ConvSpec((6, 6), 3), PoolSpec("max", (4, 4), 2)),
        (ConvSpec((5, 5), 2, out_channels=2), PoolSpec("max", (4, 4), 2, channels=2, stride=1)),
        (ConvSpec((7,), 2, in_channels=2), PoolSpec("avg", (6,), 3, stride=2, padding=1)),
    ]:
        chain = derive_chain(conv, pool)
        x = rng.integers(-2, 3, conv.input_shape).astype(float)
        w = rng.integers(-1, 2, conv.weight_shape).astype(float)
        gy = rng.integers(-3, 4, pool.output_shape).astype(float)
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        c = getattr(torch.nn.functional, f"conv{conv.rank}d")(tx, tw)
        name = f"{'max' if pool.kind == 'max' else 'avg'}_pool{pool.rank}d"
        extra = {} if pool.kind == "max" else {"count_include_pad": True}
        p = getattr(torch.nn.functional, name)(
            c, pool.kernel_size, pool.stride, pool.padding, **extra
        )
        p.backward(torch.tensor(gy))
        got = chain.evaluate(x, w, gy)
        np.testing.assert_allclose(got["output"], p.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(got["grad_weight"], tw.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(got["grad_input"], tx.grad.numpy(), atol=1e-12)


# ----- dispatch and errors ----------------------------------------------------------------------
def test_derive_dispatches_on_the_spec():
    assert isinstance(derive(PoolSpec("avg", (4,), 2)), PoolDerivation)
    assert isinstance(derive(ConvSpec((3, 3), 2), pool=PoolSpec("max", (2, 2), 2)), ChainDerivation)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: derive(ConvSpec((6, 6), 3), pool=PoolSpec("max", (5, 5), 2)), "input_size=5×5"),
        (
            lambda: derive(ConvSpec((3, 3), 2), pool=PoolSpec("max", (2, 2), 2, channels=2)),
            "pool channels=2 differs from out_channels=1",
        ),
        (
            lambda: derive(ConvSpec((3, 3), 2), pool=PoolSpec("max", (2, 2), 2, batch=3)),
            "pool batch=3",
        ),
        (lambda: derive(PoolSpec("max", (4, 4), 2), values=[1, 2, 3]), "expected 16"),
        (lambda: derive(ConvSpec((3, 3), 2), values=[1] * 9), "need a pooling layer"),
        (
            lambda: derive(SEED_001_CONV, pool=SEED_001_POOL, filter_values=[1, 2]),
            "expected 9",
        ),
        (lambda: derive(PoolSpec("max", (4,), 2), values=[1, 2, float("nan"), 4]), "not finite"),
        (lambda: derive_pool(PoolSpec("max", (4,), 2)).routed(), "needs numbers"),
    ],
)
def test_bad_calls_raise_one_line_value_errors(call, message):
    with pytest.raises(ValueError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_large_pooling_keeps_only_the_configuration():
    spec = PoolSpec("max", (128, 128), 3, stride=1)
    d = derive(spec)
    assert not d.element_level and "more than" in d.notes[0]
    assert str(MAX_POOL_TERMS) not in d.notes[0]  # printed with separators
    with pytest.raises(ValueError, match="too large"):
        d.routed(np.zeros(spec.input_shape))


def test_derive_of_what_is_not_a_spec_names_the_types():
    with pytest.raises(TypeError, match="a PoolSpec or a ConvTransposeSpec, not dict"):
        derive({"kind": "max"})
