"""A convolution followed by pooling: the gradient through both layers, as seed 001 derives it.

X ⊛ F = C, P = pool(C), and the loss L sees only P.  The chain rule

    ∂L/∂F = ∂C/∂F · ∂P/∂C · ∂L/∂P

is applied in two steps, each reusing a derivation already made: ∂L/∂C is the pooling
layer's gradient (for max pooling, ∂L/∂P routed to the maximum of each window), and
∂L/∂F is the convolution's ∂L/∂F with its upstream symbols ∂L/∂O replaced by those
∂L/∂C entries.  With numbers for X and F, C is a grid of numbers, each window's
maximum is known, and ∂L/∂C becomes the sparse grid of seed 001.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symconv.formatting import fmt_shape
from symconv.kinds import CONVOLUTION, POOLING, ConvSpec, PoolSpec, require
from symconv.symbolic.base import Derivation
from symconv.symbolic.convolution import ConvDerivation, derive_conv
from symconv.symbolic.numbers import as_numbers, is_numeric, mapping, substitute, to_float
from symconv.symbolic.pooling import PoolDerivation, derive_pool
from symconv.symbolic.tensors import SymbolTable


@dataclass(repr=False)  # Derivation.__repr__: one line, not every expression
class ChainDerivation(Derivation):
    """Both derivations and the gradient through both layers.

    `pool_input` is C (the convolution's output with the given numbers put in);
    `grad_pool_input` is ∂L/∂C, `grad_weight` and `grad_input` are ∂L/∂F and ∂L/∂X
    in terms of ∂L/∂P.  `routed` says whether ∂L/∂C was routed by numbers (C known)
    or stays the symbolic Piecewise of the pooling derivation.
    """

    conv: ConvDerivation
    pool: PoolDerivation
    values: np.ndarray | None = None
    filter_values: np.ndarray | None = None
    pool_input: np.ndarray | None = None
    grad_pool_input: np.ndarray | None = None
    grad_weight: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    grad_bias: np.ndarray | None = None
    routed: bool = False
    table: SymbolTable = field(default_factory=SymbolTable)

    @property
    def pool_spec(self) -> PoolSpec:
        return self.pool.spec

    @property
    def element_level(self) -> bool:
        return self.grad_weight is not None

    @property
    def all_patterns_hold(self) -> bool:
        return self.conv.all_patterns_hold and self.pool.all_patterns_hold

    def evaluate(self, x: np.ndarray, w: np.ndarray, gy: np.ndarray) -> dict[str, np.ndarray]:
        """Numbers through both layers: P, C and the gradients ∂L/∂C, ∂L/∂F, ∂L/∂X."""
        if not self.element_level:
            raise ValueError("evaluate needs the element level, which this chain is too large for")
        conv = self.conv
        xs = as_numbers(x, conv.spec.input_shape, "x")
        ws = as_numbers(w, conv.spec.weight_shape, "w")
        replace = {**mapping(conv.symbols["x"], xs), **mapping(conv.symbols["w"], ws)}
        if conv.spec.bias:
            raise ValueError("evaluate of a chain with a bias is not supported; use bias=False")
        c = substitute(conv.output, replace)
        grad_c = self.pool.routed(c, gy)
        inner = conv.evaluate(to_float(xs), to_float(ws), grad_c)
        return {
            "pool_input": to_float(c),
            "output": to_float(self.pool.forward_values(c)),
            "grad_pool_input": grad_c,
            "grad_weight": inner["grad_weight"],
            "grad_input": inner["grad_input"],
        }


def check_links(conv: ConvSpec, pool: PoolSpec) -> None:
    """The pooling layer must read exactly the convolution's output; say which field differs."""
    require(conv, CONVOLUTION, "the first layer")
    require(pool, POOLING, "pool")
    mismatches = [
        (
            f"pool batch={pool.batch}",
            f"the convolution's batch={conv.batch}",
            pool.batch == conv.batch,
        ),
        (
            f"pool channels={pool.channels}",
            f"out_channels={conv.out_channels}",
            pool.channels == conv.out_channels,
        ),
        (
            f"pool input_size={fmt_shape(pool.input_size)}",
            f"the convolution's output_size={fmt_shape(conv.output_size)}",
            pool.input_size == conv.output_size,
        ),
    ]
    for ours, theirs, same in mismatches:
        if not same:
            raise ValueError(
                f"the pooling layer must read the convolution's output "
                f"{fmt_shape(conv.output_shape)}: {ours} differs from {theirs}"
            )


def merged_table(*tables: SymbolTable) -> SymbolTable:
    """One table naming the symbols of both layers (their keys do not overlap)."""
    merged = SymbolTable()
    for table in tables:
        merged.tensors.update(table.tensors)
        merged.where.update(table.where)
    return merged


def derive_chain(
    conv_spec: ConvSpec,
    pool_spec: PoolSpec,
    *,
    values: object = None,
    filter_values: object = None,
) -> ChainDerivation:
    """Derive the convolution, the pooling layer and the gradient through both.

    `values` are numbers for the convolution's input X (seed 001's A), `filter_values`
    for F; with both (and no bias), C is known and ∂L/∂C is the routed sparse grid.
    """
    check_links(conv_spec, pool_spec)
    started = time.perf_counter()
    conv = derive_conv(conv_spec)
    pool = derive_pool(pool_spec, input_key="c")
    chain = ChainDerivation(
        spec=conv_spec, conv=conv, pool=pool, table=merged_table(conv.table, pool.table)
    )
    chain.notes = [*conv.notes, *pool.notes]
    if not (conv.element_level and pool.element_level):
        if values is not None or filter_values is not None:
            raise ValueError("values need the element level, which this chain is too large for")
        return chain
    replace: dict[sp.Symbol, sp.Expr] = {}
    if values is not None:
        chain.values = as_numbers(values, conv_spec.input_shape, "values for X")
        replace.update(mapping(conv.symbols["x"], chain.values))
    if filter_values is not None:
        chain.filter_values = as_numbers(filter_values, conv_spec.weight_shape, "values for F")
        replace.update(mapping(conv.symbols["w"], chain.filter_values))
    chain.pool_input = substitute(conv.output, replace)
    _chain_gradients(chain, replace)
    chain.timings = {
        **{f"convolution: {k}": v for k, v in conv.timings.items()},
        **{f"pooling: {k}": v for k, v in pool.timings.items()},
        "total": time.perf_counter() - started,
    }
    return chain


def _chain_gradients(chain: ChainDerivation, replace: dict[sp.Symbol, sp.Expr]) -> None:
    """∂L/∂C from the pooling layer, then the convolution's gradients with ∂L/∂O := ∂L/∂C."""
    conv, pool = chain.conv, chain.pool
    chain.grad_pool_input = pool.grad_input
    if pool.kind == "max" and (chain.values is not None or is_numeric(chain.pool_input.flat)):
        # Each comparison C_i > C_j becomes one of numbers (or of linear forms in F whose
        # difference may still be a number, as when a bias cancels); route if all are decided.
        decided = substitute(pool.grad_input, mapping(pool.symbols["x"], chain.pool_input))
        if not any(sp.sympify(e).has(sp.Piecewise) for e in decided.flat):
            chain.grad_pool_input, chain.routed = decided, True
    upstream = {**replace, **mapping(conv.symbols["gy"], chain.grad_pool_input)}
    chain.grad_weight = substitute(conv.grad_weight, upstream)
    chain.grad_input = substitute(conv.grad_input, upstream)
    if conv.grad_bias is not None:
        chain.grad_bias = substitute(conv.grad_bias, upstream)


def filter_for_routing(
    chain: ChainDerivation, winners: dict[tuple[int, ...], tuple[int, ...]]
) -> np.ndarray | None:
    """A filter F under which window k's first maximum sits at `winners[k]`, or None if none does.

    `winners` maps full output indices of P to full indices of C.  Needs C as linear
    forms in F alone (numbers for X, no bias), so the conditions "C_w > every earlier
    entry, C_w ≥ every later one" are linear in F; being homogeneous, "> 0" may be
    scaled to "≥ 1".  SymPy's simplex method decides them exactly.
    """
    from sympy.solvers.simplex import InfeasibleLPError, lpmin

    weights = set(chain.conv.symbols["w"].flat)
    c = chain.pool_input
    if c is None or any(not sp.sympify(e).free_symbols <= weights for e in c.flat):
        raise ValueError("a routing can be searched for only when C depends on F alone")
    constraints = []
    for window in chain.pool.windows:
        if window.output not in winners:
            continue
        winner = winners[window.output]
        if winner not in window.members:
            return None
        q = window.members.index(winner)
        for j, member in enumerate(window.members):
            if j == q:
                continue
            gap = sp.expand(c[winner] - c[member])
            needed = 1 if j < q else 0
            if gap.is_Number:
                if gap < needed:
                    return None
                continue
            constraints.append(sp.GreaterThan(gap, needed))
    if not constraints:
        return np.zeros(chain.spec.weight_shape, dtype=object)
    try:
        _, solution = lpmin(sp.S.Zero, constraints)
    except InfeasibleLPError:
        return None
    found = np.empty(chain.spec.weight_shape, dtype=object)
    for index in np.ndindex(found.shape):
        found[index] = sp.sympify(solution.get(chain.conv.symbols["w"][index], 0))
    return found
