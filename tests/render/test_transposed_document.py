"""The printed derivation of a transposed layer: every format, the sizes, the proofs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from symconv.cli import main
from symconv.kinds import ConvTransposeSpec
from symconv.render import render
from symconv.symbolic.derive import derive
from tests.strategies import transposed_specs

SPEC = ConvTransposeSpec((2, 2), 3, stride=2, padding=1, output_padding=1, bias=True)


def test_text_shows_sizes_equations_and_proved_identities() -> None:
    text = render(derive(SPEC), "text")
    flat = " ".join(text.split())
    assert "(2 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 4" in flat
    assert "leftover a = (o + lo + hi − k_eff) mod s = 1" in flat
    assert "O22 = X11·F22 + X12·F21" not in text  # not a convolution's window
    assert text.count("✓ proved") == 4 and "✗" not in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_latex_compiles(compile_latex) -> None:
    compile_latex(render(derive(SPEC), "latex"))


@pytest.mark.parametrize("fmt", ["markdown", "text"])
def test_the_cli_derives_a_transposed_layer(fmt, capsys) -> None:
    status = main(["derive", "--transposed", "--input", "2x2", "--kernel", "3", "--stride", "2",
                   "--padding", "1", "--output-padding", "1", "--format", fmt])  # fmt: skip
    assert status == 0
    assert "What the layer is" in capsys.readouterr().out


def test_a_large_layer_states_the_identities_without_expanding(capsys) -> None:
    assert main(["derive", "--transposed", "--input", "8x64x28x28", "--kernel", "4",
                 "--stride", "2", "--padding", "1", "--out-channels", "64"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "411,041,792 products" in out and "stated, not proved" in out


@settings(max_examples=15, deadline=None)
@given(transposed_specs(max_rank=3, max_size=3))
def test_random_transposed_layers_print_proved_and_within_100_columns(spec) -> None:
    d = derive(spec)
    text = render(d, "text")
    assert text.count("✓ proved") == len(d.patterns) and "✗" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "O = " in text  # the forward identity, its dilated, padded grid shown


def test_a_grouped_layer_with_bias_compiles(compile_latex) -> None:
    spec = ConvTransposeSpec((3, 2), 2, in_channels=3, out_channels=6, groups=3, stride=2,
                             output_padding=1, bias=True)  # fmt: skip
    compile_latex(render(derive(spec), "latex"))


def test_output_padding_rows_that_receive_nothing_are_named_and_are_zero() -> None:
    """Padding 0: the extra row and column lie past every input's reach (O is 0 there);
    padding 1: the extra row is uncropped from the padding and does receive products."""
    spec = ConvTransposeSpec((2, 2), 3, stride=2, output_padding=1)
    d = derive(spec)
    assert (d.output[0, 0, 5, :] == 0).all() and (d.output[0, 0, :, 5] == 0).all()
    assert all(e != 0 for e in d.output[0, 0, :5, :5].flat)
    flat = " ".join(render(d, "text").split())
    assert "Output rows that no input reaches (1-based): 6 along height; 6 along width." in flat
    covered = " ".join(render(derive(SPEC), "text").split())
    assert "Every output row receives at least one product." in covered
