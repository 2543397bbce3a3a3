"""The figures of one convolution layer, built from its window equation and identities.

* forward: the padded input, one output's window (p = s·j + d·t − lo), the output grid,
  the rows no window reaches; one frame per output.
* ∂L/∂X: ∂L/∂O after exactly the steps the printed identity applies (dilated by the
  stride, padded or cropped), the filter after its steps (rotated 180°), and one input
  position's window; stride phases tinted; one frame per input position.
* ∂L/∂F: X after its steps (padded, or cropped to the reach) with the dilated ∂L/∂O as
  the window, stepped by the dilation: stride and dilation trade places.
* channels: which input channels feed which output channels (groups, depthwise).
* tiles: which filter each output position of a tiled layer uses.
* Winograd: the overlapping input tiles and the output tiles of F(m, r).

One image and one channel pair are drawn; every other pair is alike (a caption says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from symconv.draw.model import (
    MAX_FRAMES,
    Cell,
    Figure,
    Frame,
    Grid,
    Links,
    Role,
    cell_array,
    counted,
)
from symconv.formatting import fmt_tuple, plural
from symconv.kinds import ConvSpec
from symconv.render.names import Names
from symconv.symbolic.identities import Correlation, Dilate, Identity, Pad
from symconv.symbolic.patterns import (
    grad_input_identity,
    grad_weight_identity,
    tile_map,
    unreached_positions,
)
from symconv.symbolic.tensors import SymbolTable
from symconv.symbolic.winograd import refusal

#: The Winograd output tile drawn when none is asked for.
DRAWN_WINOGRAD_TILE = 2
#: The most channels a channel picture lists on each side.
MAX_CHANNELS = 16


def figures(
    spec: ConvSpec, names: Names | None = None, winograd: int | None = None
) -> list[Figure]:
    """Every figure that applies to `spec`, in the order a lecture shows them."""
    names = names or Names(spec, SymbolTable())
    found = [forward(spec, names)]
    if not spec.tiled:  # a tiled layer's gradients are per filter: its tiles figure shows whose
        found += [grad_input(spec, names), grad_weight(spec, names)]
    if spec.in_channels > 1 or spec.out_channels > 1:
        found.append(channels(spec))
    if spec.tiled:
        found.append(tiles(spec, names))
    if refusal(spec) is None and not spec.tiled:
        found.append(winograd_tiles(spec, winograd or DRAWN_WINOGRAD_TILE))
    return found


# ----- element cells ---------------------------------------------------------------------
def element(names: Names, key: str, spatial: tuple[int, ...]) -> Cell:
    """The cell of element `spatial` of tensor `key`, image 0, channel 0 (filter 1 of a
    tiled weight)."""
    tile = (0,) * names.spec.rank if key in ("w", "gw") and names.spec.tiled else ()
    return Cell(Role.DATA, names.element(key, (0, 0, *tile, *spatial)))


def tensor_cells(
    names: Names, key: str, size: tuple[int, ...], lead: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """(*lead, *size) cells of tensor `key`: the shape the identities' steps work on (a
    filter keeps its channel axes, which swapping a group's channels needs)."""

    def cell(index: tuple[int, ...]) -> Cell:
        tile = (0,) * names.spec.rank if key in ("w", "gw") and names.spec.tiled else ()
        return Cell(Role.DATA, names.element(key, (*index[:2], *tile, *index[2:])))

    return cell_array((*lead, *size), cell)


def apply_tagged(cells: np.ndarray, steps: tuple, full_padding: tuple | None = None) -> np.ndarray:
    """The identity's steps applied to cells; each zero a step puts in gets its role.

    The steps are the printed identity's own (`Dilate`, `Pad`, `Rotate`, ...): a zero a
    dilation inserts is `INSERTED`, one a padding adds is `PADDING`.
    """
    for step in steps:
        cells = step.apply(cells)
        role = Role.INSERTED if isinstance(step, Dilate) else Role.PADDING
        cells = fill_zeros(cells, role)
    if full_padding is not None:
        cells = fill_zeros(Pad(full_padding).apply(cells), Role.PADDING)
    return cells


