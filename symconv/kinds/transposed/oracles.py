"""The transposed convolution's oracles: NumPy from its own definition, and PyTorch's.

The NumPy functions are written from the scatter that defines the layer, not through
the convolution it is the gradient of (so the two kinds' oracles do not share a bug):

    y[n, g·M + m, s·i + d·t − p] += x[n, g·C + c, i] · w[g·C + c, m, t]

for every input position i and tap t (C = C_in / groups, M = C_out / groups), into an
output of (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 rows; positions past either
end are dropped.  The gradients gather the same pairs back.  float64 accumulation.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping

import numpy as np

from symconv.kinds.convolution.oracles import _as_array, _result_dtype, autograd_results
from symconv.kinds.transposed.spec import ConvTransposeSpec


def _full_size(spec: ConvTransposeSpec) -> tuple[int, ...]:
    """Rows the scatter reaches before the padding p is cropped off both ends."""
    return tuple(
        (i - 1) * s + d * (k - 1) + 1 + a + p
        for i, s, d, k, a, p in zip(spec.input_size, spec.stride, spec.dilation,
                                    spec.kernel_size, spec.output_padding, spec.padding)
    )  # fmt: skip


def _landing(spec: ConvTransposeSpec, taps: tuple[int, ...]) -> tuple[slice, ...]:
    """Where tap t of every input position lands in the uncropped output: s·i + d·t."""
    return tuple(
        slice(d * t, d * t + s * (i - 1) + 1, s)
        for d, t, s, i in zip(spec.dilation, taps, spec.stride, spec.input_size)
    )


def _crop(spec: ConvTransposeSpec) -> tuple[slice, ...]:
    return tuple(slice(p, p + o) for p, o in zip(spec.padding, spec.output_size))


def _grouped(spec: ConvTransposeSpec, array: np.ndarray) -> np.ndarray:
    """(N, G·K, *spatial) -> (N, G, K, *spatial)."""
    return array.reshape(array.shape[0], spec.groups, -1, *array.shape[2:])


def forward(spec: ConvTransposeSpec, x, w, b=None) -> np.ndarray:
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    w = _as_array("w", w, spec.weight_shape, "spec.weight_shape")
    out_dtype = _result_dtype(x, w)
    xg = _grouped(spec, x.astype(np.float64))  # (N, G, C, *i)
    wg = w.astype(np.float64).reshape(spec.groups, spec.in_channels_per_group,
                                      spec.out_channels_per_group, *spec.kernel_size)  # fmt: skip
    full = np.zeros((spec.batch, spec.groups, spec.out_channels_per_group, *_full_size(spec)))
    for taps in itertools.product(*(range(k) for k in spec.kernel_size)):
        contribution = np.einsum("ngc...,gcm->ngm...", xg, wg[(slice(None),) * 3 + taps])
        full[(Ellipsis, *_landing(spec, taps))] += contribution
    y = full[(Ellipsis, *_crop(spec))].reshape(spec.output_shape)
    if spec.bias:
        b = _as_array("b", b, spec.bias_shape, "spec.bias_shape")
        y = y + b.astype(np.float64).reshape(1, -1, *(1,) * spec.rank)
        out_dtype = _result_dtype(x, w, b)
    return y.astype(out_dtype, copy=False)


def _uncropped(spec: ConvTransposeSpec, gy: np.ndarray) -> np.ndarray:
    """∂L/∂y placed back in the uncropped output (zeros where the padding was cut)."""
    full = np.zeros((spec.batch, spec.out_channels, *_full_size(spec)))
    full[(Ellipsis, *_crop(spec))] = gy
    return _grouped(spec, full)  # (N, G, M, *full)


def grad_input(spec: ConvTransposeSpec, gy, w) -> np.ndarray:
    """∂L/∂x[n, c, i] = Σ_t Σ_m ∂L/∂y[n, m, s·i + d·t − p] · w[c, m, t] (a gather)."""
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    w = _as_array("w", w, spec.weight_shape, "spec.weight_shape")
    out_dtype = _result_dtype(gy, w)
    full = _uncropped(spec, gy.astype(np.float64))
    wg = w.astype(np.float64).reshape(spec.groups, spec.in_channels_per_group,
                                      spec.out_channels_per_group, *spec.kernel_size)  # fmt: skip
    gx = np.zeros((spec.batch, spec.groups, spec.in_channels_per_group, *spec.input_size))
    for taps in itertools.product(*(range(k) for k in spec.kernel_size)):
        reads = full[(Ellipsis, *_landing(spec, taps))]
        gx += np.einsum("ngm...,gcm->ngc...", reads, wg[(slice(None),) * 3 + taps])
    return gx.reshape(spec.input_shape).astype(out_dtype, copy=False)


def grad_weight(spec: ConvTransposeSpec, x, gy) -> np.ndarray:
    """∂L/∂w[c, m, t] = Σ_n Σ_i x[n, c, i] · ∂L/∂y[n, m, s·i + d·t − p]."""
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    out_dtype = _result_dtype(x, gy)
    full = _uncropped(spec, gy.astype(np.float64))
    xg = _grouped(spec, x.astype(np.float64))
    gw = np.zeros((spec.groups, spec.in_channels_per_group, spec.out_channels_per_group,
                   *spec.kernel_size))  # fmt: skip
    for taps in itertools.product(*(range(k) for k in spec.kernel_size)):
        reads = full[(Ellipsis, *_landing(spec, taps))]
        flat_x, flat_reads = xg.reshape(*xg.shape[:3], -1), reads.reshape(*reads.shape[:3], -1)
        gw[(slice(None),) * 3 + taps] = np.einsum("ngcp,ngmp->gcm", flat_x, flat_reads)
    return gw.reshape(spec.weight_shape).astype(out_dtype, copy=False)


def grad_bias(spec: ConvTransposeSpec, gy) -> np.ndarray:
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    axes = (0, *range(2, 2 + spec.rank))
    return gy.astype(np.float64).sum(axis=axes).astype(_result_dtype(gy), copy=False)


# ----- PyTorch -----------------------------------------------------------------------
def torch_function(spec: ConvTransposeSpec):
    """``torch.nn.functional.conv_transpose{1,2,3}d`` with the spec's parameters."""
    functional = importlib.import_module("torch").nn.functional
    transpose = getattr(functional, f"conv_transpose{spec.rank}d")

    def layer(x, w, b=None):
        return transpose(x, w, b, stride=spec.stride, padding=spec.padding,
                         output_padding=spec.output_padding, groups=spec.groups,
                         dilation=spec.dilation)  # fmt: skip

    return layer


def torch_results(spec: ConvTransposeSpec, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every kernel's result from PyTorch's conv_transpose and autograd, for ∂L/∂y = a["gy"]."""
    return autograd_results(torch_function(spec), spec.bias, a)
