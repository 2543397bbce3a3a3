"""`derive(pool_spec)`: the element equations of one pooling layer and their gradient.

Max pooling: P_k = max of window k.  SymPy differentiates a max as a Heaviside step,
θ(C_i − max(others)), which is 1/2 at a tie; PyTorch instead sends the whole gradient
to the *first* maximum of the window in row-major order.  So the local gradient is
written as that rule says, an indicator

    ∂P_k/∂C_i = [C_i > every earlier entry ∧ C_i ≥ every later entry]

(a `Piecewise((1, And(...)), (0, True))`), checked against SymPy's θ wherever there is
no tie, and the chain rule gives dL/dC_i = Σ_k dL/dP_k · ∂P_k/∂C_i.  Padding counts
as −∞ for max pooling: a padded position is never a candidate, so it is left out.

Average pooling: P_k = (sum of window k)/|window|, where |window| counts the padded
zeros (PyTorch's ``count_include_pad=True``); its local gradients 1/|window| come from
`sympy.diff` like the convolution's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cmp_to_key
from itertools import product

import numpy as np
import sympy as sp

from symconv.kinds import PoolSpec
from symconv.symbolic.base import Derivation
from symconv.symbolic.elements import ChainTerm, local_gradients
from symconv.symbolic.numbers import as_numbers, mapping, substitute, to_float
from symconv.symbolic.tensors import SymbolTable, TensorInfo, format_index, multiply, shown_axes

Index = tuple[int, ...]

#: Comparisons (max) or terms (average) in the element equations above which only the
#: configuration is kept: 40,000 is about 1.5 s (a 96×96 input under 2×2 max pooling
#: holds 27,648 comparisons and takes 1.2 s).
MAX_POOL_TERMS = 40_000

#: Table keys of the tensors, by role, alone ("X" in, "P" out) and after a convolution
#: (seed 001 calls the convolution's output, the pooling input, C).
KEYS = {
    "x": {"x": "x", "gx": "gx", "y": "p", "gy": "gp"},
    "c": {"x": "c", "gx": "gc", "y": "p", "gy": "gp"},
}
LETTERS = {"x": "X", "c": "C", "p": "P", "gp": "P"}


@dataclass(frozen=True)
class Window:
    """One output's window: its real input positions in row-major order, padding left out."""

    output: Index
    members: tuple[Index, ...]
    padded: int


@dataclass(frozen=True)
class Check:
    """A claim about the derived gradient and whether enumeration confirmed it."""

    title: str
    holds: bool
    statement: str


