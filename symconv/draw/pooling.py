"""The figures of one pooling layer: its windows over given values, and where the
gradient goes (max pooling: the sparse grid of first maxima; average: a share to all).

The maxima and the routing are the NumPy reference's own (`pool_forward`,
`pool_grad_input`, PyTorch's tie rule: the first maximum of a window wins), asked one
window at a time, so the figure routes exactly as the reference and the kernels do.
"""

from __future__ import annotations

import numpy as np

from symconv.draw.convolution import sampled
from symconv.draw.model import Cell, Figure, Frame, Grid, Role, cell_array, counted
from symconv.formatting import fmt_tuple
from symconv.kinds import PoolSpec
from symconv.kinds.pooling.oracles import pool_forward, pool_grad_input
from symconv.render.names import Names
from symconv.symbolic.tensors import SymbolTable

KIND_NAMES = {"max": "Max", "avg": "Average"}
#: Routed sums longer than this many terms print as a count.
MAX_TERMS_SHOWN = 2


def default_values(spec: PoolSpec) -> np.ndarray:
    """1 … n in a fixed shuffled order: distinct, so every window has one maximum."""
    count = int(np.prod(spec.input_size))
    order = np.random.default_rng(0).permutation(count) + 1
    return order.reshape(spec.input_size).astype(float)


def names_for(spec: PoolSpec) -> Names:
    shapes = {"x": (spec.input_shape, 2), "gp": (spec.output_shape, 2)}
    return Names(None, SymbolTable(), shapes=shapes)


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def figures(spec: PoolSpec, values: np.ndarray | None = None) -> list[Figure]:
    """The windows with their results, and the routed gradient, for `values` (image 1,
    channel 1; the others are alike)."""
    plane = default_values(spec) if values is None else np.asarray(values, float)
    plane = plane.reshape(spec.input_size)
    x = np.zeros(spec.input_shape)
    x[0, 0] = plane
    names = names_for(spec)
    y = pool_forward(spec, x)[0, 0]
    routes = routing(spec, x)
    axes = spec.window_axes
    pad = "−∞" if spec.kind == "max" else "0"

    def padded(p: tuple[int, ...]) -> Cell:
        i = tuple(q - a.lo for q, a in zip(p, axes))
        if all(0 <= v < a.size for v, a in zip(i, axes)):
            return Cell(Role.VALUE, text=number(plane[i]))
        return Cell(Role.PADDING, text=pad)

    inputs = Grid(
        "X, padded" if any(a.lo for a in axes) else "X", cell_array(spec.padded_size, padded)
    )
    outputs = Grid("P", cell_array(spec.output_size, lambda j: Cell(Role.VALUE, text=number(y[j]))))
    received = Grid(
        "∂L/∂X", cell_array(spec.input_size, lambda i: routed_cell(spec, names, routes, i))
    )
    windows = list(np.ndindex(*spec.output_size))
    frames = []
    for j in sampled(windows):
        window = frozenset(
            tuple(a.stride * q + t for a, q, t in zip(axes, j, taps))
            for taps in np.ndindex(*spec.kernel_size)
        )
        gets = frozenset(i for i, sources in routes.items() if j in sources)
        label = names.plain(names.element("gp", (0, 0, *j)))
        frames.append(
            Frame(
                {0: window, 1: {j}, 2: gets},
                f"window {counted(j)}: {label} goes to the marked ∂L/∂X",
            )
        )
    rule = (
        "Max pooling sends each ∂L/∂P entry to the first maximum of its window (PyTorch's "
        "rule for ties); overlapping windows that pick the same element add up; every other "
        "element gets zero."
        if spec.kind == "max"
        else f"Average pooling sends 1/{spec.window_size} of each ∂L/∂P entry to every "
        "element of its window (padding counted), overlapping windows adding up."
    )
    return [
        Figure(
            "pooling",
            f"{KIND_NAMES[spec.kind]} pooling: windows and the routed gradient",
            f"Window j covers padded rows s·j + t (stride {fmt_tuple(spec.stride)}). " + rule,
            (inputs, outputs, received),
            tuple(frames),
            animated=True,
        )
    ]


def routing(spec: PoolSpec, x: np.ndarray) -> dict[tuple[int, ...], list[tuple[int, ...]]]:
    """Input position -> the windows whose gradient reaches it, from the reference."""
    routes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for j in np.ndindex(*spec.output_size):
        one = np.zeros(spec.output_shape)
        one[(0, 0, *j)] = 1.0
        gx = pool_grad_input(spec, one, x)[0, 0]
        for i in zip(*np.nonzero(gx)):
            routes.setdefault(tuple(int(v) for v in i), []).append(j)
    return routes


def routed_cell(spec: PoolSpec, names: Names, routes: dict, i: tuple[int, ...]) -> Cell:
    sources = routes.get(i, [])
    if not sources:
        return Cell(Role.EMPTY, text="0")
    if len(sources) > MAX_TERMS_SHOWN:
        text = f"Σ of {len(sources)} ∂L/∂P"
    else:
        text = " + ".join(names.plain(names.element("gp", (0, 0, *j))) for j in sources)
    if spec.kind == "avg":
        text = f"({text})/{spec.window_size}" if len(sources) > 1 else f"{text}/{spec.window_size}"
    return Cell(Role.ROUTED, text=text)
