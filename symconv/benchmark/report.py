"""A `BenchResult` as a Markdown table, JSON and a PNG chart, written atomically.

The headline number is the speed-up over PyTorch, PyTorch's time divided by
symconv's: above 1.00× the generated kernel is faster.  Medians only; the JSON
keeps the quartiles for anyone who wants the spread.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from symconv.benchmark.contenders import OPERATIONS
from symconv.benchmark.run import BenchResult, Measurement
from symconv.files import write_bytes_atomic, write_text_atomic
from symconv.formatting import fmt_padding, fmt_shape, fmt_tuple
from symconv.kinds import CONVOLUTION, TRANSPOSED, kind_of, spec_from_dict

MISSING = "–"
PLOT_HINT = "matplotlib is not installed (pip install matplotlib): bench.png not written"


class PlotUnavailable(ImportError):
    """matplotlib is missing: the chart is skipped, the Markdown and JSON are still written."""


# ----- numbers --------------------------------------------------------------------------
def speedup(result: BenchResult, layer: str, operation: str, dtype: str) -> float | None:
    """PyTorch's time over symconv's (> 1: symconv faster); None without both times."""
    ours = result.seconds(layer, operation, dtype, "symconv")
    theirs = result.seconds(layer, operation, dtype, "torch")
    if not ours or not theirs:
        return None
    return theirs / ours


def geometric_mean(values: list[float]) -> float:
    """The mean of ratios: 2× and 0.5× average to 1×, as they should."""
    return math.exp(sum(math.log(v) for v in values) / len(values))


def significant(value: float, digits: int = 3) -> str:
    """3 significant digits with thousands separators: 0.0123, 4.56, 789, 12,345."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def describe_layer(spec_dict: dict[str, object]) -> str:
    """Short shape text such as ``64×1×28×28 → 6, k5, s1, p0`` for a table cell."""
    try:
        spec = spec_from_dict(dict(spec_dict))
    except (TypeError, ValueError):
        return ""
    if kind_of(spec) is TRANSPOSED:
        parts = [
            f"{fmt_shape(spec.input_shape)} → {spec.out_channels}, transposed",
            f"k{fmt_tuple(spec.kernel_size)}",
            f"s{fmt_tuple(spec.stride)}",
            f"p{fmt_tuple(spec.padding)}",
            f"output_padding {fmt_tuple(spec.output_padding)}",
        ]
        return ", ".join(parts)
    if kind_of(spec) is not CONVOLUTION:
        return ""
    padding = fmt_padding(spec.padding)
    parts = [
        f"{fmt_shape(spec.input_shape)} → {spec.out_channels}",
        f"k{fmt_tuple(spec.kernel_size)}",
        f"s{fmt_tuple(spec.stride)}",
        f"p{padding}",
    ]
    if any(d > 1 for d in spec.dilation):
        parts.append(f"d{fmt_tuple(spec.dilation)}")
    if spec.groups > 1:
        parts.append(f"g{spec.groups}")
    if spec.bias:
        parts.append("bias")
    if spec.flips_kernel:
        parts.append("flipped kernel")
    return ", ".join(parts)


def dtypes_of(result: BenchResult) -> list[str]:
    """The dtypes measured, in the run's order."""
    found = list(result.ceilings)
    for m in result.measurements:
        if m.dtype not in found:
            found.append(m.dtype)
    return [d for d in found if any(m.dtype == d for m in result.measurements)]


def rows_of(result: BenchResult, dtype: str) -> list[tuple[str, str]]:
    """(layer, operation) pairs measured in `dtype`, in suite and OPERATIONS order."""
    measured = {(m.layer, m.operation) for m in result.measurements if m.dtype == dtype}
    layers = list(result.layers) + sorted({layer for layer, _ in measured} - set(result.layers))
    return [(layer, op) for layer in layers for op in OPERATIONS if (layer, op) in measured]


# ----- Markdown ---------------------------------------------------------------------------
def markdown_table(result: BenchResult) -> str:
    """The report a person reads: the machine, then one table per dtype with a summary."""
    machine = result.machine
    torch_version = machine.get("torch") or "not installed"
    lines = [
        "# symconv benchmark",
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{result.threads} threads (Numba and PyTorch) · NumPy {machine.get('numpy', '?')} · "
        f"Numba {machine.get('numba', '?')} · PyTorch {torch_version} · "
        f"{machine.get('date', '?')}",
        "",
        "gemm ceiling (NumPy BLAS, square matrix product): "
        + (
            ", ".join(f"{d} {significant(g)} GFLOP/s" for d, g in result.ceilings.items())
            or MISSING
        ),
        "",
        "FMA peak (12 independent vector FMA chains per thread, in registers, every thread): "
        + (", ".join(f"{d} {significant(g)} GFLOP/s" for d, g in result.peaks.items()) or MISSING),
        "",
        "Times are medians in µs. *vs PyTorch* is PyTorch's time / symconv's: above 1× "
        "symconv is faster; **bold** marks the cells where PyTorch is faster.",
    ]
    load = _load_line(machine)
    if load:
        lines[5:5] = [load, ""]
    for warning in warnings(result):
        lines += ["", f"> **Warning:** {warning}"]
    for dtype in dtypes_of(result):
        lines += ["", f"## {dtype}", "", *_table(result, dtype), "", _summary(result, dtype)]
    return "\n".join(lines) + "\n"


