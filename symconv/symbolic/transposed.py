"""The derivation of one transposed convolution: its own equations, then what it is.

The forward equations are built from the layer's definition, a scatter (input element
i sends x[i]·w[t] to output s·i + d·t − p), and the gradients by the chain rule from
them, as for any layer.  Then three identities are proved element by element, on
polynomials, against the convolution the layer transposes (`spec.convolution`, whose
equations are derived afresh from *its* definition):

* the forward is that convolution's ∂L/∂X, its ∂L/∂O being this layer's X;
* ∂L/∂X is that convolution's forward, fed this layer's ∂L/∂O;
* ∂L/∂F is that convolution's ∂L/∂F with the roles of X and ∂L/∂O swapped.

Nothing is copied from one side to the other: each side comes from its own definition,
and the symbols are matched by tensor and index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import sympy as sp

import symconv.symbolic.elements as elements
from symconv.formatting import fmt_tuple
from symconv.kinds import ConvTransposeSpec
from symconv.symbolic.base import Derivation
from symconv.symbolic.convolution import derive_conv
from symconv.symbolic.expressions import multiply, polynomial_of, same_polynomials
from symconv.symbolic.patterns import Pattern, grad_input_identity
from symconv.symbolic.tensors import SymbolTable, make_symbols

#: Products above which only the sizes and the identities' statements are given.
MAX_ELEMENT_PRODUCTS = 20_000


@dataclass(repr=False)
class TransposedDerivation(Derivation):
    """Everything symconv derived for one transposed convolution (element level when small)."""

    spec: ConvTransposeSpec
    symbols: dict[str, np.ndarray] = field(default_factory=dict)
    output: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    grad_weight: np.ndarray | None = None
    grad_bias: np.ndarray | None = None
    chain: dict[str, np.ndarray] = field(default_factory=dict)
    patterns: dict[str, Pattern] = field(default_factory=dict)
    table: SymbolTable = field(default_factory=SymbolTable)

    @property
    def element_level(self) -> bool:
        return self.output is not None

    @property
    def all_patterns_hold(self) -> bool:
        return all(p.holds for p in self.patterns.values())

    def __repr__(self) -> str:
        verdict = "every identity proved" if self.all_patterns_hold else "an identity FAILED"
        return f"<TransposedDerivation of {self.spec.label}: {verdict}>"


def scatter(spec: ConvTransposeSpec, symbols: dict[str, np.ndarray]) -> np.ndarray:
    """y[n, g·M + m, s·i + d·t − p] = Σ x[n, g·C + c, i]·w[g·C + c, m, t] (+ b), by the
    definition: every input element sends its products to the outputs its taps reach."""
    x, w = symbols["x"], symbols["w"]
    terms: dict[tuple[int, ...], list[sp.Expr]] = {i: [] for i in np.ndindex(*spec.output_shape)}
    per_in, per_out = spec.in_channels_per_group, spec.out_channels_per_group
    for n, c in product(range(spec.batch), range(spec.in_channels)):
        group = c // per_in
        for i in np.ndindex(*spec.input_size):
            for t in np.ndindex(*spec.kernel_size):
                q = tuple(
                    s * a + d * b - p
                    for s, a, d, b, p in zip(spec.stride, i, spec.dilation, t, spec.padding)
                )
                if not all(0 <= v < o for v, o in zip(q, spec.output_size)):
                    continue
                for m in range(per_out):
                    terms[(n, group * per_out + m, *q)].append(
                        multiply(x[(n, c, *i)], w[(c, m, *t)])
                    )
    out = np.empty(spec.output_shape, dtype=object)
    for index, found in terms.items():
        total = sp.Add(*found) if found else sp.S.Zero
        out[index] = total + symbols["b"][index[1]] if spec.bias else total
    return out


def derive_transposed(
    spec: ConvTransposeSpec, *, element_level: bool | None = None
) -> TransposedDerivation:
    """Derive forward, ∂L/∂X, ∂L/∂F (and ∂L/∂b) of `spec`; prove what the layer is."""
    started = time.perf_counter()
    derivation = TransposedDerivation(spec=spec)
    products = spec.multiply_adds
    if element_level is None:
        element_level = products <= MAX_ELEMENT_PRODUCTS
    if not element_level:
        derivation.notes.append(
            f"The element equations would hold {products:,} products (more than "
            f"{MAX_ELEMENT_PRODUCTS:,}), so they are not built and the identities are "
            "stated, not proved, at this size; a smaller layer with the same stride, padding "
            "and output_padding proves them."
        )
        return derivation
    table = derivation.table
    symbols = make_symbols(spec, table)
    output = scatter(spec, symbols)
    wrt = ("x", "w", "b") if spec.bias else ("x", "w")
    chain = elements.chain_rule(output, symbols, table.where, wrt)
    derivation.symbols, derivation.output, derivation.chain = symbols, output, chain.terms
    derivation.grad_input = chain.grads["x"]
    derivation.grad_weight = chain.grads["w"]
    derivation.grad_bias = chain.grads.get("b")
    derivation.patterns = {p.name: p for p in prove_identities(derivation)}
    derivation.timings["total"] = time.perf_counter() - started
    return derivation


def _renamed(array: np.ndarray, mapping: dict[sp.Symbol, sp.Symbol]) -> np.ndarray:
    """The expressions of `array` in another layer's symbols (SymPy, as compared)."""
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(*array.shape):
        out[index] = sp.sympify(array[index]).xreplace(mapping)
    return out