@dataclass(repr=False)  # Derivation.__repr__: one line, not every expression
class PoolDerivation(Derivation):
    """Everything symconv derived for one pooling layer.

    `symbols` holds "x" (the pooling input: X alone, C after a convolution) and "gy"
    (dL/dP); `output`, `grad_input` and `chain` are object arrays shaped like the
    tensors, empty past `MAX_POOL_TERMS`.  `keys` maps those roles to the keys of
    `table` ("x"/"c", "gp", "p", "gx"/"gc"), which the printers use to name elements.
    `values`, when given, are the user's numbers for the input.
    """

    spec: PoolSpec
    keys: dict[str, str]
    windows: tuple[Window, ...] = ()
    symbols: dict[str, np.ndarray] = field(default_factory=dict)
    output: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    chain: np.ndarray | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    sympy_derivative: dict[Index, sp.Expr] = field(default_factory=dict)
    values: np.ndarray | None = None
    table: SymbolTable = field(default_factory=SymbolTable)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def letter(self) -> str:
        """The input's letter: X alone, C after a convolution (seed 001's name)."""
        return LETTERS[self.keys["x"]]

    @property
    def element_level(self) -> bool:
        return self.output is not None

    @property
    def all_patterns_hold(self) -> bool:
        return all(c.holds for c in self.checks.values())

    # ----- numbers ----------------------------------------------------------------------
    def _require_elements(self) -> None:
        if not self.element_level:
            raise ValueError("this pooling layer is too large for the element level")

    def _input_mapping(self, values: object) -> dict[sp.Symbol, sp.Expr]:
        numbers = as_numbers(values, self.spec.input_shape, f"values for {self.letter}")
        return mapping(self.symbols["x"], numbers)

    def forward_values(self, values: object) -> np.ndarray:
        """P for the given input numbers (exact SymPy numbers)."""
        self._require_elements()
        return substitute(self.output, self._input_mapping(values))

    def argmax(self, values: object) -> dict[Index, Index]:
        """Window output index -> input index its gradient goes to, read off the Piecewise."""
        self._require_elements()
        if self.kind != "max":
            raise ValueError("argmax is defined for max pooling only")
        replace = self._input_mapping(values)
        winners: dict[Index, Index] = {}
        for i in np.ndindex(self.chain.shape):
            for term in self.chain[i]:
                if term.local_gradient.xreplace(replace) == 1:
                    winners[term.output_index] = i
        return winners

    def routed(self, values: object = None, upstream: object = None) -> np.ndarray:
        """dL/dX with numbers for the input: the sparse grid of seed 001.

        Zeros everywhere except where a window's maximum sits, which carries that
        window's dL/dP (summed where overlapping windows share a maximum).  `upstream`
        gives numbers for dL/dP (a float64 grid comes back); without it the entries
        stay the dL/dP symbols.  Average pooling needs no input numbers.
        """
        self._require_elements()
        replace: dict[sp.Symbol, sp.Expr] = {}
        if values is not None:
            replace.update(self._input_mapping(values))
        elif self.kind == "max":
            raise ValueError("routing max pooling needs numbers for the input")
        if upstream is not None:
            gy = as_numbers(upstream, self.spec.output_shape, "upstream dL/dP")
            replace.update(mapping(self.symbols["gy"], gy))
        grid = substitute(self.grad_input, replace)
        return to_float(grid) if upstream is not None else grid

    def evaluate(self, x: np.ndarray, gy: np.ndarray) -> dict[str, np.ndarray]:
        """The derivation as a (slow) numeric layer: output and grad_input as float64."""
        return {
            "output": to_float(self.forward_values(x)),
            "grad_input": self.routed(x, gy),
        }


# ----- windows and symbols --------------------------------------------------------------------
def windows(spec: PoolSpec) -> tuple[Window, ...]:
    """Every output's window; position s·j + t − p of the input, for taps t in row-major order."""
    taps = list(product(*(range(k) for k in spec.kernel_size)))
    found = []
    for n, c in product(range(spec.batch), range(spec.channels)):
        for out in product(*(range(o) for o in spec.output_size)):
            members = []
            for tap in taps:
                position = tuple(
                    s * j + t - p for s, j, t, p in zip(spec.stride, out, tap, spec.padding)
                )
                if all(0 <= q < i for q, i in zip(position, spec.input_size)):
                    members.append((n, c, *position))
            found.append(Window((n, c, *out), tuple(members), len(taps) - len(members)))
    return tuple(found)


def symbol_array(
    key: str, shape: tuple[int, ...], table: SymbolTable, gradient: bool
) -> np.ndarray:
    """Symbols named as the notes name them (C11, dL/dP11), registered in `table`."""
    axes = shown_axes(shape, 2)
    table.tensors[key] = TensorInfo(key, shape, axes)
    letter = LETTERS[key]
    array = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        suffix = format_index(tuple(index[a] for a in axes)) if axes else ""
        name = f"dL/d{letter}{suffix}" if gradient else f"{letter}{suffix}"
        symbol = sp.Symbol(name, real=True)
        table.where[symbol] = (key, index)
        array[index] = symbol
    return array


# ----- the rules --------------------------------------------------------------------------------
def unordered(cls: type, args: tuple[sp.Basic, ...]) -> sp.Basic:
    """An `And` or `Max` of `args` kept in the given order, built without SymPy's sorting.

    Their constructors put the arguments in canonical order (`sympy.ordered`) and,
    for `And`, canonicalize every comparison, even with ``evaluate=False``: 1 ms for
    one window's indicator, seconds for a LeNet pooling layer.  The objects here hold
    their arguments in the lecture's (row-major) order instead; SymPy treats them as
    usual, and substituting numbers rebuilds them with full evaluation.
    """
    base = sp.Expr if issubclass(cls, sp.Expr) else sp.Basic
    obj = base.__new__(cls, *args)
    obj._argset = frozenset(args)
    return obj