#: A 1-minute load average from which the machine counts as busy when the run starts: more
#: than half a core's worth of other work.
BUSY_LOAD = 0.5
#: Percent of the gemm ceiling past which a kernel that is not Winograd (which does fewer
#: multiplications than it is credited for) means the ceiling was measured low.
PLAUSIBLE_SHARE = 105


def _load_line(machine: dict) -> str:
    start, end = machine.get("load_at_start"), machine.get("load_at_end")
    if start is None:
        return ""
    text = f"Load average (1 minute) when the run started: {start:g}"
    return text + (f"; when it ended: {end:g} (the run's own threads count)." if end else ".")


def warnings(result: BenchResult) -> list[str]:
    """What makes this run's numbers doubtful: a busy machine, a ceiling measured too low."""
    found = []
    load = result.machine.get("load_at_start")
    if isinstance(load, (int, float)) and load >= BUSY_LOAD:
        found.append(
            f"the machine was busy when the run started (load average {load:g} over the last "
            "minute): other processes shared the cores, and on a 2-core machine PyTorch's "
            "threads slow down many times over; repeat on a quiet machine before trusting a ratio"
        )
    found += _too_low(result, result.ceilings, "gemm ceiling", PLAUSIBLE_SHARE)
    found += _too_low(result, result.peaks, "FMA peak", 100)
    return found


def _too_low(result: BenchResult, limits: dict, what: str, plausible: float) -> list[str]:
    """A warning per dtype whose measured `what` some kernel passed by more than `plausible`
    percent without Winograd's savings (Winograd does fewer multiplications than it is
    credited for): the limit was measured while something else ran, or on fewer threads."""
    found = []
    for dtype, limit in limits.items():
        beyond = [
            m
            for m in result.measurements
            if m.dtype == dtype
            and m.contender == "symconv"
            and not m.algorithm.startswith("winograd")
            and limit
            and 100 * m.gflops / limit > plausible
        ]
        if beyond:
            worst = max(beyond, key=lambda m: m.gflops)
            found.append(
                f"the {dtype} {what} ({significant(limit)} GFLOP/s) is implausibly low: "
                f"{worst.layer}'s {worst.operation} ({worst.algorithm}) reached "
                f"{significant(100 * worst.gflops / limit)}% of it without Winograd's "
                f"savings, so the {what.split()[-1]} was measured while something else ran; "
                "its percentages are too high"
            )
    return found


