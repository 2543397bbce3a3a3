"""A 2-D convolution layer as a student might write it for a backprop exercise.

It has one bug, of the kind that recurs in real projects (pytorch #13008): dL/dX
forgets the dilation.  Every layer without dilation is right, so ordinary tests pass.
Find it:

    symconv check examples/student_conv.py:forward \\
        --grad-input examples/student_conv.py:grad_input \\
        --grad-weight examples/student_conv.py:grad_weight --convention numpy --ranks 2

The functions follow symconv's "numpy" convention: arrays by position (x of shape
(N, C_in, H, W), w of shape (C_out, C_in, kH, kW)), the layer's fields by keyword,
padding as ((top, bottom), (left, right)).
"""

import numpy as np


def forward(x, w, b=None, *, stride, padding, dilation):
    (top, bottom), (left, right) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, height, width = xp.shape
    c_out, c_in, kh, kw = w.shape
    oh = (height - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, c_out, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    row = i * stride[0] + u * dilation[0]
                    col = j * stride[1] + v * dilation[1]
                    y[:, :, i, j] += xp[:, :, row, col] @ w[:, :, u, v].T
    if b is not None:
        y += b[None, :, None, None]
    return y


def grad_input(gy, w, *, input_size, stride, padding, dilation):
    (top, bottom), (left, right) = padding
    n, c_out, oh, ow = gy.shape
    _, c_in, kh, kw = w.shape
    gx = np.zeros((n, c_in, input_size[0] + top + bottom, input_size[1] + left + right))
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    row = i * stride[0] + u  # the bug: the tap is u * dilation[0] away
                    col = j * stride[1] + v
                    gx[:, :, row, col] += gy[:, :, i, j] @ w[:, :, u, v]
    return gx[:, :, top : top + input_size[0], left : left + input_size[1]].astype(gy.dtype)


def grad_weight(x, gy, *, kernel_size, stride, padding, dilation):
    (top, bottom), (left, right) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c_out, oh, ow = gy.shape
    gw = np.zeros((c_out, x.shape[1], *kernel_size))
    for i in range(oh):
        for j in range(ow):
            for u in range(kernel_size[0]):
                for v in range(kernel_size[1]):
                    row = i * stride[0] + u * dilation[0]
                    col = j * stride[1] + v * dilation[1]
                    gw[:, :, u, v] += gy[:, :, i, j].T @ xp[:, :, row, col]
    return gw.astype(x.dtype)
