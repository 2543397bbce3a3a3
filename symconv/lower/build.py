"""The direct transcription of an `IndexFormula` into a loop nest, before any rewrite.

The nest says literally what the formula says: free loops, a fresh accumulator
(starting at the bias addend if there is one), the reduction loops, the guards as an
`If`, one `Accumulate`, and the store.  Every later pass rewrites this nest and keeps
its meaning, which `symconv.lower.interpret` can check on small layers.
"""

from __future__ import annotations

from symconv.lower.ir import Accumulate, For, If, Init, LoopNest, Operand, Read, Stmt, Store
from symconv.spec import ConvSpec
from symconv.symbolic.indices import Access, IndexFormula

#: Argument order of the generated functions: forward(x, w, b), grad_input(gy, w),
#: grad_weight(x, gy), grad_bias(gy); `partial` is the scratch of a split reduction.
PARAMETER_ORDER = ("x", "gy", "partial", "w", "b")
ACCUMULATOR = "acc"


def tensor_shapes(spec: ConvSpec) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor the formulas name."""
    return {
        "x": spec.input_shape,
        "gx": spec.input_shape,
        "w": spec.weight_shape,
        "gw": spec.weight_shape,
        "b": spec.bias_shape,
        "gb": spec.bias_shape,
        "y": spec.output_shape,
        "gy": spec.output_shape,
    }


def read(access: Access) -> Read:
    return Read(access.tensor, tuple(access.index))


def build_nest(formula: IndexFormula, shapes: dict[str, tuple[int, ...]]) -> LoopNest:
    """Free loops { acc = addend; reduction loops { if guards: acc += Π factors }; store }."""
    update: tuple[Stmt, ...] = (Accumulate(ACCUMULATOR, tuple(read(f) for f in formula.factors)),)
    if formula.guards:
        update = (If(tuple(formula.guards), update),)
    for loop in reversed(formula.reductions):
        update = (For(loop.var, loop.extent, update),)
    addend = read(formula.addend) if formula.addend is not None else None
    body: tuple[Stmt, ...] = (
        Init(ACCUMULATOR, addend),
        *update,
        Store(read(formula.target), ACCUMULATOR),
    )
    for loop in reversed(formula.loops):
        body = (For(loop.var, loop.extent, body),)
    names = {f.tensor for f in formula.factors}
    if formula.addend is not None:
        names.add(formula.addend.tensor)
    params = tuple(Operand(n, shapes[n]) for n in PARAMETER_ORDER if n in names)
    target = formula.target.tensor
    return LoopNest(formula.name, params, Operand(target, shapes[target]), body)