def _table(result: BenchResult, dtype: str) -> list[str]:
    header = (
        "| layer | cold generate s | operation | algorithm | symconv µs | PyTorch µs | NumPy µs "
        "| symconv GFLOP/s | vs PyTorch | % of gemm | % of peak |"
    )
    lines = [header, "|:--|--:|:--|:--|--:|--:|--:|--:|--:|--:|--:|"]
    ceiling = result.ceilings.get(dtype)
    peak = result.peaks.get(dtype)
    previous = None
    for layer, operation in rows_of(result, dtype):
        if layer != previous:
            info = result.layers.get(layer, {})
            shape = describe_layer(info.get("spec", {})) if info else ""
            name = f"**{layer}** {shape}".rstrip()
            seconds = info.get("cold_generate_seconds", {}).get(dtype) if info else None
            compiled = f"{seconds:.1f}" if seconds is not None else MISSING
        else:
            name = compiled = ""
        previous = layer
        times = [result.seconds(layer, operation, dtype, c) for c in ("symconv", "torch", "numpy")]
        ours = _find(result, layer, operation, dtype, "symconv")
        gflops = ours.gflops if ours else None
        ratio = speedup(result, layer, operation, dtype)
        cells = [
            name,
            compiled,
            operation,
            ours.algorithm if ours and ours.algorithm else MISSING,
            *(significant(t * 1e6) if t else MISSING for t in times),
            significant(gflops) if gflops else MISSING,
            _ratio_cell(ratio),
            f"{significant(100 * gflops / ceiling)}%" if gflops and ceiling else MISSING,
            f"{significant(100 * gflops / peak)}%" if gflops and peak else MISSING,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ratio_cell(ratio: float | None) -> str:
    if ratio is None:
        return MISSING
    text = f"{ratio:.2f}×"
    return f"**{text}**" if ratio < 1.0 else text


def _summary(result: BenchResult, dtype: str) -> str:
    ratios = [
        r for r in (speedup(result, *row, dtype) for row in rows_of(result, dtype)) if r is not None
    ]
    if not ratios:
        return "PyTorch not measured: no speed-ups."
    wins = sum(r >= 1.0 for r in ratios)
    return (
        f"Geometric mean speed-up over PyTorch: {geometric_mean(ratios):.2f}× · "
        f"symconv at least as fast in {wins} of {len(ratios)} cells (≥ 1.00×)."
    )


def _find(
    result: BenchResult, layer: str, operation: str, dtype: str, contender: str
) -> Measurement | None:
    for m in result.measurements:
        if (m.layer, m.operation, m.dtype, m.contender) == (layer, operation, dtype, contender):
            return m
    return None


# ----- JSON ---------------------------------------------------------------------------------
def to_json(result: BenchResult) -> str:
    """Everything measured, plus the speed-ups, for scripts and later comparisons."""
    data = result.to_dict()
    data["speedups_vs_torch"] = [
        {"layer": layer, "operation": op, "dtype": dtype, "speedup": ratio}
        for dtype in dtypes_of(result)
        for layer, op in rows_of(result, dtype)
        if (ratio := speedup(result, layer, op, dtype)) is not None
    ]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ----- PNG ------------------------------------------------------------------------------------
def plot(result: BenchResult, path: str | os.PathLike[str]) -> Path:
    """Per dtype, log2 of the speed-up over PyTorch per layer × operation, 1× marked.

    Uses the Agg canvas directly (no pyplot), so no global backend is switched.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MultipleLocator
    except ImportError as error:
        raise PlotUnavailable(PLOT_HINT) from error

    dtypes = dtypes_of(result) or ["float32"]
    rows = max((len(rows_of(result, d)) for d in dtypes), default=1)
    figure = Figure(figsize=(6.5 * len(dtypes), 1.8 + 0.32 * max(rows, 1)), layout="constrained")
    FigureCanvasAgg(figure)
    machine = result.machine
    figure.suptitle(
        "symconv speed-up over PyTorch (PyTorch time / symconv time, log scale)\n"
        f"{machine.get('cpu', '?')}, {result.threads} threads, {machine.get('date', '')}",
        fontsize=10,
    )
    for index, dtype in enumerate(dtypes):
        axes = figure.add_subplot(1, len(dtypes), index + 1)
        labelled = [
            (f"{layer} · {op}", ratio)
            for layer, op in rows_of(result, dtype)
            if (ratio := speedup(result, layer, op, dtype)) is not None
        ]
        axes.set_title(dtype, fontsize=10)
        if not labelled:
            axes.text(0.5, 0.5, "PyTorch not measured", ha="center", va="center")
            axes.set_axis_off()
            continue
        labels, ratios = zip(*labelled)
        values = [math.log2(r) for r in ratios]
        positions = range(len(values))
        colours = ["tab:green" if r >= 1.0 else "tab:red" for r in ratios]
        axes.barh(positions, values, color=colours)
        axes.set_yticks(list(positions), labels, fontsize=8)
        axes.invert_yaxis()
        axes.axvline(0.0, color="black", linewidth=1)
        axes.text(
            0.0,
            0.02,
            "1× = PyTorch ",
            transform=axes.get_xaxis_transform(),
            rotation=90,
            ha="right",
            va="bottom",
            fontsize=7,
        )
        for y, (value, ratio) in enumerate(zip(values, ratios)):
            axes.text(
                value,
                y,
                f" {ratio:.2f}× ",
                va="center",
                fontsize=7,
                ha="left" if value >= 0 else "right",
            )
        reach = max(1.0, max(abs(v) for v in values) * 1.3)
        axes.set_xlim(-reach, reach)
        axes.xaxis.set_major_locator(MultipleLocator(max(1, math.ceil(2 * reach / 7))))
        axes.xaxis.set_major_formatter(FuncFormatter(_power_of_two))
        axes.set_xlabel("← PyTorch faster · symconv faster →", fontsize=8)
        axes.grid(axis="x", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return write_bytes_atomic(path, buffer.getvalue())


def _power_of_two(value: float, _position: object = None) -> str:
    """Axis tick at log2 `value` as a ratio: 1/4×, 1×, 8×."""
    return f"{2**value:g}×" if value >= 0 else f"1/{2**-value:g}×"


# ----- all three ----------------------------------------------------------------------------
def write_report(
    result: BenchResult,
    folder: str | os.PathLike[str],
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """bench.md, bench.json and bench.png in `folder`; without matplotlib, `warn` and no PNG."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "markdown": write_text_atomic(folder / "bench.md", markdown_table(result)),
        "json": write_text_atomic(folder / "bench.json", to_json(result)),
    }
    try:
        written["png"] = plot(result, folder / "bench.png")
    except PlotUnavailable as error:
        (warn or (lambda message: print(message, file=sys.stderr)))(str(error))
    return written
