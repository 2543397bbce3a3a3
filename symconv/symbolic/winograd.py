"""Winograd's minimal filtering F(m, r), derived by Cook–Toom and proved with SymPy.

F(m, r) computes m outputs of an r-tap correlation, y_i = Σ_k d_{i+k}·g_k, from
n = m + r − 1 inputs with n multiplications instead of m·r:

    y = Aᵀ · ((G·g) ⊙ (Bᵀ·d))

Derivation (Toom–Cook, the Chinese remainder theorem with a point at infinity).  The
linear convolution s = g ∗ h of an r- and an m-coefficient polynomial has degree
n − 1, so its n coefficients follow from its values at n − 1 finite points p_j and
its leading coefficient (the value "at infinity"):

    s(x) = s_∞·M(x) + Σ_j s(p_j)·ℓ_j(x),     M(x) = Π_j (x − p_j),  ℓ_j Lagrange's basis,

and s(p_j) = g(p_j)·h(p_j), s_∞ = g_{r−1}·h_{m−1}.  With V_k the n × k evaluation
matrix (rows (1, p_j, p_j², …), last row (0, …, 0, 1)) and C the n × n interpolation
matrix (columns ℓ_j's coefficients, last column M's), s = C·((V_r g) ⊙ (V_m h)).  The
correlation y = H_gᵀ d is the transpose of that convolution s = H_g h, so

    Aᵀ = V_mᵀ,   G = V_r,   Bᵀ = Cᵀ,

and a diagonal rescaling moves the Lagrange denominators from Bᵀ into G (Lavin and
Gray's convention: Bᵀ then has integer entries for integer points).  Nothing is taken
from a table: the matrices come from the points, and `proof` checks the identity
symbolically for every m outputs; nested along every axis (Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A
in 2-D) it is proved for the user's kernel size.

The default points are 0, ±1, ±1/2, ±2, ±1/4, ±4, … in the order Barabasz et al.
("Error analysis and improving the accuracy of Winograd convolution for deep neural
networks", 2020) found to keep the float32 error small; `fp32_error` measures it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from symconv.validation import check_int

#: The finite points in the order they are used: n − 1 of them for F(m, r).
DEFAULT_POINTS: tuple[sp.Rational, ...] = tuple(
    sp.Rational(p)
    for p in (
        0,
        1,
        -1,
        Fraction(1, 2),
        -2,
        Fraction(-1, 2),
        2,
        Fraction(1, 4),
        -4,
        Fraction(-1, 4),
        4,
    )
)
#: Largest tile a transform is built for (n = m + r − 1): past it the error grows fast.
MAX_TILE = 12


def _rational(name: str, value: object) -> sp.Rational:
    """An exact point: an int, a Fraction, a SymPy rational, or a float that is one exactly."""
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a rational number, not a bool")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name}={value!r} must be finite")
        return sp.Rational(Fraction(value))
    try:
        number = sp.Rational(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a rational number") from None
    return number


def _evaluation(points: Sequence[sp.Rational], columns: int) -> sp.Matrix:
    """V_k: row j is (1, p_j, p_j², …) for a finite point; the last row picks the leading term."""
    n = len(points) + 1
    rows = [[p**j for j in range(columns)] for p in points]
    rows.append([sp.S.One if j == columns - 1 else sp.S.Zero for j in range(columns)])
    return sp.Matrix(n, columns, lambda i, j: rows[i][j])


def _coefficients(polynomial: sp.Poly, n: int) -> list[sp.Rational]:
    """Coefficients of x⁰ … x^{n−1} (low degree first)."""
    coefficients = polynomial.all_coeffs()[::-1]
    return [sp.Rational(c) for c in coefficients] + [sp.S.Zero] * (n - len(coefficients))


@dataclass(frozen=True)
class Winograd:
    """F(m, r): `AT` (m × n), `G` (n × r), `BT` (n × n), from `points` (n − 1 finite ones)."""

    m: int
    r: int
    points: tuple[sp.Rational, ...]
    AT: sp.Matrix = field(compare=False)
    G: sp.Matrix = field(compare=False)
    BT: sp.Matrix = field(compare=False)

    @property
    def n(self) -> int:
        """Inputs of one tile, and multiplications: m + r − 1."""
        return self.m + self.r - 1

    @property
    def label(self) -> str:
        return f"F({self.m}, {self.r})"

    def apply(self, d: Sequence, g: Sequence) -> list:
        """Aᵀ·((G·g) ⊙ (Bᵀ·d)) for one tile: d has n entries, g has r."""
        products = [
            (self.G.row(i) * sp.Matrix(g))[0] * (self.BT.row(i) * sp.Matrix(d))[0]
            for i in range(self.n)
        ]
        return list(self.AT * sp.Matrix(products))

    def proof(self) -> bool:
        """For symbols d, g: Aᵀ·((G·g) ⊙ (Bᵀ·d)) is exactly the r-tap correlation of d."""
        d = sp.symbols(f"d0:{self.n}")
        g = sp.symbols(f"g0:{self.r}")
        got = self.apply(d, g)
        return all(
            sp.expand(got[i] - sum(d[i + k] * g[k] for k in range(self.r))) == 0
            for i in range(self.m)
        )

    def __repr__(self) -> str:
        return (
            f"<Winograd {self.label}: {self.m} outputs of a {self.r}-tap correlation from "
            f"{self.n} inputs, points {_points(self.points)} (print() shows Aᵀ, G, Bᵀ)>"
        )

    def __str__(self) -> str:
        """The label, the points and the three matrices, as aligned text."""
        lines = [
            f"Winograd {self.label}: {self.m} outputs of a {self.r}-tap correlation from "
            f"{self.n} inputs, with {self.n} multiplications instead of {self.m * self.r}",
            f"interpolation points: {_points(self.points)}",
            "y = Aᵀ·((G·g) ⊙ (Bᵀ·d))",
        ]
        for name, matrix in self.matrices().items():
            lines += ["", f"{name} ({matrix.rows} × {matrix.cols}):", *_text_matrix(matrix)]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        """Jupyter: the label, the points and the three matrices as LaTeX."""
        parts = [
            f"**Winograd {self.label}**: {self.m} outputs of a {self.r}-tap correlation from "
            f"{self.n} inputs; points {_points(self.points)}.",
            "$$y = A^{\\mathsf{T}}\\left[(G g) \\odot (B^{\\mathsf{T}} d)\\right]$$",
        ]
        names = {"Aᵀ": "A^{\\mathsf{T}}", "G": "G", "Bᵀ": "B^{\\mathsf{T}}"}
        for name, matrix in self.matrices().items():
            parts.append(f"$${names[name]} = {sp.latex(matrix)}$$")
        return "\n\n".join(parts)

    def matrices(self) -> dict[str, sp.Matrix]:
        return {"Aᵀ": self.AT, "G": self.G, "Bᵀ": self.BT}

    def transform_operations(self, matrix: sp.Matrix) -> int:
        """Multiplications and additions of applying `matrix` to a vector, zeros and ±1 free."""
        count = 0
        for i in range(matrix.rows):
            entries = [e for e in matrix.row(i) if e != 0]
            count += sum(1 for e in entries if abs(e) != 1) + max(len(entries) - 1, 0)
        return count


def _points(points: Sequence[sp.Rational]) -> str:
    return ", ".join(str(p) for p in points) + ", ∞"


def _text_matrix(matrix: sp.Matrix) -> list[str]:
    """A matrix as bracketed aligned rows: ⎡ 1  0 ⎤ ... ⎣ 0  1 ⎦."""
    cells = [[str(matrix[i, j]) for j in range(matrix.cols)] for i in range(matrix.rows)]
    widths = [max(len(row[j]) for row in cells) for j in range(matrix.cols)]
    texts = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    if len(texts) == 1:
        return [f"  [ {texts[0]} ]"]
    sides = [("⎡", "⎤")] + [("⎢", "⎥")] * (len(texts) - 2) + [("⎣", "⎦")]
    return [f"  {left} {text} {right}" for (left, right), text in zip(sides, texts)]


def winograd(m: int, r: int, points: Sequence[object] | None = None) -> Winograd:
    """The transforms of F(m, r), derived by Cook–Toom from `points` (default: the accurate ones).

    `points` are the n − 1 = m + r − 2 finite interpolation points (distinct exact
    rationals); infinity is always the last one.
    """
    m, r = check_int("m", m), check_int("r", r)
    if m < 1 or r < 1:
        raise ValueError(f"F(m, r) needs m >= 1 and r >= 1, got m={m}, r={r}")
    n = m + r - 1
    if n > MAX_TILE:
        raise ValueError(
            f"F({m}, {r}) has tiles of n = {n} inputs; symconv builds them up to {MAX_TILE} "
            "(the float32 error grows quickly past that)"
        )
    if points is None:
        chosen = DEFAULT_POINTS[: n - 1]
    else:
        chosen = tuple(_rational(f"points[{i}]", p) for i, p in enumerate(points))
        if len(chosen) != n - 1:
            raise ValueError(
                f"points has {len(chosen)} entries; F({m}, {r}) needs n − 1 = {n - 1} finite "
                "points (infinity is added)"
            )
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"points={tuple(str(p) for p in chosen)} must be distinct")
    x = sp.Symbol("x")
    lagrange = []
    for j, p in enumerate(chosen):
        others = [q for i, q in enumerate(chosen) if i != j]
        numerator = sp.Poly(sp.prod([x - q for q in others]) if others else 1, x)
        denominator = sp.prod([p - q for q in others]) if others else sp.S.One
        lagrange.append((numerator, denominator))
    leading = sp.Poly(sp.prod([x - q for q in chosen]) if chosen else 1, x)
    # Bᵀ = Cᵀ with each row j scaled by its Lagrange denominator (fractions move to G).
    bt_rows = [_coefficients(num, n) for num, _ in lagrange] + [_coefficients(leading, n)]
    scale = [den for _, den in lagrange] + [sp.S.One]
    v_r, v_m = _evaluation(chosen, r), _evaluation(chosen, m)
    sign = [1 if s > 0 else -1 for s in scale]
    BT = sp.Matrix(n, n, lambda i, j: sign[i] * bt_rows[i][j])
    G = sp.Matrix(n, r, lambda i, j: v_r[i, j] / (sign[i] * scale[i]))
    AT = v_m.T
    return Winograd(m, r, chosen, AT, G, BT)


# ----- nested transforms: 2-D and 3-D tiles ----------------------------------------------------
def mode_product(tensor: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
    """`matrix` applied along `axis` of `tensor` (object arrays of SymPy entries, or floats)."""
    moved = np.moveaxis(tensor, axis, 0)
    shape = moved.shape
    flat = moved.reshape(shape[0], -1)
    out = np.array(
        [
            [sum(matrix[i, k] * flat[k, c] for k in range(shape[0])) for c in range(flat.shape[1])]
            for i in range(matrix.shape[0])
        ],
        dtype=tensor.dtype,
    )
    return np.moveaxis(out.reshape((matrix.shape[0], *shape[1:])), 0, axis)


def nested_apply(transforms: Sequence[Winograd], d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A and its 1-D and 3-D analogues: one transform per axis."""
    u, v = g, d
    for axis, t in enumerate(transforms):
        u = mode_product(u, np.array(t.G, dtype=object), axis)
        v = mode_product(v, np.array(t.BT, dtype=object), axis)
    y = u * v
    for axis, t in enumerate(transforms):
        y = mode_product(y, np.array(t.AT, dtype=object), axis)
    return y


