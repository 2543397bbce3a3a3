"""The geometry every sliding-window layer shares: one spatial axis, p = s·j + d·t − lo.

A convolution and a pooling layer read their input the same way.  Along one spatial
axis of input size i, window (output) j and tap t read the padded input at

    p = s·j + d·t − lo          (stride s, dilation d, zero padding lo before, hi after)

and everything else follows from that one equation: the span of a dilated kernel
k_eff = d(k − 1) + 1, the number of windows o = ⌊(i + lo + hi − k_eff)/s⌋ + 1, the
leftover a = (i + lo + hi − k_eff) mod s (padded rows past the last window), which
(window, tap) pairs read a real element rather than padding, and the gather rule that
solves the equation for j.  `WindowAxis` holds it once; the specs, the formulas, the
element equations, the cost table and the proofs all ask it.

Counts are exact and cost O(log) whatever the sizes (`floor_sum`), so a layer of 10^18
rows is costed as fast as the lecture's 3×3 example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """Σ_{u=0}^{n−1} ⌊(a·u + b)/m⌋ for m > 0 and any integers a, b, in O(log m) steps.

    The Euclid-like reduction of the AtCoder Library's ``floor_sum``: whole multiples
    of m in a and b are summed directly, and the rest is the same sum with the roles
    of the axes exchanged.
    """
    if n <= 0:
        return 0
    total = 0
    if a < 0 or a >= m:
        total += n * (n - 1) // 2 * (a // m)
        a %= m
    if b < 0 or b >= m:
        total += n * (b // m)
        b %= m
    while True:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _sum_floor(first: int, last: int, base: int, step: int, divisor: int) -> int:
    """Σ_{u=first}^{last} ⌊(base + step·u)/divisor⌋ (0 when the range is empty)."""
    count = last - first + 1
    return floor_sum(count, divisor, step, base + step * first) if count > 0 else 0


@dataclass(frozen=True)
class WindowAxis:
    """One spatial axis of a sliding window: input size, kernel, stride, dilation, padding."""

    size: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    lo: int = 0
    hi: int = 0

    # ----- sizes ---------------------------------------------------------------------
    @property
    def span(self) -> int:
        """k_eff = d(k − 1) + 1: the extent a dilated kernel covers."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        return self.size + self.lo + self.hi

    @property
    def outputs(self) -> int:
        """o = ⌊(i + lo + hi − k_eff)/s⌋ + 1 (Dumoulin & Visin, relationship 15)."""
        return (self.padded - self.span) // self.stride + 1

    @property
    def leftover(self) -> int:
        """a = (i + lo + hi − k_eff) mod s: padded rows past the last window."""
        return (self.padded - self.span) % self.stride

    @property
    def reach(self) -> int:
        """Padded rows the windows cover, (o − 1)s + k_eff = i + lo + hi − a."""
        return self.padded - self.leftover

    # ----- the window equation -------------------------------------------------------
    def position(self, window: Any, tap: Any) -> Any:
        """p = s·j + d·t − lo: the input row tap `tap` of window `window` reads.

        Works for ints and for SymPy index symbols alike.
        """
        return self.stride * window + self.dilation * tap - self.lo

    def window_numerator(self, position: Any, tap: Any) -> Any:
        """s·j = r + lo − d·t: the window index times the stride, solved from the equation."""
        return position + self.lo - self.dilation * tap

    def reads_real(self, window: int, tap: int) -> bool:
        """True when (window, tap) reads an input element rather than padding."""
        return 0 <= self.position(window, tap) < self.size

    # ----- exact counts, O(log) whatever the sizes -----------------------------------
    def real_pairs(self) -> int:
        """(window, tap) pairs that read a real input element: the sparse matrix's entries.

        For tap t the windows j that read a real row form [⌈(lo − dt)/s⌉, ⌊(i − 1 + lo − dt)/s⌋]
        clipped to [0, o − 1]; both ends fall as t grows, so the taps split into runs
        where each clip is on or off, and each run is a sum of floors.
        """
        i, k, s, d, lo = self.size, self.kernel, self.stride, self.dilation, self.lo
        o = self.outputs
        first = max(0, _ceil_div(lo - s * (o - 1), d))  # before it, every window starts past i
        last = min(k - 1, (i - 1 + lo) // d)  # after it, every window ends before 0
        if first > last:
            return 0
        top_clipped = min(last, (i - 1 + lo - s * (o - 1)) // d)  # t ≤ this: upper end o − 1
        bottom_free = max(first, _ceil_div(lo, d))  # t ≥ this: lower end 0
        uppers = (o - 1) * max(0, top_clipped - first + 1) + _sum_floor(
            max(first, top_clipped + 1), last, i - 1 + lo, -d, s
        )
        # max(⌈(lo − dt)/s⌉, 0) = −⌊(dt − lo)/s⌋ on the taps before `bottom_free`
        lowers = -_sum_floor(first, min(last, bottom_free - 1), -lo, d, s)
        return uppers - lowers + (last - first + 1)

    def empty_windows(self) -> int:
        """Windows every tap of which lands in the padding (they read no real element).

        Window j's real taps are [⌈(lo − sj)/d⌉, ⌊(i − 1 + lo − sj)/d⌋] clipped to [0, k − 1].
        Where a clip is on, at least one tap is real; where neither is, the unclipped
        range holds one tap or none when i ≤ d (the dilation skips over the input), so
        the empty windows there are counted as a sum of floors too.
        """
        i, k, s, d, lo = self.size, self.kernel, self.stride, self.dilation, self.lo
        o = self.outputs
        first = max(0, _ceil_div(lo - d * (k - 1), s))  # before it: the window ends before 0
        last = min(o - 1, (i - 1 + lo) // s)  # after it: the window starts past i
        if first > last:
            return o
        empty = o - (last - first + 1)
        if i < d:
            free_first = max(first, (i - 1 + lo - d * (k - 1)) // s + 1)  # upper end < k − 1
            free_last = min(last, _ceil_div(lo, s) - 1)  # lower end > 0
            # zeros = Σ (⌈(lo − sj)/d⌉ − ⌊(i − 1 + lo − sj)/d⌋) over the free windows
            lowers = -_sum_floor(free_first, free_last, -lo, s, d)
            uppers = _sum_floor(free_first, free_last, i - 1 + lo, -s, d)
            empty += lowers - uppers
        return empty

    def unreached(self) -> tuple[int, ...]:
        """Input rows (0-based) that no tap of any window reads (element level: small sizes)."""
        read = {
            self.position(j, t)
            for j in range(self.outputs)
            for t in range(self.kernel)
            if self.reads_real(j, t)
        }
        return tuple(p for p in range(self.size) if p not in read)


class SlidingWindow:
    """Mixin for the layer specs: their per-dimension geometry as `WindowAxis` objects.

    A spec stores `input_size`, `kernel_size`, `stride` (and dilation, padding in its
    own form); `window_axes` builds the axes once they are validated.
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def window_axes(self) -> tuple[WindowAxis, ...]:
        raise NotImplementedError

    @property
    def rank(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.input_size)

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        """Extent a dilated kernel covers: d*(k-1)+1."""
        return tuple(axis.span for axis in self.window_axes)

    @property
    def padded_size(self) -> tuple[int, ...]:
        return tuple(axis.padded for axis in self.window_axes)

    @property
    def output_size(self) -> tuple[int, ...]:
        """floor((i + lo + hi - k_eff) / s) + 1 per dimension (Dumoulin & Visin, rel. 15)."""
        return tuple(axis.outputs for axis in self.window_axes)

    @property
    def leftover(self) -> tuple[int, ...]:
        """a = (i + lo + hi - k_eff) mod s: padded rows past the last window.

        For a convolution this is PyTorch's ``output_padding`` of the transposed
        convolution that maps the output back to this input size.
        """
        return tuple(axis.leftover for axis in self.window_axes)
