"""Max and average pooling's oracles: NumPy from the definition, and PyTorch's own functions.

`pool_forward` and `pool_grad_input` follow ``torch.nn.functional.max_pool{1,2,3}d``
and ``avg_pool{1,2,3}d(count_include_pad=True)``: max pooling pads with −∞ (padding
never wins) and routes each window's gradient to the element PyTorch's CPU scan
picks, the first maximum in row-major window order, or the last NaN of a window that
holds one (the NaN also becomes the window's output); average pooling pads with zeros
that count in the divisor prod(kernel_size).  Overlapping windows (stride < kernel)
add their gradients up.  Everything is accumulated in float64.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symconv.kinds.convolution.oracles import _as_array, _result_dtype
from symconv.kinds.pooling.spec import PoolSpec


def _pool_pad(spec: PoolSpec, a: np.ndarray, value: float) -> np.ndarray:
    """Pad the spatial axes by `padding` on both sides with `value`."""
    pads = ((0, 0), (0, 0), *((p, p) for p in spec.padding))
    return np.pad(a, pads, constant_values=value)


def _pool_windows(spec: PoolSpec, padded: np.ndarray) -> np.ndarray:
    """View (N, C, *out, K) with [..., j, k] = padded[..., s·j + t], t the k-th tap in
    row-major order (the order PyTorch scans a window in, so ties can be resolved)."""
    spatial = tuple(range(2, 2 + spec.rank))
    view = sliding_window_view(padded, spec.kernel_size, axis=spatial)
    view = view[(slice(None), slice(None), *(slice(None, None, s) for s in spec.stride))]
    assert view.shape[2:] == (*spec.output_size, *spec.kernel_size)
    return view.reshape(*spec.output_shape, spec.window_size)


def _first_maximum(spec: PoolSpec, x: np.ndarray) -> np.ndarray:
    """(N, C, *out) flat index into the padded input of the element each window routes to.

    PyTorch's CPU scan: start at −∞ on the first real element and move on
    ``value > best or value is NaN``.  Without a NaN that is the first maximum (ties
    keep the earlier element; a window whose real elements are all −∞ keeps its first
    real one); with NaNs it is the window's last NaN.  Padding holds −∞ and is masked
    out, so it never wins.
    """
    padded = _pool_pad(spec, x, -np.inf)
    real = _pool_windows(spec, _pool_pad(spec, np.ones(x.shape, bool), False))
    windows = _pool_windows(spec, padded)
    largest = np.where(real, windows, -np.inf).max(axis=-1, keepdims=True)
    first_max = np.argmax((windows == largest) & real, axis=-1)
    nan = np.isnan(windows) & real
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    winner = np.where(nan.any(axis=-1), last_nan, first_max)
    positions = _pool_windows(spec, np.arange(padded.size).reshape(padded.shape))
    return np.take_along_axis(positions, winner[..., None], axis=-1)[..., 0]


def pool_forward(spec: PoolSpec, x: np.ndarray) -> np.ndarray:
    """y of shape spec.output_shape: the max or the mean (padding counted) of each window."""
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    out_dtype = _result_dtype(x)
    x64 = x.astype(np.float64)
    if spec.kind == "max":
        y = _pool_windows(spec, _pool_pad(spec, x64, -np.inf)).max(axis=-1)
    else:
        y = _pool_windows(spec, _pool_pad(spec, x64, 0.0)).sum(axis=-1) / spec.window_size
    return y.astype(out_dtype, copy=False)


def pool_grad_input(spec: PoolSpec, gy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx from gy = dL/dy, scattered back to the elements each window used.

    Max pooling adds gy to the first maximum of its window (x decides where); average
    pooling adds gy / prod(kernel_size) to every element of the window (x is checked
    but not needed).  The padding's share is cropped away at the end.
    """
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    out_dtype = _result_dtype(gy, x)
    padded_shape = (
        *spec.input_shape[:2],
        *(i + 2 * p for i, p in zip(spec.input_size, spec.padding)),
    )
    gx_pad = np.zeros(padded_shape, np.float64)
    gy64 = gy.astype(np.float64)
    if spec.kind == "max":
        np.add.at(gx_pad.reshape(-1), _first_maximum(spec, x).reshape(-1), gy64.reshape(-1))
    else:
        share = gy64 / spec.window_size
        for tap in itertools.product(*(range(k) for k in spec.kernel_size)):
            reads = tuple(
                slice(t, t + s * (o - 1) + 1, s)
                for t, s, o in zip(tap, spec.stride, spec.output_size, strict=True)
            )
            gx_pad[(Ellipsis, *reads)] += share
    crop = tuple(slice(p, p + i) for p, i in zip(spec.padding, spec.input_size, strict=True))
    return gx_pad[(Ellipsis, *crop)].astype(out_dtype, copy=False)


# ----- PyTorch -----------------------------------------------------------------------
def _pads_explicitly(spec: PoolSpec) -> bool:
    """avg_pool3d refuses an input smaller than the kernel, however much padding there is."""
    small = any(i < k for i, k in zip(spec.input_size, spec.kernel_size))
    return spec.kind == "avg" and spec.rank == 3 and small


def torch_results(spec: PoolSpec, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """y and dL/dx from max_pool*d / avg_pool*d(count_include_pad=True) and autograd.

    avg_pool3d refuses an input smaller than the kernel even when the padding makes
    room, so average pooling then pads the zeros explicitly: with count_include_pad
    they count in the divisor either way, the numbers are the same.
    """
    torch = importlib.import_module("torch")
    functional = torch.nn.functional
    pool = getattr(functional, f"{spec.kind}_pool{spec.rank}d")
    options = {"count_include_pad": True} if spec.kind == "avg" else {}
    x = torch.tensor(a["x"], requires_grad=True)
    source, padding = x, spec.padding
    if _pads_explicitly(spec):
        source = functional.pad(x, [p for p in reversed(spec.padding) for _ in range(2)])
        padding = 0
    y = pool(source, spec.kernel_size, spec.stride, padding, **options)
    y.backward(torch.tensor(a["gy"]))
    return {"forward": y.detach().numpy(), "grad_input": x.grad.numpy()}