def _polynomials(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(*array.shape):
        out[index] = polynomial_of(sp.sympify(array[index]))
    return out


def prove_identities(d: TransposedDerivation) -> list[Pattern]:
    """The three identities, each side from its own definition, symbols matched by index."""
    spec = d.spec
    conv = derive_conv(spec.convolution, element_level=True)
    cs, ts = conv.symbols, d.symbols

    def match(conv_key: str, layer_key: str) -> dict[sp.Symbol, sp.Symbol]:
        return dict(zip(cs[conv_key].flat, ts[layer_key].flat))

    without_bias = d.output
    if spec.bias:
        without_bias = np.vectorize(
            lambda e: e.xreplace({b: 0 for b in ts["b"].flat}), otypes=[object]
        )(d.output)
    forward = same_polynomials(
        _polynomials(without_bias), _renamed(conv.grad_input, match("gy", "x") | match("w", "w"))
    )
    # and the identity as printed: X dilated and padded, correlated with the rotated F
    printed = grad_input_identity(spec.convolution).evaluate({"gy": ts["x"], "w": ts["w"]})
    forward = forward and same_polynomials(_polynomials(without_bias), printed)
    grad_input = same_polynomials(
        _polynomials(d.grad_input), _renamed(conv.output, match("x", "gy") | match("w", "w"))
    )
    grad_weight = same_polynomials(
        _polynomials(d.grad_weight),
        _renamed(conv.grad_weight, match("x", "gy") | match("gy", "x")),
    )
    c = spec.convolution
    padding = ", ".join(f"({lo}, {hi})" for lo, hi in c.padding)
    name = (
        f"the convolution with input {'×'.join(map(str, c.input_size))}, stride "
        f"{fmt_tuple(c.stride)}, padding {padding} and the same weight"
    )
    found = [
        Pattern(
            "transposed_forward",
            "The forward pass is a convolution's ∂L/∂X",
            f"O is ∂L/∂X of {name}, with this layer's X as that convolution's ∂L/∂O"
            + (" (the bias added)" if spec.bias else "")
            + ": ∂L/∂O dilated by the stride, padded, and correlated with the rotated filter.",
            forward,
        ),
        Pattern(
            "transposed_grad_input",
            "∂L/∂X is that convolution's forward pass",
            "∂L/∂X of this layer is the forward pass of the same convolution applied to this "
            "layer's ∂L/∂O: the transpose of a transpose is the convolution again.",
            grad_input,
        ),
        Pattern(
            "transposed_grad_weight",
            "∂L/∂F is that convolution's ∂L/∂F with X and ∂L/∂O swapped",
            "∂L/∂F of this layer is the convolution's filter gradient with this layer's ∂L/∂O "
            "as its input and this layer's X as its ∂L/∂O.",
            grad_weight,
        ),
    ]
    if spec.bias:
        sums = np.empty(spec.bias_shape, dtype=object)
        for m in range(spec.out_channels):
            sums[m] = sp.Add(*ts["gy"][:, m].flat)
        found.append(
            Pattern(
                "grad_bias",
                "∂L/∂b is ∂L/∂O summed over the batch and all positions",
                "Each bias receives the sum of ∂L/∂O over its output channel.",
                same_polynomials(_polynomials(d.grad_bias), sums),
            )
        )
    return found


__all__ = ["TransposedDerivation", "derive_transposed", "scatter"]