def bilinear_coefficients(t: Winograd) -> np.ndarray:
    """C[i, a, k] with y_i = Σ_{a, k} C[i, a, k]·d_a·g_k: the transform's bilinear form, exact.

    C[i, a, k] = Σ_ξ Aᵀ[i, ξ]·Bᵀ[ξ, a]·G[ξ, k]; the correlation's own is 1 where a = i + k
    and 0 elsewhere.
    """
    out = np.empty((t.m, t.n, t.r), dtype=object)
    for i, a, k in np.ndindex(out.shape):
        out[i, a, k] = sum(t.AT[i, x] * t.BT[x, a] * t.G[x, k] for x in range(t.n))
    return out


def nested_proof(transforms: Sequence[Winograd]) -> bool:
    """The nested form Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A (one transform per axis) is the correlation.

    The nested form is bilinear in the tile d and the kernel g, and its coefficient of
    d[a]·g[k] at output i is the product over the axes of each transform's own
    coefficient (`bilinear_coefficients`).  The proof compares that coefficient, in
    exact rationals, with the correlation's (1 where a = i + k on every axis, else 0)
    for every output, tile entry and tap of the kernel's shape.
    """
    scaled, scales = [], []
    for t in transforms:
        coefficients = bilinear_coefficients(t)
        scale = int(sp.ilcm(*(sp.Rational(c).q for c in coefficients.flat)))
        scaled.append(
            np.array([int(c * scale) for c in coefficients.flat], dtype=np.int64).reshape(
                coefficients.shape
            )
        )
        scales.append(scale)
    # every entry of the outer product, in integers: Π_axes scale·C against Π_axes scale·[a = i + k]
    nested = scaled[0]
    wanted = _indicator(transforms[0])
    for c, t in zip(scaled[1:], transforms[1:]):
        nested = np.multiply.outer(nested, c)
        wanted = np.multiply.outer(wanted, _indicator(t))
    rank = len(transforms)
    order = [axis * 3 + position for position in range(3) for axis in range(rank)]
    nested = nested.transpose(order) if rank > 1 else nested
    wanted = wanted.transpose(order) if rank > 1 else wanted
    return bool(np.array_equal(nested, wanted * int(np.prod(scales))))


