"""Element level: every equation of one small layer, and its gradients by the chain rule.

The forward equations are built from the definition (one SymPy sum per output
element).  The gradients are *derived* from them, never written down from the known
answer: the local gradients ∂O_k/∂v are read off each equation, then the chain rule
gives dL/dv = Σ_k dL/dO_k · ∂O_k/∂v.

Speed matters (a LeNet layer has 14,400 products): differentiating a whole sum with
`sympy.diff` for each of its variables costs minutes, while a product of distinct
symbols has an exact partial derivative by the product rule, the product of the
other factors.  `local_gradients` uses that rule and falls back to `sympy.diff` for
any term of another form.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import product

import numpy as np
import sympy as sp

from symconv.kinds import ConvSpec
from symconv.symbolic.expressions import SYMPY, multiply, zeros_like

Index = tuple[int, ...]


def applied_tap(spec: ConvSpec, tap: Index) -> Index:
    """Which stored weight multiplies tap `tap`: itself, or its 180°-rotated twin."""
    if not spec.flips_kernel:
        return tap
    return tuple(k - 1 - t for k, t in zip(spec.kernel_size, tap))


def tile_of(spec: ConvSpec, out_pos: Index) -> Index:
    """The weight's tile for output `out_pos`: j mod t per dimension (empty when untiled)."""
    if not spec.tiled:
        return ()
    return tuple(j % t for j, t in zip(out_pos, spec.tiles))


def forward(spec: ConvSpec, symbols: dict[str, np.ndarray], algebra: object = SYMPY) -> np.ndarray:
    """O = X ⊛ F (+ b), one sum per output element; padding contributes nothing.

    `algebra` builds the products and sums: SymPy expressions (what is shown), or
    polynomials (`expressions.POLYNOMIALS`, what the proofs compare).  A zero in X or F (the
    helper grids of the proofs hold inserted zeros) contributes no term.
    """
    x, w = symbols["x"], symbols["w"]
    out = np.empty(spec.output_shape, dtype=object)
    cin_g, cout_g = spec.in_channels_per_group, spec.out_channels_per_group
    reads = window_reads(spec)
    for n, co in product(range(spec.batch), range(spec.out_channels)):
        group = co // cout_g
        for out_pos, pairs in reads.items():
            terms = []
            for ci in range(cin_g):
                for position, weight_index in pairs:
                    value = x[(n, group * cin_g + ci, *position)]
                    weight = w[(co, ci, *weight_index)]
                    if nonzero(value) and nonzero(weight):
                        terms.append(algebra.product(value, weight))
            if spec.bias:
                terms.append(algebra.product(symbols["b"][co]))
            out[(n, co, *out_pos)] = algebra.total(terms)
    return out


def nonzero(value: object) -> bool:
    """False for the zeros the proofs' helper grids insert; a symbol is never zero (checked
    by type first: comparing a SymPy symbol with 0 costs a sympify)."""
    return type(value) is sp.Symbol or value != 0


def window_reads(spec: ConvSpec) -> dict[Index, list[tuple[Index, Index]]]:
    """Per output position: (input position, weight index after the channels) of every tap
    that reads a real input element, in tap order.  Computed once per layer: the same
    windows serve every image and channel."""
    # per axis, per window j: the (tap, input row) pairs that read a real row, taps in order
    real = [
        [[(t, p) for t in range(k) if 0 <= (p := axis.position(j, t)) < axis.size]
         for j in range(o)]
        for axis, k, o in zip(spec.window_axes, spec.kernel_size, spec.output_size)
    ]  # fmt: skip
    taps = product(*(range(k) for k in spec.kernel_size))
    stored = {tap: applied_tap(spec, tap) for tap in taps}
    reads = {}
    for out_pos in product(*(range(o) for o in spec.output_size)):
        tile = tile_of(spec, out_pos)
        pairs = []
        for combo in product(*(real[d][j] for d, j in enumerate(out_pos))):
            tap = tuple(t for t, _ in combo)
            pairs.append((tuple(p for _, p in combo), (*tile, *stored[tap])))
        reads[out_pos] = pairs
    return reads


def local_gradients(expr: sp.Expr) -> dict[sp.Symbol, sp.Expr]:
    """∂expr/∂v for every symbol v in `expr`, term by term (product rule)."""
    partials: dict[sp.Symbol, list[sp.Expr]] = defaultdict(list)
    for term in sp.Add.make_args(expr):
        factors = sp.Mul.make_args(term)
        if all(f.is_Symbol for f in factors) and len(set(factors)) == len(factors):
            for i, factor in enumerate(factors):
                partials[factor].append(multiply(*factors[:i], *factors[i + 1 :]))
        else:
            for symbol in term.free_symbols:
                partials[symbol].append(sp.diff(term, symbol))
    return {v: sp.Add(*parts) for v, parts in partials.items()}


@dataclass(frozen=True)
class ChainTerm:
    """One summand dL/dO_k · ∂O_k/∂v of the chain rule, kept for printing."""

    output_index: Index
    local_gradient: sp.Expr


@dataclass
class ElementGradients:
    """dL/dv for every v, and the chain-rule terms that produced each entry."""

    grads: dict[str, np.ndarray]
    terms: dict[str, np.ndarray]


def chain_rule(
    outputs: np.ndarray,
    symbols: dict[str, np.ndarray],
    where: dict[sp.Symbol, tuple[str, Index]],
    wrt: tuple[str, ...],
) -> ElementGradients:
    """dL/dv = Σ_k dL/dO_k · ∂O_k/∂v for every symbol of the tensors in `wrt`."""
    gy = symbols["gy"]
    collected: dict[str, np.ndarray] = {}
    for key in wrt:
        slots = np.empty(symbols[key].shape, dtype=object)
        for index in np.ndindex(slots.shape):
            slots[index] = []
        collected[key] = slots
    for out_index in np.ndindex(outputs.shape):
        for symbol, local in local_gradients(outputs[out_index]).items():
            key, index = where[symbol]
            if key in collected:
                collected[key][index].append(ChainTerm(out_index, local))
    grads = {}
    for key, slots in collected.items():
        grad = zeros_like(slots.shape)
        for index in np.ndindex(slots.shape):
            grad[index] = sp.Add(
                *(multiply(gy[t.output_index], t.local_gradient) for t in slots[index])
            )
            slots[index] = tuple(slots[index])
        grads[key] = grad
    return ElementGradients(grads, collected)


def chain_polynomials(
    outputs: np.ndarray,
    upstream: np.ndarray,
    where: dict[sp.Symbol, tuple[str, Index]],
    key: str,
    shape: tuple[int, ...],
) -> np.ndarray:
    """dL/dv = Σ_k U_k · ∂O_k/∂v for the tensor `key`, on polynomials (the proofs' form).

    Each monomial of O_k containing v once contributes the rest of it times U_k (the
    product rule); an upstream zero contributes nothing.
    """
    grads = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        grads[index] = {}
    for out_index in np.ndindex(outputs.shape):
        u = upstream[out_index]
        if u == 0:
            continue
        for term, coefficient in outputs[out_index].items():
            for factor in term:
                if isinstance(factor, tuple) or where.get(factor, ("",))[0] != key:
                    continue
                rest = frozenset((term - {factor}) | {u})
                slot = grads[where[factor][1]]
                slot[rest] = slot.get(rest, 0) + coefficient
    return grads
