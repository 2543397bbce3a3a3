"""The derivation of one convolution layer, as data the printers and the proofs read.

Order of work, as in a lecture: index-level closed forms (any size, constant cost),
then, for layers small enough to read, the element equations, their gradients by the
chain rule, and the symbolic proofs of the patterns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

import symconv.symbolic.elements as elements
import symconv.symbolic.patterns as patterns
from symconv.kinds import ConvSpec
from symconv.kinds.convolution.formulas import index_level
from symconv.symbolic.base import Derivation
from symconv.symbolic.expressions import POLYNOMIALS, same_polynomials
from symconv.symbolic.indices import IndexLevel
from symconv.symbolic.patterns import Pattern
from symconv.symbolic.tensors import SymbolTable, make_symbols
from symconv.symbolic.winograd import WinogradStudy, study

#: Products in the element equations above which `derive` keeps only the index level.
#: A LeNet layer (28×28 input, 5×5 kernel) holds 14,400 and derives in about a second.
MAX_ELEMENT_PRODUCTS = 20_000

READABLE = {"forward": "O", "grad_input": "∂L/∂X", "grad_weight": "∂L/∂F", "grad_bias": "∂L/∂b"}


@dataclass(repr=False)  # Derivation.__repr__: one line, not every expression
class ConvDerivation(Derivation):
    """Everything symconv derived for one convolution layer.

    The element-level fields (`symbols`, `output`, `grad_*`, `chain`, `patterns`) are
    NumPy object arrays shaped like the numeric tensors, or empty when the layer is
    past `MAX_ELEMENT_PRODUCTS`; `notes` then says so.  `index` always holds the
    closed forms.
    """

    spec: ConvSpec
    index: IndexLevel
    symbols: dict[str, np.ndarray] = field(default_factory=dict)
    output: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    grad_weight: np.ndarray | None = None
    grad_bias: np.ndarray | None = None
    chain: dict[str, np.ndarray] = field(default_factory=dict)
    patterns: dict[str, Pattern] = field(default_factory=dict)
    table: SymbolTable = field(default_factory=SymbolTable)
    winograd: WinogradStudy | None = None

    @property
    def element_level(self) -> bool:
        return self.output is not None

    @property
    def all_patterns_hold(self) -> bool:
        winograd_holds = self.winograd is None or self.winograd.all_hold
        return winograd_holds and all(p.holds for p in self.patterns.values())

    def evaluate(
        self,
        x: np.ndarray,
        w: np.ndarray,
        gy: np.ndarray,
        b: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Substitute numbers for the symbols: the derivation as a (slow) numeric layer."""
        if not self.element_level:
            raise ValueError("evaluate needs the element level, which this layer is too large for")
        values = {"x": x, "w": w, "gy": gy}
        if self.spec.bias:
            if b is None:
                raise ValueError("b is required: the spec has bias=True")
            values["b"] = b
        mapping: dict[sp.Symbol, float] = {}
        for key, array in values.items():
            array = np.asarray(array, dtype=np.float64)
            if array.shape != self.symbols[key].shape:
                raise ValueError(
                    f"{key} has shape {array.shape}, expected {self.symbols[key].shape}"
                )
            for symbol, value in zip(self.symbols[key].flat, array.flat):
                mapping[symbol] = float(value)
        results = {
            "output": self.output,
            "grad_input": self.grad_input,
            "grad_weight": self.grad_weight,
        }
        if self.grad_bias is not None:
            results["grad_bias"] = self.grad_bias
        return {name: _substitute(exprs, mapping) for name, exprs in results.items()}


def _substitute(exprs: np.ndarray, mapping: dict[sp.Symbol, float]) -> np.ndarray:
    out = np.empty(exprs.shape, dtype=np.float64)
    for index in np.ndindex(exprs.shape):
        out[index] = float(exprs[index].xreplace(mapping)) if exprs[index] != 0 else 0.0
    return out