def _indicator(t: Winograd) -> np.ndarray:
    """The correlation's coefficients: 1 where tile entry a = output i + tap k."""
    out = np.zeros((t.m, t.n, t.r), dtype=np.int64)
    for i in range(t.m):
        for k in range(t.r):
            out[i, i + k, k] = 1
    return out


def fp32_error(transforms: Sequence[Winograd], tiles: int = 400, seed: int = 0) -> float:
    """The largest error of `tiles` random float32 tiles against float64 direct correlation,
    relative to the root mean square of all the correct outputs.

    Standard-normal tiles and kernels, transforms and products in float32.  Dividing by
    the typical output (the RMS over every output of every tile) instead of each tile's
    own largest output keeps the measure the same for every tile size: a one-output tile
    (m = 1) has no largest output to speak of, only one that is sometimes near zero.
    """
    rng = np.random.default_rng(seed)
    matrices = [
        {name: np.array(getattr(t, name), dtype=np.float64) for name in ("AT", "G", "BT")}
        for t in transforms
    ]
    n = tuple(t.n for t in transforms)
    r = tuple(t.r for t in transforms)
    m = tuple(t.m for t in transforms)
    worst, squares, count = 0.0, 0.0, 0
    for _ in range(tiles):
        d, g = rng.standard_normal(n), rng.standard_normal(r)
        direct = np.zeros(m)
        for tap in np.ndindex(r):
            direct += g[tap] * d[tuple(slice(k, k + o) for k, o in zip(tap, m))]
        u, v = g.astype(np.float32), d.astype(np.float32)
        for axis, mats in enumerate(matrices):
            u = np.moveaxis(np.tensordot(mats["G"].astype(np.float32), u, (1, axis)), 0, axis)
            v = np.moveaxis(np.tensordot(mats["BT"].astype(np.float32), v, (1, axis)), 0, axis)
        y = u * v
        for axis, mats in enumerate(matrices):
            y = np.moveaxis(np.tensordot(mats["AT"].astype(np.float32), y, (1, axis)), 0, axis)
        worst = max(worst, float(np.max(np.abs(y - direct))))
        squares += float(np.sum(direct**2))
        count += direct.size
    return worst / float(np.sqrt(squares / count))


