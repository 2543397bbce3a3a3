"""The benchmark report on a hand-built result: ratios, geometric means, files."""

from __future__ import annotations

import dataclasses
import json

import pytest

from symconv.benchmark import report
from symconv.benchmark.run import BenchResult, Measurement
from symconv.kinds import ConvSpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LENET = ConvSpec((28, 28), 5, out_channels=6, batch=64)
ODD = ConvSpec((9, 9), 3, in_channels=4, out_channels=8, padding=((0, 1), (1, 0)), groups=2)


def cell(layer: str, operation: str, dtype: str, contender: str, seconds: float) -> Measurement:
    algorithm = "rows" if contender == "symconv" else ""
    return Measurement(
        layer, operation, dtype, contender, seconds, seconds, seconds, 5, 1e-9 / seconds, algorithm
    )


def hand_built(with_torch: bool = True) -> BenchResult:
    """float32: lenet forward 2×, grad_input 8× faster than torch; float64: 0.5× only."""
    result = BenchResult(
        machine={
            "cpu": "Test CPU",
            "cores": 2,
            "numpy": "1",
            "numba": "2",
            "torch": "3" if with_torch else None,
            "date": "2026-01-01",
        },
        threads=2,
        ceilings={"float32": 100.0, "float64": 50.0},
        layers={
            "lenet": {"spec": LENET.to_dict(), "label": LENET.label, "flops": 1},
            "odd": {"spec": ODD.to_dict(), "label": ODD.label, "flops": 1},
        },
    )
    times = [
        ("lenet", "forward", "float32", 1e-3, 2e-3),
        ("lenet", "grad_input", "float32", 1e-4, 8e-4),
        ("odd", "forward", "float64", 4e-6, 2e-6),
    ]
    for layer, operation, dtype, ours, theirs in times:
        result.measurements.append(cell(layer, operation, dtype, "symconv", ours))
        result.measurements.append(cell(layer, operation, dtype, "numpy", 1.2345))
        if with_torch:
            result.measurements.append(cell(layer, operation, dtype, "torch", theirs))
    return result


def section(text: str, dtype: str) -> str:
    return text.split(f"## {dtype}")[1].split("## ")[0]


def test_markdown_shows_ratios_geomean_and_wins():
    text = report.markdown_table(hand_built())
    float32 = section(text, "float32")
    assert "| 2.00× |" in float32 and "| 8.00× |" in float32
    assert "4.00×" in float32  # geometric mean of 2 and 8: sqrt(16)
    assert "2 of 2 cells" in float32
    float64 = section(text, "float64")
    assert "**0.50×**" in float64  # PyTorch faster: marked
    assert "0 of 1 cells" in float64


def test_markdown_header_times_and_shapes():
    text = report.markdown_table(hand_built())
    assert "Test CPU" in text and "2 threads" in text and "2026-01-01" in text
    assert "float32 100 GFLOP/s" in text and "float64 50.0 GFLOP/s" in text
    assert "**lenet** 64×1×28×28 → 6, k5, s1, p0" in text
    assert "1×4×9×9 → 8, k3, s1, p(0:1, 1:0), g2" in text
    assert "| 1,000 | 2,000 | 1,234,500 |" in text  # µs, thousands separators
    assert "| 4.00 | 2.00 |" in text


