"""A plain loop convolution for any rank, written independently of symconv, with
switches that plant the bugs `symconv check` must find.

It follows the "numpy" convention: arrays by position, the layer's fields by keyword
(padding as ((lo, hi), ...) per dimension).  With no bug switched on it is correct,
and that is tested too, so a caught bug is the planted one.
"""

from __future__ import annotations

import itertools

import numpy as np

BUGS = ("leftover", "dilation", "groups", "flip", "padding")


def _taps(kernel_size):
    return itertools.product(*(range(k) for k in kernel_size))


class LoopConvolution:
    def __init__(self, bug: str | None = None) -> None:
        self.bug = bug

    # ----- helpers -------------------------------------------------------------------
    def _padding(self, padding):
        if self.bug == "padding":  # the lo zeros moved to the hi side, one short
            return tuple((max(lo - 1, 0), hi + (1 if lo > 0 else 0)) for lo, hi in padding)
        return tuple(padding)

    def _group(self, co, out_per_group, groups):
        if self.bug == "groups":
            return co % groups
        return co // out_per_group

    def _tap(self, tap, kernel_size, mode):
        if mode == "convolution" and self.bug != "flip":
            return tuple(k - 1 - t for k, t in zip(kernel_size, tap))
        return tuple(tap)

    # ----- the three functions -------------------------------------------------------
    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, mode):
        n, _, *size = x.shape
        cout, cin_g, *kernel = w.shape
        pads = self._padding(padding)
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pads))
        outs = [
            (s + lo + hi - d * (k - 1) - 1) // st + 1
            for s, (lo, hi), d, k, st in zip(size, padding, dilation, kernel, stride)
        ]
        y = np.zeros((n, cout, *outs))
        for bi, co, j in itertools.product(range(n), range(cout), np.ndindex(*outs)):
            g = self._group(co, cout // groups, groups)
            total = 0.0 if b is None else float(b[co])
            for ci, t in itertools.product(range(cin_g), _taps(kernel)):
                p = tuple(st * jj + d * tt for st, jj, d, tt in zip(stride, j, dilation, t))
                wt = self._tap(t, kernel, mode)
                total += xp[(bi, g * cin_g + ci, *p)] * w[(co, ci, *wt)]
            y[(bi, co, *j)] = total
        return y.astype(x.dtype)

    def grad_input(self, gy, w, *, input_size, stride, padding, dilation, groups, mode):
        n, cout, *outs = gy.shape
        _, cin_g, *kernel = w.shape
        padded = [s + lo + hi for s, (lo, hi) in zip(input_size, padding)]
        gxp = np.zeros((n, cin_g * groups, *padded))
        spread = (1,) * len(dilation) if self.bug == "dilation" else dilation
        for bi, co, j in itertools.product(range(n), range(cout), np.ndindex(*outs)):
            g = self._group(co, cout // groups, groups)
            for ci, t in itertools.product(range(cin_g), _taps(kernel)):
                p = tuple(st * jj + d * tt for st, jj, d, tt in zip(stride, j, spread, t))
                wt = self._tap(t, kernel, mode)
                gxp[(bi, g * cin_g + ci, *p)] += gy[(bi, co, *j)] * w[(co, ci, *wt)]
        crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(input_size, padding))
        return gxp[(slice(None), slice(None), *crop)].astype(gy.dtype)

    def grad_weight(self, x, gy, *, kernel_size, stride, padding, dilation, groups, mode):
        n, cout, *outs = gy.shape
        cin_g = x.shape[1] // groups
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *padding))
        if self.bug == "leftover":
            # correlate the whole padded x with the spread-out dL/dO, then keep the
            # last k taps (the right crop is the first k: the leftover rows are unread)
            return self._grad_weight_by_correlation(
                xp, gy, kernel_size, stride, dilation, groups, mode
            )
        gw = np.zeros((cout, cin_g, *kernel_size))
        for bi, co, j in itertools.product(range(n), range(cout), np.ndindex(*outs)):
            g = self._group(co, cout // groups, groups)
            for ci, t in itertools.product(range(cin_g), _taps(kernel_size)):
                p = tuple(st * jj + d * tt for st, jj, d, tt in zip(stride, j, dilation, t))
                wt = self._tap(t, kernel_size, mode)
                gw[(co, ci, *wt)] += gy[(bi, co, *j)] * xp[(bi, g * cin_g + ci, *p)]
        return gw.astype(x.dtype)

    def _grad_weight_by_correlation(self, xp, gy, kernel_size, stride, dilation, groups, mode):
        n, cout, *outs = gy.shape
        cin_g = xp.shape[1] // groups
        spans = [xs - ((o - 1) * st + 1) + 1 for xs, o, st in zip(xp.shape[2:], outs, stride)]
        full = np.zeros((cout, cin_g, *spans))
        for bi, co, j in itertools.product(range(n), range(cout), np.ndindex(*outs)):
            g = co // (cout // groups)
            for ci, t in itertools.product(range(cin_g), np.ndindex(*spans)):
                p = tuple(st * jj + tt for st, jj, tt in zip(stride, j, t))
                full[(co, ci, *t)] += gy[(bi, co, *j)] * xp[(bi, g * cin_g + ci, *p)]
        # the taps sit d apart; the bug aligns them with the end of `full`, not its start
        starts = [s - (d * (k - 1) + 1) for s, d, k in zip(spans, dilation, kernel_size)]
        gw = np.zeros((cout, cin_g, *kernel_size))
        for t in _taps(kernel_size):
            at = tuple(s + d * tt for s, d, tt in zip(starts, dilation, t))
            gw[(slice(None), slice(None), *self._tap(t, kernel_size, mode))] = full[
                (slice(None), slice(None), *at)
            ]
        return gw.astype(gy.dtype)