def fill_zeros(cells: np.ndarray, role: Role) -> np.ndarray:
    out = cells.copy()
    for index in np.ndindex(*cells.shape):
        if not isinstance(cells[index], Cell):
            out[index] = Cell(role, text="0")
    return out


def plane(cells: np.ndarray) -> np.ndarray:
    """Image 0, channel 0 of (N, C, *spatial) cells."""
    return cells[0, 0]


# ----- forward ---------------------------------------------------------------------------------
def padded_input(spec: ConvSpec, names: Names) -> Grid:
    """X inside its padding; elements no window reads are marked."""
    axes = spec.window_axes
    unreached = unreached_positions(spec)

    def cell(p: tuple[int, ...]) -> Cell:
        i = tuple(q - axis.lo for q, axis in zip(p, axes))
        if not all(0 <= v < axis.size for v, axis in zip(i, axes)):
            return Cell(Role.PADDING, text="0")
        found = element(names, "x", i)
        if any(v in gone for v, gone in zip(i, unreached)):
            return Cell(Role.UNREACHED, found.ref)
        return found

    title = "X, padded" if any(a.lo or a.hi for a in axes) else "X"
    return Grid(title, cell_array(spec.padded_size, cell), tuple(a.lo for a in axes))


def window_taps(spec: ConvSpec, output: tuple[int, ...]) -> frozenset[tuple[int, ...]]:
    """Padded positions s·j + d·t (the window equation plus lo) that output j reads."""
    axes = spec.window_axes
    return frozenset(
        tuple(axis.position(j, t) + axis.lo for axis, j, t in zip(axes, output, taps))
        for taps in np.ndindex(*spec.kernel_size)
    )


def forward(spec: ConvSpec, names: Names) -> Figure:
    panels = (
        padded_input(spec, names),
        Grid(
            "F, filter 1" if spec.tiled else "F", plane(tensor_cells(names, "w", spec.kernel_size))
        ),
        Grid("O", plane(tensor_cells(names, "y", spec.output_size))),
    )
    outputs = list(np.ndindex(*spec.output_size))
    frames = tuple(
        Frame(
            {0: window_taps(spec, j), 1: frozenset(np.ndindex(*spec.kernel_size)), 2: {j}},
            f"{names.plain(names.element('y', (0, 0, *j)))} = Σ over the marked window of X·F",
        )
        for j in sampled(outputs)
    )
    return Figure(
        "forward",
        "Forward pass: the window of one output",
        "Each output is the sum of the products of F with the window of X it covers: "
        f"tap t of output j reads padded row s·j + d·t (stride {fmt_tuple(spec.stride)}, "
        f"dilation {fmt_tuple(spec.dilation)}).",
        panels,
        frames,
        animated=True,
        notes=_notes(spec, "forward"),
    )


# ----- ∂L/∂X -------------------------------------------------------------------------------
def identity_operands(identity: Identity, names: Names, spec: ConvSpec) -> tuple[np.ndarray, ...]:
    """(grid, kernel) cells of the identity, image 0 and channel 0, after its steps."""
    sizes = {"x": spec.input_size, "gy": spec.output_size, "w": spec.kernel_size}
    operation: Correlation = identity.operation
    lead = spec.weight_shape[:2] if identity.kernel.tensor == "w" else (1, 1)
    kernel = apply_tagged(
        tensor_cells(names, identity.kernel.tensor, sizes[identity.kernel.tensor], lead),
        identity.kernel.steps,
    )
    full = None
    if operation.full:
        spans = [d * (k - 1) + 1 for d, k in zip(operation.dilation, kernel.shape[2:])]
        full = tuple((e - 1, e - 1) for e in spans)
    grid = apply_tagged(
        tensor_cells(names, identity.grid.tensor, sizes[identity.grid.tensor]),
        identity.grid.steps,
        full,
    )
    return plane(grid), plane(kernel)