def first_max_indicator(entries: tuple[sp.Symbol, ...], i: int) -> sp.Expr:
    """∂max/∂entries[i] with ties to the first: [e_i > earlier ∧ e_i ≥ later] as a Piecewise.

    Built unevaluated (see `unordered`); substituting numbers evaluates it to 0 or 1.
    """
    subject = entries[i]
    relations = [sp.StrictGreaterThan(subject, e, evaluate=False) for e in entries[:i]]
    relations += [sp.GreaterThan(subject, e, evaluate=False) for e in entries[i + 1 :]]
    if not relations:
        return sp.S.One  # a window holding one real entry passes its gradient on whole
    condition = relations[0] if len(relations) == 1 else unordered(sp.And, tuple(relations))
    return sp.Piecewise((sp.S.One, condition), (sp.S.Zero, sp.true), evaluate=False)


def max_output(entries: tuple[sp.Symbol, ...]) -> sp.Expr:
    """max(entries), unevaluated and in window order (see `unordered`)."""
    return entries[0] if len(entries) == 1 else unordered(sp.Max, entries)


def avg_output(entries: tuple[sp.Symbol, ...], divisor: int) -> sp.Expr:
    """(sum of the real entries)/|window|: padded zeros add nothing but count in the divisor."""
    share = sp.Rational(1, divisor)
    return sp.Add(*(sp.Mul(share, e) for e in entries))


def pool_terms(spec: PoolSpec) -> int:
    """Comparisons (max) or terms (average) the element equations would hold."""
    outputs = math.prod(spec.output_shape)
    m = spec.window_size
    return outputs * m * (m - 1) if spec.kind == "max" else outputs * m


def derive_pool(
    spec: PoolSpec,
    *,
    values: object = None,
    element_level: bool | None = None,
    input_key: str = "x",
) -> PoolDerivation:
    """Derive P and dL/dX (dL/dC when `input_key` is "c") of one pooling layer.

    `values` are numbers for the input (any array-like, row-major); the printers then
    show the forward numbers, which position wins each window and the routed grid.
    """
    if input_key not in KEYS:
        raise ValueError(f"input_key={input_key!r} must be one of {', '.join(KEYS)}")
    started = time.perf_counter()
    derivation = PoolDerivation(spec=spec, keys=KEYS[input_key])
    terms = pool_terms(spec)
    if element_level is None:
        element_level = terms <= MAX_POOL_TERMS
    if not element_level:
        what = "comparisons" if spec.kind == "max" else "terms"
        derivation.notes.append(
            f"The element equations would hold {terms:,} {what} (more than "
            f"{MAX_POOL_TERMS:,}): too many to read, so only the configuration is shown."
        )
        if values is not None:
            raise ValueError("values need the element level, which this layer is too large for")
        return derivation
    _derive_elements(derivation)
    if values is not None:
        derivation.values = as_numbers(values, spec.input_shape, f"values for {derivation.letter}")
    derivation.timings["total"] = time.perf_counter() - started
    return derivation


