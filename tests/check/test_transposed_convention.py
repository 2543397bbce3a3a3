"""`symconv check --transposed`: a conv_transposeNd-style function checked as the ∂L/∂X it is."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symconv.check import check
from symconv.cli import main


def numpy_transpose(x, w, b, stride, padding, output_padding, groups, dilation):
    """A correct conv_transposeNd in NumPy, from the scatter (PyTorch's argument order)."""
    rank = x.ndim - 2
    batch, c_in, *size = x.shape
    per_in, per_out = c_in // groups, w.shape[1]
    kernel = w.shape[2:]
    out = [(i - 1) * s - 2 * p + d * (k - 1) + a + 1 for i, s, p, d, k, a in
           zip(size, stride, padding, dilation, kernel, output_padding)]  # fmt: skip
    y = np.zeros((batch, per_out * groups, *out))
    for n, c in itertools.product(range(batch), range(c_in)):
        g = c // per_in
        for i in np.ndindex(*size):
            for t in np.ndindex(*kernel):
                q = tuple(s * a + d * e - p for s, a, d, e, p in
                          zip(stride, i, dilation, t, padding))  # fmt: skip
                if all(0 <= v < o for v, o in zip(q, out)):
                    channels = slice(g * per_out, (g + 1) * per_out)
                    y[(n, channels, *q)] += x[(n, c, *i)] * w[(c, slice(None), *t)]
    return y if b is None else y + np.asarray(b).reshape(1, -1, *(1,) * rank)


def forgets_dilation(x, w, b, stride, padding, output_padding, groups, dilation):
    return numpy_transpose(x, w, b, stride, padding, output_padding, groups, (1,) * len(stride))


def test_a_correct_numpy_transpose_passes() -> None:
    report = check(grad_input=numpy_transpose, convention="torch-transpose-numpy", examples=20)
    assert report.ok, report.format("text")


def test_a_transpose_that_forgets_dilation_is_caught_and_named_as_a_transposed_layer() -> None:
    report = check(grad_input=forgets_dilation, convention="torch-transpose-numpy", examples=20)
    assert not report.ok
    text = report.format("text")
    assert "as your transposed layer: transposed convolution:" in text
    assert "dilation 2" in text or "dilation 3" in text


def test_pytorchs_own_conv_transpose_passes() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install torch==2.13.0")

    def theirs(x, w, b, stride, padding, output_padding, groups, dilation):
        function = getattr(torch.nn.functional, f"conv_transpose{x.dim() - 2}d")
        return function(x, w, b, stride, padding, output_padding, groups, dilation)

    report = check(grad_input=theirs, convention="torch-transpose", examples=30)
    assert report.ok, report.format("text")


def test_transposed_is_checked_alone_and_in_the_right_convention(tmp_path, capsys) -> None:
    module = tmp_path / "mine.py"
    module.write_text("def f(*a):\n    return None\n")
    assert main(["check", "--transposed", f"{module}:f", "--grad-input", f"{module}:f"]) == 2
    assert "alone" in capsys.readouterr().err
    assert main(["check", "--transposed", f"{module}:f", "--convention", "numpy"]) == 2
    assert "--convention numpy" in capsys.readouterr().err