def correlation_window(
    operation: Correlation,
    kernel_shape: tuple[int, ...],
    r: tuple[int, ...],
    taps: frozenset[tuple[int, ...]] | None = None,
) -> frozenset[tuple[int, ...]]:
    """The grid cells result r reads: s·r + d·t for every kernel tap t (`DEFINITION`), or
    for the taps in `taps` only."""
    chosen = np.ndindex(*kernel_shape) if taps is None else taps
    return frozenset(
        tuple(s * q + d * t for s, d, q, t in zip(operation.stride, operation.dilation, r, tap))
        for tap in chosen
    )


@dataclass(frozen=True)
class Reading:
    """What the ∂L/∂X figure's operands are called: the gradient's names, or those of the
    transposed layer that *is* that gradient run forward (its X is the convolution's ∂L/∂O,
    its output O the convolution's ∂L/∂X)."""

    figure: str = "grad_input"
    grid: str = "∂L/∂O"
    result: str = "∂L/∂X"
    positions: str = "Input positions"


GRADIENT = Reading()
TRANSPOSED_FORWARD = Reading("forward", "X", "O", "Output positions")


def grad_input(spec: ConvSpec, names: Names, reading: Reading = GRADIENT) -> Figure:
    identity = grad_input_identity(spec)
    grid, kernel = identity_operands(identity, names, spec)
    before = [b for b, _ in _grid_padding(identity, spec)]
    strides = spec.stride

    def phase_of(r: tuple[int, ...]) -> int:
        """Input positions with equal (r + before) mod s meet the nonzeros with the same taps."""
        phases = [(q + b) % s for q, b, s in zip(r, before, strides)]
        return int(np.ravel_multi_index(phases, strides))

    result = cell_array(
        spec.input_size,
        lambda r: Cell(Role.DATA, names.element("gx", (0, 0, *r)), phase=phase_of(r)),
    )
    positions = list(np.ndindex(*spec.input_size))
    # convolution mode flips F in the forward pass, so the identity slides F as stored
    slid = "F, as stored," if spec.flips_kernel else "the rotated filter"
    frames = tuple(
        Frame(
            {
                0: correlation_window(identity.operation, kernel.shape, r),
                1: frozenset(np.ndindex(*kernel.shape)),
                2: {r},
            },
            f"{names.plain(names.element('gx', (0, 0, *r)))}: {slid} over {reading.grid}",
        )
        for r in sampled(positions)
    )
    dilated = "dilated by the stride, " if any(s > 1 for s in strides) else ""
    rotated = "F, rotated 180°" if not spec.flips_kernel else "F"
    caption = (
        f"{reading.result} is the {identity.operation.name} of {reading.grid} ({dilated}padded "
        f"as printed) with {rotated}. "
        + (
            f"{reading.positions} of one tint share a stride phase: their windows meet the "
            f"nonzeros of {reading.grid} with the same taps."
            if any(s > 1 for s in strides)
            else "Stride 1: every tap can meet a nonzero."
        )
    )
    return Figure(
        reading.figure,
        f"{reading.result}: {slid} over the dilated, padded {reading.grid}",
        caption,
        (
            Grid(_titled(reading.grid, identity), grid),
            Grid(rotated, kernel),
            Grid(reading.result, result),
        ),
        frames,
        animated=True,
        notes=_notes(spec, "grad_input"),
    )


class TransposedNames:
    """A transposed layer's names for the cells of its convolution's ∂L/∂X figure: the
    convolution's ∂L/∂O is the layer's X, its ∂L/∂X the layer's output, F is F."""

    AS_TRANSPOSED = {"gy": "x", "gx": "y", "w": "w"}

    def __init__(self, names: Names, convolution: ConvSpec) -> None:
        self.names, self.spec = names, convolution

    def element(self, key: str, index: tuple[int, ...]):
        return self.names.element(self.AS_TRANSPOSED[key], index)

    def plain(self, item) -> str:
        return self.names.plain(item)


def transposed_figures(spec, names: Names) -> list[Figure]:
    """A transposed layer's forward: its convolution's ∂L/∂X figure under its own names (X
    dilated by the stride and padded as printed, the rotated filter, O tinted by phase)."""
    convolution = spec.convolution
    found = [grad_input(convolution, TransposedNames(names, convolution), TRANSPOSED_FORWARD)]
    if spec.in_channels > 1 or spec.out_channels > 1:  # its channels, X's to O's (kernel moot)
        links = ConvSpec(spec.input_size, 1, in_channels=spec.in_channels,
                         out_channels=spec.out_channels, groups=spec.groups)  # fmt: skip
        found.append(channels(links))
    return found