def test_markdown_without_torch_shows_dashes_and_no_ratio():
    text = report.markdown_table(hand_built(with_torch=False))
    assert "PyTorch not installed" in text
    row = next(line for line in section(text, "float32").splitlines() if "grad_input" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "rows"  # the algorithm of the symconv kernel
    assert cells[5] == "–" and cells[8] == "–"  # PyTorch µs, vs PyTorch
    assert "×" not in row
    assert "no speed-ups" in text


@pytest.mark.parametrize(
    "value,expected",
    [(0.012345, "0.0123"), (4.567, "4.57"), (789.4, "789"), (12345.6, "12,346"), (0, "0")],
)
def test_significant(value, expected):
    assert report.significant(value) == expected


def test_json_round_trips_with_speedups():
    result = hand_built()
    data = json.loads(report.to_json(result))
    assert data["machine"]["cpu"] == "Test CPU"
    assert data["layers"]["lenet"]["spec"] == LENET.to_dict()
    assert len(data["measurements"]) == len(result.measurements)
    assert data["measurements"][0] == {
        "layer": "lenet",
        "operation": "forward",
        "dtype": "float32",
        "contender": "symconv",
        "seconds": 1e-3,
        "low": 1e-3,
        "high": 1e-3,
        "runs": 5,
        "gflops": pytest.approx(1e-6),
        "algorithm": "rows",
    }
    speedups = {
        (s["layer"], s["operation"], s["dtype"]): s["speedup"] for s in data["speedups_vs_torch"]
    }
    assert speedups == {
        ("lenet", "forward", "float32"): pytest.approx(2.0),
        ("lenet", "grad_input", "float32"): pytest.approx(8.0),
        ("odd", "forward", "float64"): pytest.approx(0.5),
    }


def test_write_report_writes_markdown_json_and_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install matplotlib")
    written = report.write_report(hand_built(), tmp_path / "out")
    assert set(written) == {"markdown", "json", "png"}
    assert written["markdown"].read_text(encoding="utf-8") == report.markdown_table(hand_built())
    json.loads(written["json"].read_text(encoding="utf-8"))
    assert written["png"].read_bytes().startswith(PNG_MAGIC)
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no temporary left behind


def test_write_report_without_matplotlib_warns_and_writes_the_rest(tmp_path, monkeypatch):
    def missing(result, path):
        raise report.PlotUnavailable(report.PLOT_HINT)

    monkeypatch.setattr(report, "plot", missing)
    warnings: list[str] = []
    written = report.write_report(hand_built(False), tmp_path, warn=warnings.append)
    assert set(written) == {"markdown", "json"}
    assert warnings == [report.PLOT_HINT]
    assert not (tmp_path / "bench.png").exists()


def test_plot_without_torch_still_draws(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install matplotlib")
    path = report.plot(hand_built(with_torch=False), tmp_path / "chart.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


# ----- how quiet the run was ---------------------------------------------------------------------
def test_the_load_average_is_stated_and_a_busy_machine_is_warned_about():
    result = hand_built()
    result.machine.update(load_at_start=0.12, load_at_end=1.9)
    text = report.markdown_table(result)
    assert "Load average (1 minute) when the run started: 0.12; when it ended: 1.9" in text
    assert not report.warnings(result) and "Warning" not in text
    result.machine["load_at_start"] = 1.34
    (warning,) = report.warnings(result)
    assert warning.startswith("the machine was busy when the run started (load average 1.34")
    assert f"> **Warning:** {warning}" in report.markdown_table(result)


def test_a_ceiling_below_what_a_plain_kernel_reached_is_called_implausible():
    """233 % of gemm for a kernel without Winograd's savings: the ceiling was measured low."""
    result = hand_built()
    result.ceilings["float32"] = 44.7
    fast = cell("lenet", "forward", "float32", "symconv", 1e-3)
    result.measurements.append(dataclasses.replace(fast, gflops=104.0, algorithm="unfold"))
    (warning,) = report.warnings(result)
    assert warning.startswith("the float32 gemm ceiling (44.7 GFLOP/s) is implausibly low: ")
    assert "lenet's forward (unfold) reached 233% of it" in warning
    winograd = dataclasses.replace(fast, gflops=300.0, algorithm="winograd:4", layer="odd")
    result.measurements[-1] = winograd  # Winograd may pass the ceiling: fewer multiplications
    assert report.warnings(result) == []


def test_the_fma_peak_and_each_cell_as_a_share_of_it():
    result = hand_built()
    result.peaks = {"float32": 4e-6}  # lenet forward runs at 1e-6 GFLOP/s: 25 % of it
    text = report.markdown_table(result)
    assert "FMA peak" in text and "float32 0.00000400 GFLOP/s" in text
    lenet_forward = next(line for line in section(text, "float32").splitlines() if "2.00×" in line)
    assert lenet_forward.rstrip().endswith("| 25.0% |"), lenet_forward
    assert "% of peak" in section(text, "float64")


def test_a_peak_below_what_a_plain_kernel_reached_is_called_implausible():
    """174 % of the FMA peak without Winograd's savings: the peak was measured low (one run
    here measured float32 at float64's rate, as if on one thread)."""
    result = hand_built()
    result.ceilings, result.peaks = {}, {"float32": 228.0}
    fast = cell("conv1d", "forward", "float32", "symconv", 1e-3)
    result.measurements.append(dataclasses.replace(fast, gflops=397.0, algorithm="positions"))
    (warning,) = report.warnings(result)
    assert warning.startswith("the float32 FMA peak (228 GFLOP/s) is implausibly low: ")
    assert "conv1d's forward (positions) reached 174% of it" in warning
    result.measurements[-1] = dataclasses.replace(fast, gflops=397.0, algorithm="winograd")
    assert report.warnings(result) == []
