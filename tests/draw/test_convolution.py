"""The figures of a convolution agree with the derivation's element equations.

Expected values come from the SymPy element equations (`derive`), never from the
figure code: the cells a figure marks for an output are exactly the inputs its
equation uses, the zeros of the drawn ∂L/∂O are exactly the printed operand's zeros,
and the cells it calls unreached are exactly the inputs no equation uses.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from symconv.draw import draw
from symconv.draw.model import MAX_FRAMES, Grid, Role
from symconv.kinds import ConvSpec, ConvTransposeSpec
from symconv.symbolic.derive import derive
from symconv.symbolic.patterns import grad_input_identity
from tests.strategies import conv_specs, transposed_specs

SMALL = {"max_rank": 3, "max_batch": 1, "max_channels_per_group": 2, "groups": (1, 2)}
AWKWARD = [
    ConvSpec(input_size=(6, 6), kernel_size=3, stride=2, padding=((1, 0), (0, 1))),
    ConvSpec(input_size=(7,), kernel_size=2, stride=3, dilation=2, padding=((2, 1),)),
    ConvSpec(
        input_size=(4, 3, 3),
        kernel_size=2,
        stride=(2, 1, 1),
        in_channels=2,
        out_channels=2,
        groups=2,
    ),
    ConvSpec(input_size=(5, 5), kernel_size=3, stride=2, mode="convolution"),
]


def index_of(derivation, key: str) -> dict[sp.Symbol, tuple[int, ...]]:
    array = derivation.symbols[key]
    return {array[i]: i for i in np.ndindex(*array.shape)}


def plane_symbols(expr: sp.Expr, where: dict, image: int = 0, channel: int = 0) -> set:
    """Spatial indices of the symbols of (image, channel) that `expr` uses."""
    found = set()
    for symbol in expr.free_symbols:
        index = where.get(symbol)
        if index is not None and index[0] == image and index[1] == channel:
            found.add(tuple(index[2:]))
    return found


def data_marks(grid: Grid, marks: frozenset) -> set:
    """The marked cells of `grid` that hold an element (padding and inserted zeros out)."""
    return {m for m in marks if grid.cells[m].role in (Role.DATA, Role.UNREACHED)}


def ref_index(cell) -> tuple[int, ...]:
    return cell.ref.index


def expected_ref(names, key: str, full: tuple[int, ...]) -> tuple[int, ...]:
    return names.element(key, full).index


specs = st.one_of(st.sampled_from(AWKWARD), conv_specs(**SMALL))


@settings(max_examples=25, deadline=None)
@given(specs)
@example(AWKWARD[0])
def test_forward_window_is_the_equations_inputs(spec: ConvSpec) -> None:
    derivation = derive(spec)
    drawing = draw(spec)
    figure = drawing.figure("forward")
    padded = figure.panels[0]
    where = index_of(derivation, "x")
    assert len(figure.frames) == min(int(np.prod(spec.output_size)), MAX_FRAMES)
    for frame in figure.frames:
        (j,) = frame.marks[2]
        drawn = {ref_index(padded.cells[m]) for m in data_marks(padded, frame.marks[0])}
        used = plane_symbols(derivation.output[(0, 0, *j)], where)
        assert drawn == {expected_ref(drawing.names, "x", (0, 0, *i)) for i in used}


@settings(max_examples=25, deadline=None)
@given(specs)
def test_padding_and_unreached_cells_are_the_equations(spec: ConvSpec) -> None:
    derivation = derive(spec)
    padded = draw(spec).figure("forward").panels[0]
    where = index_of(derivation, "x")
    used = set().union(*(plane_symbols(e, where) for e in derivation.output.flat))
    lows = [a.lo for a in spec.window_axes]
    for p in np.ndindex(*padded.shape):
        i = tuple(q - lo for q, lo in zip(p, lows))
        inside = all(0 <= v < n for v, n in zip(i, spec.input_size))
        role = padded.cells[p].role
        if not inside:
            assert role is Role.PADDING
        else:
            assert role is (Role.DATA if i in used else Role.UNREACHED), (p, i)


@settings(max_examples=25, deadline=None)
@given(specs)
@example(AWKWARD[1])
def test_grad_input_grid_is_the_printed_operand_and_windows_the_equations(spec: ConvSpec) -> None:
    if spec.tiled:
        return
    derivation = derive(spec)
    drawing = draw(spec)
    figure = drawing.figure("grad_input")
    grid = figure.panels[0]
    identity = grad_input_identity(spec)
    plane = identity.grid.value(derivation.symbols)[0, 0]
    if identity.operation.full:  # the full correlation pads by k_eff − 1 on every side
        spans = [a.span - 1 for a in spec.window_axes]
        plane = np.pad(plane, [(e, e) for e in spans], constant_values=sp.S.Zero)
    where = index_of(derivation, "gy")
    assert plane.shape == grid.shape
    for q in np.ndindex(*grid.shape):
        cell = grid.cells[q]
        if plane[q] == 0:
            assert cell.role in (Role.PADDING, Role.INSERTED), q
        else:
            assert cell.ref.index == expected_ref(drawing.names, "gy", where[plane[q]])
    for frame in figure.frames:
        (r,) = frame.marks[2]
        drawn = {ref_index(grid.cells[m]) for m in data_marks(grid, frame.marks[0])}
        used = plane_symbols(derivation.grad_input[(0, 0, *r)], where)
        assert drawn == {expected_ref(drawing.names, "gy", (0, 0, *i)) for i in used}


@settings(max_examples=25, deadline=None)
@given(specs)
def test_grad_weight_window_is_the_equations_inputs(spec: ConvSpec) -> None:
    if spec.tiled:
        return
    derivation = derive(spec)
    drawing = draw(spec)
    figure = drawing.figure("grad_weight")
    grid = figure.panels[0]
    where = index_of(derivation, "x")
    for frame in figure.frames:
        (t,) = frame.marks[2]
        drawn = {ref_index(grid.cells[m]) for m in data_marks(grid, frame.marks[0])}
        used = plane_symbols(derivation.grad_weight[(0, 0, *t)], where)
        assert drawn == {expected_ref(drawing.names, "x", (0, 0, *i)) for i in used}


def test_inserted_zeros_sit_between_the_strided_entries() -> None:
    """Stride 2 on 5×5, kernel 3: ∂L/∂O is 2×2, dilated to 3×3 with a zero row and column."""
    grid = draw(ConvSpec(input_size=(5, 5), kernel_size=3, stride=2)).figure("grad_input").panels[0]
    roles = np.vectorize(lambda c: c.role.value)(grid.cells)
    inner = roles[2:5, 2:5]  # full correlation: padding k − 1 = 2 on every side
    assert inner.tolist() == [
        ["data", "inserted", "data"],
        ["inserted", "inserted", "inserted"],
        ["data", "inserted", "data"],
    ]
    assert (roles[:2] == "padding").all() and (roles[5:] == "padding").all()


def test_channels_figure_links_each_group() -> None:
    spec = ConvSpec(input_size=(4, 4), kernel_size=3, in_channels=4, out_channels=6, groups=2)
    links = draw(spec).figure("channels").panels[0]
    expected = {(c, m) for c in range(4) for m in range(6) if c // 2 == m // 3}
    assert set(links.edges) == expected
    depthwise = ConvSpec(input_size=(4, 4), kernel_size=3, in_channels=3, out_channels=3, groups=3)
    assert set(draw(depthwise).figure("channels").panels[0].edges) == {(0, 0), (1, 1), (2, 2)}


def test_tiles_figure_gives_each_output_its_filter() -> None:
    spec = ConvSpec(input_size=(6, 6), kernel_size=2, tiles=(2, 3))
    grid = draw(spec).figure("tiles").panels[0]
    for j in np.ndindex(*spec.output_size):
        assert grid.cells[j].text == f"F{j[0] % 2 + 1}{j[1] % 3 + 1}"


def test_winograd_tiles_overlap_by_r_minus_one() -> None:
    spec = ConvSpec(input_size=(6, 6), kernel_size=3)
    figure = draw(spec, winograd=2).figure("winograd")
    first, second = figure.frames[0].marks[0], figure.frames[1].marks[0]
    assert len(first) == 16 and len(second) == 16  # m + r − 1 = 4 rows and columns
    assert len(first & second) == 4 * 2  # overlapping by r − 1 = 2 columns


def test_convolution_mode_does_not_call_the_stored_filter_rotated() -> None:
    """In convolution mode ∂L/∂X correlates with F as stored (the forward flipped it)."""
    figure = draw(AWKWARD[3]).figure("grad_input")
    assert "rotated" not in figure.title and "rotated" not in figure.still.caption
    assert figure.panels[1].title == "F"
    plain = draw(AWKWARD[0]).figure("grad_input")
    assert "rotated filter" in plain.title and plain.panels[1].title == "F, rotated 180°"


# ----- a transposed layer: its convolution's ∂L/∂X figure under its own names ------------------
TRANSPOSED_LAYERS = [
    ConvTransposeSpec((3, 3), 3, stride=2, padding=1, output_padding=1),
    ConvTransposeSpec(
        (4,),
        2,
        stride=3,
        dilation=2,
        padding=1,
        output_padding=2,
        in_channels=2,
        out_channels=4,
        groups=2,
    ),  # fmt: skip
]


@settings(max_examples=15, deadline=None)
@given(st.one_of(st.sampled_from(TRANSPOSED_LAYERS), transposed_specs(max_rank=2, max_size=3)))
@example(TRANSPOSED_LAYERS[0])
def test_transposed_forward_windows_are_the_scatter_equations(spec: ConvTransposeSpec) -> None:
    """Each output's marked cells of the dilated, padded X are exactly the inputs that its
    element equation (built by scattering, not by the identity) adds up."""
    derivation = derive(spec)
    drawing = draw(spec)
    figure = drawing.figure("forward")
    assert figure.title == "O: the rotated filter over the dilated, padded X"
    grid = figure.panels[0]
    where = index_of(derivation, "x")
    reached = set()
    for q in np.ndindex(*grid.shape):
        if grid.cells[q].role is Role.DATA:
            reached.add(ref_index(grid.cells[q]))
    outputs = np.ndindex(*spec.output_size)
    used_anywhere = set().union(
        *(plane_symbols(derivation.output[(0, 0, *r)], where) for r in outputs)
    )
    # the printed operand: every input some output adds up is among the zeros (padding may
    # crop the others away; an input every tap's dilation steps over stays, unread)
    every = {expected_ref(drawing.names, "x", (0, 0, *i)) for i in np.ndindex(*spec.input_size)}
    assert {expected_ref(drawing.names, "x", (0, 0, *i)) for i in used_anywhere} <= reached <= every
    for frame in figure.frames:
        (r,) = frame.marks[2]
        drawn = {ref_index(grid.cells[m]) for m in data_marks(grid, frame.marks[0])}
        used = plane_symbols(derivation.output[(0, 0, *r)], where)
        assert drawn == {expected_ref(drawing.names, "x", (0, 0, *i)) for i in used}, r
