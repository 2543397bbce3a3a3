"""Tiled and locally connected convolution: spec, formulas, oracles, derivation, cost, CLI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symconv import derive
from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.lower import lower
from symconv.lower.driver import schedules_for
from symconv.lower.interpret import run
from symconv.symbolic import patterns
from symconv.symbolic.expressions import POLYNOMIALS, same_polynomials
from symconv.symbolic.identities import Operand, TileOf
from tests.strategies import tiled_specs

SLOW = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def definition(spec: ConvSpec, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Forward and both gradients by loops over the definition: output j uses filter j mod t."""
    x, w, gy = (a[k].astype(np.float64) for k in ("x", "w", "gy"))
    y, gx, gw = np.zeros(spec.output_shape), np.zeros(spec.input_shape), np.zeros(w.shape)
    cg, kg = spec.in_channels_per_group, spec.out_channels_per_group
    for n, m in itertools.product(range(spec.batch), range(spec.out_channels)):
        for j in itertools.product(*map(range, spec.output_size)):
            tile = tuple(jj % t for jj, t in zip(j, spec.tiles))
            for c, t in itertools.product(
                range(cg), itertools.product(*map(range, spec.kernel_size))
            ):
                p = tuple(
                    s * jj + d * tt - lo
                    for s, jj, d, tt, (lo, _) in zip(spec.stride, j, spec.dilation, t, spec.padding)
                )
                if not all(0 <= q < size for q, size in zip(p, spec.input_size)):
                    continue
                stored = tuple(k - 1 - tt for k, tt in zip(spec.kernel_size, t)) if (
                    spec.mode == "convolution") else t  # fmt: skip
                wi, xi = (m, c, *tile, *stored), (n, (m // kg) * cg + c, *p)
                y[(n, m, *j)] += x[xi] * w[wi]
                gx[xi] += gy[(n, m, *j)] * w[wi]
                gw[wi] += gy[(n, m, *j)] * x[xi]
    if spec.bias:
        y += a["b"].astype(np.float64).reshape(-1, *(1,) * spec.rank)
    return {"forward": y, "grad_input": gx, "grad_weight": gw}


# ----- the spec --------------------------------------------------------------------------------
def test_tiles_resolve_and_shape_the_weight():
    spec = ConvSpec((5, 6), 2, tiles=2, in_channels=3, out_channels=4)
    assert spec.tiles == (2, 2) and spec.tiled and not spec.locally_connected
    assert spec.weight_shape == (4, 3, 2, 2, 2, 2)
    local = ConvSpec((5, 6), 2, tiles="local")
    assert local.tiles == local.output_size == (4, 5) and local.locally_connected
    assert local.weight_shape == (1, 1, 4, 5, 2, 2)
    assert ConvSpec((5, 6), 2, tiles=(1, 3)).weight_shape == (1, 1, 1, 3, 2, 2)


def test_one_tile_everywhere_is_the_ordinary_layer_with_the_same_key():
    plain = ConvSpec((5, 6), 2)
    assert ConvSpec((5, 6), 2, tiles=1) == plain
    assert ConvSpec((5, 6), 2, tiles=(1, 1)).key == plain.key
    assert not plain.tiled and plain.weight_shape == (1, 1, 2, 2)
    assert "tiles" not in plain.to_dict()


def test_labels_and_json_round_trip():
    spec = ConvSpec((5, 6), 2, tiles=(2, 3))
    assert spec.label.endswith("_t2x3")
    assert ConvSpec((5, 6), 2, tiles="local").label.endswith("_local")
    assert ConvSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("tiles", "message"),
    [
        (5, r"tiles\[0\]=5 is more than the output size 4"),
        ((1, 9), r"tiles\[1\]=9 is more than the output size 5"),
        (0, "tiles"),
        ("many", 'must be an int, one int per dimension, or "local"'),
        ((2, 2, 2), "tiles"),
    ],
)
def test_bad_tiles_are_refused_in_one_line(tiles, message):
    with pytest.raises(ValueError, match=message) as caught:
        ConvSpec((5, 6), 2, tiles=tiles)
    assert "\n" not in str(caught.value)


# ----- formulas, the NumPy reference, the nests, PyTorch -----------------------------------------
@SLOW
@given(spec=tiled_specs(max_batch=2, max_channels_per_group=2), seed=st.integers(0, 2**16))
# dL/dF's term for the padded row is 0·dL/dy, but dL/dy's own index (2q + tau) still needs
# its bounds guard: folding must not drop it.  Found by this test.
@example(spec=ConvSpec((1, 4), 2, padding=((0, 1), (0, 0)), tiles=(1, 2)), seed=0)
def test_reference_and_direct_nests_equal_the_definition(spec, seed):
    """Ranks 1-3, stride with leftover rows, asymmetric padding, dilation, groups, both modes."""
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    expected = definition(spec, arrays)
    reference = CONVOLUTION.reference(spec, arrays)
    exact = {k: v.astype(np.float64) for k, v in arrays.items()}
    tolerance = 1e-4 if spec.dtype == "float32" else 1e-10
    for name, want in expected.items():
        scale = max(1.0, float(np.abs(want).max(initial=0)))
        assert np.abs(reference[name] - want).max(initial=0) / scale < tolerance, name
        nest = lower(getattr(index_level(spec), name), spec)
        assert np.abs(run(nest, exact) - want).max(initial=0) / scale < 1e-10, name


@SLOW
@given(spec=tiled_specs(max_batch=2), seed=st.integers(0, 2**16))
def test_the_pytorch_oracle_from_unfold_and_einsum_agrees(spec, seed):
    pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(seed))
    reference = CONVOLUTION.reference(spec, arrays)
    torch = CONVOLUTION.torch_reference(spec, arrays)
    tolerance = 1e-4 if spec.dtype == "float32" else 1e-10
    for name, got in torch.items():
        scale = max(1.0, float(np.abs(reference[name]).max(initial=0)))
        assert np.abs(got - reference[name]).max(initial=0) / scale < tolerance, name


