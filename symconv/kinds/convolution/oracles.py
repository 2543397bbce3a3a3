"""The convolution's oracles: NumPy from the definition, and PyTorch's own functions.

The NumPy functions follow PyTorch's ``conv1d/2d/3d`` exactly, with per-dimension
asymmetric zero padding ``(lo, hi)``, stride, dilation and groups.  In
"cross-correlation" mode

    y[n, co, j] = b[co] + sum_{ci, t} xpad[n, g*Cin_g + ci, s*j + d*t] * w[co, ci, t]

with ``g = co // Cout_g`` and multi-indices ``j`` (output) and ``t`` (kernel tap); in
"convolution" mode ``w`` is first rotated by 180 degrees along every spatial axis.
Padding is zeros that multiply like any other element: a NaN or an infinite weight
meets them as PyTorch's padded input does (0·inf is NaN).

They are written plainly from that definition rather than for speed, but vectorized
enough (strided window views contracted by ``np.einsum``) to serve as an oracle for
layers such as 8x64x56x56.  `grad_input` deliberately uses a different algorithm from
`forward` (a scatter-add over kernel taps) so the two do not share a bug.  Everything
is accumulated in float64 and returned in the result type of the floating inputs.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symconv.kinds.convolution.spec import ConvSpec

# einsum subscripts: n batch, g group, c input channel in group, o output channel in
# group; output positions and kernel taps get one letter per spatial dimension.
_OUT_LETTERS = "pqr"
_TAP_LETTERS = "uvw"


# ----- argument checks ---------------------------------------------------------------
def _as_array(name: str, value: object, expected: tuple[int, ...], what: str) -> np.ndarray:
    """Check the shape up front, so a mismatch is named instead of failing inside einsum."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} has complex dtype {arr.dtype}; convolution here is real")
    if arr.shape != expected:
        raise ValueError(f"{name} has shape {arr.shape}, expected {what} {expected}")
    return arr


def _result_dtype(*arrays: np.ndarray) -> np.dtype:
    """Result type of the floating inputs; integer/bool inputs are cast and don't widen it."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return np.result_type(*floats) if floats else np.dtype(np.float64)


# ----- building blocks ---------------------------------------------------------------
def _oriented_weight(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """The kernel actually slid over the input: rotated 180 degrees in convolution mode.

    The taps are the last `rank` axes (a tiled weight has its tile axes before them).
    """
    if not spec.flips_kernel:
        return w
    taps = tuple(range(w.ndim - spec.rank, w.ndim))
    return np.flip(w, axis=taps)


def _per_position(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """A tiled weight (C_out, C_in/G, *tiles, *k) as one filter per output position:
    (C_out, C_in/G, *outputs, *k), position j taking filter j mod t per dimension."""
    phases = np.ix_(*(np.arange(o) % t for o, t in zip(spec.output_size, spec.tiles)))
    return w[(slice(None), slice(None), *phases)]


def _tile_sums(spec: ConvSpec, per_position: np.ndarray) -> np.ndarray:
    """(…, *outputs, *k) -> (…, *tiles, *k): each tile's filter collects its positions."""
    lead = per_position.shape[: per_position.ndim - 2 * spec.rank]
    out = np.zeros((*lead, *spec.tiles, *spec.kernel_size))
    for phase in itertools.product(*(range(t) for t in spec.tiles)):
        picks = tuple(slice(p, None, t) for p, t in zip(phase, spec.tiles))
        members = per_position[(Ellipsis, *picks, *(slice(None),) * spec.rank)]
        axes = tuple(range(len(lead), len(lead) + spec.rank))
        out[(Ellipsis, *phase, *(slice(None),) * spec.rank)] = members.sum(axis=axes)
    return out