def _derive_elements(d: PoolDerivation) -> None:
    spec, keys = d.spec, d.keys
    clock = time.perf_counter()
    x = symbol_array(keys["x"], spec.input_shape, d.table, gradient=False)
    gy = symbol_array(keys["gy"], spec.output_shape, d.table, gradient=True)
    d.symbols = {"x": x, "gy": gy}
    d.windows = windows(spec)
    output = np.empty(spec.output_shape, dtype=object)
    for w in d.windows:
        entries = tuple(x[m] for m in w.members)
        output[w.output] = (
            max_output(entries) if spec.kind == "max" else avg_output(entries, spec.window_size)
        )
    d.output = output
    d.timings["forward equations"] = time.perf_counter() - clock

    clock = time.perf_counter()
    slots: dict[Index, list[ChainTerm]] = {i: [] for i in np.ndindex(spec.input_shape)}
    for w in d.windows:
        for i, local in _local_gradients(w, x, output[w.output], spec.kind):
            slots[i].append(ChainTerm(w.output, local))
    chain = np.empty(spec.input_shape, dtype=object)
    grad = np.empty(spec.input_shape, dtype=object)
    for i, terms in slots.items():
        chain[i] = tuple(sorted(terms, key=lambda t: t.output_index))
        grad[i] = sp.Add(*(times(gy[t.output_index], t.local_gradient) for t in chain[i]))
    d.chain, d.grad_input = chain, grad
    d.timings["chain rule"] = time.perf_counter() - clock

    if spec.kind == "max" and d.windows:
        clock = time.perf_counter()
        first = d.windows[0]
        entries = tuple(x[m] for m in first.members)
        for m, entry in zip(first.members, entries):
            d.sympy_derivative[m] = sympy_derivative(output[first.output], entries, entry)
        check = tie_rule_check(first, entries, chain, d.sympy_derivative)
        d.checks[check.title] = check
        d.timings["checks"] = time.perf_counter() - clock


def times(upstream: sp.Symbol, local: sp.Expr) -> sp.Expr:
    """dL/dP_k · ∂P_k/∂X_i; a symbol times an indicator is built directly (10× faster)."""
    if isinstance(local, sp.Piecewise):
        pair = sorted((upstream, local), key=cmp_to_key(sp.Basic.compare))
        return sp.Mul._from_args(tuple(pair), True)
    return multiply(upstream, local)


#: Windows up to this size are differentiated by `sympy.diff` itself; past it, SymPy's
#: own formula is built directly (its `Max` of 26 symbols would take a second to settle).
DIFF_ENTRIES = 5


def sympy_derivative(output: sp.Expr, entries: tuple[sp.Symbol, ...], entry: sp.Symbol) -> sp.Expr:
    """SymPy's ∂max/∂entry, θ(entry − max(others)): `Max.fdiff`'s rule, undefined at ties."""
    if len(entries) <= DIFF_ENTRIES:
        return sp.diff(output, entry)
    others = tuple(e for e in entries if e != entry)
    return sp.Heaviside(entry - max_output(others))


def _local_gradients(
    w: Window, x: np.ndarray, output: sp.Expr, kind: str
) -> list[tuple[Index, sp.Expr]]:
    """∂P_k/∂X_i for every real position i of window k."""
    if kind == "max":
        entries = tuple(x[m] for m in w.members)
        return [(m, first_max_indicator(entries, i)) for i, m in enumerate(w.members)]
    partials = mean_gradients(output)
    return [(m, partials[x[m]]) for m in w.members]


def mean_gradients(output: sp.Expr) -> dict[sp.Symbol, sp.Expr]:
    """∂/∂X_i of X_1/n + ... + X_m/n: each term is coefficient·symbol, so ∂ is its coefficient.

    Exactly what `sympy.diff` gives (the product rule), without its 0.2 ms a term; any
    term of another form falls back to `elements.local_gradients`.
    """
    partials: dict[sp.Symbol, sp.Expr] = {}
    for term in sp.Add.make_args(output):
        coefficient, rest = term.as_coeff_Mul()
        if not rest.is_Symbol:
            return local_gradients(output)
        partials[rest] = partials.get(rest, sp.S.Zero) + coefficient
    return partials


# ----- the check of the tie rule ------------------------------------------------------------------
#: Windows of at most this many entries are checked on every filling with 0, 1 and 2.
#: That is complete: an indicator compares its entry with each other entry, and among
#: those fillings every pattern of <, = and > against the others occurs (entry = 1).
COMPLETE_ENTRIES = 9
SAMPLED_FILLINGS = 400


def _fillings(m: int) -> list[tuple[int, ...]]:
    """All 3^m fillings of a window with 0, 1, 2 (small windows), else a fixed random sample."""
    if m <= COMPLETE_ENTRIES:
        return list(product(range(3), repeat=m))
    rng = np.random.default_rng(0)
    return [tuple(int(v) for v in rng.integers(0, 3, m)) for _ in range(SAMPLED_FILLINGS)]