def derive_conv(
    spec: ConvSpec, *, element_level: bool | None = None, winograd: int | None = None
) -> ConvDerivation:
    """Derive forward, dL/dX, dL/dF, dL/db of `spec` and prove the lecture's patterns.

    `element_level=None` builds element equations when the layer holds at most
    `MAX_ELEMENT_PRODUCTS` products; True forces them (slow for big layers), False
    keeps only the index level.  `winograd=m` also derives Winograd's F(m, r) for the
    layer (stride 1, dilation 1), proves it and tiles the layer.
    """
    started = time.perf_counter()
    derivation = ConvDerivation(spec=spec, index=index_level(spec))
    derivation.timings["index level"] = time.perf_counter() - started
    if winograd is not None:
        clock = time.perf_counter()
        derivation.winograd = study(spec, winograd)
        derivation.timings["winograd"] = time.perf_counter() - clock
    products = spec.multiply_adds
    if element_level is None:
        element_level = products <= MAX_ELEMENT_PRODUCTS
    if not element_level:
        derivation.notes.append(
            f"The element equations would hold {products:,} products (more than "
            f"{MAX_ELEMENT_PRODUCTS:,}): too many to read or to prove quickly, so only the "
            "index-level formulas are derived. They hold at every size."
        )
        return derivation
    _derive_elements(derivation)
    derivation.timings["total"] = time.perf_counter() - started
    return derivation


def _derive_elements(derivation: ConvDerivation) -> None:
    spec, table = derivation.spec, derivation.table
    clock = time.perf_counter()
    symbols = make_symbols(spec, table)
    output = elements.forward(spec, symbols)
    derivation.timings["forward equations"] = time.perf_counter() - clock

    clock = time.perf_counter()
    wrt = ("x", "w", "b") if spec.bias else ("x", "w")
    chain = elements.chain_rule(output, symbols, table.where, wrt)
    derivation.timings["chain rule"] = time.perf_counter() - clock

    derivation.symbols = symbols
    derivation.output = output
    derivation.grad_input = chain.grads["x"]
    derivation.grad_weight = chain.grads["w"]
    derivation.grad_bias = chain.grads.get("b")
    derivation.chain = chain.terms

    clock = time.perf_counter()
    derivation.patterns = _prove_patterns(derivation)
    derivation.timings["patterns"] = time.perf_counter() - clock


def _prove_patterns(d: ConvDerivation) -> dict[str, Pattern]:
    spec, symbols = d.spec, d.symbols
    if spec.tiled:
        return _prove_tiled_patterns(d)
    rotation = patterns.rotation_pattern(spec, symbols, d.grad_input)
    found = [
        rotation,
        patterns.dilation_pattern(spec, symbols, d.table.where, d.output, d.grad_input),
        patterns.padding_pattern(spec, rotation),
        patterns.leftover_pattern(spec, symbols, d.output, d.grad_input),
        patterns.grad_weight_pattern(spec, symbols, d.grad_weight),
    ]
    if d.grad_bias is not None:
        found.append(patterns.grad_bias_pattern(symbols, d.grad_bias))
    found.append(_closed_forms_pattern(d))
    return {p.name: p for p in found}


def _prove_tiled_patterns(d: ConvDerivation) -> dict[str, Pattern]:
    """A tiled layer: the rules per tile (the stride-1 comparison of the dilation pattern
    does not carry over, since a stride-1 layer puts its positions in other tiles)."""
    spec, symbols = d.spec, d.symbols
    rotation = patterns.tiled_rotation_pattern(spec, symbols, d.grad_input)
    found = [
        rotation,
        patterns.padding_pattern(spec, rotation),
        patterns.leftover_pattern(spec, symbols, d.output, d.grad_input),
        patterns.tiled_grad_weight_pattern(spec, symbols, d.grad_weight),
    ]
    if d.grad_bias is not None:
        found.append(patterns.grad_bias_pattern(symbols, d.grad_bias))
    found.append(_closed_forms_pattern(d))
    return {p.name: p for p in found}


def _closed_forms_pattern(d: ConvDerivation) -> Pattern:
    """The index-level formulas, enumerated, give exactly the element equations."""
    arrays = {**d.symbols}
    expected = {
        "forward": d.output,
        "grad_input": d.grad_input,
        "grad_weight": d.grad_weight,
        "grad_bias": d.grad_bias,
    }
    agree = {}
    for formula in d.index.formulas():
        target = expected[formula.name]
        agree[formula.name] = same_polynomials(
            formula.evaluate(arrays, target.shape, POLYNOMIALS), target
        )
    return Pattern(
        name="closed_forms",
        title="The index-level formulas reproduce every element equation",
        statement="Enumerated at this size, each closed form equals the chain-rule result: "
        + ", ".join(f"{READABLE[name]} {'✓' if ok else '✗'}" for name, ok in agree.items())
        + ".",
        holds=all(agree.values()),
        evidence={"agree": agree},
    )