def candidates(r: int) -> tuple[int, ...]:
    """The output tile sizes m worth considering for an r-tap kernel (n up to 8)."""
    return tuple(m for m in (2, 4, 6) if m + r - 1 <= 8)


__all__ = [
    "DEFAULT_POINTS",
    "Winograd",
    "candidates",
    "fp32_error",
    "nested_apply",
    "nested_proof",
    "winograd",
]


# ----- one layer: its tiling, its cost, its error -----------------------------------------------
def refusal(spec: object) -> str | None:
    """Why Winograd cannot compute `spec` as it is (None when it can)."""
    if any(s != 1 for s in spec.stride):
        return (
            f"Winograd's F(m, r) needs stride 1, but stride is {spec.stride}: a strided layer "
            "reads one window in s, which the tiles' overlap does not skip"
        )
    if any(d != 1 for d in spec.dilation):
        return (
            f"Winograd's F(m, r) needs dilation 1, but dilation is {spec.dilation}: a "
            "dilation-d layer is d^rank interleaved undilated layers; split it first"
        )
    if all(k == 1 for k in spec.kernel_size):
        return "a 1×1 kernel has nothing to save: one multiplication per output already"
    return None


@dataclass(frozen=True)
class Tiling:
    """How F(m, r) covers one layer: one transform per spatial axis, and the tiles."""

    transforms: tuple[Winograd, ...]
    outputs: tuple[int, ...]

    @property
    def tiles(self) -> tuple[int, ...]:
        return tuple(-(-o // t.m) for o, t in zip(self.outputs, self.transforms))

    @property
    def overhang(self) -> tuple[int, ...]:
        """Outputs the last tile computes past the layer's edge (they are not stored)."""
        return tuple(n * t.m - o for n, o, t in zip(self.tiles, self.outputs, self.transforms))

    @property
    def label(self) -> str:
        m = "×".join(str(t.m) for t in self.transforms)
        r = "×".join(str(t.r) for t in self.transforms)
        return f"F({m}, {r})"

    @property
    def products_per_tile(self) -> int:
        return math.prod(t.n for t in self.transforms)

    @property
    def direct_per_tile(self) -> int:
        return math.prod(t.m * t.r for t in self.transforms)

    def transform_operations(self, which: str) -> int:
        """Multiplications and additions of one tile's input ("BT") or output ("AT") transform."""
        shape = [t.n for t in self.transforms]
        total = 0
        for axis, t in enumerate(self.transforms):
            matrix = getattr(t, which)
            others = math.prod(shape) // shape[axis]
            total += t.transform_operations(matrix) * others
            shape[axis] = matrix.rows
        return total


def tiling(spec: object, m: int, points: Sequence[object] | None = None) -> Tiling:
    """F(m, r) along every axis of `spec` (r its kernel size there); refused with a reason."""
    reason = refusal(spec)
    if reason is not None:
        raise ValueError(reason)
    transforms = tuple(winograd(m, r, points) for r in spec.kernel_size)
    return Tiling(transforms, spec.output_size)


def considered(spec: object) -> tuple[Tiling, ...]:
    """The tilings worth a row of the efficiency table: m = 2, 4, 6 while n stays <= 8."""
    if refusal(spec) is not None:
        return ()
    largest = max(spec.kernel_size)
    return tuple(tiling(spec, m) for m in candidates(largest))


@dataclass(frozen=True)
class Candidate:
    """One F(m, r) a layer could use: its products per tile against the direct method's."""

    tiling: Tiling
    error: float

    @property
    def saving(self) -> float:
        """How many times fewer multiplications a tile needs than the direct method."""
        return self.tiling.direct_per_tile / self.tiling.products_per_tile


@dataclass(frozen=True)
class WinogradStudy:
    """F(m, r) for one layer: the transforms, their proofs, the tiling, the alternatives."""

    tiling: Tiling
    proofs: dict[str, bool]
    candidates: tuple[Candidate, ...]
    #: F(r, m) per axis: dL/dF with a tile of m dL/dO values as the filter, r taps as outputs.
    weight: tuple[Winograd, ...] = ()

    @property
    def all_hold(self) -> bool:
        return all(self.proofs.values())

    @property
    def distinct(self) -> tuple[Winograd, ...]:
        """The transforms of the axes, each once (a square kernel has one)."""
        return tuple(dict.fromkeys(self.tiling.transforms))


def study(spec: object, m: int, points: Sequence[object] | None = None) -> WinogradStudy:
    """Derive F(m, r) for `spec`, prove it (per transform, and nested for the kernel's shape),
    tile the layer and measure the float32 error of every F(m', r) worth considering."""
    chosen = tiling(spec, m, points)
    proofs = {t.label: t.proof() for t in dict.fromkeys(chosen.transforms)}
    proofs["nested"] = nested_proof(chosen.transforms)
    weight = (
        tuple(winograd(r, m) for r in spec.kernel_size)
        if m + max(spec.kernel_size) - 1 <= MAX_TILE
        else ()
    )
    for t in dict.fromkeys(weight):
        proofs.setdefault(t.label, t.proof())
    if weight:
        proofs["nested weight"] = nested_proof(weight)
    others = {c.label: c for c in considered(spec)}
    others.setdefault(chosen.label, chosen)
    found = tuple(
        Candidate(t, fp32_error(t.transforms))
        for t in sorted(others.values(), key=lambda t: t.transforms[0].m)
    )
    return WinogradStudy(chosen, proofs, found, weight)