def _grid_padding(identity: Identity, spec: ConvSpec) -> tuple[tuple[int, int], ...]:
    """Zeros before and after the grid operand's data in the drawn grid, per axis."""
    pad = identity.grid.step(Pad)
    if pad is not None:
        return pad.amounts
    if identity.operation.full:
        return tuple((a.span - 1, a.span - 1) for a in spec.window_axes)
    return tuple((0, 0) for _ in spec.window_axes)


def _titled(name: str, identity: Identity) -> str:
    """ "∂L/∂O, dilated and padded", or the bare name when no step changes the operand."""
    phrase = _steps_phrase(identity)
    return f"{name}, {phrase}" if phrase else name


def _steps_phrase(identity: Identity) -> str:
    words = []
    for step in identity.grid.steps:
        if isinstance(step, Dilate):
            words.append("dilated")
        elif isinstance(step, Pad):
            words.append("cropped" if step.crops and not step.pads else "padded")
    if identity.operation.full:
        words.append("padded (full)")
    return " and ".join(words)


# ----- ∂L/∂F -------------------------------------------------------------------------------
def grad_weight(spec: ConvSpec, names: Names) -> Figure:
    identity = grad_weight_identity(spec)
    grid, kernel = identity_operands(identity, names, spec)
    result = plane(tensor_cells(names, "gw", spec.kernel_size))
    taps = list(np.ndindex(*spec.kernel_size))
    rotated = bool(identity.result_steps)  # convolution mode: the result is rotated back

    def tap_of(r: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(k - 1 - q for k, q in zip(spec.kernel_size, r)) if rotated else r

    real = frozenset(u for u in np.ndindex(*kernel.shape) if kernel[u].role is Role.DATA)
    frames = tuple(
        Frame(
            {
                0: correlation_window(identity.operation, kernel.shape, r, real),
                1: real,
                2: {tap_of(r)},
            },
            f"{names.plain(names.element('gw', (0, 0, *tap_of(r))))}: ∂L/∂O dilated over X",
        )
        for r in sampled(taps)
    )
    return Figure(
        "grad_weight",
        "∂L/∂F: the dilated ∂L/∂O as the window over X",
        f"∂L/∂F is the cross-correlation of {_titled('X', identity).replace(',', '')} with "
        + (
            f"∂L/∂O dilated by the stride {fmt_tuple(spec.stride)}"
            if any(s > 1 for s in spec.stride)
            else "∂L/∂O (stride 1: nothing inserted)"
        )
        + f", the window stepping by the dilation {fmt_tuple(spec.dilation)}: stride and "
        "dilation trade places. Marked cells of X meet a real ∂L/∂O entry"
        + ("; the others meet an inserted zero." if any(s > 1 for s in spec.stride) else "."),
        (
            Grid(_titled("X", identity), grid),
            Grid("∂L/∂O" + (", dilated" if identity.kernel.step(Dilate) else ""), kernel),
            Grid("∂L/∂F", result),
        ),
        frames,
        animated=True,
        notes=_notes(spec, "grad_weight"),
    )


# ----- channels, tiles, Winograd ----------------------------------------------------------
def channels(spec: ConvSpec) -> Figure:
    """Output channel m reads the input channels of its group g = m // (C_out/G)."""
    per_in, per_out = spec.in_channels_per_group, spec.out_channels_per_group
    shown_in = min(spec.in_channels, MAX_CHANNELS)
    shown_out = min(spec.out_channels, MAX_CHANNELS)
    edges = tuple(
        (c, m) for m in range(shown_out) for c in range(shown_in) if c // per_in == m // per_out
    )
    kind = (
        "depthwise: each output channel reads one input channel"
        if spec.groups > 1 and per_in == 1
        else f"{spec.groups} groups of {per_in} input → {per_out} output channels"
        if spec.groups > 1
        else "every output channel reads every input channel"
    )
    notes = ()
    if spec.in_channels > MAX_CHANNELS or spec.out_channels > MAX_CHANNELS:
        notes = (f"The first {shown_in} input and {shown_out} output channels are drawn.",)
    return Figure(
        "channels",
        "Channels and groups",
        f"{plural(spec.in_channels, 'input channel')}, "
        f"{plural(spec.out_channels, 'output channel')}, {kind}.",
        (
            Links(
                "input channels → output channels",
                tuple(f"X[c={c + 1}]" for c in range(shown_in)),
                tuple(f"O[m={m + 1}]" for m in range(shown_out)),
                edges,
            ),
        ),
        notes=notes,
    )


def tiles(spec: ConvSpec, names: Names) -> Figure:
    """Output position j uses filter τ = j mod t (per axis); each filter its own tint."""
    mapping = tile_map(spec)

    def cell(j: tuple[int, ...]) -> Cell:
        tile = mapping[j]
        phase = int(np.ravel_multi_index(tile, spec.tiles))
        label = "F" + "".join(str(v + 1) for v in tile) if spec.rank > 1 else f"F{tile[0] + 1}"
        return Cell(Role.DATA, names.element("gy", (0, 0, *j)), text=label, phase=phase)

    local = spec.locally_connected
    return Figure(
        "tiles",
        "Locally connected: one filter per output position" if local else "Tiled: whose filter",
        f"Output j uses filter τ = j mod {fmt_tuple(spec.tiles)}; each filter has its own tint"
        + (" (every position its own filter)." if local else "."),
        (Grid("O, by filter", cell_array(spec.output_size, cell)),),
    )


def winograd_tiles(spec: ConvSpec, m: int) -> Figure:
    """F(m, r): input tiles of m + r − 1 rows stepping by m, over the padded input; each
    makes one m-wide output tile (the last ones cut at the edge)."""
    axes = spec.window_axes
    counts = [-(-axis.outputs // m) for axis in axes]
    phases = {}
    for tile in np.ndindex(*counts):
        phases[tile] = int(np.ravel_multi_index(tile, counts)) % 6
    inputs = cell_array(spec.padded_size, lambda p: Cell(Role.DATA, text=""))
    outputs = cell_array(
        spec.output_size,
        lambda j: Cell(Role.DATA, phase=phases[tuple(q // m for q in j)]),
    )
    frames = []
    for tile in sampled(list(np.ndindex(*counts))):
        reads = frozenset(
            p
            for p in product(
                *(range(t * m, min(t * m + m + a.kernel - 1, a.padded)) for t, a in zip(tile, axes))
            )
        )
        writes = frozenset(
            j
            for j in product(*(range(t * m, min(t * m + m, a.outputs)) for t, a in zip(tile, axes)))
        )
        frames.append(Frame({0: reads, 1: writes}, f"tile {counted(tile)}"))
    r = fmt_tuple(spec.kernel_size)
    return Figure(
        "winograd",
        f"Winograd F({m}, {r}): overlapping input tiles",
        f"Each input tile of m + r − 1 rows (m = {m}) makes one output tile of m rows; "
        "neighbouring input tiles overlap by r − 1 rows. Tiles past the edge are cut.",
        (Grid("X, padded: one input tile", inputs), Grid("O: its output tile", outputs)),
        tuple(frames),
        animated=True,
    )


# ----- shared ------------------------------------------------------------------------------
def sampled(items: list) -> list:
    """At most `MAX_FRAMES` items, evenly spread, first and last kept."""
    if len(items) <= MAX_FRAMES:
        return items
    picks = np.linspace(0, len(items) - 1, MAX_FRAMES).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def _notes(spec: ConvSpec, what: str) -> tuple[str, ...]:
    notes = []
    if spec.batch > 1 or spec.in_channels > 1 or spec.out_channels > 1:
        notes.append("Image 1, channel 1 of each tensor is drawn; every other pair is alike.")
    if spec.rank == 3:
        notes.append("3-D: each grid is drawn as its depth slices, side by side.")
    if spec.mode == "convolution":
        notes.append(
            "Convolution mode: the layer flips its filter, so the figures show F as stored."
        )
    return tuple(notes)