@settings(max_examples=30, deadline=None)
@given(spec=tiled_specs())
def test_only_direct_lowers_a_tiled_layer(spec):
    for formula in index_level(spec).formulas():
        assert schedules_for(formula, spec) == ("direct",)


# ----- the derivation ---------------------------------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=tiled_specs(max_rank=2, max_batch=1, max_channels_per_group=1, groups=(1, 2)))
def test_every_tiled_pattern_is_proved(spec):
    derivation = derive(spec)
    assert set(derivation.patterns) >= {"rotation", "grad_weight", "leftover", "closed_forms"}
    assert all(p.holds for p in derivation.patterns.values()), {
        k: p.holds for k, p in derivation.patterns.items()
    }


def test_the_single_rotated_filter_rule_fails_for_a_tiled_layer():
    """Correlating ∂L/∂O with one tile's rotated filter is not ∂L/∂X once t > 1."""
    spec = ConvSpec((5, 5), 2, tiles=2)
    derivation = derive(spec)
    shared = patterns.grad_input_identity(ConvSpec((5, 5), 2))
    one_filter = type(shared)(
        shared.lhs,
        shared.operation,
        shared.grid,
        Operand("w", (TileOf((0, 0)), *shared.kernel.steps)),
    )
    value = one_filter.evaluate(derivation.symbols, POLYNOMIALS)
    assert not same_polynomials(value, derivation.grad_input)


def test_the_tile_map_says_which_positions_share_a_filter():
    spec = ConvSpec((4, 5), 2, tiles=(2, 3))
    grid = patterns.tile_map(spec)
    assert grid[0, 0] == grid[2, 3] == (0, 0) and grid[1, 2] == (1, 2)
    text = derive(spec).to_text()
    assert "The tile (the filter) each output position uses" in text
    assert "∂L/∂F11 = cross-correlation" in text


# ----- the efficiency table (Goodfellow et al., 320×280 image, 2×1 kernel) -----
def test_efficiency_rows_of_the_notes_example():
    rows = {
        t: {
            r.name: (r.stored_floats, r.operations)
            for r in ConvSpec((320, 280), (2, 1), tiles=t).cost().rows
        }
        for t in (1, 2, "local")
    }
    multiply_adds = 319 * 280 * 3  # 2 multiplications and 1 addition per output
    assert rows[1]["convolution"] == (2, multiply_adds)
    assert rows[1]["tiled convolution, t = 2"] == (2 * 4, multiply_adds)
    assert rows[1]["locally connected"] == (2 * 319 * 280, multiply_adds)
    assert rows[2]["tiled convolution, t = 2 (this layer)"] == (8, multiply_adds)
    assert rows["local"]["locally connected (this layer)"] == (178_640, multiply_adds)
    assert not any(name.startswith("Winograd") for name in rows[2])


def test_cli_tiles_flag(capsys):
    from symconv.cli import main

    assert main(["derive", "--input", "4x5", "--kernel", "2", "--tiles", "local"]) == 0
    out = capsys.readouterr().out
    assert "locally connected" in out and "row / column" in out
    try:
        status = main(["derive", "--tiles", "3"])
    except SystemExit as stop:
        status = stop.code
    assert status == 2
    assert "tiles[0]=3 is more than the output size 2" in capsys.readouterr().err