def tie_rule_check(
    window: Window,
    entries: tuple[sp.Symbol, ...],
    chain: np.ndarray,
    sympy_derivative: dict[Index, sp.Expr],
) -> Check:
    """Enumerate fillings of the first window: one winner, the first maximum, θ without ties.

    The expressions are compiled once with `lambdify` and evaluated on all fillings
    at once; substituting each filling with SymPy would take a second.
    """
    locals_ = [
        next(t.local_gradient for t in chain[m] if t.output_index == window.output)
        for m in window.members
    ]
    fillings = np.array(_fillings(len(entries)), dtype=np.float64).reshape(-1, len(entries))
    columns = list(fillings.T)
    got = np.stack([_on_fillings(e, entries, columns) for e in locals_], axis=1)
    winners = np.argmax(fillings, axis=1)  # NumPy, like PyTorch: the first maximum
    expected = np.zeros_like(got)
    expected[np.arange(len(fillings)), winners] = 1
    theta = np.stack(
        [_on_fillings(sympy_derivative[m], entries, columns) for m in window.members], axis=1
    )
    untied = (fillings == fillings.max(axis=1, keepdims=True)).sum(axis=1) == 1
    ok = bool(np.array_equal(got, expected) and np.array_equal(theta[untied], got[untied]))
    complete = len(entries) <= COMPLETE_ENTRIES
    how = (
        f"all {len(fillings):,} fillings of the first window with 0, 1 and 2 (every pattern "
        "of <, = and > between an entry and the others)"
        if complete
        else f"{len(fillings)} random fillings of the first window with 0, 1 and 2"
    )
    return Check(
        title="ties go to the first maximum" + ("" if complete else " (sampled, not proved)"),
        holds=ok,
        statement=(
            f"checked on {how}: exactly one position receives the window's gradient, the "
            "first maximum in row-major order (as PyTorch routes it), and without a tie at "
            f"the top it equals SymPy’s own derivative, θ(that entry − max of the others)."
        ),
    )


def _on_fillings(
    expr: sp.Expr, entries: tuple[sp.Symbol, ...], columns: list[np.ndarray]
) -> np.ndarray:
    """`expr` evaluated on every filling (one array per entry), as float64."""
    value = _numeric(expr, dict(zip(entries, columns)))
    return np.broadcast_to(np.asarray(value, dtype=np.float64), columns[0].shape)


def _numeric(expr: sp.Basic, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray:
    """A vectorized evaluator for the few node types a local gradient of max holds.

    (`lambdify` would do, but compiling takes seconds on first use.)  θ(0) is 1/2,
    SymPy's convention, so a tie never passes for a defined derivative.
    """
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Number or expr in (sp.true, sp.false):
        return np.asarray(float(bool(expr)) if expr.is_Boolean else float(expr))
    args = [_numeric(a, env) for a in expr.args if not isinstance(a, sp.Tuple)]
    if isinstance(expr, sp.Piecewise):
        result = np.asarray(0.0)
        for piece in reversed(expr.args):
            result = np.where(_numeric(piece.cond, env) != 0, _numeric(piece.expr, env), result)
        return result
    operations = {
        sp.Add: lambda: np.sum(np.broadcast_arrays(*args), axis=0),
        sp.Mul: lambda: np.prod(np.broadcast_arrays(*args), axis=0),
        sp.Max: lambda: np.max(np.broadcast_arrays(*args), axis=0),
        sp.And: lambda: np.all(np.broadcast_arrays(*args), axis=0).astype(float),
        sp.StrictGreaterThan: lambda: (args[0] > args[1]).astype(float),
        sp.GreaterThan: lambda: (args[0] >= args[1]).astype(float),
        sp.StrictLessThan: lambda: (args[0] < args[1]).astype(float),
        sp.LessThan: lambda: (args[0] <= args[1]).astype(float),
        sp.Heaviside: lambda: np.heaviside(args[0], 0.5),
    }
    if type(expr) not in operations:
        raise TypeError(f"cannot evaluate {type(expr).__name__} on fillings")
    return operations[type(expr)]()