def _grouped_weight(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """(C_out, Cin_g, *k) -> (G, Cout_g, Cin_g, *k): output channels are split by group."""
    return w.reshape(spec.groups, spec.out_channels_per_group, *w.shape[1:])


def _grouped_channels(spec: ConvSpec, a: np.ndarray, per_group: int) -> np.ndarray:
    """(N, C, *rest) -> (N, G, C/G, *rest): channel axis split into group and member."""
    return a.reshape(a.shape[0], spec.groups, per_group, *a.shape[2:])


def _pad(spec: ConvSpec, x: np.ndarray) -> np.ndarray:
    """Zero-pad the spatial axes by (lo, hi) each; batch and channel axes untouched."""
    return np.pad(x, ((0, 0), (0, 0), *spec.padding))


def _windows(spec: ConvSpec, xpad: np.ndarray) -> np.ndarray:
    """View (N, C, *out, *kernel) with [..., j, t] = xpad[..., s*j + d*t].

    Windows of the dilated extent are taken at every position; slicing positions by the
    stride and window entries by the dilation leaves exactly out and kernel entries
    (rows past the last full window, the leftover, are never touched).
    """
    spatial = tuple(range(2, 2 + spec.rank))
    view = sliding_window_view(xpad, spec.effective_kernel, axis=spatial)
    positions = tuple(slice(None, None, s) for s in spec.stride)
    taps = tuple(slice(None, None, d) for d in spec.dilation)
    view = view[(slice(None), slice(None), *positions, *taps)]
    assert view.shape[2:] == (*spec.output_size, *spec.kernel_size)
    return view


def _subscripts(spec: ConvSpec) -> tuple[str, str]:
    """einsum letters for the output positions and the kernel taps of this rank."""
    return _OUT_LETTERS[: spec.rank], _TAP_LETTERS[: spec.rank]


# ----- public functions --------------------------------------------------------------
def forward(
    spec: ConvSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
) -> np.ndarray:
    """Output y of shape spec.output_shape: windows of padded x contracted with w per group.

    `b` is optional: None means no bias term is added (whatever ``spec.bias`` says).
    """
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    w = _as_array("w", w, spec.weight_shape, "spec.weight_shape")
    arrays = [x, w]
    if b is not None:
        b = _as_array("b", b, spec.bias_shape, "spec.bias_shape")
        arrays.append(b)
    out_dtype = _result_dtype(*arrays)

    xwin = _windows(spec, _pad(spec, x.astype(np.float64)))
    xwin = _grouped_channels(spec, xwin, spec.in_channels_per_group)
    wg = _grouped_weight(spec, _oriented_weight(spec, w.astype(np.float64)))
    j, t = _subscripts(spec)
    if spec.tiled:
        wg = _grouped_weight(
            spec, _per_position(spec, _oriented_weight(spec, w.astype(np.float64)))
        )
        y = np.einsum(f"ngc{j}{t},goc{j}{t}->ngo{j}", xwin, wg, optimize=True)
    else:
        y = np.einsum(f"ngc{j}{t},goc{t}->ngo{j}", xwin, wg, optimize=True)
    y = y.reshape(spec.output_shape)
    if b is not None:
        y = y + b.astype(np.float64).reshape(-1, *(1,) * spec.rank)
    return y.astype(out_dtype, copy=False)


def grad_input(spec: ConvSpec, gy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx from gy = dL/dy: every tap scatters gy*w back to the inputs it read.

    For tap t the outputs j read xpad[s*j + d*t], a strided slice of the padded input,
    so the tap's contribution is added to that slice; the padding is cropped at the end.
    The leftover rows after the last window receive no contribution and stay zero.
    """
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    w = _as_array("w", w, spec.weight_shape, "spec.weight_shape")
    out_dtype = _result_dtype(gy, w)

    gyg = _grouped_channels(spec, gy.astype(np.float64), spec.out_channels_per_group)
    oriented = _oriented_weight(spec, w.astype(np.float64))
    wg = _grouped_weight(spec, _per_position(spec, oriented) if spec.tiled else oriented)
    gx_pad = np.zeros(
        (spec.batch, spec.groups, spec.in_channels_per_group, *spec.padded_size), np.float64
    )
    j, _ = _subscripts(spec)
    for tap in itertools.product(*(range(k) for k in spec.kernel_size)):
        reads = tuple(
            slice(d * t, d * t + s * (o - 1) + 1, s)
            for t, d, s, o in zip(tap, spec.dilation, spec.stride, spec.output_size, strict=True)
        )
        if spec.tiled:  # each output position brings its own filter's tap
            contribution = np.einsum(
                f"ngo{j},goc{j}->ngc{j}", gyg, wg[(Ellipsis, *tap)], optimize=True
            )
        else:
            contribution = np.einsum(
                f"ngo{j},goc->ngc{j}", gyg, wg[(Ellipsis, *tap)], optimize=True
            )
        gx_pad[(Ellipsis, *reads)] += contribution
    crop = tuple(
        slice(lo, lo + i) for (lo, _), i in zip(spec.padding, spec.input_size, strict=True)
    )
    gx = gx_pad[(Ellipsis, *crop)].reshape(spec.input_shape)
    return gx.astype(out_dtype, copy=False)


def grad_weight(spec: ConvSpec, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """dL/dw: windows of padded x contracted with gy over batch and output positions.

    In convolution mode the gradient is taken with respect to the rotated kernel and
    rotated back, because w enters the sum only through its 180-degree rotation.
    """
    x = _as_array("x", x, spec.input_shape, "spec.input_shape")
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    out_dtype = _result_dtype(x, gy)

    xwin = _windows(spec, _pad(spec, x.astype(np.float64)))
    xwin = _grouped_channels(spec, xwin, spec.in_channels_per_group)
    gyg = _grouped_channels(spec, gy.astype(np.float64), spec.out_channels_per_group)
    j, t = _subscripts(spec)
    if spec.tiled:  # per position first, then each tile's filter sums its positions
        per_position = np.einsum(f"ngc{j}{t},ngo{j}->goc{j}{t}", xwin, gyg, optimize=True)
        gw = _tile_sums(spec, per_position)
    else:
        gw = np.einsum(f"ngc{j}{t},ngo{j}->goc{t}", xwin, gyg, optimize=True)
    gw = _oriented_weight(spec, gw.reshape(spec.weight_shape))
    return np.ascontiguousarray(gw, dtype=out_dtype)


def grad_bias(spec: ConvSpec, gy: np.ndarray) -> np.ndarray:
    """dL/db: each bias entry is added to every output of its channel, so sum gy there."""
    gy = _as_array("gy", gy, spec.output_shape, "spec.output_shape")
    out_dtype = _result_dtype(gy)
    axes = (0, *range(2, 2 + spec.rank))
    return gy.astype(np.float64).sum(axis=axes).astype(out_dtype, copy=False)


# ----- PyTorch -----------------------------------------------------------------------
def torch_function(spec: ConvSpec):
    """The layer as PyTorch computes it: a differentiable ``(x, w, b=None) -> y`` on tensors.

    ``torch.nn.functional.conv{1,2,3}d`` on an explicitly (lo, hi)-padded input (so
    asymmetric padding is covered); in convolution mode torch is given the flipped
    kernel, so autograd's dL/dw is with respect to the stored one.
    """
    torch = importlib.import_module("torch")
    functional = torch.nn.functional
    if spec.tiled:
        return _torch_tiled(spec, torch)
    conv = getattr(functional, f"conv{spec.rank}d")
    spatial = tuple(range(2, 2 + spec.rank))
    pads = [amount for pair in reversed(spec.padding) for amount in pair]  # last axis first

    def layer(x, w, b=None):
        kernel = torch.flip(w, spatial) if spec.flips_kernel else w
        padded = functional.pad(x, pads)
        return conv(
            padded, kernel, b, stride=spec.stride, dilation=spec.dilation, groups=spec.groups
        )

    return layer


def _torch_tiled(spec: ConvSpec, torch):
    """A tiled or locally connected layer in PyTorch, which has none: windows by
    ``Tensor.unfold`` along each axis, the filter of every position gathered by index
    (j mod t), one ``einsum``; autograd differentiates all of it."""
    functional = torch.nn.functional
    pads = [amount for pair in reversed(spec.padding) for amount in pair]
    j, t = _subscripts(spec)
    rank = spec.rank

    def layer(x, w, b=None):
        windows = functional.pad(x, pads)
        for axis, (span, stride) in enumerate(zip(spec.effective_kernel, spec.stride)):
            windows = windows.unfold(2 + axis, span, stride)
        taps = tuple(slice(None, None, d) for d in spec.dilation)
        windows = windows[(Ellipsis, *taps)]  # (N, C, *out, *k)
        windows = windows.reshape(x.shape[0], spec.groups, spec.in_channels_per_group,
                                  *windows.shape[2:])  # fmt: skip
        kernel = torch.flip(w, tuple(range(w.ndim - rank, w.ndim))) if spec.flips_kernel else w
        index = [torch.arange(o) % tiles for o, tiles in zip(spec.output_size, spec.tiles)]
        grids = torch.meshgrid(*index, indexing="ij")
        per_position = kernel[(slice(None), slice(None), *grids)]  # (M, C/G, *out, *k)
        per_position = per_position.reshape(spec.groups, spec.out_channels_per_group,
                                            *per_position.shape[1:])  # fmt: skip
        y = torch.einsum(f"ngc{j}{t},goc{j}{t}->ngo{j}", windows, per_position)
        y = y.reshape(x.shape[0], spec.out_channels, *spec.output_size)
        if b is not None:
            y = y + b.reshape(-1, *(1,) * rank)
        return y

    return layer


def torch_results(spec: ConvSpec, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every kernel's result from `torch_function` and autograd, for dL/dy = a["gy"]."""
    return autograd_results(torch_function(spec), spec.bias, a)


def autograd_results(layer, bias: bool, a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """forward, grad_input, grad_weight (and grad_bias) of a differentiable PyTorch
    ``layer(x, w, b)`` on the arrays of `a`, by autograd with dL/dy = a["gy"]."""
    torch = importlib.import_module("torch")
    x = torch.tensor(a["x"], requires_grad=True)
    w = torch.tensor(a["w"], requires_grad=True)
    b = torch.tensor(a["b"], requires_grad=True) if bias else None
    y = layer(x, w, b)
    y.backward(torch.tensor(a["gy"]))
    results = {
        "forward": y.detach().numpy(),
        "grad_input": x.grad.numpy(),
        "grad_weight": w.grad.numpy(),
    }
    if b is not None:
        results["grad_bias"] = b.grad.numpy()
    return results
